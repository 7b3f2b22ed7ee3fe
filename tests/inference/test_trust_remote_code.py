"""`deepsynth infer` takes `trust_remote_code` from the local user only, never from an adapter's card.

The adapter folder here (a real tiny adapter, its card edited as a colleague's could be) names a
base model folder whose config.json maps the Auto classes to its own `evil.py`, and asks for
`trust_remote_code: true`. Without `--trust-remote-code` the code must not run; with it, it does
(the control proving the folder would really run code). Each run is the CLI in a child process with
its own Hugging Face module cache, so nothing is written outside the test's folder."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from remote_code_model import write_remote_code_model


def _infer(adapter: Path, text: Path, cache: Path, *flags: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, HF_MODULES_CACHE=str(cache), HF_HOME=str(cache / "hf"), HF_HUB_OFFLINE="1",
               PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    return subprocess.run([sys.executable, "-m", "deepsynth", "infer", "--adapter", str(adapter),
                           "--text-file", str(text), *flags],
                          capture_output=True, text=True, timeout=300, env=env)


def _evil_adapter(two_adapters, tmp_path: Path) -> tuple[Path, Path]:
    """(an adapter whose card asks for remote code from a base folder that writes a marker, the marker)."""
    marker = tmp_path / "REMOTE_CODE_RAN"
    base = write_remote_code_model(tmp_path / "evil-base", marker)
    adapter = tmp_path / "adapter"
    shutil.copytree(two_adapters[0], adapter)
    card = json.loads((adapter / "deepsynth_model.json").read_text())
    card["model_config"].update(name=str(base), trust_remote_code=True)
    (adapter / "deepsynth_model.json").write_text(json.dumps(card))
    return adapter, marker


@pytest.mark.slow
def test_a_card_cannot_turn_on_remote_code_only_the_flag_can(two_adapters, tmp_path):
    adapter, marker = _evil_adapter(two_adapters, tmp_path)
    text = tmp_path / "doc.txt"
    text.write_text("The river flooded the valley.")

    refused = _infer(adapter, text, tmp_path / "modules")
    assert refused.returncode == 2, refused.stderr[-2000:]
    assert "runs its own Python code (auto_map in config.json); DeepSynth runs it only with --trust-remote-code" \
        in refused.stderr
    assert "Traceback" not in refused.stderr
    assert not marker.exists(), "the card's trust_remote_code ran the base folder's code"

    trusted = _infer(adapter, text, tmp_path / "modules", "--trust-remote-code")
    assert trusted.returncode != 0  # evil.py defines no usable model; what matters is that it ran
    assert marker.read_text() == "owned", trusted.stderr[-2000:]


@pytest.mark.slow
def test_merging_an_adapter_for_export_does_not_take_remote_code_from_its_card(two_adapters, tmp_path):
    adapter, marker = _evil_adapter(two_adapters, tmp_path)
    env = dict(os.environ, HF_MODULES_CACHE=str(tmp_path / "modules"), HF_HOME=str(tmp_path / "hf"),
               HF_HUB_OFFLINE="1", PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    done = subprocess.run([sys.executable, "-m", "deepsynth", "export", "--adapter-dir", str(adapter),
                           "--out", str(tmp_path / "p.zip"), "--merge"],
                          capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 2, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    assert not marker.exists(), "the card's trust_remote_code ran the base folder's code during the merge"
    assert not (tmp_path / "p.zip").exists()
