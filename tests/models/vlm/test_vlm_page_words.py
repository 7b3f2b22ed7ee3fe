"""Processors that read a page's words and boxes (UDOP: `apply_ocr`, Tesseract) get them from
DeepSynth's own reader (`models/vlm/page_words.py`); UDOP trains through `VlmImageEncoderModel`
on a tiny model from the generic tiny builder (`models/vlm/tiny_any.py`) with a UDOP tokenizer."""

from __future__ import annotations

import time

import pytest
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw, ImageFont

from deepsynth.models.builtin.page_reader import ReadLine
from deepsynth.models.vlm.page_words import PageWordReader, page_words, split_line

SUMMARIES = ["A cat sat.", "Rivers flow to the sea."]
INSTRUCTIONS = ["", "Summarize briefly."]


def page(text: str, width: int = 360, height: int = 120) -> Image.Image:
    image = Image.new("L", (width, height), 255)
    ImageDraw.Draw(image).text((12, 40), text, fill=0, font=ImageFont.load_default(size=24))
    return image


def _documents():
    return [[page("A cat sat on the mat.")], [page("Rivers flow to the sea.", 300, 200)]]


def build_tiny_udop(folder):
    """The tiny UDOP of `tiny_settings` (its character-level UdopTokenizer: only UDOP's own tokenizer
    class turns words and boxes into `bbox`; decoder start 0 as released)."""
    from deepsynth.models.vlm.tiny_any import build_tiny_any

    return build_tiny_any("udop", folder)


@pytest.fixture(scope="module")
def udop_folder(tmp_path_factory):
    return build_tiny_udop(tmp_path_factory.mktemp("vlm-udop") / "model")


def _build(folder, rank: int = 4):
    from deepsynth.lora import LoraSettings
    from deepsynth.models import ModelConfig, build_document_model

    return build_document_model(ModelConfig(name=str(folder), max_target_tokens=12),
                                LoraSettings(rank=rank, alpha=2 * rank, dropout=0.0))


# -- words and boxes from lines --------------------------------------------------------------------

def test_a_lines_words_share_its_box_by_characters():
    words = split_line("ab  cdef", (100, 10, 180, 30))
    assert words == [("ab", (100.0, 10.0, 120.0, 30.0)), ("cdef", (140.0, 10.0, 180.0, 30.0))]


def test_page_words_are_normalized_to_the_page_and_clipped():
    lines = [ReadLine("Hello world", (0, 0, 110, 20)), ReadLine("x", (150, 180, 250, 210))]
    words = page_words(lines, 200, 200)
    assert words.words == ("Hello", "world", "x")
    assert words.boxes == ((0, 0, 250, 100), (300, 0, 550, 100), (750, 900, 1000, 1000))


class _Lines:
    """A line reader with fixed lines (its identity names them)."""

    def __init__(self, lines):
        self.lines = lines
        self.line_detector = None

    def identity(self):
        return {"lines": [(line.text, line.box) for line in self.lines]}

    def read_lines(self, page):
        return list(self.lines)


def test_the_word_reader_identity_joins_the_reading_key():
    one = PageWordReader(_Lines([ReadLine("a b", (0, 0, 10, 10))]))
    other = PageWordReader(_Lines([ReadLine("a c", (0, 0, 10, 10))]))
    assert one.identity() != other.identity()
    assert one.read(Image.new("L", (20, 10))).words == ("a", "b")


def test_deepsynths_reader_reads_a_page_into_lines_with_their_boxes():
    """EasyOCR english_g2 + CRAFT on a page DeepSynth did not render (measured CPU time printed)."""
    from deepsynth.models import ModelConfig
    from deepsynth.models.vlm.page_words import default_word_reader

    reader = default_word_reader(ModelConfig(name="some/folder"))
    sheet = page("A cat sat on the mat.")
    started = time.process_time()
    lines = reader.line_reader.read_lines(sheet)
    print(f"detect + read one 360x120 page: {time.process_time() - started:.2f} s CPU")
    assert len(lines) == 1
    left, top, right, bottom = lines[0].box
    assert 0 <= left < 40 and 30 <= top < 50 and 200 < right < 300 and 50 < bottom < 80  # the drawn line
    assert "cat" in lines[0].text and "mat" in lines[0].text
    words = reader.read(sheet)
    assert "cat" in words.words and all(0 <= v <= 1000 for box in words.boxes for v in box)


