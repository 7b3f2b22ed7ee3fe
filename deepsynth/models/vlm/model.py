"""A vision-language model (AutoModelForImageTextToText) as a DocumentModel.

    readings = read_dataset(model, split)            # processor (+ frozen tower, cached): VlmReading
    batch = model.collate(readings, instructions, summaries)
    loss = model(**batch)                            # CE on summary tokens; LoRA in the language model
    texts = model.generate(model.collate(readings, instructions))

Batches: prompt = the reading's opening (image tokens expanded) + instruction + the template up to
the assistant turn; the target = summary + eos, labels -100 elsewhere. Training batches are padded
on the right (positions need no care), generation batches on the left (as HF `generate` expects).
Image features reach the model as transformers' `mm_encoder_outputs` (the same path `generate`
uses for precomputed features); the hidden states at summary positions alone go through the LM head.
That fast path is taken by the families of `vlm.families` and by others where it gives the model's
own forward's loss on a blank page (`fast_path_agrees`, checked at build); every other decoder-only
family trains through its own forward, one row per call (`vlm.own_forward`: batch key `documents`).
"""

from __future__ import annotations

import logging
from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from deepsynth.models.config import ModelConfig
from deepsynth.models.builtin.prompt import DEFAULT_INSTRUCTION
from deepsynth.models.document_model_base import IGNORE_INDEX, DocumentModelBase
from deepsynth.models.vlm.reader import VlmPageReader, VlmReading, accepts_precomputed

log = logging.getLogger(__name__)


def _inner(model: Any) -> Any:
    return getattr(model, model.base_model_prefix, model)


class ImageFeatures(list):
    """The image features handed to the model as `mm_encoder_outputs["image"].pooler_output`: a list
    of per-image tensors (what most families concatenate) that also acts as their concatenation for
    families that use it as one tensor (`.to(...)`, `.shape`: PaliGemma, GOT-OCR2 ...)."""

    def __getattr__(self, name: str) -> Any:
        return getattr(torch.cat(list(self)), name)


