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
def test_a_pdf_upload_runs_and_its_failure_ends_the_spinner_in_chromium(served, browser, tmp_path):
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
    assert "deepsynth_model.json" in body and "Traceback" not in body
    assert page.locator('[data-testid="stException"]').count() == 0
    assert page.get_by_role("textbox", name="Prompt (optional)").input_value() == "Which river rose?"
    screenshot(page, tmp_path, "playground-page-file-failure")
