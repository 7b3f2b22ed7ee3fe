"""A local VisionEncoderDecoder model (tiny ViT + TrOCR decoder saved from configs) as a DocumentModel."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture
def tiny_ved_folder(tmp_path):
    from transformers import (ByT5Tokenizer, TrOCRConfig, TrOCRForCausalLM, ViTConfig,
                              ViTImageProcessorPil, ViTModel, VisionEncoderDecoderModel)

    from deepsynth.models.builtin.tiny import seeded

    tokenizer = ByT5Tokenizer()
    with seeded(7):
        encoder = ViTModel(ViTConfig(image_size=32, patch_size=8, hidden_size=32, num_hidden_layers=1,
                                     num_attention_heads=2, intermediate_size=64))
        decoder = TrOCRForCausalLM(TrOCRConfig(
            vocab_size=len(tokenizer), d_model=24, decoder_layers=1, decoder_attention_heads=2,
            decoder_ffn_dim=48, max_position_embeddings=128, pad_token_id=0, eos_token_id=1,
            bos_token_id=0, decoder_start_token_id=0, init_std=0.2))
        model = VisionEncoderDecoderModel(encoder=encoder, decoder=decoder)
    model.config.update({"decoder_start_token_id": 0, "pad_token_id": 0, "eos_token_id": 1})
    folder = tmp_path / "ved"
    model.save_pretrained(str(folder))
    tokenizer.save_pretrained(str(folder))
    ViTImageProcessorPil(size={"height": 32, "width": 32}).save_pretrained(str(folder))
    return folder


def test_vision_encoder_decoder_trains_saves_and_reloads(tiny_ved_folder, tiny_pages, lora, tmp_path):
    from peft import PeftModel
    from transformers import VisionEncoderDecoderModel

    from deepsynth.models import ModelConfig, build_document_model

    config = ModelConfig(name=str(tiny_ved_folder), vision_interface="features")
    model = build_document_model(config, lora)
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n and ".decoder." in n for n in trainable)
    readings = model.read_documents(tiny_pages)
    assert readings[0].features.shape == (17, 32)  # (32 / 8)^2 patches + CLS
    batch = model.collate(readings, None, ["A cat.", "Rivers."])
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=3e-2)
    losses = []
    for _ in range(10):
        loss = model(**batch)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(float(loss))
    assert losses[-1] < losses[0]
    texts = model.generate(model.collate(readings), max_new_tokens=5)
    assert len(texts) == 2

    folder = model.save_adapter(tmp_path / "adapter")
    vanilla = PeftModel.from_pretrained(VisionEncoderDecoderModel.from_pretrained(str(tiny_ved_folder)),
                                        str(folder)).eval()
    model.eval()
    pixels = torch.rand(1, 3, 32, 32)
    ids = torch.tensor([[0, 70, 71, 72]])
    with torch.no_grad():
        ours = model.decoder(pixel_values=pixels, decoder_input_ids=ids).logits
        theirs = vanilla(pixel_values=pixels, decoder_input_ids=ids).logits
    torch.testing.assert_close(ours, theirs, rtol=0, atol=0)
