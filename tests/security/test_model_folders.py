"""Issue 21, item 12: model folders whose tokenizer maps to its own code (`auto_map`), or with
symbolic links out of the folder, failed deep in transformers with a traceback and left a FAILED
MLflow run. `deepsynth.model_folder_check` now refuses them with a clear message before any run,
job output or model exists: at the start of `train`, `estimate`, `infer` and `import`."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from attack_tools import run_deepsynth, tampered_adapter
from attack_tools import tiny_adapter, attack_dataset  # noqa: F401  (fixtures)

from deepsynth.errors import InputError


def check_model_folders(*args, **kwargs):
    from deepsynth.model_folder_check import check_model_folders as check

    return check(*args, **kwargs)

LLAMA = {"model_type": "llama", "architectures": ["LlamaForCausalLM"], "hidden_size": 64, "intermediate_size": 128,
         "num_attention_heads": 4, "num_key_value_heads": 4, "num_hidden_layers": 2, "vocab_size": 300}


def _tokenizer_with_code(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps(LLAMA))
    (folder / "tokenizer_config.json").write_text(json.dumps(
        {"tokenizer_class": "EvilTokenizer", "auto_map": {"AutoTokenizer": ["evil.EvilTokenizer", None]}}))
    (folder / "evil.py").write_text("raise SystemExit('the folder code ran')\n")
    return folder


def _linked_out(folder: Path, outside: Path) -> Path:
    folder.mkdir(parents=True)
    outside.parent.mkdir(parents=True, exist_ok=True)
    outside.write_text(json.dumps(LLAMA))
    (folder / "config.json").symlink_to(outside)
    return folder


def test_a_tokenizer_auto_map_is_refused_without_the_flag_and_named(tmp_path):
    folder = _tokenizer_with_code(tmp_path / "m")
    with pytest.raises(InputError) as caught:
        check_model_folders({"name": str(folder)})
    assert (f"--model '{folder}': the folder runs its own Python code (auto_map in tokenizer_config.json); "
            "DeepSynth runs it only with --trust-remote-code, which only you can give") in str(caught.value)
    check_model_folders({"name": str(folder), "trust_remote_code": True})  # the user's own flag


def test_links_out_of_the_folder_are_refused_but_a_hub_cache_snapshot_is_not(tmp_path):
    folder = _linked_out(tmp_path / "m", tmp_path / "elsewhere" / "secret.json")
    with pytest.raises(InputError, match=r"symbolic link\(s\) lead out of the folder \(config.json -> "):
        check_model_folders({"name": str(folder), "trust_remote_code": True})
    repo = tmp_path / "hub" / "models--org--name"
    snapshot = repo / "snapshots" / "abc"
    (repo / "blobs").mkdir(parents=True)
    snapshot.mkdir(parents=True)
    (repo / "blobs" / "f00").write_text(json.dumps(LLAMA))
    (snapshot / "config.json").symlink_to(Path("..", "..", "blobs", "f00"))
    check_model_folders({"name": str(snapshot)})
    link = tmp_path / "workspace-models" / "mine"  # the dashboard's models/ holds links to folders
    link.parent.mkdir()
    link.symlink_to(snapshot, target_is_directory=True)
    check_model_folders({"name": str(link)})


def test_every_problem_is_listed_and_a_text_encoder_never_runs_code(tmp_path):
    base = _linked_out(tmp_path / "base", tmp_path / "out" / "c.json")
    encoder = _tokenizer_with_code(tmp_path / "enc")
    with pytest.raises(InputError) as caught:
        check_model_folders({"name": str(base), "text_encoder": str(encoder), "trust_remote_code": True})
    message = str(caught.value)
    assert message.startswith("model folder(s) refused before anything started:")
    assert f"--model '{base}': symbolic link(s)" in message
    assert f"--text-encoder '{encoder}': the folder runs its own Python code" in message
    assert "never runs a text encoder's own code" in message


def _runs_recorded(home: Path) -> bool:
    return (home / "mlflow.db").exists() or (home / "mlruns").exists()


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["tokenizer-code", "link-out"])
def test_train_refuses_the_folder_before_any_run_exists(tmp_path, attack_dataset, kind):
    folder = (_tokenizer_with_code(tmp_path / "model") if kind == "tokenizer-code"
              else _linked_out(tmp_path / "model", tmp_path / "outside" / "config.json"))
    home = tmp_path / "home"
    home.mkdir()
    done = run_deepsynth(["train", "--dataset", attack_dataset, "--model", str(folder), "--max-steps", "1",
                          "--no-system-metrics"], home)
    assert done.returncode == 2, done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    assert done.stderr.startswith("deepsynth train: error: model folder(s) refused before anything started:")
    assert f"--model '{folder}'" in done.stderr
    assert "MLflow run" not in done.stdout and not _runs_recorded(home), "a run was created"


def test_a_config_file_given_to_estimate_is_not_a_folder_to_check(tmp_path):
    config = tmp_path / "config.json"
    config.write_text(json.dumps(LLAMA))
    check_model_folders({"name": str(config)})


def test_estimate_refuses_a_config_linked_from_outside(tmp_path):
    folder = _linked_out(tmp_path / "model", tmp_path / "outside" / "config.json")
    done = run_deepsynth(["estimate", "--model", str(folder)], tmp_path)
    assert done.returncode == 2, done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    assert f"--model '{folder}': symbolic link(s) lead out of the folder (config.json -> " in done.stderr


def test_infer_names_the_card_field_of_a_folder_it_refuses(tmp_path, tiny_adapter):
    from deepsynth.inference import Summarizer

    folder = _tokenizer_with_code(tmp_path / "model")
    adapter = tampered_adapter(tiny_adapter, tmp_path / "adapter", name=str(folder))
    with pytest.raises(InputError) as caught:
        Summarizer.for_adapter(adapter)
    assert f"deepsynth_model.json model_config.name '{folder}': the folder runs its own Python code" in str(caught.value)
    assert "--trust-remote-code" in str(caught.value)
