"""The Playground never hangs and keeps what was typed (issue 22, items 1 and 4), and answers on an
uploaded page file (issue 19, item 6). Inference runs in a stand-in child (`test_playground_page`).

Before: a failing child left the status spinning and every column "waiting…"; removing the last
adapter hid the inputs, and adding one back (or a reload) reset the document to the sample text
and cleared the reference."""

import io
import json
import os

from dashboard_testing import texts
from test_playground_page import FakeChild, _with_default_popen, fake_infer  # noqa: F401 (a fixture)

from deepsynth.inference import playground_client

MISFIT = ("/store/adapter: the adapter needs a base of its own: max source tokens 128 (the loaded base has 192) "
          "(deepsynth infer and the Playground load one per distinct setting)")


def pdf_bytes(pages: int = 2) -> bytes:
    from PIL import Image, ImageDraw

    images = []
    for number in range(pages):
        image = Image.new("L", (400, 300), 255)
        ImageDraw.Draw(image).text((20, 20 + number * 10), f"Page {number + 1}: the river rose.", fill=0)
        images.append(image)
    out = io.BytesIO()
    images[0].save(out, "PDF", save_all=True, append_images=images[1:], resolution=72)
    return out.getvalue()


def test_a_failure_ends_the_spinner_with_its_message(open_page, store, monkeypatch):
    def failing(argv, stderr=None, **kwargs):  # the child stops with a user error (exit 2) after its plan
        stderr.write(f"deepsynth infer: error: {MISFIT}\n".encode())
        return FakeChild([json.dumps({"event": "plan", "note": "", "bases": "", "pages": ""})], returncode=2)

    monkeypatch.setattr(playground_client, "summarize_each", _with_default_popen(failing))
    app = open_page("playground")
    app.multiselect(key="playground.adapters").set_value([store.with_adapter, store.finished[2]]).run()
    app.button(key="playground.go").click().run()
    assert not app.exception
    (status,) = app.status
    assert status.state == "error" and "needs a base of its own: max source tokens 128" in status.label
    assert app.error[0].value == MISFIT and "{" not in app.error[0].value
    captions = [c.value for c in app.caption]
    assert not any("waiting" in c for c in captions), captions
    assert captions.count("not run: see the error above") == 3  # the base and both adapters


def test_the_plan_is_said_before_loading_and_every_column_fills(open_page, store, monkeypatch):
    note = ("The 2 bases these adapters need take about 1.1 GB together, more than the 0.5 GB of memory "
            "available, so they load one at a time, each freed before the next (slower, same answers).")

    def two_bases(argv, stdout=None, stderr=None, **kwargs):
        args = argv[argv.index("infer") + 1:]
        adapters = [args[i + 1] for i, a in enumerate(args) if a == "--adapter"]
        lines = [json.dumps({"event": "plan", "note": note, "bases": "2 bases, one per distinct setting (...)",
                             "pages": ""}),
                 json.dumps({"event": "loaded", "seconds": 2.0}),
                 json.dumps({"event": "summary", "label": "base", "summary": "base says", "seconds": 1.0}),
                 json.dumps({"event": "summary", "label": adapters[0], "summary": "first says", "seconds": 1.0}),
                 json.dumps({"event": "loaded", "seconds": 2.5}),
                 json.dumps({"event": "summary", "label": adapters[1], "summary": "second says", "seconds": 1.0})]
        return FakeChild(lines)

    monkeypatch.setattr(playground_client, "summarize_each", _with_default_popen(two_bases))
    app = open_page("playground")
    app.multiselect(key="playground.adapters").set_value([store.with_adapter, store.finished[2]]).run()
    app.button(key="playground.go").click().run()
    assert not app.exception and not app.error
    assert note in [i.value for i in app.info]
    (status,) = app.status
    assert status.state == "complete"
    shown = texts(app)
    assert all(said in shown for said in ("base says", "first says", "second says"))
    assert "Models loaded in 4.5 s" in shown  # both loads counted


def test_typed_inputs_survive_removing_every_adapter_and_a_reload(open_page, store):
    app = open_page("playground")
    app.multiselect(key="playground.adapters").set_value([store.with_adapter]).run()
    app.text_area(key="playground.text").set_value("My own document about the river.").run()
    app.text_input(key="playground.prompt").set_value("Which river?").run()
    app.text_input(key="playground.reference").set_value("The river Seine.").run()

    app.multiselect(key="playground.adapters").set_value([]).run()
    assert app.text_area(key="playground.text").value == "My own document about the river."  # still shown
    app.multiselect(key="playground.adapters").set_value([store.finished[2]]).run()
    assert app.text_area(key="playground.text").value == "My own document about the river."
    assert app.text_input(key="playground.prompt").value == "Which river?"
    assert app.text_input(key="playground.reference").value == "The river Seine."

    reloaded = open_page("playground")  # a new session: a reload, or a restart of the dashboard
    assert reloaded.multiselect(key="playground.adapters").value == [store.finished[2]]
    assert reloaded.text_area(key="playground.text").value == "My own document about the river."
    assert reloaded.text_input(key="playground.prompt").value == "Which river?"
    assert reloaded.text_input(key="playground.reference").value == "The river Seine."


def test_an_uploaded_pdf_is_answered_with_the_prompt(open_page, store, fake_infer, monkeypatch):
    seen_files = []
    original = playground_client.summarize_each

    def recording(*args, **kwargs):
        path = kwargs.get("file")
        seen_files.append((str(path), path is not None and os.path.exists(path)))
        return original(*args, **kwargs)

    monkeypatch.setattr(playground_client, "summarize_each", recording)
    app = open_page("playground")
    app.multiselect(key="playground.adapters").set_value([store.with_adapter]).run()
    app.radio(key="playground.kind").set_value("Page file (PDF or image)").run()
    app.file_uploader(key="playground.file").upload("scan 1.pdf", pdf_bytes(2), "application/pdf").run()
    assert not app.exception and not app.error
    assert "scan 1.pdf: page 1 of 2 (at the reader's default DPI)" in [i.proto.imgs[0].caption for i in app.image]
    app.text_input(key="playground.prompt").set_value("Which river rose?").run()
    app.button(key="playground.go").click().run()
    assert not app.exception and not app.error
    (call,) = fake_infer
    args = call["args"]
    assert args[args.index("--file") + 1].endswith("scan_1.pdf") and seen_files[0][1]  # a copy, there while it ran
    assert args[args.index("--prompt") + 1] == "Which river rose?"
    assert f"summary by {store.with_adapter[:8]}" in texts(app)


def test_a_corrupt_upload_is_refused_naming_it(open_page, store, fake_infer):
    app = open_page("playground")
    app.multiselect(key="playground.adapters").set_value([store.with_adapter]).run()
    app.radio(key="playground.kind").set_value("Page file (PDF or image)").run()
    app.file_uploader(key="playground.file").upload("broken.pdf", b"%PDF-1.4\n garbage\n%%EOF\n",
                                                    "application/pdf").run()
    assert not app.exception
    assert app.error[0].value.startswith("broken.pdf: not a readable PDF (corrupt)")
    assert "playground.go" not in [b.key for b in app.button] and not fake_infer