def test_an_untouched_render_is_read_by_its_own_layout_without_the_detector():
    import numpy as np

    from deepsynth.models import ModelConfig
    from deepsynth.models.builtin.lines import find_lines
    from deepsynth.models.vlm.page_words import default_word_reader
    from deepsynth.render import RenderConfig, render_document

    sheet = render_document("The cat sat on the mat. " * 12, RenderConfig()).pages[0]
    reader = default_word_reader(ModelConfig(name="some/folder"))
    lines = reader.line_reader.read_lines(sheet)
    boxes = find_lines(np.asarray(sheet.convert("L")), margin=reader.line_reader.margin)
    assert len(lines) >= 2 and [line.box for line in lines] == [(b.left, b.top, b.right, b.bottom) for b in boxes]
    assert "cat" in reader.read(sheet.convert("RGB")).words  # as the VLM reader gets it (prepare_pages: RGB)
    assert not reader.line_reader.line_detector.loaded


# -- UDOP through DeepSynth ------------------------------------------------------------------------

def test_udop_reads_deepsynths_words_and_trains_lora_in_its_decoder_only(udop_folder):
    from deepsynth.models.vlm.image_encoder import VlmImageEncoderModel

    model = _build(udop_folder)
    assert isinstance(model, VlmImageEncoderModel)
    assert model.identity["language_model"] == "decoder"
    trainable = [name for name, p in model.named_parameters() if p.requires_grad]
    assert trainable and all(".lora_" in name and ".decoder." in name for name in trainable)
    assert {name.split(".lora_")[0].rsplit(".", 1)[-1] for name in trainable} == {"q", "v"}
    assert model.processor.image_processor.apply_ocr is False  # DeepSynth reads the words, not Tesseract
    assert "page_words" in model.reader.identity() and model.caches_features
    sheet = _documents()[0][0]
    words = model.reader.word_reader.read(sheet.convert("RGB"))
    assert "cat" in words.words
    model.reader.cache_features = False
    reading, = model.read_documents([[sheet]])
    # the encoder's text: the words' tokens then eos; each token carries its word's box
    tokenizer = model.processor.tokenizer
    ids = reading.pixels["input_ids"][0].tolist()
    assert tokenizer.decode(ids, skip_special_tokens=True).split() == list(words.words)
    cat = words.words.index("cat")
    first_cat_token = len(tokenizer(text=[list(words.words[:cat])], boxes=[[list(b) for b in words.boxes[:cat]]],
                                    add_special_tokens=False)["input_ids"][0])
    assert reading.pixels["bbox"][0, first_cat_token].tolist() == list(words.boxes[cat])


def test_udop_loss_is_transformers_own_and_cached_equals_live(udop_folder):
    model = _build(udop_folder)
    model.eval()
    documents = _documents()
    batch = model.collate(model.read_documents(documents), INSTRUCTIONS, SUMMARIES)
    # cached: the encoder's states over the page's words and patches joined (its own mask), per page
    assert all(states.shape[-1] == 64 for states in batch["encoder_states"])
    model.reader.cache_features = False
    live = model.collate(model.read_documents(documents), INSTRUCTIONS, SUMMARIES)
    with torch.no_grad():
        ours = float(model(**batch))
        live_loss = float(model(**live))
        base = model.decoder.get_base_model()
        plain = []
        for row, pixels in enumerate(live["pixel_inputs"]):  # one page at a time: the processor's own tensors
            logits = base(**pixels, decoder_input_ids=batch["input_ids"][row:row + 1],
                          decoder_attention_mask=batch["attention_mask"][row:row + 1]).logits
            labels = batch["labels"][row:row + 1, 1:]
            plain.append(F.cross_entropy(logits[:, :-1][labels != -100], labels[labels != -100], reduction="sum"))
        plain_loss = float(sum(plain) / int((batch["labels"][:, 1:] != -100).sum()))
    assert ours == pytest.approx(plain_loss, rel=1e-5) and ours == pytest.approx(live_loss, rel=1e-5)


