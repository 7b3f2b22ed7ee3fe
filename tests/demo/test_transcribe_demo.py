"""`deepsynth demo --task transcribe`: wiki pages degraded as scans into 150-DPI PDFs (a JPEG of
quality 50 inside), built into a transcribe dataset through the page-file path (split by file,
target = the page's text, no render mark, so the embedded reader finds the lines with the
detector), then one run whose report puts the tuned decoder's CER/WER beside the reader alone."""

import argparse
import json
from pathlib import Path

import numpy as np
import pytest

from deepsynth.demo import cli as demo_cli
from deepsynth.demo import scans, transcribe_job


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    demo_cli.add_arguments(parser)
    return parser.parse_args(list(argv))


def test_a_scan_is_a_150_dpi_pdf_of_a_jpeg_turned_blurred_and_noisy(tmp_path):
    from deepsynth.data.page_files import PageFile
    from deepsynth.render import RenderConfig, render_document
    from deepsynth.render.mark import is_untouched_render

    page = render_document("A page of text to be scanned, with a few lines of words. " * 5,
                           RenderConfig(max_pages=1)).pages[0]
    path = scans.scan_pdf(page, seed=3, path=tmp_path / "scan.pdf")
    data = path.read_bytes()
    assert b"/Filter /DCTDecode" in data and b"/ColorSpace /DeviceGray" in data
    raster = PageFile(path, path.name, max_bytes=10_000_000, dpi=scans.SCAN_DPI).page(0).image
    assert raster.size == page.size  # 150 DPI in, 150 DPI out: the rendered page's pixels again
    assert not is_untouched_render(raster)
    again = scans.degrade_as_scan(page, seed=3)
    assert np.array_equal(np.asarray(again), np.asarray(scans.degrade_as_scan(page, seed=3)))  # seeded
    turned_left, turned_right = (np.asarray(scans.degrade_pixels(page, seed), dtype=float) for seed in (0, 1))
    assert not np.array_equal(turned_left, turned_right)
    assert np.asarray(again).std() > 0 and 0 < np.abs(np.asarray(again, float) - np.asarray(page, float)).mean()


def test_the_scans_dataset_holds_three_unmarked_pages_read_through_the_detector(tmp_path, monkeypatch):
    from deepsynth.data.storage import load_dataset_dir
    from deepsynth.evaluation.error_rates import error_rates
    from deepsynth.models.build import build_reader
    from deepsynth.models.config import ModelConfig
    from deepsynth.render.mark import is_untouched_render

    monkeypatch.setenv("DEEPSYNTH_HOME", str(tmp_path))
    args = _args("--task", "transcribe", "--pages", "1", "--eval-pages", "1")
    folder = transcribe_job.scans_dataset(args, lambda message: None)
    loaded = load_dataset_dir(folder)
    assert loaded.config.task == "transcribe" and loaded.config.dpi == scans.SCAN_DPI
    assert {name: len(split) for name, split in loaded.dataset.items()} == {"train": 1, "validation": 1, "test": 1}
    manifest = (Path(folder).parent / f"{Path(folder).name}-scans" / transcribe_job.MANIFEST).read_text()
    test = loaded.dataset["test"][0]
    assert test["summary"] in manifest and len(test["summary"]) > 50  # the target: the page's known text
    page = test["pages"][0]
    assert not is_untouched_render(page)
    assert transcribe_job.scans_dataset(args, lambda message: None) == folder  # reused, same settings

    reader = build_reader(ModelConfig(name="default"))
    detected = []
    line_images = reader.line_detector.line_images
    reader.line_detector.line_images = lambda gray: detected.append(gray.size) or line_images(gray)
    reading = reader.read_pages([page])
    assert detected == [page.size]  # no render mark: the detector found the lines
    assert reading.unreadable_pages == 0
    assert error_rates([reading.text], [test["summary"]])[0]["cer"] < 10.0


@pytest.mark.parametrize("flag", ["--pages", "--eval-pages", "--transcribe-steps"])
def test_a_size_under_one_names_its_flag(flag, tmp_path, monkeypatch):
    from deepsynth.errors import InputError

    monkeypatch.setenv("DEEPSYNTH_HOME", str(tmp_path))
    with pytest.raises(InputError, match=f"{flag} must be at least 1"):
        transcribe_job.scans_dataset(_args("--task", "transcribe", flag, "0"), lambda message: None)
    assert not any(tmp_path.rglob("*.pdf"))  # nothing written


@pytest.mark.slow
def test_the_transcribe_demo_end_to_end_on_three_pages(tmp_path, monkeypatch, capsys, mlflow_tracking_uri):
    monkeypatch.setenv("DEEPSYNTH_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DEEPSYNTH_CACHE", str(tmp_path / "cache"))
    results = tmp_path / "transcribe.json"
    args = _args("--task", "transcribe", "--model", "tiny", "--pages", "1", "--eval-pages", "1",
                 "--transcribe-steps", "2", "--threads", "1", "--tracking-uri", mlflow_tracking_uri,
                 "--experiment", "tests-demo-transcribe", "--results", str(results))
    assert demo_cli.run(args) == 0
    out = capsys.readouterr().out
    assert "pages: 1 train, 1 validation, 1 test wiki pages degraded as scans" in out
    assert "unreadable pages (the reader recovered almost nothing): 0 train pages" in out
    assert "baseline: reader alone" in out and "tuned (LoRA)" in out and "base (untouched)" in out
    assert "tuned - reader alone, CER (paired, same 1 pages)" in out
    verdicts = [line.strip() for line in out.splitlines() if line.strip().startswith(("PASS ", "FAIL "))]
    assert len(verdicts) == 3 and any("the decoder corrects the reader" in v for v in verdicts)
    record = json.loads(results.read_text())
    assert record["name"] == "transcribe" and record["tables"]["scores"]["columns"][:3] == ["model", "CER %", "WER %"]
    assert {row[0] for row in record["tables"]["scores"]["rows"]} >= {"tuned (LoRA)", "baseline: reader alone"}
    assert record["figures"]["primary_metric"] == "cer" and record["figures"]["pages"] == 1
    assert any(note.startswith("Goals: ") for note in record["notes"])
