"""Runs joined per document: by id (never by position), sorted by the question asked, and the
document found again in the run's dataset with the very page the model read."""

import pytest

from deepsynth.evaluation import per_document
from deepsynth.evaluation.predictions import RunPredictions


def _run(ids, outputs, scores, references=None):
    return RunPredictions(tuple(ids), tuple(references or [f"ref {i}" for i in ids]),
                          {"tuned": tuple(outputs)}, {"tuned": tuple(scores)})


def test_runs_are_joined_on_document_id_and_sorted():
    a = _run(["d1", "d2", "d3"], ["a1", "a2", "a3"], [10.0, 50.0, 90.0])
    b = _run(["d3", "d1", "d2"], ["b3", "b1", "b2"], [40.0, 70.0, 50.0], ["ref d3", "ref d1", "ref d2"])
    joined = per_document.join_documents({"A": a, "B": b}, reference="A")
    table = joined.table.set_index("id")
    assert table.loc["d3", "B · output"] == "b3" and table.loc["d3", "B · ROUGE-L"] == 40.0
    assert table.loc["d1", "reference"] == "ref d1" and list(joined.table["id"]) == ["d1", "d2", "d3"]
    assert table.loc["d1", "best gain"] == 60.0 and table.loc["d3", "worst loss"] == -50.0
    assert table.loc["d2", "spread"] == 0.0
    assert list(per_document.sort_documents(joined.table, per_document.DISAGREEMENT)["id"]) == ["d1", "d3", "d2"]
    assert list(per_document.sort_documents(joined.table, per_document.GAIN)["id"])[0] == "d1"
    assert list(per_document.sort_documents(joined.table, per_document.LOSS)["id"])[0] == "d3"
    # documents only some runs scored are left out and counted
    c = _run(["d1", "d2", "d9"], ["c1", "c2", "c9"], [0.0, 0.0, 0.0])
    partial = per_document.join_documents({"A": a, "C": c}, reference="A")
    assert list(partial.table["id"]) == ["d1", "d2"] and partial.left_out == {"A": 1, "C": 1}
    with pytest.raises(ValueError):
        per_document.sort_documents(joined.table, "alphabetical")


def test_a_document_is_found_by_id_with_the_page_it_was_rendered_to(tmp_path):
    import numpy as np

    from deepsynth.data import DatasetConfig, build_dataset, load_dataset_dir
    from deepsynth.render import RenderConfig, render_document

    render = RenderConfig(font_size=12, page_width=320, page_height=240, margin=8, max_pages=2)
    loaded = load_dataset_dir(build_dataset(DatasetConfig(source="wiki", limit=8, workers=1, render=render),
                                            tmp_path / "wiki8"))
    index = per_document.document_index(loaded)
    assert len(index) == 8
    for doc_id in (loaded.dataset["test"]["id"][0], loaded.dataset["train"]["id"][2]):
        found = per_document.find_document(loaded, doc_id, index)
        assert found["id"] == doc_id and found["split"] == index[doc_id][0]
        expected = render_document(found["text"], render, instruction=found["instruction"] or None).pages
        assert len(found["pages"]) == len(expected)
        assert all(np.array_equal(np.asarray(page.convert("L")), np.asarray(want))
                   for page, want in zip(found["pages"], expected))
    assert per_document.find_document(loaded, "no such document", index) is None
