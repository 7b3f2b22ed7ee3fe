"""Issue 20, item 3: a base model an adapter's card names by hub id loads from the local Hugging Face
cache; downloading it needs the user's own `--allow-download`, on every verb that loads a card's
base: `infer` (tests/security/test_card_everywhere.py), `export --merge`, `merge`, `import` (the
tensor shapes are checked against the base) and the `inference.py` a package carries.

The machine here is "online" (HF_HUB_OFFLINE off) with an empty cache, and every network
connection is refused and recorded: without the flag the verb stops with one message before
anything is requested; with it, the base goes to the download (`hub_models.model_files`, replaced
by a stand-in that records the name and says the hub has no such model)."""

from __future__ import annotations

import socket

import pytest
from attack_tools import tampered_adapter
from attack_tools import tiny_adapter  # noqa: F401  (fixture)

from deepsynth.cli import main

HUB_ID = "someone-else/tiny-base"
REFUSAL = (f"its base model '{HUB_ID}' is a Hugging Face hub id that is not in this machine's Hugging Face "
           "cache; DeepSynth downloads it only if you add --allow-download")


@pytest.fixture
def online_empty_cache(tmp_path, monkeypatch):
    """An empty HF cache on a machine that may contact the hub; every connection attempt is recorded
    and refused; `model_files` (the download) records what it was asked for."""
    import deepsynth.hub_models as hub_models
    from deepsynth.errors import InputError
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
    connections, downloads = [], []

    def refuse(sock, address):
        connections.append(address)
        raise OSError("this test refuses every connection")

    def download(name, progress=None):
        downloads.append(name)
        raise InputError(f"model {name!r}: no such model on the Hugging Face hub (a stand-in)")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(hub_models, "model_files", download)
    return connections, downloads


def one_error(capsys, verb: str) -> str:
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith(f"deepsynth {verb}: error:")]
    assert len(errors) == 1 and "Traceback" not in err, err
    return errors[0]


def test_export_merge_needs_allow_download_for_a_cards_hub_base(tmp_path, tiny_adapter, online_empty_cache, capsys):
    connections, downloads = online_empty_cache
    adapter = tampered_adapter(tiny_adapter, tmp_path / "adapter", name=HUB_ID)
    args = ["export", "--adapter-dir", str(adapter), "--out", str(tmp_path / "out.zip"), "--merge"]
    assert main(args) == 2
    assert REFUSAL in one_error(capsys, "export")
    assert connections == [] and downloads == [] and not (tmp_path / "out.zip").exists()
    assert main([*args, "--allow-download"]) == 2
    assert "no such model on the Hugging Face hub (a stand-in)" in one_error(capsys, "export")
    assert downloads == [HUB_ID] and connections == []


def test_merge_passes_allow_download_on():
    from deepsynth.cli import build_parser

    assert build_parser().parse_args(["merge", "--run", "abc", "--allow-download"]).allow_download is True
    assert build_parser().parse_args(["merge", "--run", "abc"]).allow_download is False


def test_import_needs_allow_download_to_fetch_the_base_it_checks_shapes_against(
        tmp_path, tiny_adapter, online_empty_cache, capsys):
    connections, downloads = online_empty_cache
    adapter = tampered_adapter(tiny_adapter, tmp_path / "adapter", name=HUB_ID)
    package = tmp_path / "package.zip"
    assert main(["export", "--adapter-dir", str(adapter), "--out", str(package)]) == 0  # no base needed
    capsys.readouterr()
    args = ["import", str(package), "--dest", str(tmp_path / "imported"), "--allow-location", HUB_ID]
    assert main(args) == 2
    assert REFUSAL in one_error(capsys, "import")
    assert connections == [] and downloads == [] and not (tmp_path / "imported").exists()
    assert main([*args, "--allow-download"]) == 2
    said = one_error(capsys, "import")
    assert REFUSAL not in said and "no such model on the Hugging Face hub (a stand-in)" in said
    assert downloads == [HUB_ID] and connections == [] and not (tmp_path / "imported").exists()


@pytest.mark.slow
def test_a_packages_inference_script_needs_allow_download_too(tmp_path, tiny_adapter, capsys):
    """The `inference.py` a package carries, run where the hub is reachable (a recording stand-in on
    127.0.0.1): without the flag it asks the hub nothing; with it, the card's base goes to the hub."""
    import http.server
    import os
    import subprocess
    import sys
    import threading
    import zipfile

    from test_card_everywhere import _RecordingHub  # records every request and answers 404

    adapter = tampered_adapter(tiny_adapter, tmp_path / "adapter", name=HUB_ID)
    package = tmp_path / "package.zip"
    assert main(["export", "--adapter-dir", str(adapter), "--out", str(package)]) == 0
    folder = tmp_path / "unpacked"
    with zipfile.ZipFile(package) as archive:
        archive.extractall(folder)
    _RecordingHub.requests = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _RecordingHub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        env = dict(os.environ, HF_ENDPOINT=f"http://127.0.0.1:{server.server_address[1]}", HF_HUB_OFFLINE="0",
                   TRANSFORMERS_OFFLINE="0", HF_HOME=str(tmp_path / "hf"), HF_HUB_CACHE=str(tmp_path / "hf" / "hub"),
                   HF_HUB_DISABLE_TELEMETRY="1")
        env.pop("PYTHONPATH", None)  # the package's own vendored code runs
        run = [sys.executable, "inference.py", "--text", "The river flooded the valley.", "--threads", "1"]
        refused = subprocess.run(run, cwd=folder, env=env, capture_output=True, text=True, timeout=300)
        assert refused.returncode == 2 and REFUSAL in refused.stderr, refused.stderr[-3000:]
        assert _RecordingHub.requests == []
        allowed = subprocess.run([*run, "--allow-download"], cwd=folder, env=env, capture_output=True, text=True,
                                 timeout=300)
        assert allowed.returncode != 0  # the recording hub has no such model
        assert any(HUB_ID in request for request in _RecordingHub.requests), allowed.stderr[-3000:]
    finally:
        server.shutdown()
        server.server_close()
