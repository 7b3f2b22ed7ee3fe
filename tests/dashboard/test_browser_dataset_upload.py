"""The Dataset page's upload flow in headless Chromium: pick the transcribe task, upload a PDF made
here (with a text layer), see its page thumbnails with their provenance and text, build it.
Screenshots (a tall viewport) go to the test's folder and to $DEEPSYNTH_SCREENSHOTS when set."""

from __future__ import annotations

import json

import pytest
from data.page_documents import text_pdf
from headless_chromium import browser  # noqa: F401  (a fixture)
from test_browser import screenshot, serving, settled


@pytest.mark.browser
def test_upload_a_pdf_see_its_pages_and_build_it(browser, workspace, store, tmp_path):  # noqa: F811
    pdf = text_pdf(["Quarterly report\nRevenue rose by four percent.", "Outlook\nThe board expects growth."])
    with serving(workspace, store, tmp_path) as url:
        page = browser.new_page(viewport={"width": 1400, "height": 2600})
        page.goto(f"{url}/dataset")
        page.get_by_text("Upload files", exact=True).first.wait_for(timeout=60_000)
        settled(page)
        page.get_by_text("Upload files", exact=True).click()
        page.get_by_text("Upload limit: 200 MB per file", exact=False).first.wait_for(timeout=60_000)
        settled(page)
        page.locator('[data-testid="stFileUploader"] input[type="file"]').set_input_files(
            files=[{"name": "quarterly.pdf", "mimeType": "application/pdf", "buffer": pdf}])
        # summarize (the default task) needs a target per example: the page says how to give them
        page.get_by_text("These pages have no targets for the summarize task", exact=False).first.wait_for(timeout=90_000)
        settled(page)
        screenshot(page, tmp_path, "dataset-upload-pdf-summarize")
        page.get_by_role("combobox", name="Task").click()
        page.get_by_role("option", name="transcribe").click()
        page.get_by_text("Primary metric: CER", exact=False).first.wait_for(timeout=60_000)
        page.get_by_text("quarterly.pdf · page 2 · 144 DPI", exact=False).first.wait_for(timeout=90_000)
        settled(page)
        # the targets sit in code blocks, which Streamlit draws once their highlighter has loaded
        page.get_by_text("Revenue rose by four percent.", exact=False).first.wait_for(timeout=60_000)
        screenshot(page, tmp_path, "dataset-upload-pdf")
        body = page.inner_text("body")
        assert "quarterly.pdf · page 1 · 144 DPI" in body, body[-3000:]
        assert "2 examples from 1 document(s); a build splits them 2 train" in body
        assert page.locator('[data-testid="stException"]').count() == 0 and "Traceback" not in body
        thumbnails = page.locator('[data-testid="stImage"] img')
        assert thumbnails.count() == 2
        assert all(thumbnails.nth(i).evaluate("img => img.naturalWidth") > 50 for i in range(2))

        name = page.get_by_role("textbox", name="Dataset name")
        name.fill("quarterly-pages")
        name.press("Enter")
        settled(page)
        page.get_by_role("button", name="Generate dataset").click()
        page.get_by_text("Wrote", exact=False).first.wait_for(timeout=120_000)
        settled(page)
        body = page.inner_text("body")
        assert "2 examples (" in body and "2 pages" in body
        screenshot(page, tmp_path, "dataset-upload-built")
    meta = json.loads((workspace / "workspace" / "datasets" / "quarterly-pages" / "deepsynth_dataset.json").read_text())
    assert meta["dataset_config"]["task"] == "transcribe" and meta["counts"]["pages"] == 2
