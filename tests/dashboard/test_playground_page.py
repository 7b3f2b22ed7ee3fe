"""Playground page and its client: adapters from the registry and runs (with their scores),
inference in a child process (`deepsynth infer --stream`, faked here by a stand-in child), each
model's summary shown as it is ready with its time; errors shown."""

import io
import json
import subprocess
import sys

import pytest
from dashboard_testing import texts

from deepsynth import verb_runner
from deepsynth.errors import DeepSynthError
from deepsynth.inference import playground_client


class FakeChild:
    """What `subprocess.Popen` returns, for a child that prints `lines` and exits with `returncode`."""

    def __init__(self, lines, returncode=0, stderr=b""):
        self.stdout = io.StringIO("".join(line + "\n" for line in lines))
        self.returncode, self.stderr_bytes = returncode, stderr
        self.killed = False

    def wait(self, timeout=None):
        return self.returncode

    def kill(self):
        self.killed = True


@pytest.fixture
def fake_infer(monkeypatch):
    """Replaces the child: records its argv, then "streams" one summary per model, 1.5 s each."""
    calls = []

    def popen(argv, stdout=None, stderr=None, **kwargs):
        args = argv[argv.index("infer") + 1:]
        text_file = args[args.index("--text-file") + 1] if "--text-file" in args else None
        calls.append({"argv": list(argv), "args": args, "text": open(text_file).read() if text_file else None})
        adapters = [args[i + 1] for i, a in enumerate(args) if a == "--adapter"]
        lines = ["Loading weights: 100%|███| 272/272", json.dumps({"event": "loaded", "seconds": 4.25})]
        labels = (["base"] if "--base" in args else []) + adapters
        lines += [json.dumps({"event": "summary", "label": label, "seconds": 1.5,
                              "summary": "A tower." if label == "base" else f"summary by {label[:8]}"})
                  for label in labels]
        return FakeChild(lines)

    monkeypatch.setattr(playground_client, "summarize_each", _with_default_popen(popen))
    return calls


def _with_default_popen(popen):
    original = playground_client.summarize_each

    def each(*args, **kwargs):
        kwargs.setdefault("popen", popen)
        return original(*args, **kwargs)

    return each


def test_each_model_with_its_time_and_score(open_page, store, fake_infer):
    app = open_page("playground")
    picker = app.multiselect(key="playground.adapters")
    label = picker.format_func(store.with_adapter)
    assert store.with_adapter[:8] in label and "ROUGE-L 21.0" in label  # the run's own eval score
    picker.set_value([store.with_adapter, store.finished[2]]).run()
    assert len(app.image) == 1  # the text rendered as a page
    app.text_area(key="playground.text").set_value("Paris has a tall iron tower built in 1889.").run()
    app.text_input(key="playground.reference").set_value("A tower in Paris.").run()
    app.button(key="playground.go").click().run()
    assert not app.exception and not app.error

    (call,) = fake_infer
    assert call["argv"][:4] == [sys.executable, "-m", "deepsynth", "infer"]
    assert call["text"] == "Paris has a tall iron tower built in 1889."
    args = call["args"]
    assert [args[i + 1] for i, a in enumerate(args) if a == "--adapter"] == [store.with_adapter, store.finished[2]]
    assert "--base" in args and args[-1] == "--stream" and args[args.index("--tracking-uri") + 1] == store.uri

    shown = texts(app)
    assert "**Base model** (no adapter)" in shown and "A tower." in shown
    assert f"summary by {store.with_adapter[:8]}" in shown and f"summary by {store.finished[2][:8]}" in shown
    times = [c.value for c in app.caption if c.value.startswith("1.5 s")]
    assert len(times) == 3 and "includes reading the page" in times[0]  # one per model, the first read the page
    assert all("ROUGE-L" in t and "vs your reference" in t for t in times)
    assert "loaded in 4.2 s" in shown
    app.text_area(key="playground.text").set_value("Another document entirely.").run()
    assert "A tower." not in texts(app)  # summaries of the old text are not shown for the new one


def test_inference_errors_are_shown(open_page, store, monkeypatch):
    def failing(argv, stderr=None, **kwargs):  # the child's user error (exit 2), as the CLI prints it
        stderr.write(b"deepsynth infer: error: run abc has no adapter/adapter_model.safetensors artifact\n")
        return FakeChild([json.dumps({"event": "loaded", "seconds": 1.0})], returncode=2)

    monkeypatch.setattr(playground_client, "summarize_each", _with_default_popen(failing))
    app = open_page("playground")
    app.checkbox(key="playground.base").set_value(False).run()
    app.button(key="playground.go").click().run()
    assert app.error[0].value == "run abc has no adapter/adapter_model.safetensors artifact"


def test_empty_text_is_refused_at_the_field(open_page, fake_infer):
    app = open_page("playground")
    app.text_area(key="playground.text").set_value("   ").run()
    assert "Write or paste a document" in app.error[0].value
    assert "playground.go" not in [b.key for b in app.button] and not fake_infer


def test_the_stream_client_reports_each_event_and_maps_failures(tmp_path):
    seen = []
    lines = ["noise from a library", json.dumps({"event": "loaded", "seconds": 2.0}),
             json.dumps({"event": "summary", "label": "base", "summary": "x", "seconds": 0.5}),
             json.dumps({"event": "summary", "label": "abc", "summary": "y", "seconds": 0.25})]
    results = playground_client.summarize_each(["abc"], seen.append, text="a text",
                                               popen=lambda argv, **kw: FakeChild(lines))
    assert [(e.event, e.label) for e in seen] == [("loaded", ""), ("summary", "base"), ("summary", "abc")]
    assert {label: e.summary for label, e in results.items()} == {"base": "x", "abc": "y"}

    def user_error(argv, stderr=None, **kwargs):  # exit 2 with the CLI's message, as a real child does
        stderr.write(b"deepsynth infer: error: no adapter labelled 'zzz'\n")
        return FakeChild([], returncode=2)

    with pytest.raises(DeepSynthError, match="^no adapter labelled 'zzz'$"):
        playground_client.summarize_each(["zzz"], seen.append, text="a text", popen=user_error)

    slow = subprocess.Popen  # a real child that never answers: killed at the timeout, by its pid
    with pytest.raises(DeepSynthError, match="did not finish within 1 s"):
        playground_client.summarize_each(
            ["abc"], seen.append, text="a text", timeout_s=1,
            popen=lambda argv, **kw: slow([sys.executable, "-c", "import time; time.sleep(60)"], **kw))


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
    assert playground_client.parse_event('{"event": "summary", "label": "a", "summary": "s", "seconds": 1}').label == "a"
    assert playground_client.parse_event("Loading weights: 100%") is None


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
