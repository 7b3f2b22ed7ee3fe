"""An encoder-decoder vision-language model (Florence-2: DaViT tower + projector, then a BART-style
encoder-decoder) as a DocumentModel.

    encoder input = the reading's opening (image tokens, bos) + the instruction + eos, as the
                    model's processor builds it (`VlmPrompt`: the processor places the image tokens)
    decoder       = bos + summary + eos (`labels`; the loss on those tokens only), fed shifted
                    right behind the decoder start token, as transformers' Florence-2 does

The image features (cached, or the tower's now) are scattered into the image-token positions of
the encoder's input embeddings, exactly as `Florence2Model.forward` does with pixels; generation
hands them to `generate` as `mm_encoder_outputs`, which Florence-2's encoder preparation takes.
Rows are padded on the right for training and generation alike: the encoder is bidirectional
(the mask hides padding) and BART's learned positions count from the first token, so left
padding would shift them.
"""

from __future__ import annotations

from typing import Any, Sequence

import torch
import torch.nn.functional as F

from deepsynth.models.builtin.document_model import IGNORE_INDEX
from deepsynth.models.vlm.model import VlmDocumentModel, _inner
from deepsynth.models.vlm.reader import VlmReading


class VlmSeq2SeqModel(VlmDocumentModel):
    """DocumentModel API over an encoder-decoder image-text-to-text model (see the module docstring)."""

    def target_ids(self, summary: str) -> tuple[int, ...]:
        """bos (when the tokenizer has one) + summary tokens (at most max_target_tokens) + eos."""
        bos = self.tokenizer.bos_token_id
        return ((bos,) if bos is not None else ()) + self.prompts.target_ids(summary, self.config.max_target_tokens)

    def collate(self, readings: Sequence[VlmReading], instructions: Sequence[str] | None = None,
                summaries: Sequence[str] | None = None) -> dict[str, Any]:
        count = len(readings)
        instructions = list(instructions) if instructions is not None else [""] * count
        prompts = [self.prompt_ids(reading, instructions[i]) for i, reading in enumerate(readings)]
        input_ids = torch.full((count, max(map(len, prompts))), self.tokenizer.pad_token_id, dtype=torch.long)
        attention = torch.zeros_like(input_ids)
        for row, ids in enumerate(prompts):
            input_ids[row, :len(ids)] = torch.tensor(ids)
            attention[row, :len(ids)] = 1
        batch: dict[str, Any] = {"input_ids": input_ids, "attention_mask": attention}
        if summaries is not None:
            targets = [self.target_ids(summary) for summary in summaries]
            labels = torch.full((count, max(map(len, targets))), IGNORE_INDEX, dtype=torch.long)
            for row, ids in enumerate(targets):
                labels[row, :len(ids)] = torch.tensor(ids)
            batch["labels"] = labels
        return self._add_images(batch, readings)

    def encoder_embeds(self, batch: dict[str, Any]) -> torch.Tensor:
        """(B, T, width) encoder input embeddings with the image features in the image-token positions."""
        base = self.decoder.get_base_model()
        input_ids = batch["input_ids"].to(self.device)
        embeds = base.get_input_embeddings()(input_ids)
        features = self.image_features(batch).to(embeds.dtype)
        mask = (input_ids == self.reader.image_token_id).unsqueeze(-1).expand_as(embeds)
        return embeds.masked_scatter(mask, features)

    def decoder_inputs(self, labels: torch.Tensor) -> torch.Tensor:
        """Labels shifted right behind the decoder start token (-100 -> pad): the family's own
        `prepare_decoder_input_ids_from_labels` where it has one (T5Gemma 2 starts from bos), else
        as BART/Florence-2 do."""
        base = self.decoder.get_base_model()
        if hasattr(base, "prepare_decoder_input_ids_from_labels"):
            return base.prepare_decoder_input_ids_from_labels(labels)
        start = base.generation_config.decoder_start_token_id
        if start is None:
            start = getattr(base.config.get_text_config(), "decoder_start_token_id", None)
        shifted = labels.new_full(labels.shape, self.tokenizer.pad_token_id)
        shifted[:, 1:] = labels[:, :-1]
        shifted[:, 0] = start
        return shifted.masked_fill(shifted == IGNORE_INDEX, self.tokenizer.pad_token_id)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, labels: torch.Tensor,
                **extra: Any) -> torch.Tensor:
        """Mean cross-entropy over the target tokens; the LM head runs on those positions only."""
        base = self.decoder.get_base_model()
        batch = {"input_ids": input_ids, "attention_mask": attention_mask, **extra}
        labels = labels.to(self.device)
        hidden = _inner(base)(inputs_embeds=self.encoder_embeds(batch), attention_mask=attention_mask.to(self.device),
                              decoder_input_ids=self.decoder_inputs(labels), use_cache=False).last_hidden_state
        selected = labels != IGNORE_INDEX  # decoder state t predicts target t
        logits = base.get_output_embeddings()(hidden[selected])
        cap = getattr(base.config.get_text_config(decoder=True), "final_logit_softcapping", None)
        if cap:  # T5Gemma 2 caps its logits after the head, as Gemma does
            logits = torch.tanh(logits / cap) * cap
        return F.cross_entropy(logits.float(), labels[selected])

    @torch.inference_mode()
    def generate(self, batch: dict[str, Any], max_new_tokens: int | None = None) -> list[str]:
        """Greedy, batched decoding through HF `generate` (the features as `mm_encoder_outputs`)."""
        from transformers.modeling_outputs import BaseModelOutputWithPooling

        was_training = self.training
        self.eval()
        try:
            features = self.image_features(batch)
            out = self.decoder.get_base_model().generate(
                input_ids=batch["input_ids"].to(self.device), attention_mask=batch["attention_mask"].to(self.device),
                mm_encoder_outputs={"image": BaseModelOutputWithPooling(pooler_output=features)},
                max_new_tokens=max_new_tokens or self.config.max_target_tokens, do_sample=False, num_beams=1,
                use_cache=True, pad_token_id=self.tokenizer.pad_token_id, eos_token_id=self.tokenizer.eos_token_id)
        finally:
            self.train(was_training)
        return [text.strip() for text in self.tokenizer.batch_decode(out, skip_special_tokens=True)]
