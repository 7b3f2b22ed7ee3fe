"""The `compression/...` metrics a run logs: what the decoder read per page, from a tiny-model run,
and the measurement itself on hand-made readings (numbers checked by hand)."""

import json
from types import SimpleNamespace

import pytest

from deepsynth.tracking import store
from deepsynth.training.compression import RATIO, VISION_TOKENS_HOOK, measure_compression, tokens_read
from deepsynth.training.config import SWEEP_TAG
from deepsynth.training.recorder import RENDER_TAG
from deepsynth.training.worker import train


def test_a_tiny_run_logs_compression_its_render_settings_and_its_sweep(tiny_config, mlflow_tracking_uri):
    from deepsynth.data import load_dataset_dir

    config = tiny_config(max_steps=1, eval_docs=0, sweep_id="sweep-test-1")
    run_id = train(config, progress=False)
    run = store.client_for(mlflow_tracking_uri).get_run(run_id)
    metrics, tags = run.data.metrics, run.data.tags
    assert tags[SWEEP_TAG] == "sweep-test-1" and run.data.params["sweep_id"] == "sweep-test-1"
    loaded = load_dataset_dir(config.dataset)
    assert json.loads(tags[RENDER_TAG]) == json.loads(json.dumps(loaded.metadata["dataset_config"]["render"]))
    train_split = loaded.dataset["train"]
    assert metrics["compression/docs"] == len(train_split)
    pages = sum(train_split["num_pages"])
    assert metrics["compression/pages_per_doc"] == pytest.approx(pages / len(train_split))
    chars = sum(len(t) for t in train_split["augmented_text"])
    assert metrics["compression/chars_per_page"] == pytest.approx(chars / pages)
    # the tiny tokenizer is ByT5's: one token per UTF-8 byte
    text_tokens = sum(len(t.encode()) for t in train_split["augmented_text"])
    assert metrics["compression/text_tokens_per_doc"] == pytest.approx(text_tokens / len(train_split))
    read = metrics["compression/read_tokens_per_doc"]
    assert 0 < read <= config.model.max_source_tokens  # the cap the batch applies
    assert metrics[RATIO] == pytest.approx(metrics["compression/text_tokens_per_doc"] / read)
    assert 0 <= metrics["compression/reading_accuracy"] <= 1  # a random tiny reader reads little
    history = store.client_for(mlflow_tracking_uri).get_metric_history(run_id, RATIO)
    assert [m.step for m in history] == [0]


def test_blank_page_controls_log_no_compression(tiny_config, mlflow_tracking_uri):
    run_id = train(tiny_config(max_steps=1, eval_docs=0, blank_pages=True), progress=False)
    assert not any(k.startswith("compression/") for k in store.client_for(mlflow_tracking_uri).get_run(run_id).data.metrics)


class _Model:
    """Just what the measurement touches: a config, a word tokenizer and an optional VLM hook."""

    def __init__(self, interface="ocr_text", limit=100, hook=None):
        self.config = SimpleNamespace(vision_interface=interface, max_source_tokens=limit)
        self.prompts = SimpleNamespace(encode=lambda text: tuple(text.split()),
                                       page_ids=lambda text, n: tuple(text.split())[:n])
        if hook is not None:
            setattr(self, VISION_TOKENS_HOOK, hook)


def _split(texts, pages, truncated=None):
    return {"augmented_text": texts, "num_pages": pages, "truncated": truncated or [False] * len(texts)}


def test_ratio_is_text_tokens_over_tokens_read_with_the_cap():
    import torch

    split = _split(["one two three four five six", "a b c d"], [2, 1])
    readings = [SimpleNamespace(text="one two three four five six", features=torch.zeros(3, 2)),
                SimpleNamespace(text="a b", features=torch.zeros(1, 2))]
    ocr = measure_compression(_Model(limit=4), split, readings)
    assert ocr["compression/text_tokens_per_doc"] == 5  # (6 + 4) / 2
    assert ocr["compression/read_tokens_per_doc"] == 3  # (min(6, 4) + 2) / 2
    assert ocr["compression/read_tokens_per_page"] == 2  # 6 tokens on 3 pages
    assert ocr[RATIO] == pytest.approx(10 / 6)
    assert ocr["compression/chars_per_page"] == pytest.approx((27 + 7) / 3)
    assert ocr["compression/reading_accuracy"] == pytest.approx((1 + 3 / 7) / 2)  # "a b" of "a b c d"
    features = measure_compression(_Model("features"), split, readings)
    assert features[RATIO] == pytest.approx(10 / 4) and "compression/reading_accuracy" not in features
    vlm = _Model(hook=lambda reading: 64)
    assert tokens_read(vlm, readings[0]) == 64
    assert measure_compression(vlm, split, readings)[RATIO] == pytest.approx(10 / 128)
