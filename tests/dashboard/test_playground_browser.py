"""The Playground in a real browser: a PDF uploaded, a prompt typed, the models run in a real child
process; the registered adapter here is a structurally valid but unloadable stand-in, so the run
fails, and the failure must end the spinner with its message (no column left "waiting…")."""

import io

import pytest
from headless_chromium import browser  # noqa: F401  (a fixture)
from test_browser import screenshot, settled, served  # noqa: F401 (a fixture)


def pdf_bytes() -> bytes:
    from PIL import Image, ImageDraw

    pages = []
    for number in range(2):
        page = Image.new("L", (600, 800), 255)
        ImageDraw.Draw(page).text((40, 40), f"Page {number + 1}: the river rose over the bridge.", fill=0)
        pages.append(page)
    out = io.BytesIO()
    pages[0].save(out, "PDF", save_all=True, append_images=pages[1:], resolution=72)
    return out.getvalue()


@pytest.mark.browser
def test_a_pdf_upload_runs_and_its_failure_ends_the_spinner_in_chromium(served, browser, tmp_path, workspace):
    import json

    forms = workspace / "workspace" / "dashboard-forms"  # the Playground's remembered choice (FormMemory):
    forms.mkdir(parents=True, exist_ok=True)             # the stand-in adapter, whatever else the store holds
    (forms / "local.json").write_text(json.dumps({"playground": {"playground.adapters": [
        "models:/browser-smoke@champion"]}}))
    pdf = tmp_path / "river scan.pdf"
    pdf.write_bytes(pdf_bytes())
    page = browser.new_page(viewport={"width": 1400, "height": 2000})
    page.goto(f"{served}/playground")
    page.get_by_text("Adapters to compare").first.wait_for(state="attached", timeout=60_000)
    settled(page)
    page.get_by_text("Page file (PDF or image)").first.click()
    settled(page)
    page.locator('input[type="file"]').set_input_files(str(pdf))
    page.get_by_text("river scan.pdf: page 1 of 2").first.wait_for(state="attached", timeout=60_000)
    settled(page)
    prompt = page.get_by_role("textbox", name="Prompt (optional)")
    prompt.fill("Which river rose?")
    prompt.press("Enter")
    settled(page)
    page.get_by_role("button", name="Summarize").click()
    page.get_by_text("Stopped:").first.wait_for(state="attached", timeout=300_000)
    settled(page)
    body = page.inner_text("body")
    assert "waiting…" not in body and "not run: see the error above" in body
    assert "deepsynth_model.json" in body and "browser-smoke@champion" in body and "Traceback" not in body
    assert page.locator('[data-testid="stException"]').count() == 0
    assert page.get_by_role("textbox", name="Prompt (optional)").input_value() == "Which river rose?"
    screenshot(page, tmp_path, "playground-page-file-failure")


@pytest.fixture
def real_adapters_store(tmp_path, monkeypatch):
    """A store of its own holding two runs with real tiny adapters that need different bases (the
    second was trained, as its card says, with another max_source_tokens)."""
    import json
    import shutil
    from types import SimpleNamespace

    from tiny_adapters import build_tiny_adapter

    from deepsynth.tracking.store import RunLogger, client_for

    uri = f"sqlite:///{tmp_path / 'own-store' / 'mlflow.db'}"
    (tmp_path / "own-store").mkdir()
    client_for(uri).search_experiments()
    one = build_tiny_adapter(tmp_path / "one", seed=31)
    two = tmp_path / "two"
    shutil.copytree(build_tiny_adapter(tmp_path / "two-src", seed=32), two)
    card = json.loads((two / "deepsynth_model.json").read_text())
    card["model_config"]["max_source_tokens"], card["reader"]["max_feature_tokens"] = 99, 99
    (two / "deepsynth_model.json").write_text(json.dumps(card))
    runs = []
    for name, folder, score in (("river-a", one, 20.0), ("river-b", two, 22.0)):
        logger = RunLogger.start("playground-browser", run_name=name, uri=uri)
        logger.log_metrics({"eval/rougeL": score}, step=1, flush=True)
        logger.log_artifacts(folder, "adapter")
        logger.finish()
        runs.append(logger.run_id)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    return SimpleNamespace(uri=uri, runs=runs)


@pytest.mark.browser
@pytest.mark.slow
def test_adapters_on_two_bases_answer_a_pdf_side_by_side_in_chromium(real_adapters_store, workspace, browser,
                                                                     tmp_path):
    from test_browser import serving

    pdf = tmp_path / "river.pdf"
    pdf.write_bytes(pdf_bytes())
    with serving(workspace, real_adapters_store, tmp_path) as url:
        page = browser.new_page(viewport={"width": 1400, "height": 1800})
        page.goto(f"{url}/playground")
        page.get_by_text("Adapters to compare").first.wait_for(state="attached", timeout=60_000)
        settled(page)
        picker = page.get_by_role("combobox").first
        picker.click()
        page.get_by_role("option", name="river-a").first.click()  # the best (river-b) is preselected
        page.keyboard.press("Escape")
        settled(page)
        page.get_by_text("Page file (PDF or image)").first.click()
        settled(page)
        page.locator('input[type="file"]').set_input_files(str(pdf))
        page.get_by_text("river.pdf: page 1 of 2").first.wait_for(state="attached", timeout=60_000)
        settled(page)
        page.get_by_role("button", name="Summarize").click()
        page.get_by_text("Done:").first.wait_for(state="attached", timeout=400_000)
        page.get_by_text("Models loaded in").first.wait_for(state="attached", timeout=60_000)
        settled(page)
        body = page.inner_text("body")
        assert "waiting…" not in body and "Stopped:" not in body and "Traceback" not in body
        assert "2 bases, one per distinct setting: river-a (" in body and "needs max source tokens 192 (river-b (" in body
        assert body.count("(includes reading the page)") == 1 and "Models loaded in" in body
        screenshot(page, tmp_path, "playground-two-bases-pdf")
