"""`train()` end to end on the tiny model: what trains, what is recorded, how it fails."""

import json
from pathlib import Path
from urllib.parse import urlparse

import pytest
import torch

from deepsynth.configuration import ConfigError
from deepsynth.tracking import store
from deepsynth.training import checkpoint
from deepsynth.training.loop import NonFiniteLossError
from deepsynth.training.worker import train


def _artifacts(run_id, uri) -> Path:
    return Path(urlparse(store.client_for(uri).get_run(run_id).info.artifact_uri).path)


def test_lora_trains_base_stays_and_the_adapter_reloads_with_vanilla_peft(
        tiny_config, captured_models, mlflow_tracking_uri):
    from peft import PeftModel

    from deepsynth.models import build_document_model
    from deepsynth.models.builtin.tiny import tiny_decoder, tiny_tokenizer

    config = tiny_config(max_steps=6)
    run_id = train(config, progress=False)
    trained = captured_models[0]
    torch.manual_seed(config.seed)  # the worker seeds before building: same initial weights
    initial = dict(build_document_model(config.model, config.lora, "cpu").named_parameters())
    lora_names = [n for n, p in trained.named_parameters() if p.requires_grad]
    assert lora_names and all("lora_" in n for n in lora_names)
    for name, param in trained.named_parameters():
        if "lora_B" in name or ("lora_A" in name):
            assert not torch.equal(param.detach(), initial[name].detach()), f"{name} did not train"
        elif not param.requires_grad:
            assert torch.equal(param.detach(), initial[name].detach()), f"frozen {name} changed"

    run = store.client_for(mlflow_tracking_uri).get_run(run_id)
    assert run.info.status == "FINISHED"
    assert [m.step for m in store.client_for(mlflow_tracking_uri).get_metric_history(run_id, "train/loss")] == list(range(1, 7))
    assert {"train/lr", "train/grad_norm", "train/samples_per_s", "train/tokens_per_s", "eval/rougeL",
            "eval/base_rougeL", "memory/measured_peak_bytes"} <= set(run.data.metrics)
    assert run.data.params["lora.rank"] == "4" and run.data.params["model.name"] == "tiny"
    assert run.inputs.dataset_inputs[0].dataset.name == "wiki24"
    # an unknown preset's memory is at least its trainable weights and the batch
    assert run.data.metrics["memory/measured_peak_bytes"] > 100_000

    artifacts = _artifacts(run_id, mlflow_tracking_uri)
    adapter = artifacts / "adapter"
    assert {"adapter_model.safetensors", "adapter_config.json", "deepsynth_model.json"} <= {p.name for p in adapter.iterdir()}
    assert (artifacts / "eval" / "predictions.csv").is_file()
    summary = json.loads((artifacts / "eval" / "rouge.json").read_text())
    assert (summary["docs"], summary["split"]) == (3, "validation")  # auto: this dataset has no test split
    metrics = run.data.metrics
    assert metrics["eval/docs"] == 3 and run.data.tags["deepsynth.eval_split"] == "validation"
    for model in ("", "base_", "lead_k_", "first_clause_", "constant_"):
        assert metrics[f"eval/{model}rougeL_lo"] <= metrics[f"eval/{model}rougeL"] <= metrics[f"eval/{model}rougeL_hi"]
    assert (artifacts / "config" / "train_config.json").is_file()

    # vanilla PEFT on a freshly built base gives the trained decoder's outputs exactly
    reloaded = PeftModel.from_pretrained(tiny_decoder(len(tiny_tokenizer())), str(adapter)).eval()
    trained.eval()
    ids = torch.tensor([[5, 17, 42, 99, 3, 250, 7]])
    with torch.no_grad():
        expected = trained.decoder(input_ids=ids).logits
        actual = reloaded(input_ids=ids).logits
        untuned = tiny_decoder(len(tiny_tokenizer()))(input_ids=ids).logits
    assert torch.equal(actual, expected)
    assert not torch.allclose(actual, untuned)  # the adapter does something


def test_a_spent_time_budget_stops_training_and_the_job_report_says_why(tiny_config, mlflow_tracking_uri, tmp_path,
                                                                         monkeypatch):
    from deepsynth.training.report import ENV_JOB_DIR, read_report

    monkeypatch.setenv(ENV_JOB_DIR, str(tmp_path))
    run_id = train(tiny_config(max_steps=100_000, time_budget_s=1.0, eval_docs=0), progress=False)
    report = read_report(tmp_path)
    assert report["state"] == "FINISHED" and report["step"] < 100_000
    assert report["stopped_early"] == "its 1 s time budget ran out"
    run = store.client_for(mlflow_tracking_uri).get_run(run_id)
    assert run.data.tags["deepsynth.stopped_early"] == f"time budget 1.0s at step {report['step']}"


