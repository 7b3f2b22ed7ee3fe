"""The Export & registry page walked in headless Chromium: versions listed by their task metric with
interval and documents, an alias warning that counts documents, and a version deleted after its
confirmation; full-page screenshots (into DEEPSYNTH_SCREENSHOTS when set)."""

from __future__ import annotations

import time
import uuid

import pytest
from headless_chromium import browser  # noqa: F401  (a fixture)
from test_browser import serving, screenshot, settled

from deepsynth.tracking import registry
from deepsynth.tracking.store import RunLogger
from dashboard_testing import EXPERIMENT, write_fake_adapter


def cer_run(store, tmp_path, name: str, cer: float, low: float, high: float, documents: int) -> str:
    logger = RunLogger.start(EXPERIMENT, run_name=name, uri=store.uri,
                             tags={"deepsynth.task": "transcribe", "deepsynth.primary_metric": "cer"})
    logger.log_metrics({"eval/cer": cer, "eval/cer_lo": low, "eval/cer_hi": high, "eval/docs": documents}, 1, flush=True)
    logger.log_artifacts(write_fake_adapter(tmp_path / uuid.uuid4().hex / "adapter"), "adapter")
    logger.finish()
    return logger.run_id


@pytest.mark.browser
def test_the_registry_page_in_chromium(workspace, store, browser, tmp_path):
    name = f"letters-ocr-{uuid.uuid4().hex[:4]}"
    registry.register_adapter(cer_run(store, tmp_path, "ocr-40-docs", 10.0, 8.0, 12.25, 40), name,
                              alias="champion", uri=store.uri)
    registry.register_adapter(cer_run(store, tmp_path, "ocr-3-docs", 20.0, 9.0, 35.0, 3), name, uri=store.uri)
    registry.register_adapter(store.with_adapter, f"wiki-{uuid.uuid4().hex[:4]}", alias="champion", uri=store.uri)
    with serving(workspace, store, tmp_path) as url:
        page = browser.new_page(viewport={"width": 1400, "height": 3000})
        started = time.perf_counter()
        page.goto(f"{url}/registry")
        page.get_by_text("Registered adapters").first.wait_for(timeout=60_000)
        page.get_by_text("A registered version").first.wait_for(timeout=60_000)
        settled(page)
        first_render_s = time.perf_counter() - started
        page.wait_for_timeout(1000)  # the table's grid draws after the script run
        body = page.inner_text("body")
        assert "Traceback" not in body and page.locator('[data-testid="stException"]').count() == 0
        screenshot(page, tmp_path, "registry-page")

        page.get_by_role("radio", name="A registered version").check()
        settled(page)
        # the session store holds other tests' registered adapters too: choose this test's one
        page.locator("[data-testid='stSelectbox']", has_text="Registered adapter").click()
        page.get_by_role("option", name=name, exact=True).click()
        settled(page)
        page.get_by_role("button", name="Delete this version…").click(timeout=90_000)  # letters-ocr version 2: no alias
        page.get_by_text(f"Delete models:/{name}/2 for good?").first.wait_for(timeout=60_000)
        settled(page)
        screenshot(page, tmp_path, "registry-delete-confirm")
        page.get_by_role("button", name="Delete this version", exact=True).click(timeout=90_000)
        page.get_by_text(f"Deleted models:/{name}/2 (by ").first.wait_for(timeout=60_000)
        settled(page)
        assert [v.version for v in registry.list_versions(name, uri=store.uri)] == ["1"]
        screenshot(page, tmp_path, "registry-deleted")
        print(f"registry page first render in Chromium: {first_render_s:.1f} s")
