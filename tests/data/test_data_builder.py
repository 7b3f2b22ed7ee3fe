"""build_dataset writes the "Dataset on disk" contract; load_dataset_dir reads it back."""

from __future__ import annotations

import io
import json

import pytest
from PIL import Image

from deepsynth.data import COLUMNS, METADATA_FILE, build_dataset, load_dataset_dir, read_metadata, split_sizes
from deepsynth.data.builder import assign_splits
from deepsynth.data.pool import RenderPool
from deepsynth.errors import InputError


@pytest.fixture(scope="module")
def wiki_build(tmp_path_factory):
    """Twelve French wiki documents with an instruction, built once for the module."""
    from deepsynth.data import DatasetConfig
    from deepsynth.render import RenderConfig

    config = DatasetConfig(source="wiki", language="fr", limit=12, instruction="Résume ce texte.",
                           render=RenderConfig(font_size=12, page_width=320, page_height=240, margin=8,
                                               max_pages=2), workers=1)
    calls = []
    out = build_dataset(config, tmp_path_factory.mktemp("wiki") / "ds", progress=lambda d, t: calls.append((d, t)))
    return config, out, calls


def test_dataset_on_disk_contract(wiki_build):
    config, out, _ = wiki_build
    loaded = load_dataset_dir(out)
    assert loaded.config == config
    assert set(loaded.dataset) == {"train", "validation", "test"}
    assert [len(loaded.dataset[s]) for s in ("train", "validation", "test")] == [10, 1, 1]
    train = loaded.dataset["train"]
    assert tuple(train.column_names) == COLUMNS
    row = train[0]
    assert row["instruction"] == "Résume ce texte."
    assert row["augmented_text"] == "Résume ce texte.\n\n" + row["text"]
    assert isinstance(row["image"], Image.Image) and row["image"].size == (320, 240)
    assert row["image"].mode == "L"
    assert len(row["pages"]) == row["num_pages"] >= 1
    assert row["pages"][0].tobytes() == row["image"].tobytes()
    assert isinstance(row["truncated"], bool)


def test_metadata(wiki_build):
    config, out, _ = wiki_build
    metadata = json.loads((out / METADATA_FILE).read_text(encoding="utf-8"))
    assert metadata["dataset_config"]["render"]["font_size"] == 12
    assert metadata["dataset_config"]["language"] == "fr"
    assert metadata["counts"]["kept"] == 12
    assert metadata["counts"]["train"] + metadata["counts"]["validation"] + metadata["counts"]["test"] == 12
    assert metadata["counts"]["pages"] >= 12
    assert metadata["columns"] == {"text": "extract", "summary": "description", "id": "title", "prompt": None}
    assert metadata["task"] == "summarize"
    assert metadata["created"].endswith("+00:00")
    assert metadata["deepsynth_version"]
    assert read_metadata(out) == metadata


def test_progress_callback_counts_every_document(wiki_build):
    _, _, calls = wiki_build
    assert calls == [(i, 12) for i in range(1, 13)]


def test_nothing_but_the_dataset_is_left_in_the_parent(wiki_build):
    _, out, _ = wiki_build
    assert [p.name for p in out.parent.iterdir()] == ["ds"]


def test_enormous_document_is_capped_with_a_warning(tmp_path, write_file, make_config):
    huge = " ".join(f"word{i}" for i in range(20000))
    path = write_file("huge.jsonl", json.dumps({"id": "huge", "text": huge, "summary": "big"}) + "\n"
                      + json.dumps({"id": "small", "text": "tiny text", "summary": "small"}) + "\n")
    out = build_dataset(make_config(path, validation_fraction=0, test_fraction=0), tmp_path / "ds")
    loaded = load_dataset_dir(out)
    rows = {row["id"]: row for row in loaded.dataset["train"]}
    assert rows["huge"]["num_pages"] == 2 and rows["huge"]["truncated"] is True
    assert rows["huge"]["text"] == huge  # the original text is kept whole
    assert rows["small"]["truncated"] is False
    assert loaded.metadata["counts"]["truncated_documents"] == 1
    assert any("2-page cap" in w and "huge" in w for w in loaded.metadata["warnings"])


def test_missing_glyphs_are_reported(tmp_path, write_file, make_config):
    from deepsynth.render import RenderConfig

    render = RenderConfig(font_size=12, page_width=320, page_height=240, margin=8, max_pages=2, fallback=False)
    path = write_file("g.csv", "id,text,summary\ng1,Hello \u0928\u092e\u0938\u094d\u0924\u0947,hi\n")
    out = build_dataset(make_config(path, render=render, validation_fraction=0, test_fraction=0), tmp_path / "ds")
    metadata = read_metadata(out)
    assert metadata["counts"]["documents_with_missing_glyphs"] == 1
    assert any("no font covers" in w and "g1" in w for w in metadata["warnings"])


def test_overwrite_replaces_a_deepsynth_dataset(tmp_path, docs_jsonl, make_config):
    out = build_dataset(make_config(docs_jsonl, limit=2), tmp_path / "ds")
    build_dataset(make_config(docs_jsonl, limit=3), out, overwrite=True)
    assert read_metadata(out)["counts"]["kept"] == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["docs.jsonl", "ds"]


def test_load_rejects_a_folder_that_is_not_a_dataset(tmp_path):
    with pytest.raises(InputError, match="not a DeepSynth dataset"):
        load_dataset_dir(tmp_path)
    with pytest.raises(InputError, match="no such dataset folder"):
        load_dataset_dir(tmp_path / "missing")


@pytest.mark.parametrize("n, expected", [(1, (1, 0, 0)), (2, (2, 0, 0)), (3, (1, 1, 1)),
                                         (10, (8, 1, 1)), (200, (160, 20, 20))])
def test_split_sizes(n, expected):
    sizes = split_sizes(n, 0.1, 0.1)
    assert (sizes["train"], sizes["validation"], sizes["test"]) == expected


def test_splits_are_seeded(make_config):
    config = make_config("wiki")
    assert assign_splits(50, config) == assign_splits(50, config)
    other = make_config("wiki", seed=1)
    assert assign_splits(50, config) != assign_splits(50, other)


def test_worker_pool_matches_in_process_rendering(small_render):
    texts = [f"Document {i}: " + "lorem ipsum dolor sit amet " * (i + 1) for i in range(10)]
    in_process = list(RenderPool(workers=1).render(texts, small_render, "Summarize."))
    with RenderPool(workers=2) as pool:
        first = list(pool.render(texts, small_render, "Summarize."))
        second = list(pool.render(texts[:3], small_render))  # the same workers serve a second call
    assert first == in_process
    assert [len(r.pages) for r in second] == [len(r.pages) for r in list(RenderPool(1).render(texts[:3], small_render))]
    assert Image.open(io.BytesIO(first[0].pages[0])).size == (320, 240)


def test_a_killed_build_leaves_no_staging_behind_the_next_one(tmp_path):
    """kill -9 skips the builder's cleanup; the next build of the same folder removes what a dead
    builder left, and keeps a live builder's staging folder."""
    import os
    import subprocess
    import sys

    from deepsynth.data.builder import remove_abandoned_staging

    out_dir = tmp_path / "ds"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    abandoned = tmp_path / f".ds.partial-{dead.pid}-abc123"
    (abandoned / "arrow").mkdir(parents=True)
    live = tmp_path / f".ds.partial-{os.getpid()}-def456"
    live.mkdir()
    assert remove_abandoned_staging(out_dir) == [abandoned]
    assert not abandoned.exists() and live.exists()