def test_non_finite_loss_stops_within_patience_with_the_step_and_marks_the_run_failed(
        tiny_config, mlflow_tracking_uri, monkeypatch):
    """A NaN injected into the loss from the 4th step on (a huge learning rate does not do it
    here: the tiny Llama's RMSNorm turns overflowing activations into zeros, not NaN)."""
    from deepsynth.models.builtin.document_model import DocumentModel

    original, calls = DocumentModel.forward, []

    def poisoned(self, *args, **kwargs):
        calls.append(1)
        loss = original(self, *args, **kwargs)
        return loss * float("nan") if len(calls) >= 4 else loss

    monkeypatch.setattr(DocumentModel, "forward", poisoned)
    config = tiny_config(max_steps=40, nan_patience=2, checkpoint_every=2, eval_docs=0)
    started = []
    with pytest.raises(NonFiniteLossError, match=r"not finite \(nan\) at step 5") as caught:
        train(config, progress=False, on_run_started=started.append)
    assert caught.value.step == 5 and len(calls) == 5  # stopped within nan_patience steps
    run = store.client_for(mlflow_tracking_uri).get_run(started[0])
    assert run.info.status == "FAILED"
    assert "at step 5" in run.data.tags[store.ERROR_TAG]
    # no checkpoint was taken at a NaN step (4): resume starts from the last healthy one
    run_dir = Path(run.data.tags[store.RUN_DIR_TAG])
    assert [c.step for c in checkpoint.complete_checkpoints(run_dir)] == [2]
    trainable, _, _ = checkpoint.load(checkpoint.latest(run_dir))
    assert all(torch.isfinite(t).all() for t in trainable.values())


def test_bad_configs_fail_clearly_naming_every_field(tiny_config, tmp_path):
    with pytest.raises(ConfigError) as caught:
        tiny_config(batch_size=0, learning_rate=-1.0, schedule="sawtooth", dataset=str(tmp_path))
    fields = {field for field, _ in caught.value.problems}
    assert {"batch_size", "learning_rate", "schedule", "dataset"} <= fields
    assert "not a DeepSynth dataset folder" in str(caught.value)


def test_cli_names_the_flags_the_user_typed(tmp_path, capsys, mlflow_tracking_uri):
    from deepsynth.cli import main

    code = main(["train", "--dataset", str(tmp_path), "--preset", "nope", "--lr", "0", "--batch-size", "0",
                 "--model", "tiny"])
    err = capsys.readouterr().err
    assert code == 2
    for flag in ("--dataset", "--preset", "--lr", "--batch-size"):
        assert f"  - {flag}:" in err
    assert main(["train", "--resume", "abc", "--dataset", str(tmp_path)]) == 2
    assert "drop --dataset" in capsys.readouterr().err
    assert main(["train", "--resume", "no-such-run", "--tracking-uri", mlflow_tracking_uri]) == 2
    assert "cannot resume run 'no-such-run'" in capsys.readouterr().err


def test_qlora_4bit_trains_on_cpu(tiny_config, captured_models, mlflow_tracking_uri):
    from deepsynth.lora import preset

    config = tiny_config(lora=preset("qlora_4bit", rank=4, alpha=8), preset="qlora_4bit", max_steps=3,
                         eval_docs=0)
    run_id = train(config, progress=False)
    model = captured_models[0]
    assert any(type(m).__name__ == "Linear4bit" for m in model.decoder.modules())
    lora_b = [p for n, p in model.named_parameters() if "lora_B" in n]
    assert lora_b and any(p.detach().abs().sum() > 0 for p in lora_b)  # B starts at 0
    losses = store.client_for(mlflow_tracking_uri).get_metric_history(run_id, "train/loss")
    assert len(losses) == 3 and all(torch.isfinite(torch.tensor(m.value)) for m in losses)


