"""Models named by hub id walked in headless Chromium (issue 20, item 3): the Estimate page refuses a
hub id the cache lacks while downloads are off (one message: what is missing, the admin's switch,
`hf download`); the admin (the local user: no sign-in) turns **Allow model downloads** on in the
sidebar and the Download button appears; a hub id in the cache shows its family and vision tokens
per page on the Estimate and Train pages. The dashboard may contact no hub here (HF_ENDPOINT is a
closed port). Full-page screenshots into DEEPSYNTH_SCREENSHOTS when set."""

from __future__ import annotations

import json

import pytest
from headless_chromium import browser  # noqa: F401  (a fixture)
from test_browser import screenshot, serving, settled

HUB_ID = "acme/tiny-qwen"
COMMIT = "c0ffee" * 6 + "c0ff"


def cached_tiny_vlm(hub):
    from deepsynth.models.vlm.tiny import build_tiny_vlm

    repo = hub / "models--acme--tiny-qwen"
    build_tiny_vlm("qwen2_5_vl", repo / "snapshots" / COMMIT)
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    (repo / "refs" / "main").write_text(COMMIT)


def type_model(page, label: str, value: str) -> None:
    field = page.get_by_role("textbox", name=label)
    field.fill(value)
    field.press("Enter")
    settled(page)


@pytest.mark.browser
def test_hub_ids_and_the_download_switch_in_chromium(workspace, store, datasets_setting, browser, tmp_path):
    cached_tiny_vlm(tmp_path / "hub")
    env = {"HF_HUB_CACHE": str(tmp_path / "hub"), "HF_HUB_OFFLINE": "0", "TRANSFORMERS_OFFLINE": "0",
           "HF_ENDPOINT": "http://127.0.0.1:9"}  # "online", but nothing answers: no download happens here
    with serving(workspace, store, tmp_path, **env) as url:
        page = browser.new_page(viewport={"width": 1400, "height": 2400})
        page.goto(url)
        page.get_by_text("Memory per term").first.wait_for(timeout=60_000)
        settled(page)
        page.get_by_test_id("stSelectbox").first.click()
        page.get_by_role("option", name="another folder, config.json or hub id…").click()
        settled(page)
        type_model(page, "Model folder, config.json or hub id (ORG/NAME[@REVISION])", "acme/absent-model")
        page.get_by_text("an admin turns on", exact=False).first.wait_for(timeout=60_000)
        page.get_by_text("Settings", exact=True).first.click()  # the sidebar's settings expander
        settled(page)
        body = page.inner_text("body")
        assert "holds no snapshot of 'acme/absent-model'" in body and "hf download acme/absent-model" in body
        assert page.get_by_role("button", name="Download acme/absent-model").count() == 0
        screenshot(page, tmp_path, "hub-download-off")

        page.get_by_test_id("stSidebarUserContent").get_by_text("Allow model downloads", exact=True).click()
        page.get_by_role("button", name="Download acme/absent-model").wait_for(timeout=60_000)
        settled(page)
        assert json.loads((workspace / "workspace" / "dashboard.json").read_text())["allow_downloads"] is True
        assert "an admin turns on" not in page.inner_text("body")
        screenshot(page, tmp_path, "hub-download-on")

        type_model(page, "Model folder, config.json or hub id (ORG/NAME[@REVISION])", HUB_ID)
        page.get_by_text("a native vision-language model", exact=False).first.wait_for(timeout=60_000)
        settled(page)
        page.get_by_role("button", name="Download acme/absent-model").wait_for(state="detached", timeout=30_000)
        assert "Qwen2.5-VL, a native vision-language model" in page.inner_text("body")
        assert page.locator('[data-testid="stException"]').count() == 0
        screenshot(page, tmp_path, "hub-estimate-cached")

        page.goto(f"{url}/train")
        page.get_by_text("Start a training job", exact=False).first.wait_for(timeout=60_000)
        settled(page)
        if page.get_by_role("textbox", name="Model").count() == 0:  # the form's expander closed
            page.get_by_text("Start a training job", exact=False).first.click()
            settled(page)
        type_model(page, "Model", HUB_ID)
        page.get_by_text("a native vision-language model", exact=False).first.wait_for(timeout=60_000)
        settled(page)
        body = page.inner_text("body")
        assert "Qwen2.5-VL, a native vision-language model" in body and "Traceback" not in body
        screenshot(page, tmp_path, "hub-train-cached")


@pytest.mark.browser
def test_an_allowed_download_shows_its_progress_in_chromium(workspace, store, browser, tmp_path):
    """A real download (huggingface_hub's own client against a stand-in hub on 127.0.0.1, serving a
    tiny VLM slowly): the progress bar moves, then the model's family and vision tokens show."""
    from fake_hf_hub import fake_hub

    from deepsynth.models.vlm.tiny import build_tiny_vlm

    source = build_tiny_vlm("qwen2_5_vl", tmp_path / "served")
    settings = workspace / "workspace" / "dashboard.json"
    settings.parent.mkdir(parents=True, exist_ok=True)
    settings.write_text(json.dumps({"allow_downloads": True}))  # an admin turned it on
    with fake_hub("acme/slow-qwen", source, COMMIT, seconds_per_chunk=0.4) as (endpoint, seen):
        env = {"HF_HUB_CACHE": str(tmp_path / "hub"), "HF_HUB_OFFLINE": "0", "TRANSFORMERS_OFFLINE": "0",
               "HF_ENDPOINT": endpoint}
        with serving(workspace, store, tmp_path, **env) as url:
            page = browser.new_page(viewport={"width": 1400, "height": 2400})
            page.goto(url)
            page.get_by_text("Memory per term").first.wait_for(timeout=60_000)
            settled(page)
            page.get_by_test_id("stSelectbox").first.click()
            page.get_by_role("option", name="another folder, config.json or hub id…").click()
            settled(page)
            type_model(page, "Model folder, config.json or hub id (ORG/NAME[@REVISION])", "acme/slow-qwen")
            page.get_by_role("button", name="Download acme/slow-qwen").click()
            page.get_by_text("Downloading acme/slow-qwen:", exact=False).first.wait_for(timeout=60_000)
            screenshot(page, tmp_path, "hub-download-progress")
            page.get_by_text("a native vision-language model", exact=False).first.wait_for(timeout=120_000)
            settled(page)
            body = page.inner_text("body")
            assert "Qwen2.5-VL, a native vision-language model" in body and "Traceback" not in body
            assert "Downloaded acme/slow-qwen into the Hugging Face cache." in body
            screenshot(page, tmp_path, "hub-download-done")
    snapshot = tmp_path / "hub" / "models--acme--slow-qwen" / "snapshots" / COMMIT
    assert (snapshot / "model.safetensors").read_bytes() == (source / "model.safetensors").read_bytes()
    assert any("/resolve/" in request for request in seen)
