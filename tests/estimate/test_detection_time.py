"""The plan's time counts line detection: training pages without the render mark (a dataset built
from PDFs or images) each cost the detector's measured seconds at its input size; a rendered
dataset's pages cost none, and the Train page's summary says how many pages are detected."""

import json
import math

import pytest

from deepsynth.estimate import cpu_time, this_machine
from deepsynth.estimate.page_reading import pages_through_detector
from deepsynth.models.builtin.detection_cost import DEFAULT_CANVAS, DETECT_CPU_SECONDS, detect_seconds_per_page
from deepsynth.models.config import ModelConfig
from deepsynth.training.config import TrainConfig


def _dataset(folder, counts):
    folder.mkdir()
    (folder / "deepsynth_dataset.json").write_text(json.dumps({"dataset_config": {}, "counts": counts}))
    return str(folder)


def test_pages_from_files_are_detected_rendered_pages_are_not():
    from_pdf = {"rows_read": 30, "kept": 30, "pages": 60, "blank_pages": 1, "train": 24}
    assert pages_through_detector({"counts": from_pdf}, 24) == 48  # two pages per example
    assert pages_through_detector({"counts": {**from_pdf, "pages": 31}}, 24) == math.ceil(24 * 31 / 30)
    rendered = {"train": 200, "validation": 100, "test": 100, "pages": 400, "truncated_documents": 0}
    assert pages_through_detector({"counts": rendered}, 200) == 0
    assert pages_through_detector({}, 10) == 0


def test_the_detector_costs_its_measured_seconds_at_the_chosen_canvas():
    assert detect_seconds_per_page() == DETECT_CPU_SECONDS[DEFAULT_CANVAS]
    assert detect_seconds_per_page(736) == DETECT_CPU_SECONDS[736] < detect_seconds_per_page(1472)
    assert detect_seconds_per_page(threads=2) == pytest.approx(DETECT_CPU_SECONDS[DEFAULT_CANVAS] / 2)
    between = detect_seconds_per_page(1200)  # unmeasured: the nearest size, scaled by area
    assert between == pytest.approx(DETECT_CPU_SECONDS[1024] * (1200 / 1024) ** 2)


def test_the_plan_counts_detection_of_unmarked_pages(tmp_path):
    pdf_pages = _dataset(tmp_path / "pdf", {"kept": 40, "pages": 80, "blank_pages": 0, "train": 32})
    rendered = _dataset(tmp_path / "wiki", {"train": 32, "pages": 40})
    on_pdf = cpu_time.run_time_on_cpu(TrainConfig(dataset=pdf_pages, max_steps=10), train_docs=32, threads=2)
    on_wiki = cpu_time.run_time_on_cpu(TrainConfig(dataset=rendered, max_steps=10), train_docs=32, threads=2)
    assert on_wiki.detected_pages == 0 and on_wiki.detection_seconds == 0
    assert on_wiki.reading_seconds == 32 * cpu_time.READ_SECONDS_PER_PAGE
    assert on_pdf.detected_pages == 64
    assert on_pdf.detection_seconds == pytest.approx(64 * DETECT_CPU_SECONDS[DEFAULT_CANVAS] / 2)
    assert on_pdf.reading_seconds == pytest.approx(on_wiki.reading_seconds + on_pdf.detection_seconds)
    assert on_pdf.total_seconds == pytest.approx(on_wiki.total_seconds + on_pdf.detection_seconds)
    given = cpu_time.run_time_on_cpu(TrainConfig(dataset=rendered, max_steps=10), 32, 2, detected_pages=5)
    assert given.detected_pages == 5  # a caller that knows better says so

    summary = this_machine.run_here(TrainConfig(dataset=pdf_pages, max_steps=10), 32,
                                    this_machine.Machine("cpu", 2)).summary
    assert "finding the text lines of 64 pages DeepSynth did not render" in summary
    assert "finding the text lines" not in this_machine.run_here(
        TrainConfig(dataset=rendered, max_steps=10), 32, this_machine.Machine("cpu", 2)).summary
    tiny = cpu_time.run_time_on_cpu(TrainConfig(dataset=pdf_pages, model=ModelConfig(name="tiny"), max_steps=10),
                                    32, 2)
    assert tiny.detected_pages == 0 and tiny.reading_seconds == 0  # the tiny reader cuts by layout
