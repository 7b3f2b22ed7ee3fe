"""End to end on the real embedded default (EasyOCR english_g2 reader + SmolLM2-135M): a few
steps, a few held-out documents, the adapter reloaded with vanilla PEFT on the converted base."""

from pathlib import Path
from urllib.parse import urlparse

import pytest
import torch

from deepsynth.tracking import store


@pytest.mark.slow
def test_default_model_trains_evaluates_and_its_adapter_reloads(mlflow_tracking_uri, tmp_path, captured_models):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from deepsynth.data import DatasetConfig, build_dataset
    from deepsynth.lora import preset
    from deepsynth.models.config import ModelConfig
    from deepsynth.models.builtin.conversion import converted_smollm2
    from deepsynth.training.config import TrainConfig
    from deepsynth.training.worker import train

    dataset = build_dataset(DatasetConfig(source="wiki", limit=10, max_text_chars=400, validation_fraction=0.3,
                                          test_fraction=0.0, workers=1), tmp_path / "wiki10")
    config = TrainConfig(
        dataset=str(dataset), model=ModelConfig(name="default", max_source_tokens=96, max_target_tokens=24),
        lora=preset("minimal", rank=8, alpha=16, target_modules=("q_proj", "v_proj")), preset="custom",
        max_steps=3, batch_size=2, learning_rate=1e-3, warmup_steps=0, eval_docs=3, eval_max_new_tokens=12,
        eval_batch_size=3, experiment="tests-default-model", tracking_uri=mlflow_tracking_uri,
        output_dir=str(tmp_path / "runs"), system_metrics=False)
    run_id = train(config, progress=False)

    run = store.client_for(mlflow_tracking_uri).get_run(run_id)
    assert run.info.status == "FINISHED"
    losses = store.client_for(mlflow_tracking_uri).get_metric_history(run_id, "train/loss")
    assert [m.step for m in losses] == [1, 2, 3] and all(0 < m.value < 20 for m in losses)
    assert {"eval/rougeL", "eval/base_rougeL", "memory/measured_peak_bytes"} <= set(run.data.metrics)
    assert run.data.metrics["memory/measured_peak_bytes"] > 135e6 * 4  # at least the fp32 weights
    adapter = Path(urlparse(run.info.artifact_uri).path) / "adapter"

    trained = captured_models[0].eval()
    folder, _identity = converted_smollm2()
    reloaded = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32),
                                         str(adapter)).eval()
    ids = torch.tensor([[1, 504, 3300, 314, 253, 1527, 30]])
    with torch.no_grad():
        assert torch.allclose(reloaded(input_ids=ids).logits, trained.decoder(input_ids=ids).logits, atol=1e-5)
