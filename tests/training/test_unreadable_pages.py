"""Documents with pages the reader could not read (`PageReading.unreadable_pages`) are never trained
on and are counted: printed, logged as MLflow metrics (`train/unreadable_*`, `eval/unreadable_*`)
and tagged; evaluation scores them with the others and says so."""

import dataclasses

import pytest

from deepsynth.errors import InputError
from deepsynth.models.builtin.page_reader import PageReading
from deepsynth.tracking import store
from deepsynth.training.data import SplitData, without_unreadable
from deepsynth.training.worker import train


def _marked(read_split, unreadable_rows):
    """`read_split` whose readings of the first `unreadable_rows` documents have an unreadable page."""
    def reading(*args, **kwargs):
        data = read_split(*args, **kwargs)
        readings = [dataclasses.replace(r, unreadable_pages=1) if i < unreadable_rows else r
                    for i, r in enumerate(data.readings)]
        return dataclasses.replace(data, readings=readings)
    return reading


def test_unreadable_documents_are_left_out_of_training_and_counted(tiny_config, monkeypatch, capsys,
                                                                    mlflow_tracking_uri):
    import deepsynth.training.evaluate as evaluate
    import deepsynth.training.worker as worker
    from deepsynth.models.builtin.document_model import DocumentModel

    monkeypatch.setattr(worker, "read_split", _marked(worker.read_split, 2))
    monkeypatch.setattr(evaluate, "read_split", _marked(evaluate.read_split, 1))
    trained_on: list[PageReading] = []
    collate = DocumentModel.collate

    def spy(self, readings, instructions=None, summaries=None):
        if summaries is not None:
            trained_on.extend(readings)
        return collate(self, readings, instructions, summaries)

    monkeypatch.setattr(DocumentModel, "collate", spy)
    run_id = train(tiny_config(max_steps=5, eval_docs=3), progress=False)
    out = capsys.readouterr().out
    assert "not trained on: 2 of 18 training document(s) have 2 page(s) the reader recovered almost nothing" in out
    assert "evaluation: 1 of 3 validation document(s) have 1 page(s)" in out and "scored with the others" in out
    assert trained_on and not any(r.unreadable_pages for r in trained_on)  # 5 steps x 4 > 16: every kept one
    run = store.client_for(mlflow_tracking_uri).get_run(run_id)
    assert run.data.metrics["train/unreadable_documents"] == 2 and run.data.metrics["train/unreadable_pages"] == 2
    assert run.data.metrics["eval/unreadable_documents"] == 1
    assert run.data.metrics["eval/docs"] == 3  # still scored, and said (the tag)
    assert "1 of 3 validation document(s)" in run.data.tags["deepsynth.eval_unreadable"]


def test_a_split_with_nothing_readable_stops_with_a_message():
    data = SplitData(["a", "b"], [PageReading("x", unreadable_pages=1), PageReading("y", unreadable_pages=2)],
                     ["", ""], ["s", "t"])
    with pytest.raises(InputError, match="no training document is readable: 2 of 2 training document"):
        without_unreadable(data)
    kept, found = without_unreadable(dataclasses.replace(data, readings=[PageReading("x"), data.readings[1]]))
    assert kept.ids == ["a"] and kept.summaries == ["s"] and (found.documents, found.pages) == (1, 2)


def test_the_random_tiny_reader_never_counts_a_page_unreadable():
    from deepsynth.models.build import build_reader
    from deepsynth.models.config import ModelConfig
    from deepsynth.render import RenderConfig, render_document

    reader = build_reader(ModelConfig(name="tiny"))
    page = render_document("A page of plain English text, read by a random reader. " * 4,
                           RenderConfig(max_pages=1)).pages
    assert reader.read_pages(page).unreadable_pages == 0  # its confidences say nothing
    reader.min_confidence = 0.93
    assert reader.read_pages(page).unreadable_pages == 1  # the rule, where it applies, counts it
