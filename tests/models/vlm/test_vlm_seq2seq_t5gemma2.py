"""T5Gemma 2 (a Gemma 3 encoder with a SigLIP tower and image tokens, a Gemma decoder) through
`VlmSeq2SeqModel`, on a tiny model from the generic tiny builder (`models/vlm/tiny_any.py`)."""

from __future__ import annotations

import pytest
import torch
from PIL import Image, ImageDraw

T5GEMMA2_TINY = {
    "named_tokens": {"boi_token": "<start_of_image>", "image_token": "<image_soft_token>",
                     "eoi_token": "<end_of_image>"},
    "chat_image": "<start_of_image>", "processor_kwargs": {"image_seq_length": 16},
    "after_shrink": {"encoder.mm_tokens_per_image": 16, "encoder.text_config.vocab_size": 384,
                     "decoder.initializer_range": 0.2, "encoder.text_config.initializer_range": 0.2},
}
"""T5Gemma 2's tiny settings (proposed for `tiny_settings.TINY_SETTINGS`, helper "tiny"'s file): Gemma 3's
image tokens (16 per image, as the tiny tower pools), the encoder's text vocabulary the decoder's
size (its config refuses unequal ones; the generic builder sets the top-level and decoder
vocabularies only), and the sub-models' initializer range the one the builder gives top-level configs."""
SUMMARIES = ["A cat sat.", "Rivers flow to the sea."]
INSTRUCTIONS = ["", "Summarize briefly."]


def page(text: str, width: int = 200, height: int = 260) -> Image.Image:
    image = Image.new("L", (width, height), 255)
    ImageDraw.Draw(image).text((10, 10), text, fill=0)
    return image


@pytest.fixture(scope="module")
def t5gemma2_folder(tmp_path_factory):
    from deepsynth.models.vlm.tiny_any import build_tiny_any
    from deepsynth.models.vlm.tiny_settings import TINY_SETTINGS

    saved = TINY_SETTINGS.get("t5gemma2")
    TINY_SETTINGS["t5gemma2"] = T5GEMMA2_TINY
    try:
        return build_tiny_any("t5gemma2", tmp_path_factory.mktemp("vlm-t5gemma2") / "model")
    finally:
        if saved is None:
            TINY_SETTINGS.pop("t5gemma2")
        else:
            TINY_SETTINGS["t5gemma2"] = saved


def _build(folder):
    from deepsynth.lora import LoraSettings
    from deepsynth.models import ModelConfig, build_document_model

    return build_document_model(ModelConfig(name=str(folder), max_target_tokens=12),
                                LoraSettings(rank=4, alpha=8, dropout=0.0))


def test_t5gemma2_loss_is_transformers_own_and_cached_features_give_the_towers_loss(t5gemma2_folder):
    from deepsynth.models.vlm.seq2seq import VlmSeq2SeqModel

    model = _build(t5gemma2_folder)
    assert isinstance(model, VlmSeq2SeqModel) and model.caches_features
    lm_path = model.identity["language_model"]
    trainable = [name for name, p in model.named_parameters() if p.requires_grad]
    assert trainable and all(".lora_" in name and f".{lm_path}." in name for name in trainable)
    model.eval()
    documents = [[page("A cat sat on the mat.")], [page("Rivers flow to the sea.", 96, 96)]]
    batch = model.collate(model.read_documents(documents), INSTRUCTIONS, SUMMARIES)
    base = model.decoder.get_base_model()
    # the decoder starts from the family's own start token (T5Gemma 2: the decoder config's bos)
    assert int(model.decoder_inputs(batch["labels"])[0, 0]) == base.config.decoder.bos_token_id
    boi = model.processor.boi_token
    encoded = model.processor(images=[[d[0].convert("RGB")] for d in documents], text=[boi, boi],
                              return_tensors="pt")
    with torch.no_grad():
        ours = float(model(**batch))
        plain = float(base(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                           pixel_values=encoded["pixel_values"], labels=batch["labels"]).loss)
        model.reader.cache_features = False
        live = float(model(**model.collate(model.read_documents(documents), INSTRUCTIONS, SUMMARIES)))
    assert ours == pytest.approx(plain, rel=1e-5) and ours == pytest.approx(live, rel=1e-5)


def test_t5gemma2_one_step_lowers_the_loss(t5gemma2_folder):
    from deepsynth.training.loop import TrainingLoop

    model = _build(t5gemma2_folder)
    documents = [[page("A cat sat on the mat.")], [page("Rivers flow to the sea.", 96, 96)]]
    batch = model.collate(model.read_documents(documents), INSTRUCTIONS, SUMMARIES)
    model.train()
    loop = TrainingLoop(model, learning_rate=2e-2, total_steps=4, schedule="constant")
    losses = [loop.train_step(batch).loss for _ in range(4)]
    assert losses[-1] < losses[0], losses