def test_udop_learns_and_generates(udop_folder):
    from deepsynth.training.loop import TrainingLoop

    model = _build(udop_folder, rank=16)
    readings = model.read_documents(_documents())
    batch = model.collate(readings, INSTRUCTIONS, SUMMARIES)
    model.train()
    loop = TrainingLoop(model, learning_rate=2e-2, total_steps=30, schedule="constant")
    losses = []
    for _ in range(30):
        losses.append(loop.train_step(batch).loss)
        if losses[-1] <= losses[0] / 2:
            break
    assert losses[-1] <= losses[0] / 2, losses
    texts = model.generate(model.collate(readings, INSTRUCTIONS), max_new_tokens=4)
    assert len(texts) == 2 and all(isinstance(text, str) for text in texts)


def test_udop_readings_come_back_from_the_reading_cache(udop_folder, tmp_path):
    from datasets import Dataset

    from deepsynth.models.reading import read_dataset

    model = _build(udop_folder)
    split = Dataset.from_dict({"image": [d[0] for d in _documents()]})
    first = read_dataset(model, split, cache_dir=tmp_path, progress=False)
    calls = []
    model.reader.word_reader.read = lambda *args: calls.append(args)  # neither OCR nor the encoder runs again
    model.reader.image_features = lambda *args, **kwargs: calls.append(args)
    again = read_dataset(model, split, cache_dir=tmp_path, progress=False)
    assert not calls and all(torch.equal(a.features, b.features) for a, b in zip(first, again))


def test_the_saved_udop_adapter_reloads_in_plain_peft_with_the_same_logits(udop_folder, tmp_path):
    from peft import PeftModel
    from transformers import AutoModelForImageTextToText

    model = _build(udop_folder)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if "lora_B" in name:
                parameter.normal_(0, 0.1, generator=torch.Generator().manual_seed(3))
    model.eval()
    saved = model.save_adapter(tmp_path / "adapter")
    plain = PeftModel.from_pretrained(AutoModelForImageTextToText.from_pretrained(str(udop_folder)),
                                      str(saved)).eval()
    model.reader.cache_features = False
    reading, = model.read_documents([_documents()[0]])  # the processor's tensors, DeepSynth's words in them
    ids = torch.tensor([[0, 5, 6, 7]])
    with torch.no_grad():
        ours = model.decoder(**reading.pixels, decoder_input_ids=ids).logits
        theirs = plain(**reading.pixels, decoder_input_ids=ids).logits
        with model.decoder.disable_adapter():
            untuned = model.decoder.get_base_model()(**reading.pixels, decoder_input_ids=ids).logits
    assert not torch.allclose(ours, untuned)  # the adapter changes the logits
    torch.testing.assert_close(theirs, ours)


def test_a_blank_page_is_read_as_no_words_and_still_trains(udop_folder):
    model = _build(udop_folder)
    blank = Image.new("L", (200, 200), 255)
    assert model.reader.word_reader.read(blank.convert("RGB")).words == ()
    batch = model.collate(model.read_documents([[blank], _documents()[0]]), INSTRUCTIONS, SUMMARIES)
    assert torch.isfinite(model(**batch))


def test_a_tokenizer_that_cannot_box_words_is_named(udop_folder, tmp_path):
    """A tokenizer of another class than UDOP's cannot give the words boxes: the error names the file to fix."""
    import shutil

    from deepsynth.errors import DeepSynthError
    from deepsynth.models.vlm.tiny import _byte_bpe
    from transformers import PreTrainedTokenizerFast

    folder = tmp_path / "model"
    shutil.copytree(udop_folder, folder)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        (folder / name).unlink()
    PreTrainedTokenizerFast(tokenizer_object=_byte_bpe(["<pad>", "</s>", "<unk>"], vocab_size=384), pad_token="<pad>",
                            eos_token="</s>", unk_token="<unk>").save_pretrained(str(folder))
    model = _build(folder)
    with pytest.raises(DeepSynthError, match=r"(PreTrainedTokenizerFast|TokenizersBackend).*tokenizer_config.json must name"):
        model.read_documents([_documents()[0]])