def test_blank_page_control_reads_nothing_and_the_features_interface_trains(
        tiny_config, captured_models, mlflow_tracking_uri):
    from deepsynth.models.config import ModelConfig

    blank_run = train(tiny_config(blank_pages=True, max_steps=2, eval_base=False), progress=False)
    rouge = json.loads((_artifacts(blank_run, mlflow_tracking_uri) / "eval" / "rouge.json").read_text())
    # no base model on a control; the baselines are scored on the same documents all the same
    assert rouge["blank_pages"] is True and set(rouge["rouge"]) == {"tuned", "lead_k", "first_clause", "constant"}
    blank_reading = captured_models[0].read_documents([[__import__("PIL.Image").Image.new("L", (1024, 1448), 255)]])[0]
    assert blank_reading.text.strip() == ""

    features = tiny_config(model=ModelConfig(name="tiny", vision_interface="features", max_source_tokens=32,
                                             max_target_tokens=16), max_steps=3, eval_docs=2)
    run_id = train(features, progress=False)
    model = captured_models[1]
    projection = [n for n, p in model.named_parameters() if p.requires_grad and n.startswith("parts.")]
    assert projection, "the vision projection should be trainable"
    assert store.run_status(run_id, mlflow_tracking_uri) == "FINISHED"
    assert (_artifacts(run_id, mlflow_tracking_uri) / "adapter" / "projection.safetensors").is_file()


def test_resume_is_refused_while_another_live_process_trains_the_run(tiny_config, mlflow_tracking_uri):
    import subprocess
    import sys

    import psutil

    from deepsynth.errors import InputError
    from deepsynth.training.worker import OWNER_FILE

    run_id = train(tiny_config(max_steps=2, eval_docs=0), progress=False)
    store.client_for(mlflow_tracking_uri).set_terminated(run_id, "KILLED")  # as if cancelled
    run_dir = Path(store.run_tags(run_id, mlflow_tracking_uri)[store.RUN_DIR_TAG])
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (run_dir / OWNER_FILE).write_text(json.dumps({"pid": other.pid,
                                                       "create_time": psutil.Process(other.pid).create_time()}))
        with pytest.raises(InputError, match=f"being trained by process {other.pid}"):
            train(resume_run_id=run_id, tracking_uri=mlflow_tracking_uri, progress=False)
        assert store.run_status(run_id, mlflow_tracking_uri) == "KILLED"  # untouched
    finally:
        other.kill()
        other.wait()
    assert train(resume_run_id=run_id, tracking_uri=mlflow_tracking_uri, progress=False) == run_id
    assert store.run_status(run_id, mlflow_tracking_uri) == "FINISHED"


def test_out_of_memory_is_reported_as_such_with_advice(tiny_config, mlflow_tracking_uri, monkeypatch):
    from deepsynth.models.builtin.document_model import DocumentModel
    from deepsynth.training.worker import TrainingOutOfMemory

    def exhausted(self, *args, **kwargs):
        raise RuntimeError("[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate memory: "
                           "you tried to allocate 68719476736 bytes")

    monkeypatch.setattr(DocumentModel, "forward", exhausted)
    started = []
    with pytest.raises(TrainingOutOfMemory, match="out of memory.*lower --batch-size"):
        train(tiny_config(eval_docs=0), progress=False, on_run_started=started.append)
    run = store.client_for(mlflow_tracking_uri).get_run(started[0])
    assert run.info.status == "FAILED" and "qlora_4bit" in run.data.tags[store.ERROR_TAG]


def test_disk_full_at_a_checkpoint_fails_clearly_and_keeps_the_earlier_one(tiny_config, mlflow_tracking_uri,
                                                                           monkeypatch):
    import errno

    real_save, calls = torch.save, []

    def save_until_full(*args, **kwargs):
        calls.append(1)
        if len(calls) > 1:  # the second checkpoint finds the disk full
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_save(*args, **kwargs)

    monkeypatch.setattr(torch, "save", save_until_full)
    started = []
    with pytest.raises(checkpoint.DiskFullError, match="earlier checkpoints .* are intact"):
        train(tiny_config(max_steps=6, checkpoint_every=2, eval_docs=0), progress=False,
              on_run_started=started.append)
    run = store.client_for(mlflow_tracking_uri).get_run(started[0])
    assert run.info.status == "FAILED" and "disk full" in run.data.tags[store.ERROR_TAG]
    run_dir = Path(run.data.tags[store.RUN_DIR_TAG])
    assert [c.step for c in checkpoint.complete_checkpoints(run_dir)] == [2]
    assert len(store.client_for(mlflow_tracking_uri).get_metric_history(started[0], "train/loss")) == 4
