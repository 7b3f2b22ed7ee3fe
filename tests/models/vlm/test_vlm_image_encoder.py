"""Encoder-decoder VLMs whose encoder reads the page itself (Pix2Struct, `models/vlm/image_encoder.py`),
on a tiny model from the generic tiny builder (`models/vlm/tiny_any.py`)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from PIL import Image, ImageDraw


def page(text: str, width: int = 200, height: int = 260) -> Image.Image:
    image = Image.new("L", (width, height), 255)
    ImageDraw.Draw(image).text((10, 10), text, fill=0)
    return image


PIX2STRUCT_TINY = {"after_shrink": {"text_config.d_kv": 16, "vision_config.d_kv": 16,
                                    "vision_config.hidden_size": 64, "vision_config.num_attention_heads": 4}}
"""Pix2Struct's tiny settings (proposed for `tiny_settings.TINY_SETTINGS`, helper "tiny"'s file): its
attention is num_heads x d_kv wide but maps back with a hidden -> hidden layer (released: 12 x 64 =
768), and its decoder's cross-attention reads encoder states of the text width (768 both)."""
SUMMARIES = ["A cat sat.", "Rivers flow to the sea."]
INSTRUCTIONS = ["", "Summarize briefly."]


@pytest.fixture(scope="module")
def pix2struct_folder(tmp_path_factory):
    from deepsynth.models.vlm.tiny_any import build_tiny_any
    from deepsynth.models.vlm.tiny_settings import TINY_SETTINGS

    saved = TINY_SETTINGS.get("pix2struct")
    TINY_SETTINGS["pix2struct"] = PIX2STRUCT_TINY
    try:
        return build_tiny_any("pix2struct", tmp_path_factory.mktemp("vlm-pix2struct") / "model")
    finally:
        if saved is None:
            TINY_SETTINGS.pop("pix2struct")
        else:
            TINY_SETTINGS["pix2struct"] = saved


def _build(folder, rank: int = 4):
    from deepsynth.lora import LoraSettings
    from deepsynth.models import ModelConfig, build_document_model

    return build_document_model(ModelConfig(name=str(folder), max_target_tokens=12),
                                LoraSettings(rank=rank, alpha=2 * rank, dropout=0.0))


def _documents():
    return [[page("A cat sat on the mat.")], [page("Rivers flow to the sea.", 96, 96)]]


def test_lora_sits_in_the_text_decoder_and_the_encoder_states_are_cached(pix2struct_folder):
    from deepsynth.models.vlm.image_encoder import VlmImageEncoderModel

    model = _build(pix2struct_folder)
    assert isinstance(model, VlmImageEncoderModel)
    assert model.identity["language_model"] == "decoder"
    trainable = [name for name, p in model.named_parameters() if p.requires_grad]
    assert trainable and all(".lora_" in name and ".decoder." in name for name in trainable)
    assert {name.split(".lora_")[0].rsplit(".", 1)[-1] for name in trainable} == {"query", "value"}
    assert model.caches_features
    assert model.reader.word_reader is None  # Pix2Struct's processor runs no OCR of its own: no words given
    readings = model.read_documents(_documents())
    # the page's real patches only (the processor pads every page to max_patches)
    for document, reading in zip(_documents(), readings):
        real = int(model.processor(images=[document[0].convert("RGB")], return_tensors="pt")["attention_mask"].sum())
        assert reading.features.shape == (real, 64) and real < model.processor.image_processor.max_patches
    assert model.vision_tokens_read(readings[1]) == len(readings[1].features)


