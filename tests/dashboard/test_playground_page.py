"""Playground page and its client: adapters from the registry and runs, inference in a child
process (`deepsynth infer --json`, faked here), summaries side by side; errors shown."""

import json
import subprocess

import pytest
from dashboard_testing import texts

from deepsynth import verb_runner
from deepsynth.inference import playground_client
from deepsynth.errors import DeepSynthError
from deepsynth.verb_runner import VerbResult


@pytest.fixture
def fake_infer(monkeypatch):
    calls = []

    def run_verb(verb, args, timeout_s=900.0, run=None):
        text_file = args[args.index("--text-file") + 1] if "--text-file" in args else None
        calls.append({"verb": verb, "args": list(args), "text": open(text_file).read() if text_file else None})
        adapters = [args[i + 1] for i, a in enumerate(args) if a == "--adapter"]
        summaries = {"base": "A tower."} if "--base" in args else {}
        summaries.update({a: f"summary by {a[:8]}" for a in adapters})
        return VerbResult(("deepsynth",), json.dumps(summaries) + "\n", "")

    monkeypatch.setattr(playground_client, "run_verb", run_verb)
    return calls


def test_summaries_side_by_side(open_page, store, fake_infer):
    app = open_page("playground")
    options = app.multiselect(key="playground.adapters").options
    assert any(store.with_adapter[:8] in option for option in options)
    app.multiselect(key="playground.adapters").set_value([store.with_adapter, store.finished[2]]).run()
    assert len(app.image) == 1  # the text rendered as a page
    app.text_area(key="playground.text").set_value("Paris has a tall iron tower built in 1889.").run()
    app.button(key="playground.go").click().run()
    assert not app.exception and not app.error

    (call,) = fake_infer
    assert call["verb"] == "infer" and call["text"] == "Paris has a tall iron tower built in 1889."
    args = call["args"]
    assert [args[i + 1] for i, a in enumerate(args) if a == "--adapter"] == [store.with_adapter, store.finished[2]]
    assert "--base" in args and args[-1] == "--json" and args[args.index("--tracking-uri") + 1] == store.uri

    shown = texts(app)
    assert "**Base model**" in shown and "A tower." in shown
    assert f"summary by {store.with_adapter[:8]}" in shown and f"summary by {store.finished[2][:8]}" in shown
    app.text_area(key="playground.text").set_value("Another document entirely.").run()
    assert "A tower." not in texts(app)  # summaries of the old text are not shown for the new one


def test_inference_errors_are_shown(open_page, store, monkeypatch):
    def failing(verb, args, timeout_s=900.0, run=None):
        raise DeepSynthError("run abc has no adapter/adapter_model.safetensors artifact")

    monkeypatch.setattr(playground_client, "run_verb", failing)
    app = open_page("playground")
    app.checkbox(key="playground.base").set_value(False).run()
    app.button(key="playground.go").click().run()
    assert "has no adapter/adapter_model.safetensors" in app.error[0].value


def test_empty_text_is_refused_at_the_field(open_page, fake_infer):
    app = open_page("playground")
    app.text_area(key="playground.text").set_value("   ").run()
    assert "Write or paste a document" in app.error[0].value
    assert "playground.go" not in [b.key for b in app.button] and not fake_infer


def test_client_arguments_and_output_parsing():
    args = playground_client.infer_args(["models:/m@champion", "abc"], image="/tmp/p.png", include_base=False,
                                        max_new_tokens=32, uri="sqlite:///x.db")
    assert args == ["--adapter", "models:/m@champion", "--adapter", "abc", "--image", "/tmp/p.png",
                    "--max-new-tokens", "32", "--tracking-uri", "sqlite:///x.db", "--json"]
    assert playground_client.parse_summaries('loading...\n{"base": "x", "abc": "y"}\n') == {"base": "x", "abc": "y"}
    with pytest.raises(DeepSynthError, match="printed no summaries"):
        playground_client.parse_summaries("not json")
    with pytest.raises(DeepSynthError, match="at least one adapter"):
        playground_client.infer_args([], text_file="t.txt")


def test_verb_runner_maps_child_failures(tmp_path):
    # a real child: `deepsynth export` of a folder that does not exist fails with a user error (exit 2)
    with pytest.raises(DeepSynthError) as info:
        verb_runner.run_verb("export", ["--adapter-dir", str(tmp_path / "nope"), "--out", str(tmp_path / "x.zip")])
    assert "deepsynth export: error" not in str(info.value) and str(info.value)
    assert not (tmp_path / "x.zip").exists()

    def crashed(argv, **kwargs):
        return subprocess.CompletedProcess(argv, -9, "", "Traceback ...\nMemoryError\n")

    with pytest.raises(DeepSynthError, match=r"failed \(exit status -9\):\nTraceback ...\nMemoryError"):
        verb_runner.run_verb("infer", ["--json"], run=crashed)
