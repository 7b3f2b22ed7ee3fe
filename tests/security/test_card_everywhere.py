"""Issue 21, item 7: only `import` checked an adapter's card; `infer --adapter DIR|RUN_ID` with a
card naming a hub id made a request to the hub. Now the card is checked wherever an adapter is
loaded (inference, the playground, which runs `infer`, `export --merge`), and a hub-id base is read
from the local Hugging Face cache only, unless the user adds `--allow-download`.

The "hub" here is a local HTTP server on 127.0.0.1 (`HF_ENDPOINT`) that records every request and
answers 404: a request the card's author caused shows up in its log."""

from __future__ import annotations

import http.server
import json
import threading
from pathlib import Path

import pytest
from attack_tools import run_deepsynth, tampered_adapter
from attack_tools import tiny_adapter  # noqa: F401  (fixtures)

from deepsynth.errors import InputError

HUB_ID = "someone-else/tiny-base"


class _RecordingHub(http.server.BaseHTTPRequestHandler):
    requests: list[str] = []

    def _answer(self) -> None:
        type(self).requests.append(f"{self.command} {self.path}")
        self.send_response(404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_HEAD = do_POST = _answer

    def log_message(self, *args) -> None:  # quiet
        pass


@pytest.fixture
def fake_hub():
    _RecordingHub.requests = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _RecordingHub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", _RecordingHub.requests
    finally:
        server.shutdown()
        server.server_close()


def _online(endpoint: str) -> dict[str, str]:
    """The environment of a user whose machine can reach the hub (here: the recording server)."""
    return {"HF_ENDPOINT": endpoint, "HF_HUB_OFFLINE": "0", "TRANSFORMERS_OFFLINE": "0",
            "HF_HUB_DISABLE_TELEMETRY": "1"}


@pytest.mark.slow
def test_infer_with_a_card_naming_a_hub_id_requests_nothing_without_the_users_permission(
        tmp_path, tiny_adapter, fake_hub, mlflow_tracking_uri):
    from deepsynth.tracking.store import RunLogger

    endpoint, requests = fake_hub
    adapter = tampered_adapter(tiny_adapter, tmp_path / "adapter", name=HUB_ID)
    logger = RunLogger.start("security-hub-card", uri=mlflow_tracking_uri)
    logger.log_artifacts(adapter, "adapter")
    logger.finish()
    text = tmp_path / "doc.txt"
    text.write_text("The river flooded the valley.")
    home = tmp_path / "home"
    home.mkdir()
    for source in (str(adapter), logger.run_id):
        done = run_deepsynth(["infer", "--adapter", source, "--tracking-uri", mlflow_tracking_uri,
                              "--text-file", str(text)], home, **_online(endpoint))
        assert requests == [], f"{source}: the card made DeepSynth contact the hub: {requests}"
        assert done.returncode == 2, done.stderr[-3000:]
        assert "Traceback" not in done.stderr
        assert f"its base model '{HUB_ID}' is a Hugging Face hub id that is not in this machine's Hugging Face " \
               "cache; DeepSynth downloads it only if you add --allow-download" in done.stderr, done.stderr[-3000:]

    allowed = run_deepsynth(["infer", "--adapter", str(adapter), "--text-file", str(text), "--allow-download"],
                            home, **_online(endpoint))
    assert allowed.returncode != 0  # the recording hub has no such model
    assert any(HUB_ID in request for request in requests), "--allow-download did not let it ask the hub"


@pytest.mark.parametrize("field, value, expected", [
    ("name", "https://example.invalid/model", "model_config.name: 'https://example.invalid/model' is a URL"),
    ("loader", "evil", "model_config: unknown field(s) 'loader'"),
])
def test_a_loaded_card_is_checked_like_an_imported_one(tmp_path, tiny_adapter, field, value, expected):
    from deepsynth.inference import Summarizer

    adapter = tampered_adapter(tiny_adapter, tmp_path / "adapter", **{field: value})
    with pytest.raises(InputError) as caught:
        Summarizer.for_adapter(adapter)
    assert f"{adapter}/deepsynth_model.json asks for what an adapter may not decide" in str(caught.value)
    assert expected in str(caught.value)


def test_a_loaded_card_may_name_this_machines_folders_and_its_trust_flag_is_ignored(tiny_adapter):
    from deepsynth.export.card_check import check_loaded_card

    card = json.loads((tiny_adapter / "deepsynth_model.json").read_text())
    card["model_config"].update(name="/srv/models/our-own-base", trust_remote_code=True)
    check_loaded_card(card, "adapter")  # the local user's own folders; remote code only by their flag


def test_merging_checks_the_card_too(tmp_path, tiny_adapter):
    from deepsynth.export.merge import merge_adapter

    adapter = tampered_adapter(tiny_adapter, tmp_path / "adapter", name=HUB_ID)
    with pytest.raises(InputError, match="not in this machine's Hugging Face cache"):
        merge_adapter(adapter)
    hooked = tampered_adapter(tiny_adapter, tmp_path / "hooked", hooks=["post_merge"])
    with pytest.raises(InputError, match="unknown field"):
        merge_adapter(hooked)


def test_a_cached_hub_model_loads_with_the_hub_switched_off(tmp_path, monkeypatch):
    """A hub id present in the local cache is read from it, with every hub request refused meanwhile."""
    from huggingface_hub import constants

    from deepsynth.hub_offline import base_loading, cached_hub_model

    snapshot = tmp_path / "hub" / "models--someone-else--tiny-base" / "snapshots" / "abc123"
    snapshot.mkdir(parents=True)
    (snapshot / "config.json").write_text(json.dumps({"model_type": "llama"}))
    (snapshot.parent.parent / "refs").mkdir()
    (snapshot.parent.parent / "refs" / "main").write_text("abc123")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    assert cached_hub_model(HUB_ID)
    with base_loading({"name": HUB_ID}, "adapter"):
        assert constants.HF_HUB_OFFLINE is True
    assert constants.HF_HUB_OFFLINE is False
    with base_loading({"name": HUB_ID}, "adapter", allow_download=True):
        assert constants.HF_HUB_OFFLINE is False
