"""Issue 20, item 3: a base model an adapter's card names by hub id loads from the local Hugging Face
cache; downloading it needs the user's own `--allow-download`, on every verb that loads a card's
base: `infer` (tests/security/test_card_everywhere.py), `export --merge`, `merge` and `import`
(the tensor shapes are checked against the base).

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
