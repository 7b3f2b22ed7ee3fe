"""The playground's inference path for real: `deepsynth infer ... --json` in a child process, on a
tiny adapter (built here from a config, no download). Slow: the child imports torch (~15-25 s)."""

import pytest

from deepsynth.inference import BASE, playground_client


@pytest.fixture(scope="module")
def tiny_adapter(tmp_path_factory):
    import torch

    from deepsynth.lora import LoraSettings
    from deepsynth.models import ModelConfig, build_document_model

    torch.set_num_threads(1)
    torch.manual_seed(7)
    model = build_document_model(ModelConfig(name="tiny"), LoraSettings(rank=4, dropout=0.0), "cpu")
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if "lora_B" in name:
                parameter.normal_(0, 0.3)  # an adapter that changes the output
    return model.save_adapter(tmp_path_factory.mktemp("playground") / "adapter")


@pytest.mark.slow
def test_summaries_come_back_from_a_child_process(tiny_adapter):
    summaries = playground_client.summarize([str(tiny_adapter)], text="The river flooded the valley. " * 4,
                                            include_base=True, max_new_tokens=8)
    assert set(summaries) == {BASE, str(tiny_adapter)}
    assert all(isinstance(text, str) for text in summaries.values())
    assert summaries[BASE] != summaries[str(tiny_adapter)]


@pytest.mark.slow
def test_each_model_streams_back_with_its_time(tiny_adapter):
    seen = []
    results = playground_client.summarize_each([str(tiny_adapter)], seen.append, text="The river flooded. " * 4,
                                               include_base=True, max_new_tokens=8)
    assert [(e.event, e.label) for e in seen] == [("loaded", ""), ("summary", BASE), ("summary", str(tiny_adapter))]
    assert all(e.seconds > 0 for e in seen)
    assert set(results) == {BASE, str(tiny_adapter)} and results[BASE].summary != results[str(tiny_adapter)].summary
