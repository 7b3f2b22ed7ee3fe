"""Deleting a run's adapter or a registered version: full id or exact name only, never while an
alias points at the version or a version is the adapter, each deletion tagged with who and when;
the `deepsynth delete` verb asks first."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file

from deepsynth.cli import main
from deepsynth.errors import InputError
from deepsynth.tracking import deletion, registry
from deepsynth.tracking.store import RunLogger, client_for


def fake_adapter(folder: Path) -> Path:
    folder.mkdir(parents=True)
    save_file({"base_model.model.q_proj.lora_A.weight": np.zeros((2, 8), np.float32)},
              str(folder / "adapter_model.safetensors"))
    (folder / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA", "r": 2}))
    (folder / "deepsynth_model.json").write_text(json.dumps({"model_config": {"name": "tiny"}}))
    return folder


@pytest.fixture
def adapter_run(mlflow_tracking_uri, tmp_path):
    """run(name) -> the id of a new finished run with an adapter, named `name`."""
    def run(name: str, score: float = 20.0) -> str:
        logger = RunLogger.start("deletion-tests", run_name=name, uri=mlflow_tracking_uri)
        logger.log_metrics({"eval/rougeL": score, "eval/docs": 40}, step=1, flush=True)
        logger.log_artifacts(fake_adapter(tmp_path / uuid.uuid4().hex), "adapter")
        logger.finish()
        return logger.run_id
    return run


def artifacts(run_id: str, uri: str) -> set[str]:
    return {item.path for item in client_for(uri).list_artifacts(run_id)}


def test_a_run_is_named_by_its_full_id_or_exact_name_never_a_prefix(adapter_run, mlflow_tracking_uri):
    name = f"del-{uuid.uuid4().hex[:8]}"
    run_id = adapter_run(name)
    assert deletion.run_by_id_or_name(run_id, mlflow_tracking_uri).run_id == run_id
    assert deletion.run_by_id_or_name(name, mlflow_tracking_uri).run_id == run_id
    with pytest.raises(InputError, match="never the start of an id"):
        deletion.run_by_id_or_name(run_id[:8], mlflow_tracking_uri)
    with pytest.raises(InputError, match=f"no run with id or name '{name[:-1]}'"):
        deletion.run_by_id_or_name(name[:-1], mlflow_tracking_uri)
    twin = adapter_run(name)
    with pytest.raises(InputError, match=rf"2 runs are named '{name}' \(.*{twin}.*\): give the full run id"):
        deletion.run_by_id_or_name(name, mlflow_tracking_uri)
    with pytest.raises(InputError, match="never the start"):
        deletion.delete_run_adapter(run_id[:8], by="ana", uri=mlflow_tracking_uri)
    assert "adapter" in artifacts(run_id, mlflow_tracking_uri)  # nothing deleted on a prefix


def test_deleting_a_runs_adapter_keeps_the_run_and_records_who_and_when(adapter_run, mlflow_tracking_uri):
    name = f"del-{uuid.uuid4().hex[:8]}"
    run_id = adapter_run(name)
    record = deletion.delete_run_adapter(name, by="ana@example.org", uri=mlflow_tracking_uri)
    assert record.by == "ana@example.org" and run_id in record.what
    assert "adapter" not in artifacts(run_id, mlflow_tracking_uri)
    run = client_for(mlflow_tracking_uri).get_run(run_id)
    assert run.info.status == "FINISHED" and run.data.metrics["eval/rougeL"] == 20.0
    tagged = deletion.adapter_deleted(run.data.tags)
    assert tagged == {"by": "ana@example.org", "at": record.at} and record.at.endswith("+00:00")
    with pytest.raises(InputError, match="already deleted"):
        deletion.delete_run_adapter(run_id, by="ana", uri=mlflow_tracking_uri)


def test_a_running_runs_adapter_is_not_deleted(mlflow_tracking_uri, tmp_path):
    logger = RunLogger.start("deletion-tests", run_name="still-training", uri=mlflow_tracking_uri)
    logger.log_artifacts(fake_adapter(tmp_path / "adapter"), "adapter")
    try:
        with pytest.raises(InputError, match="is running: its job may still write the adapter; cancel it first"):
            deletion.delete_run_adapter(logger.run_id, by="ana", uri=mlflow_tracking_uri)
        assert "adapter" in artifacts(logger.run_id, mlflow_tracking_uri)
    finally:
        logger.finish()


def test_a_version_an_alias_points_at_is_kept_until_the_alias_moves(adapter_run, mlflow_tracking_uri):
    model = f"del-model-{uuid.uuid4().hex[:8]}"
    first, second = adapter_run("v1-run"), adapter_run("v2-run")
    registry.register_adapter(first, model, alias="champion", uri=mlflow_tracking_uri)
    registry.register_adapter(second, model, uri=mlflow_tracking_uri)
    with pytest.raises(InputError, match=rf"models:/{model}/1 is what alias 'champion' of {model} points at"):
        deletion.delete_version(model, "1", by="ana", uri=mlflow_tracking_uri)
    with pytest.raises(InputError, match=rf"registered as models:/{model}/1; delete those versions first"):
        deletion.delete_run_adapter(first, by="ana", uri=mlflow_tracking_uri)
    registry.set_alias(model, "2", "champion", uri=mlflow_tracking_uri)
    record = deletion.delete_version(model, "1", by="ana", uri=mlflow_tracking_uri)
    assert record.what == f"models:/{model}/1"
    assert [v.version for v in registry.list_versions(model, uri=mlflow_tracking_uri)] == ["2"]
    assert deletion.deleted_versions(model, mlflow_tracking_uri) == {"1": {"by": "ana", "at": record.at, "run_id": first}}
    assert "adapter" in artifacts(first, mlflow_tracking_uri)  # the run keeps its adapter
    deletion.delete_run_adapter(first, by="ana", uri=mlflow_tracking_uri)  # no version left on it


def test_the_cli_asks_first_and_takes_no_prefix(adapter_run, mlflow_tracking_uri, capsys, monkeypatch):
    uri = ["--tracking-uri", mlflow_tracking_uri]
    name = f"cli-{uuid.uuid4().hex[:8]}"
    run_id = adapter_run(name)
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    assert main(["delete", name, *uri]) == 2  # no terminal, no --yes: refused
    assert "add --yes to confirm" in capsys.readouterr().err
    assert main(["delete", run_id[:12], "--yes", *uri]) == 2
    assert "never the start of an id" in capsys.readouterr().err
    assert "adapter" in artifacts(run_id, mlflow_tracking_uri)

    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    monkeypatch.setattr("builtins.input", lambda prompt: "something else")
    assert main(["delete", name, *uri]) == 1 and "nothing deleted" in capsys.readouterr().out
    monkeypatch.setattr("builtins.input", lambda prompt: name)
    assert main(["delete", name, *uri]) == 0
    assert f"deleted run {name}'s adapter ({run_id}) (by " in capsys.readouterr().out
    assert "adapter" not in artifacts(run_id, mlflow_tracking_uri)


def test_the_cli_deletes_a_version_and_refuses_an_alias_reference(adapter_run, mlflow_tracking_uri, capsys):
    uri = ["--tracking-uri", mlflow_tracking_uri]
    model = f"cli-model-{uuid.uuid4().hex[:8]}"
    registry.register_adapter(adapter_run("a"), model, alias="champion", uri=mlflow_tracking_uri)
    registry.register_adapter(adapter_run("b"), model, uri=mlflow_tracking_uri)
    assert main(["delete", f"models:/{model}@champion", "--yes", *uri]) == 2
    assert "is an alias (now version 1): name the version" in capsys.readouterr().err
    assert main(["delete", f"models:/{model}/1", "--yes", *uri]) == 2
    assert "is what alias 'champion'" in capsys.readouterr().err
    assert main(["delete", f"models:/{model}/2", "--yes", *uri]) == 0
    assert f"deleted models:/{model}/2 (by " in capsys.readouterr().out
    assert [v.version for v in registry.list_versions(model, uri=mlflow_tracking_uri)] == ["1"]
