"""A local `VisionEncoderDecoderModel` (TrOCR, Donut-style) as a DocumentModel.

Its own image encoder is the frozen page reader: a reading is the encoder's states for the pages
(concatenated), cached like any other reading; the text decoder cross-attends to them and gets
LoRA on its own modules only. There is no prompt: the instruction is ignored (the decoder starts
from its start token), and `max_source_tokens` does not apply (cross-attention reads every state).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Sequence

import torch
import torch.nn.functional as F

from deepsynth.errors import DeepSynthError
from deepsynth.lora import LoraSettings
from deepsynth.models.config import ModelConfig
from deepsynth.models.builtin.document_model import IGNORE_INDEX, DocumentModel
from deepsynth.models.builtin.page_reader import PageReading


class EncoderPageReader:
    """The model's own image encoder, frozen: pages -> (tokens, hidden) states."""

    def __init__(self, encoder: torch.nn.Module, processor: Any, identity: dict[str, Any]) -> None:
        self.encoder = encoder.eval().requires_grad_(False)
        self.processor = processor
        self._identity = identity
        self.characters = ""

    @property
    def feature_size(self) -> int:
        return int(self.encoder.config.hidden_size)

    def identity(self) -> dict[str, Any]:
        return dict(self._identity)

    def read_pages(self, pages: Sequence[Any]) -> PageReading:
        return self.read_documents([pages])[0]

    @torch.inference_mode()
    def read_documents(self, documents: Sequence[Sequence[Any]]) -> list[PageReading]:
        readings = []
        for pages in documents:
            images = [page.convert("RGB") for page in pages]
            pixels = self.processor(images=images, return_tensors="pt")["pixel_values"]
            states = self.encoder(pixel_values=pixels.to(self.encoder.device)).last_hidden_state
            readings.append(PageReading(text="", features=states.reshape(-1, states.shape[-1]).float().cpu()))
        return readings


class VisionEncoderDecoderDocumentModel(DocumentModel):
    """DocumentModel API over a VisionEncoderDecoderModel (`self.decoder` is its PeftModel)."""

    def collate(self, readings: Sequence[PageReading], instructions: Sequence[str] | None = None,
                summaries: Sequence[str] | None = None) -> dict[str, torch.Tensor]:
        lengths = [len(r.features) for r in readings]
        features = torch.zeros((len(readings), max(lengths), self.reader.feature_size))
        mask = torch.zeros(features.shape[:2], dtype=torch.long)
        for row, reading in enumerate(readings):
            features[row, : lengths[row]] = reading.features
            mask[row, : lengths[row]] = 1
        batch = {"vision_features": features, "vision_mask": mask}
        if summaries is None:
            return batch
        start = self.decoder.get_base_model().config.decoder_start_token_id
        rows = [(start,) + self.prompts.target_ids(s, self.config.max_target_tokens) for s in summaries]
        width = max(len(r) for r in rows)
        pad = self.tokenizer.pad_token_id
        input_ids = torch.full((len(rows), width), pad, dtype=torch.long)
        labels = torch.full((len(rows), width), IGNORE_INDEX, dtype=torch.long)
        attention = torch.zeros((len(rows), width), dtype=torch.long)
        for row, ids in enumerate(rows):  # right-padded: decoding starts at the start token
            input_ids[row, : len(ids)] = torch.tensor(ids)
            labels[row, 1: len(ids)] = torch.tensor(ids[1:])
            attention[row, : len(ids)] = 1
        return {**batch, "input_ids": input_ids, "attention_mask": attention, "labels": labels}

    def _encoder_states(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        states = batch["vision_features"].to(self.device)
        model = self.decoder.get_base_model()
        if getattr(model, "enc_to_dec_proj", None) is not None:
            states = model.enc_to_dec_proj(states)
        return states

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, labels: torch.Tensor,
                **extra: torch.Tensor) -> torch.Tensor:
        """Cross-entropy over summary tokens (every decoder position but the start token)."""
        device = self.device
        states = self._encoder_states(extra)
        logits = self.decoder.get_base_model().decoder(
            input_ids=input_ids.to(device), attention_mask=attention_mask.to(device),
            encoder_hidden_states=states, encoder_attention_mask=extra["vision_mask"].to(device)).logits
        labels = labels.to(device)
        targets = labels[:, 1:]
        selected = targets != IGNORE_INDEX
        return F.cross_entropy(logits[:, :-1][selected].float(), targets[selected])

    @torch.inference_mode()
    def generate(self, batch: dict[str, torch.Tensor], max_new_tokens: int | None = None) -> list[str]:
        from transformers.modeling_outputs import BaseModelOutput

        was_training = self.training
        self.eval()
        try:
            model = self.decoder.get_base_model()
            features = batch["vision_features"].to(self.device)
            out = model.generate(
                encoder_outputs=BaseModelOutput(last_hidden_state=features),
                attention_mask=batch["vision_mask"].to(self.device),
                max_new_tokens=max_new_tokens or self.config.max_target_tokens, do_sample=False,
                num_beams=1, decoder_start_token_id=model.config.decoder_start_token_id,
                pad_token_id=self.tokenizer.pad_token_id, eos_token_id=self.tokenizer.eos_token_id)
        finally:
            self.train(was_training)
        return [text.strip() for text in self.tokenizer.batch_decode(out, skip_special_tokens=True)]


def build_vision_encoder_decoder(config: ModelConfig, lora: LoraSettings,
                                 device: str = "cpu") -> VisionEncoderDecoderDocumentModel:
    from peft import LoraConfig, get_peft_model
    from transformers import AutoImageProcessor, AutoTokenizer, VisionEncoderDecoderModel

    from deepsynth.models.builtin.decoder import check_lora_fit, default_targets
    from deepsynth.models.folder_digest import folder_digest

    if lora.is_quantized:
        raise DeepSynthError("QLoRA is not supported for VisionEncoderDecoder models; use quantization=none")
    if config.vision_interface != "features" or config.text_encoder != "none":
        raise DeepSynthError("a VisionEncoderDecoder model reads pages with its own encoder: set "
                             "vision_interface=features and text_encoder=none")
    from deepsynth.hub_models import model_files

    path = model_files(config.name)  # a local folder, or a hub id's snapshot in the HF cache
    try:
        model = VisionEncoderDecoderModel.from_pretrained(str(path), trust_remote_code=False).to(device)
        tokenizer = AutoTokenizer.from_pretrained(str(path), trust_remote_code=False)
        processor = AutoImageProcessor.from_pretrained(str(path), trust_remote_code=False)
    except (OSError, ImportError) as error:
        raise DeepSynthError(f"cannot load VisionEncoderDecoder model {path}: {error}") from error
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    targets = lora.target_modules or default_targets(model.decoder)
    check_lora_fit(model, targets, lora.rank, prefix="decoder.")
    model.requires_grad_(False)
    # A regex, so LoRA lands in the text decoder only (the encoder is the frozen reader).
    pattern = r"decoder\..*\.(" + "|".join(re.escape(t) for t in targets) + r")"
    peft_config = LoraConfig(**{**lora.to_peft_kwargs(), "target_modules": pattern})
    peft_model = get_peft_model(model, peft_config)
    identity = {"name": config.name, "decoder": str(path), "path": str(path)}
    reader = EncoderPageReader(model.encoder, processor,
                               {"reader": "vision-encoder-decoder", "path": str(path), "files": folder_digest(path)})
    return VisionEncoderDecoderDocumentModel(config, peft_model, tokenizer, reader,
                                             lambda: torch.nn.ModuleDict(), None, identity, device)
