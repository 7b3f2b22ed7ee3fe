"""The tower-feature (readings) cache is keyed by the content of the model folder and the render
settings: changed weights (even of the same size with the modification time set back), changed
`.bin` weights and a changed processor config are misses; nothing changed is a hit that never runs
the tower. File hashes are kept with size, inode and change time and read again only on a change."""

from __future__ import annotations

import functools
import os
import shutil

import pytest
import torch

RENDER = {"render": {"font_size": 14, "mode": "none"}}


@pytest.fixture
def folder(vlm_folder, tmp_path):
    """A private copy of the tiny Qwen2-VL folder (the tests change its files)."""
    return shutil.copytree(vlm_folder("qwen2_vl"), tmp_path / "qwen2_vl")


@pytest.fixture
def split(make_page):
    from datasets import Dataset, Features, Image as ImageFeature, Sequence, Value

    return Dataset.from_dict({"id": ["a", "b"], "pages": [[make_page("one")], [make_page("two"), make_page("three")]]},
                             features=Features({"id": Value("string"), "pages": Sequence(ImageFeature())}))


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    """Keep the file-hash records of these tests out of the user's cache."""
    monkeypatch.setenv("DEEPSYNTH_CACHE", str(tmp_path / "cache"))


def tower_calls(folder, split, cache, settings=RENDER) -> int:
    """Build the model from `folder`, read `split` through the readings cache in `cache`, and
    return how many times the vision tower ran."""
    from deepsynth.lora import LoraSettings
    from deepsynth.models import ModelConfig, build_document_model, read_dataset

    model = build_document_model(ModelConfig(name=str(folder), max_target_tokens=8),
                                 LoraSettings(rank=4, alpha=8, dropout=0.0))
    assert model.caches_features
    base = model.decoder.get_base_model()
    encode, calls = base.get_image_features, []

    @functools.wraps(encode)  # the reader passes what the signature accepts
    def counted(*args, **kwargs):
        calls.append(1)
        return encode(*args, **kwargs)

    base.get_image_features = counted
    read_dataset(model, split, cache_dir=cache, progress=False, settings=settings)
    return len(calls)


def test_nothing_changed_is_a_hit_without_the_tower_and_render_settings_are_in_the_key(folder, split, tmp_path):
    cache = tmp_path / "readings"
    assert tower_calls(folder, split, cache) == 2
    assert tower_calls(folder, split, cache) == 0
    assert tower_calls(folder, split, cache, {"render": {"font_size": 22, "mode": "none"}}) == 2


def test_same_size_weights_with_the_time_set_back_are_a_miss(folder, split, tmp_path):
    cache = tmp_path / "readings"
    assert tower_calls(folder, split, cache) == 2
    weights = folder / "model.safetensors"
    before = weights.stat()
    data = bytearray(weights.read_bytes())
    data[-4:] = bytes(255 - b for b in data[-4:])  # the last weight's bytes (the header is at the start)
    weights.write_bytes(bytes(data))
    os.utime(weights, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = weights.stat()
    assert (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns)
    assert tower_calls(folder, split, cache) == 2


def test_changed_bin_weights_are_a_miss(folder, split, tmp_path):
    from safetensors.torch import load_file

    state = load_file(str(folder / "model.safetensors"))
    (folder / "model.safetensors").unlink()
    torch.save(state, folder / "pytorch_model.bin")
    cache = tmp_path / "readings"
    assert tower_calls(folder, split, cache) == 2
    assert tower_calls(folder, split, cache) == 0
    name = next(key for key in sorted(state) if "visual" in key and key.endswith("weight"))
    state[name] = state[name] + 0.5
    torch.save(state, folder / "pytorch_model.bin")
    assert tower_calls(folder, split, cache) == 2


def test_a_changed_processor_config_is_a_miss(folder, split, tmp_path):
    import json

    cache = tmp_path / "readings"
    assert tower_calls(folder, split, cache) == 2
    path = folder / "processor_config.json"
    config = json.loads(path.read_text())
    path.write_text(json.dumps({**config, "note": "edited by hand"}))
    assert tower_calls(folder, split, cache) == 2


def test_file_hashes_are_read_again_only_when_size_inode_or_change_time_change(folder, tmp_path, monkeypatch):
    from deepsynth.models import folder_digest as module

    read = []
    original = module.file_sha256
    monkeypatch.setattr(module, "file_sha256", lambda path: read.append(path.name) or original(path))
    store = tmp_path / "digests"
    first = module.folder_digest(folder, store)
    assert sorted(read) == sorted(p.name for p in module.loaded_files(folder)) and "model.safetensors" in read
    read.clear()
    assert module.folder_digest(folder, store) == first and read == []
    config = folder / "config.json"
    config.write_bytes(config.read_bytes())  # same bytes, new change time: read again, same digest
    assert module.folder_digest(folder, store) == first and read == ["config.json"]
    read.clear()
    (folder / "chat_template.jinja").write_text("{{ messages }}")
    assert module.folder_digest(folder, store) != first and read == ["chat_template.jinja"]
