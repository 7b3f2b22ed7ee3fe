"""`DocumentModel`: a frozen page reader + a LoRA-adapted decoder (+ optional instruction encoder).

Training flow (see docs/ARCHITECTURE.md, "DocumentModel API"):
    readings = read_dataset(model, dataset["train"], cache_dir)      # frozen reader, cached
    batch = model.collate(readings[i:j], instructions, summaries)     # dict of tensors
    loss = model(**batch); loss.backward()                            # LoRA (+ projections) learn
    texts = model.generate(model.collate(readings, instructions), max_new_tokens=48)

The loss is computed on summary positions only: hidden states at those positions are selected
before the LM head, so the (vocab-wide) head runs on a few dozen tokens per document, not all.
Sequences are left-padded (generation appends on the right); position ids come from the mask.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from deepsynth.models.builtin.page_reader import CrnnPageReader, PageReading
from deepsynth.models.builtin.prompt import DEFAULT_INSTRUCTION, PromptBuilder
from deepsynth.models.config import ModelConfig
from deepsynth.models.document_model_base import BASE_PARTS, IGNORE_INDEX, DocumentModelBase

__all__ = ["BASE_PARTS", "IGNORE_INDEX", "DocumentModel"]


class DocumentModel(DocumentModelBase):
    """See the module docstring. Build it with `deepsynth.models.build_document_model`."""

    def __init__(self, config: ModelConfig, decoder: nn.Module, tokenizer: Any,
                 reader: CrnnPageReader, make_parts: Callable[[], nn.ModuleDict],
                 instruction_encoder: nn.Module | None, identity: dict[str, Any],
                 device: str = "cpu") -> None:
        super().__init__(config, decoder, tokenizer, reader, make_parts, identity, PromptBuilder(tokenizer),
                         instruction_encoder, device)

    # -- batching ---------------------------------------------------------------------------

    @property
    def device(self) -> torch.device:
        return self.decoder.get_base_model().get_input_embeddings().weight.device

    def collate(self, readings: Sequence[PageReading], instructions: Sequence[str] | None = None,
                summaries: Sequence[str] | None = None) -> dict[str, torch.Tensor]:
        """Left-padded tensors for `forward` (with summaries) or `generate` (without)."""
        count = len(readings)
        instructions = list(instructions) if instructions is not None else [""] * count
        instructions = [text.strip() or DEFAULT_INSTRUCTION for text in instructions]
        features = self.config.vision_interface == "features"
        pieces = self.prompts.pieces
        pad = self.tokenizer.pad_token_id
        batch: dict[str, torch.Tensor] = {}
        if self.instruction_encoder is not None:
            batch.update(self.instruction_encoder.tokenize(instructions))
            instruction_lengths = batch["instruction_mask"].sum(dim=1).tolist()
        rows = []
        for i, reading in enumerate(readings):
            if self.instruction_encoder is not None:
                instruction, instruction_slot = (pad,) * instruction_lengths[i], True
            else:
                instruction, instruction_slot = self.prompts.instruction_ids(instructions[i]), False
            if features:
                tokens = 0 if reading.features is None else len(reading.features)
                page = (pad,) * min(tokens, self.config.max_source_tokens)
            else:
                page = self.prompts.page_ids(reading.text, self.config.max_source_tokens)
            prompt = pieces.head + instruction + pieces.middle + page + pieces.tail
            target = (self.prompts.target_ids(summaries[i], self.config.max_target_tokens)
                      if summaries is not None else ())
            marks = ([0] * len(pieces.head) + [1 if instruction_slot else 0] * len(instruction)
                     + [0] * len(pieces.middle) + [2 if features else 0] * len(page)
                     + [0] * (len(pieces.tail) + len(target)))
            labels = [IGNORE_INDEX] * len(prompt) + list(target)
            rows.append((list(prompt + target), labels, marks))
        width = max(len(ids) for ids, _, _ in rows)
        input_ids = torch.full((count, width), pad, dtype=torch.long)
        attention = torch.zeros((count, width), dtype=torch.long)
        labels = torch.full((count, width), IGNORE_INDEX, dtype=torch.long)
        marks = torch.zeros((count, width), dtype=torch.long)
        for row, (ids, row_labels, row_marks) in enumerate(rows):
            start = width - len(ids)
            input_ids[row, start:] = torch.tensor(ids)
            attention[row, start:] = 1
            labels[row, start:] = torch.tensor(row_labels)
            marks[row, start:] = torch.tensor(row_marks)
        batch.update(input_ids=input_ids, attention_mask=attention)
        if summaries is not None:
            batch["labels"] = labels
        if self.instruction_encoder is not None:
            batch["instruction_slots"] = marks == 1
        if features:
            batch.update(self._feature_tensors(readings))
            batch["vision_slots"] = marks == 2
        return batch

    def _feature_tensors(self, readings: Sequence[PageReading]) -> dict[str, torch.Tensor]:
        limit = self.config.max_source_tokens
        lengths = [0 if r.features is None else min(len(r.features), limit) for r in readings]
        size = self.reader.feature_size
        values = torch.zeros((len(readings), max(max(lengths), 1), size))
        mask = torch.zeros(values.shape[:2], dtype=torch.bool)
        for row, (reading, length) in enumerate(zip(readings, lengths)):
            if length:
                values[row, :length] = reading.features[:length].float()
                mask[row, :length] = True
        return {"vision_features": values, "vision_mask": mask}

    # -- the network ------------------------------------------------------------------------

    def embed(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Input embeddings with vision tokens and instruction encodings put in their slots."""
        device = self.device
        embeddings = self.decoder.get_base_model().get_input_embeddings()
        embeds = embeddings(batch["input_ids"].to(device))
        parts = self.parts[self._parts_in_use]
        if "vision_features" in batch:
            projected = parts["vision"](batch["vision_features"].to(device))
            source = projected[batch["vision_mask"].to(device)].to(embeds.dtype)
            embeds = embeds.masked_scatter(batch["vision_slots"].to(device).unsqueeze(-1), source)
        if "instruction_ids" in batch:
            states = self.instruction_encoder(batch["instruction_ids"].to(device),
                                              batch["instruction_mask"].to(device))
            projected = parts["instruction"](states)
            source = projected[batch["instruction_mask"].to(device).bool()].to(embeds.dtype)
            embeds = embeds.masked_scatter(batch["instruction_slots"].to(device).unsqueeze(-1), source)
        return embeds

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, labels: torch.Tensor,
                **extra: torch.Tensor) -> torch.Tensor:
        """Mean cross-entropy over summary tokens; the LM head runs on those positions only."""
        device = self.device
        batch = {"input_ids": input_ids, **extra}
        embeds = self.embed(batch)
        attention_mask = attention_mask.to(device)
        positions = (attention_mask.cumsum(-1) - 1).clamp(min=0)
        base = self.decoder.get_base_model()
        hidden = base.get_decoder()(inputs_embeds=embeds, attention_mask=attention_mask,
                                    position_ids=positions, use_cache=False).last_hidden_state
        labels = labels.to(device)
        targets = labels[:, 1:]
        selected = targets != IGNORE_INDEX  # hidden state t predicts token t + 1
        logits = base.get_output_embeddings()(hidden[:, :-1][selected])  # (N, vocab)
        return F.cross_entropy(logits.float(), targets[selected])

    @torch.inference_mode()
    def generate(self, batch: dict[str, torch.Tensor], max_new_tokens: int | None = None) -> list[str]:
        """Greedy, batched decoding with the KV cache; returns the decoded summaries."""
        was_training = self.training
        self.eval()
        try:
            prompt = {key: value for key, value in batch.items() if key != "labels"}
            embeds = self.embed(prompt)
            out = self.decoder.get_base_model().generate(
                inputs_embeds=embeds, attention_mask=prompt["attention_mask"].to(self.device),
                max_new_tokens=max_new_tokens or self.config.max_target_tokens, do_sample=False,
                num_beams=1, use_cache=True, pad_token_id=self.tokenizer.pad_token_id,
                eos_token_id=self.tokenizer.eos_token_id)
        finally:
            self.train(was_training)
        return [text.strip() for text in self.tokenizer.batch_decode(out, skip_special_tokens=True)]

    def frozen_modules(self) -> list[nn.Module]:
        """A text encoder that does not train stays in eval mode (no dropout)."""
        if self.instruction_encoder is not None and not self.config.train_text_encoder:
            return [self.instruction_encoder]
        return []
