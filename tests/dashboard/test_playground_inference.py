"""The playground's inference path for real: `deepsynth infer ... --json` in a child process, on a
tiny adapter (built here from a config, no download). Slow: the child imports torch (~15-25 s)."""

import pytest

from deepsynth.errors import DeepSynthError
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
    assert [(e.event, e.label) for e in seen] == [("plan", ""), ("loaded", ""), ("summary", BASE),
                                                  ("summary", str(tiny_adapter))]
    assert seen[0].note == "" and seen[0].bases == ""  # one base: nothing to explain
    assert all(e.seconds > 0 for e in seen[1:])
    assert set(results) == {BASE, str(tiny_adapter)} and results[BASE].summary != results[str(tiny_adapter)].summary


@pytest.mark.slow
def test_a_pdf_page_file_is_answered_in_the_child(tiny_adapter, tmp_path):
    from PIL import Image, ImageDraw

    pages = []
    for number in range(2):
        page = Image.new("L", (400, 300), 255)
        ImageDraw.Draw(page).text((20, 20), f"Page {number + 1}: the river rose.", fill=0)
        pages.append(page)
    pdf = tmp_path / "two pages.pdf"
    pages[0].save(pdf, "PDF", save_all=True, append_images=pages[1:], resolution=72)
    answers = playground_client.summarize([str(tiny_adapter)], file=pdf, prompt="Which river?",
                                          include_base=True, max_new_tokens=8)
    assert set(answers) == {BASE, str(tiny_adapter)} and answers[BASE] != answers[str(tiny_adapter)]
    broken = tmp_path / "broken.pdf"
    broken.write_bytes(b"%PDF-1.4 junk\n%%EOF\n")
    with pytest.raises(DeepSynthError, match=r"broken.pdf: not a readable PDF \(corrupt\)"):
        playground_client.summarize([str(tiny_adapter)], file=broken, max_new_tokens=8)