def test_the_loss_is_transformers_own_on_the_summary_and_cached_equals_live(pix2struct_folder):
    model = _build(pix2struct_folder)
    model.eval()
    documents = _documents()
    batch = model.collate(model.read_documents(documents), INSTRUCTIONS, SUMMARIES)
    # the decoder row: start token, the instruction, the summary + eos; labels on the summary + eos only
    ids, labels = batch["input_ids"][1], batch["labels"][1]
    prefix = (model._start_token(),) + model.prompts.instruction_ids(INSTRUCTIONS[1])
    target = model.prompts.target_ids(SUMMARIES[1], 12)
    assert ids[:len(prefix) + len(target)].tolist() == list(prefix + target)
    assert labels[labels != -100].tolist() == list(target) and (labels[:len(prefix)] == -100).all()
    with torch.no_grad():
        ours = float(model(**batch))
        base = model.decoder.get_base_model()
        encoded = model.processor(images=[d[0].convert("RGB") for d in documents], return_tensors="pt")
        logits = base(flattened_patches=encoded["flattened_patches"], attention_mask=encoded["attention_mask"],
                      decoder_input_ids=batch["input_ids"], decoder_attention_mask=batch["attention_mask"]).logits
        plain = float(F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), batch["labels"][:, 1:].reshape(-1)))
        model.reader.cache_features = False
        live = model.collate(model.read_documents(documents), INSTRUCTIONS, SUMMARIES)
        assert "pixel_inputs" in live and "encoder_states" not in live
        live_loss = float(model(**live))
    assert ours == pytest.approx(plain, rel=1e-5) and ours == pytest.approx(live_loss, rel=1e-5)


def test_training_lowers_the_loss_and_generation_continues_after_the_instruction(pix2struct_folder):
    from deepsynth.training.loop import TrainingLoop

    model = _build(pix2struct_folder, rank=16)
    readings = model.read_documents(_documents())
    batch = model.collate(readings, INSTRUCTIONS, SUMMARIES)
    model.train()
    loop = TrainingLoop(model, learning_rate=2e-2, total_steps=12, schedule="constant")
    losses = [loop.train_step(batch).loss for _ in range(12)]
    assert min(losses[-3:]) < 0.75 * losses[0], losses
    texts = model.generate(model.collate(readings, INSTRUCTIONS), max_new_tokens=4)
    assert len(texts) == 2 and all(isinstance(text, str) for text in texts)
    assert model.training  # generate restores the training mode it found


def test_a_document_of_two_pages_is_read_from_its_first(pix2struct_folder, caplog):
    model = _build(pix2struct_folder)
    one, = model.read_documents([[page("First page."), page("Second page.")]])
    alone, = model.read_documents([[page("First page.")]])
    assert torch.equal(one.features, alone.features)
    assert model.reader.pages_cut == 1 and "cut to their first page" in caplog.text


def test_readings_come_back_from_the_reading_cache(pix2struct_folder, tmp_path):
    from datasets import Dataset

    from deepsynth.models.reading import read_dataset

    model = _build(pix2struct_folder)
    split = Dataset.from_dict({"image": [d[0] for d in _documents()]})
    first = read_dataset(model, split, cache_dir=tmp_path, progress=False)
    calls = []
    model.reader.image_features = lambda *args, **kwargs: calls.append(args)  # the encoder must not run again
    again = read_dataset(model, split, cache_dir=tmp_path, progress=False)
    assert not calls and all(torch.equal(a.features, b.features) for a, b in zip(first, again))


def test_the_saved_adapter_reloads_in_plain_peft_with_the_same_logits(pix2struct_folder, tmp_path):
    from peft import PeftModel
    from transformers import AutoModelForImageTextToText

    model = _build(pix2struct_folder)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if "lora_B" in name:
                parameter.normal_(0, 0.1, generator=torch.Generator().manual_seed(3))
    model.eval()
    saved = model.save_adapter(tmp_path / "adapter")
    plain = PeftModel.from_pretrained(AutoModelForImageTextToText.from_pretrained(str(pix2struct_folder)),
                                      str(saved)).eval()
    encoded = model.processor(images=[page("A cat sat on the mat.").convert("RGB")], return_tensors="pt")
    ids = torch.tensor([[0, 5, 6, 7]])
    with torch.no_grad():
        ours = model.decoder(**encoded, decoder_input_ids=ids).logits
        theirs = plain(**encoded, decoder_input_ids=ids).logits
    base = model.decoder.get_base_model()
    with torch.no_grad(), model.decoder.disable_adapter():
        untuned = base(**encoded, decoder_input_ids=ids).logits
    assert not torch.allclose(ours, untuned)  # the adapter changes the logits
    torch.testing.assert_close(theirs, ours)
