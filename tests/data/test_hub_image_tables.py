"""`hf:ORG/NAME` image datasets read from a Hugging Face cache laid out as the hub writes it, offline."""

from __future__ import annotations

import pytest
from page_documents import encoded, page_image

from deepsynth.data import DatasetConfig, build_dataset, load_dataset_dir
from deepsynth.data.hub_tables import config_of, pick_shards, split_of
from deepsynth.errors import InputError
from tests.data.conftest import SMALL_RENDER

REVISION = "0123456789abcdef0123456789abcdef01234567"


def _write_shard(path, rows):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path.parent.mkdir(parents=True, exist_ok=True)
    table = pa.table({"image": [{"bytes": data, "path": None} for data, _, _ in rows],
                      "question": [q for _, q, _ in rows], "answer": [a for _, _, a in rows]})
    pq.write_table(table, path, row_group_size=2)


@pytest.fixture
def offline_hub(tmp_path, monkeypatch):
    """An HF hub cache holding `datasets--acme--forms` (train in two shards, test in one), offline."""
    from huggingface_hub import constants

    hub = tmp_path / "hub"
    repo = hub / "datasets--acme--forms"
    snapshot = repo / "snapshots" / REVISION
    forms = [encoded(page_image(f"form {i}", size=(160, 100)), "PNG") for i in range(5)]
    _write_shard(snapshot / "data" / "train-00000-of-00002.parquet",
                 [(forms[0], "Name?", "Ada"), (forms[0], "Date?", "1843"), (forms[1], "Name?", "Alan")])
    _write_shard(snapshot / "data" / "train-00001-of-00002.parquet",
                 [(forms[2], "Name?", "Grace"), (forms[3], "Name?", "Edsger")])
    _write_shard(snapshot / "data" / "test-00000-of-00001.parquet", [(forms[4], "Name?", "Barbara")])
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(REVISION)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(hub))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return hub


def _config(source, **fields):
    return DatasetConfig(source=source, task="qa", render=SMALL_RENDER, workers=1, **fields)


def test_a_hub_image_dataset_builds_from_the_cache_offline(tmp_path, offline_hub):
    out = build_dataset(_config("hf:acme/forms", validation_fraction=0.25, test_fraction=0.0), tmp_path / "out")
    loaded = load_dataset_dir(out)
    rows = {row["id"]: row for split in loaded.dataset.values() for row in split}
    assert len(rows) == 5  # both train shards, not the test split
    assert rows["forms-000003"]["prompt"] == "Name?" and rows["forms-000003"]["summary"] == "Grace"
    assert rows["forms-000003"]["pages"][0].size == (160, 100)
    split = {row_id: name for name, data in loaded.dataset.items() for row_id in data["id"]}
    assert split["forms-000000"] == split["forms-000001"]  # two questions about one page stay together


def test_the_split_after_the_at_sign_picks_its_shards(tmp_path, offline_hub):
    out = build_dataset(_config("hf:acme/forms@test", validation_fraction=0.0, test_fraction=0.0), tmp_path / "out")
    rows = [row for split in load_dataset_dir(out).dataset.values() for row in split]
    assert [row["summary"] for row in rows] == ["Barbara"]


def test_a_split_the_repo_lacks_is_named_with_the_ones_it_has(tmp_path, offline_hub):
    with pytest.raises(InputError, match=r"no split 'validation'; splits: test, train"):
        build_dataset(_config("hf:acme/forms@validation"), tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_a_dataset_missing_from_the_cache_offline_says_so(tmp_path, offline_hub):
    with pytest.raises(InputError, match=r"'acme/absent' is not in the local Hugging Face cache"):
        build_dataset(_config("hf:acme/absent"), tmp_path / "out")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("relative, split, config", [
    ("data/train-00000-of-00002.parquet", "train", None),
    ("train.parquet", "train", None),
    ("default/validation/0000.parquet", "validation", "default"),
    ("en/test-00000-of-00001.parquet", "test", "en"),
])
def test_shard_names_say_their_split_and_config(relative, split, config):
    assert split_of(relative) == split and config_of(relative) == config


def test_pick_shards_by_config_and_split():
    files = ["en/train/0000.parquet", "en/train/0001.parquet", "de/train/0000.parquet", "en/test/0000.parquet"]
    assert pick_shards(files, "hf:x", "en", None) == ["en/train/0000.parquet", "en/train/0001.parquet"]
    with pytest.raises(InputError, match="no Parquet files for config 'fr'"):
        pick_shards(files, "hf:x", "fr", None)
