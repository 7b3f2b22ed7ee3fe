"""The page reader: the english_g2 network, line cutting, CTC decoding, dataset reading + cache."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from deepsynth.models.builtin.crnn import (
    ENGLISH_G2_CHARACTERS, Crnn, ctc_greedy_decode, english_g2_weights_path, load_english_g2)
from deepsynth.models.builtin.lines import find_lines


def test_english_g2_state_dict_loads_strictly_into_our_network():
    state = torch.load(english_g2_weights_path(), map_location="cpu", weights_only=True)
    network = Crnn()
    result = network.load_state_dict({k.removeprefix("module."): v for k, v in state.items()}, strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    assert sum(v.numel() for v in state.values()) == 3_782_371
    assert len(ENGLISH_G2_CHARACTERS) + 1 == state["module.Prediction.weight"].shape[0] == 97
    model = load_english_g2()
    assert not model.training and not any(p.requires_grad for p in model.parameters())
    assert model(torch.zeros(1, 1, 64, 400)).shape == (1, 400 // 4 - 1, 97)


def test_ctc_greedy_decode_merges_repeats_and_drops_blanks():
    a, b = ENGLISH_G2_CHARACTERS.index("a") + 1, ENGLISH_G2_CHARACTERS.index("b") + 1
    path = [a, a, 0, a, b, b, 0, 0, b]
    logits = torch.nn.functional.one_hot(torch.tensor([path]), 97).float()
    assert ctc_greedy_decode(logits) == ["aabb"]
    assert ctc_greedy_decode(logits, torch.tensor([5])) == ["aab"]


def test_find_lines_cuts_each_text_line(render_lines):
    page = render_lines(["First line of text", "second, with descenders: gjpqy", "3"], size=20)
    boxes = find_lines(np.asarray(page))
    assert len(boxes) == 3
    assert boxes[0].bottom <= boxes[1].top and boxes[1].bottom <= boxes[2].top
    assert boxes[2].width < boxes[0].width
    assert find_lines(np.full((100, 100), 255, dtype=np.uint8)) == []


def test_read_dataset_caches_by_dataset_and_reader(tmp_path, tiny_pages, lora):
    from datasets import Dataset, Features, Image, Sequence, Value

    from deepsynth.models import ModelConfig, build_document_model, read_dataset

    rows = {"id": ["a", "b"], "pages": tiny_pages}
    split = Dataset.from_dict(rows, features=Features({"id": Value("string"), "pages": Sequence(Image())}))
    model = build_document_model(ModelConfig(name="tiny", vision_interface="features"), lora)
    first = read_dataset(model, split, tmp_path, progress=False)
    direct = model.read_documents(tiny_pages)
    assert [r.text for r in first] == [r.text for r in direct]
    for cached, fresh in zip(first, direct):
        torch.testing.assert_close(cached.features, fresh.features, rtol=1e-2, atol=1e-3)  # float16 on disk
    assert len(list(tmp_path.glob("readings-*.json"))) == 1

    calls = []
    original = model.reader.read_documents
    model.reader.read_documents = lambda docs: calls.append(len(docs)) or original(docs)
    again = read_dataset(model, split, tmp_path, progress=False)
    assert calls == [] and [r.text for r in again] == [r.text for r in first]

    text_model = build_document_model(ModelConfig(name="tiny"), lora)  # another reader identity
    read_dataset(text_model, split, tmp_path, progress=False)
    assert len(list(tmp_path.glob("readings-*.json"))) == 2


def _character_errors(reference: str, hypothesis: str) -> int:
    previous = list(range(len(hypothesis) + 1))
    for i, ref_char in enumerate(reference, 1):
        current = [i]
        for j, hyp_char in enumerate(hypothesis, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1,
                               previous[j - 1] + (ref_char != hyp_char)))
        previous = current
    return previous[-1]


@pytest.mark.slow
def test_english_g2_reads_a_rendered_page():
    from deepsynth.models.builtin.page_reader import CrnnPageReader
    from deepsynth.render import RenderConfig, render_document

    text = ("The Eiffel Tower is a wrought-iron lattice tower on the Champ de Mars in Paris, France. "
            "It is named after the engineer Gustave Eiffel, whose company designed and built the "
            "tower from 1887 to 1889. It was 312 metres tall (1,024 ft).")
    rendered = render_document(text, RenderConfig())
    reader = CrnnPageReader(load_english_g2(), "easyocr-english_g2", "test")
    reading = reader.read_pages(rendered.pages)
    errors = _character_errors(text, reading.text)
    assert errors / len(text) < 0.02, reading.text


def test_int8_reader_reads_like_float32(render_lines):
    from deepsynth.models.builtin.page_reader import CrnnPageReader

    text = "Paris is the capital of France, with 2,102,650 residents."
    page = render_lines([text], size=22)
    int8 = CrnnPageReader(load_english_g2(), "easyocr-english_g2", "test", precision="int8")
    float32 = CrnnPageReader(load_english_g2(), "easyocr-english_g2", "test", precision="float32")
    assert int8.precision == "int8" and int8.identity()["precision"] == "int8"
    assert int8.identity() != float32.identity()  # different readings never share a cache entry
    read_int8, read_float32 = int8.read_pages([page]).text, float32.read_pages([page]).text
    assert read_int8 == read_float32
    assert _character_errors(text, read_int8) <= 1, read_int8


def test_two_jobs_reading_the_same_documents_at_once_read_them_once(tmp_path, tiny_pages, lora):
    """A sweep's points (or two jobs started together) on the same dataset: the first reads, the
    second waits for its cache instead of reading the pages again."""
    import threading
    import time

    from datasets import Dataset, Features, Image, Sequence, Value

    from deepsynth.models import ModelConfig, build_document_model, read_dataset

    split = Dataset.from_dict({"id": ["a", "b"], "pages": tiny_pages},
                              features=Features({"id": Value("string"), "pages": Sequence(Image())}))
    model = build_document_model(ModelConfig(name="tiny"), lora)
    calls = []
    original = model.reader.read_documents

    def slow_read(documents):
        calls.append(len(documents))
        time.sleep(0.5)  # long enough for the other reader to arrive while this one reads
        return original(documents)

    model.reader.read_documents = slow_read
    results = [None, None]

    def job(index):
        results[index] = read_dataset(model, split, tmp_path, progress=False)

    threads = [threading.Thread(target=job, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
        time.sleep(0.1)
    for thread in threads:
        thread.join(timeout=60)
    assert calls == [2]  # one pass over the two documents, not two
    assert [r.text for r in results[0]] == [r.text for r in results[1]]