class VlmDocumentModel(DocumentModelBase):
    """The DocumentModel API over an image-text-to-text model (`self.decoder` is its PeftModel)."""

    def __init__(self, config: ModelConfig, decoder: nn.Module, processor: Any, reader: VlmPageReader,
                 identity: dict[str, Any], tower: nn.Module | None) -> None:
        # No DeepSynth-made parts (`nn.ModuleDict` makes empty ones): the projector trains through PEFT.
        super().__init__(config, decoder, processor.tokenizer, reader, nn.ModuleDict, identity, reader.prompt)
        self.processor = processor
        self.tower = tower
        self.precomputed = accepts_precomputed(decoder.get_base_model())
        self._logits_follow_tokens = False
        """Checked on the first own-forward row (`_check_logits_follow_tokens`)."""

    @property
    def device(self) -> torch.device:
        return self.reader.device

    def fast_path_agrees(self) -> bool:
        """Whether the fast path (cached `get_image_features` output as `mm_encoder_outputs`) gives
        the model's own forward's loss on a blank page (both with the tower live, no dropout); a
        fast path that raises does not agree."""
        from PIL import Image

        page = [Image.new("RGB", (96, 96), (255, 255, 255))]
        was_training, cached, own = self.training, self.reader.cache_features, self.reader.own_forward
        self.eval()
        self.reader.cache_features = False
        losses = []
        try:
            for own_forward in (False, True):
                self.reader.own_forward = own_forward
                try:
                    with torch.no_grad():
                        losses.append(float(self(**self.collate(self.reader.read_documents([page]), [""], ["probe"]))))
                except Exception as error:  # noqa: BLE001 - a fast path that fails is a fast path not taken
                    log.info("%s: %s path on a blank page: %s", self.identity.get("model_type"),
                             "own-forward" if own_forward else "fast", error)
                    losses.append(None)
        finally:
            self.reader.cache_features, self.reader.own_forward = cached, own
            self.train(was_training)
        fast, own_loss = losses
        if fast is None or own_loss is None:
            return fast is not None
        return abs(fast - own_loss) <= 1e-4 * max(1.0, abs(own_loss))

    @property
    def caches_features(self) -> bool:
        """True when readings carry the tower's features (the tower never runs during training)."""
        return self.reader.cache_features

    # -- batching ---------------------------------------------------------------------------

    def token_rows(self, readings: Sequence[VlmReading], instructions: Sequence[str] | None,
                   summaries: Sequence[str] | None, left: bool) -> tuple[dict[str, Any], list[tuple[list, list]]]:
        """({input_ids, attention_mask[, labels]}, each row's (ids, labels)): each row the reading's
        prompt (`prompt_ids`) [+ the target: summary + eos], labels on the target only, padded on
        the left (`left`, generation) or the right."""
        count = len(readings)
        instructions = list(instructions) if instructions is not None else [""] * count
        rows = []
        for i, reading in enumerate(readings):
            prompt = self.prompt_ids(reading, instructions[i])
            target = (self.prompts.target_ids(summaries[i], self.config.max_target_tokens)
                      if summaries is not None else ())
            rows.append((list(prompt + target), [IGNORE_INDEX] * len(prompt) + list(target)))
        width = max(len(ids) for ids, _ in rows)
        input_ids = torch.full((count, width), self.tokenizer.pad_token_id, dtype=torch.long)
        attention = torch.zeros((count, width), dtype=torch.long)
        labels = torch.full((count, width), IGNORE_INDEX, dtype=torch.long)
        for row, (ids, row_labels) in enumerate(rows):
            span = slice(width - len(ids), width) if left else slice(0, len(ids))
            input_ids[row, span] = torch.tensor(ids)
            attention[row, span] = 1
            labels[row, span] = torch.tensor(row_labels)
        batch: dict[str, Any] = {"input_ids": input_ids, "attention_mask": attention}
        if summaries is not None:
            batch["labels"] = labels
        return batch, rows

    def collate(self, readings: Sequence[VlmReading], instructions: Sequence[str] | None = None,
                summaries: Sequence[str] | None = None) -> dict[str, Any]:
        batch, rows = self.token_rows(readings, instructions, summaries, left=summaries is None)
        if self.reader.own_forward:
            prompts = [len(ids) - sum(1 for label in row_labels if label != IGNORE_INDEX) for ids, row_labels in rows]
            batch["documents"] = [self._document(reading, prompt, len(ids))
                                  for reading, prompt, (ids, _) in zip(readings, prompts, rows)]
            return batch
        return self._add_images(batch, readings)

    def _document(self, reading: VlmReading, prompt: int, total: int) -> dict[str, Any]:
        """One row's inputs for the model's own forward (`vlm.own_forward`): the processor's pixels
        and extras, its per-token tensors extended over the row's `total` tokens (`prompt` of them
        the prompt), and the cached tower outputs."""
        from deepsynth.models.vlm.own_forward import extend_per_token

        values, target = self.reader.appended_values() if reading.tokens else ({}, {})
        tokens = {key: extend_per_token(value, prompt, total, values.get(key), target.get(key))
                  for key, value in reading.tokens.items()}
        return {"inputs": {**reading.pixels, **reading.extras}, "tokens": tokens, "tower": reading.tower}

    def prompt_ids(self, reading: VlmReading, instruction: str) -> tuple[int, ...]:
        """The prompt of one row: the reading's opening, the instruction, the template up to the answer."""
        return (tuple(reading.prompt_ids.tolist()) + self.prompts.instruction_ids(instruction or DEFAULT_INSTRUCTION)
                + self.prompts.after_ids(reading.pages))

    def _add_images(self, batch: dict[str, Any], readings: Sequence[VlmReading]) -> dict[str, Any]:
        """The readings' image inputs into `batch`: the processor's extras, and the cached features
        (`image_features`) or the pixels for the tower (`pixel_inputs`, one dict per document)."""
        input_ids = batch["input_ids"]
        extras = [r.extras for r in readings]
        for key in extras[0] if extras else ():
            if key != "uses_mm_token_type_ids":
                batch[key] = torch.cat([e[key] for e in extras])
        if extras and "uses_mm_token_type_ids" in extras[0]:
            batch["mm_token_type_ids"] = (input_ids == self.reader.image_token_id).long()
        if all(r.features is not None for r in readings):
            batch["image_features"] = torch.cat([r.features for r in readings])
        else:
            batch["pixel_inputs"] = [{**r.pixels, **r.extras} for r in readings]
        return batch

    # -- the network ------------------------------------------------------------------------

    def _model_inputs(self, batch: dict[str, Any]) -> dict[str, Any]:
        """Keyword arguments for the inner model: ids, mask, image features (cached, or from the
        tower now), and the processor's extras the forward accepts."""
        import inspect

        from transformers.modeling_outputs import BaseModelOutputWithPooling

        device = self.device
        base = self.decoder.get_base_model()
        accepted = inspect.signature(_inner(base).forward).parameters
        inputs = {"input_ids": batch["input_ids"].to(device), "attention_mask": batch["attention_mask"].to(device)}
        for key, value in batch.items():
            if key in accepted and key not in inputs and torch.is_tensor(value) and key != "labels":
                inputs[key] = value.to(device)
        features = ImageFeatures([self.image_features(batch)])
        inputs["mm_encoder_outputs"] = {"image": BaseModelOutputWithPooling(pooler_output=features)}
        return inputs

    def image_features(self, batch: dict[str, Any]) -> torch.Tensor:
        """(image tokens of the batch, width) in the language model's dtype: the cached features, or
        the tower's (+ projector's, which may train) output now, one document at a time."""
        if "image_features" in batch:
            features = batch["image_features"]
        else:
            features = torch.cat([self.reader.image_features(pixels, grad=torch.is_grad_enabled())
                                  for pixels in batch["pixel_inputs"]])
        dtype = self.decoder.get_base_model().get_input_embeddings().weight.dtype
        dtype = dtype if dtype.is_floating_point else torch.float32
        return features.to(self.device, dtype)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, labels: torch.Tensor,
                **extra: Any) -> torch.Tensor:
        """Mean cross-entropy over summary tokens; the LM head runs on those positions only."""
        base = self.decoder.get_base_model()
        batch = {"input_ids": input_ids, "attention_mask": attention_mask, **extra}
        if "documents" in batch:
            return self._own_forward_loss(batch, labels)
        if self.precomputed:
            hidden = _inner(base)(**self._model_inputs(batch), use_cache=False).last_hidden_state
        else:
            hidden = self._hidden_from_pixels(batch)
        labels = labels.to(hidden.device)
        targets = labels[:, 1:]
        selected = targets != IGNORE_INDEX  # hidden state t predicts token t + 1
        logits = base.get_output_embeddings()(hidden[:, :-1][selected])
        return F.cross_entropy(logits.float(), targets[selected])

    def _own_forward_loss(self, batch: dict[str, Any], labels: torch.Tensor) -> torch.Tensor:
        """Mean cross-entropy over the target tokens of every row, each row through the model's own
        forward (`vlm.own_forward`): its real tokens only (rows are padded on the right), the cached
        tower outputs standing in for the tower, the LM head on the last positions (the targets
        end the row) where the forward takes `logits_to_keep`."""
        from deepsynth.models.vlm.own_forward import forward_accepts, replayed_towers

        base = self.decoder.get_base_model()
        keep = forward_accepts(base, "logits_to_keep")
        predicted, wanted = [], []
        for row, document in enumerate(batch["documents"]):
            length = int(batch["attention_mask"][row].sum())
            row_labels = labels[row, :length]
            targets = int((row_labels != IGNORE_INDEX).sum())
            if targets == 0:
                continue
            inputs = self._row_inputs(batch["input_ids"][row, :length], document)
            if keep:
                inputs["logits_to_keep"] = targets + 1
            with replayed_towers(base, self.reader.towers, document["tower"], self.device):
                logits = base(**inputs, use_cache=False).logits
            if not keep and not self._logits_follow_tokens:
                self._check_logits_follow_tokens(batch["input_ids"][row, :length], document, logits.shape[1])
            predicted.append(logits[0, -(targets + 1):-1])
            wanted.append(row_labels[-targets:].to(logits.device))
        if not predicted:
            raise ValueError("no target tokens in the batch: every summary is empty")
        return F.cross_entropy(torch.cat(predicted).float(), torch.cat(wanted))

    def _check_logits_follow_tokens(self, ids: torch.Tensor, document: dict[str, Any], count: int) -> None:
        """Once per model, for a forward without `logits_to_keep`: one token fewer must give one
        logit fewer, else the logits are not the row's next-token predictions (a block-diffusion
        model's are over a canvas of its own length) and DeepSynth's loss would train on noise."""
        from deepsynth.errors import DeepSynthError
        from deepsynth.models.vlm.own_forward import replayed_towers

        base = self.decoder.get_base_model()
        with torch.no_grad(), replayed_towers(base, self.reader.towers, document["tower"], self.device):
            shorter = base(**self._row_inputs(ids[:-1], document), use_cache=False).logits.shape[1]
        if count - shorter != 1:
            raise DeepSynthError(
                f"{type(base).__name__}'s logits do not follow its input tokens ({count} logits for {len(ids)} "
                f"tokens, {shorter} for one token fewer): it does not predict the next token of its input (a "
                "block-diffusion model writes into a canvas of its own), so DeepSynth's next-token loss cannot "
                "train it")
        self._logits_follow_tokens = True

    def _row_inputs(self, ids: torch.Tensor, document: dict[str, Any]) -> dict[str, Any]:
        """The model's own forward inputs for one row: its ids, a full mask, the processor's tensors
        (per-token ones cut to the row), floating ones in the tower's dtype."""
        tokens = {key: value[:, :len(ids)] for key, value in document["tokens"].items()}
        inputs = self.reader.model_inputs({**document["inputs"], **tokens})
        inputs["input_ids"] = ids.unsqueeze(0).to(self.device)
        inputs["attention_mask"] = torch.ones_like(inputs["input_ids"])
        return inputs

    def _hidden_from_pixels(self, batch: dict[str, Any]) -> torch.Tensor:
        """Families whose forward takes only pixels: one document per call (their pixel layouts
        batch differently), hidden states stacked (rows padded on the right alike)."""
        base = self.decoder.get_base_model()
        rows = []
        for row, pixels in enumerate(batch["pixel_inputs"]):
            inputs = {"input_ids": batch["input_ids"][row:row + 1].to(self.device),
                      "attention_mask": batch["attention_mask"][row:row + 1].to(self.device),
                      **{k: v.to(self.device) for k, v in pixels.items()}}
            rows.append(_inner(base)(**inputs, use_cache=False).last_hidden_state)
        return torch.cat(rows)

    def vision_tokens_read(self, reading: Any) -> int:
        """Vision tokens the language model attends to for one document (all its pages): the
        image placeholders in its prompt (`deepsynth.training.compression`'s hook)."""
        if self.reader.image_token_id is None:  # cross-attention or prepended features: none in the prompt
            return 0
        return int((reading.prompt_ids == self.reader.image_token_id).sum())

    @torch.inference_mode()
    def generate(self, batch: dict[str, Any], max_new_tokens: int | None = None) -> list[str]:
        """Greedy, batched decoding through HF `generate` (KV cache); returns the summaries."""
        was_training = self.training
        self.eval()
        try:
            base = self.decoder.get_base_model()
            prompt = {key: value for key, value in batch.items() if key != "labels"}
            settings = dict(max_new_tokens=max_new_tokens or self.config.max_target_tokens, do_sample=False,
                            num_beams=1, use_cache=True, pad_token_id=self.tokenizer.pad_token_id,
                            eos_token_id=self.tokenizer.eos_token_id)
            if "documents" in prompt:
                out = torch.cat([self._generate_own(prompt, row, settings)
                                 for row in range(len(prompt["input_ids"]))])
            elif self.precomputed:
                out = base.generate(**self._model_inputs(prompt), **settings)
            else:
                out = torch.cat([self._generate_one(prompt, row, settings)
                                 for row in range(len(prompt["input_ids"]))])
        finally:
            self.train(was_training)
        new = out[:, prompt["input_ids"].shape[1]:]
        return [text.strip() for text in self.tokenizer.batch_decode(new, skip_special_tokens=True)]

    def _generate_own(self, prompt: dict[str, Any], row: int, settings: dict[str, Any]) -> torch.Tensor:
        """One row through the model's own `generate` (`vlm.own_forward`), the cached tower outputs
        standing in for the tower; the new tokens placed as `generate` pads a batch."""
        from deepsynth.models.vlm.own_forward import replayed_towers

        base = self.decoder.get_base_model()
        ids = prompt["input_ids"][row][prompt["attention_mask"][row].bool()]
        document = prompt["documents"][row]
        inputs = self._row_inputs(ids, document)
        while True:
            try:
                with replayed_towers(base, self.reader.towers, document["tower"], self.device):
                    out = base.generate(**inputs, **settings)
                break
            except TypeError as error:  # a family's own generate sets some of these itself (BLIP: pad_token_id)
                given = [key for key in settings if f"multiple values for keyword argument '{key}'" in str(error)]
                if not given:
                    raise
                settings = {key: value for key, value in settings.items() if key not in given}
        width = prompt["input_ids"].shape[1] + settings["max_new_tokens"]
        new = out[0, len(ids):] if out.shape[1] > len(ids) and torch.equal(out[0, :len(ids)].cpu(), ids.cpu()) else out[0]
        padded = torch.full((1, width), self.tokenizer.pad_token_id, dtype=out.dtype, device=out.device)
        start = prompt["input_ids"].shape[1]
        padded[0, start:start + min(len(new), settings["max_new_tokens"])] = new[:settings["max_new_tokens"]]
        return padded

    def _generate_one(self, prompt: dict[str, Any], row: int, settings: dict[str, Any]) -> torch.Tensor:
        mask = prompt["attention_mask"][row].bool()
        ids = prompt["input_ids"][row][mask].unsqueeze(0).to(self.device)
        pixels = {k: v.to(self.device) for k, v in prompt["pixel_inputs"][row].items()}
        out = self.decoder.get_base_model().generate(input_ids=ids, attention_mask=torch.ones_like(ids),
                                                     **pixels, **settings)
        width = prompt["input_ids"].shape[1] + settings["max_new_tokens"]
        padded = torch.full((1, width), self.tokenizer.pad_token_id, dtype=out.dtype, device=out.device)
        padded[0, prompt["input_ids"].shape[1]:prompt["input_ids"].shape[1] + out.shape[1] - ids.shape[1]] = out[0, ids.shape[1]:]
        return padded

    def save_adapter(self, folder, extra: dict[str, Any] | None = None):
        """As every DocumentModel, then the LoRA tensors renamed where vanilla PEFT would otherwise
        load them onto nothing (`vlm.checkpoint_names`; DeepSeek-OCR-2), the file replaced atomically."""
        import os

        from safetensors.torch import load_file, save_file

        from deepsynth.adapter_format.files import ADAPTER_WEIGHTS
        from deepsynth.models.vlm.checkpoint_names import loadable_state

        saved = super().save_adapter(folder, extra)
        path = saved / ADAPTER_WEIGHTS
        state = load_file(str(path))
        loadable = loadable_state(self.decoder, state, self.active_adapter)
        if loadable is not state:
            partial = path.with_name(path.name + ".partial")
            save_file({k: v.contiguous() for k, v in loadable.items()}, str(partial), metadata={"format": "pt"})
            os.replace(partial, path)
        return saved

    def frozen_modules(self) -> list[nn.Module]:
        """The vision tower (and every tower module whose outputs the own-forward path caches):
        frozen, no dropout, ever."""
        modules = [self.tower] if self.tower is not None else []
        base = self.decoder.get_base_model()
        for path in self.reader.towers:
            module = base.get_submodule(path)
            if all(module is not known for known in modules):
                modules.append(module)
        return modules
