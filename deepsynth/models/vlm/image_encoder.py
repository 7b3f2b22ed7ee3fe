"""An encoder-decoder image-text-to-text model whose encoder reads the page itself (Pix2Struct: a
ViT over the processor's flattened patches, then a text decoder that cross-attends to it; UDOP: a
T5 encoder over the page's words, their boxes and its patches joined) as a DocumentModel. No image
tokens anywhere: the encoder is the vision tower.

    reading  = the frozen encoder's states at the page's real positions (the encoder's own mask
               where it returns one, as UDOP's over words + patches, else the processor's patch
               mask), (positions, width), cached like any reading; or the processor's tensors, when
               the encoder runs at every step (the reading cache off, or a projector asked to train).
               A processor that would run its own OCR engine (`apply_ocr`: UDOP's Tesseract) is
               given the page's words and boxes from DeepSynth's reader instead (`page_words`).
    decoder  = start token + instruction + summary + eos; the loss on the summary and eos only.
               The instruction is a decoder prefix, as the family's processor makes a text given
               with the image (`decoder_input_ids`: Pix2Struct's conditional captioning), and
               generation continues after it.

LoRA sits in the text decoder only (`get_decoder()`, the bench's "language model"); the encoder and
its processor never train, so its states are what a reading caches. The processor takes one image
per prompt: a document is read from its first page (`max_pages` 1, the cut logged).
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import json
import logging
from pathlib import Path
from typing import Any, Sequence

import torch
import torch.nn.functional as F

from deepsynth.errors import DeepSynthError
from deepsynth.models.builtin.prompt import DEFAULT_INSTRUCTION
from deepsynth.models.document_model_base import IGNORE_INDEX
from deepsynth.models.folder_digest import folder_digest
from deepsynth.models.vlm.model import VlmDocumentModel
from deepsynth.models.vlm.page_words import OCR_SWITCH, PageWords
from deepsynth.models.vlm.prompt import RESOLUTION_RULE, prepare_pages
from deepsynth.models.vlm.reader import VlmReading

log = logging.getLogger(__name__)

READER_VERSION = 1
WORD_BOXES = "bbox"
"""The name word-and-box tokenizers (LayoutLM's, UDOP's) and their encoders give the per-token boxes."""
MASK_KEYS = ("attention_mask", "pixel_mask", "patch_mask")
"""Names processors give the mask of an image's real positions (Pix2Struct: `attention_mask` over
its flattened patches)."""


def reads_pages_in_encoder(model: Any) -> bool:
    """An encoder-decoder image-text-to-text model with no image token: its encoder takes the image
    (Pix2Struct), rather than image features placed at image tokens of the encoder's text (Florence-2)."""
    config = model.config
    return bool(config.is_encoder_decoder) and getattr(config, "image_token_id", None) is None \
        and hasattr(model, "get_encoder")


class DecoderPrompt:
    """The decoder's prefix (instruction) and target (summary + eos) token ids."""

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer
        self.template = None

    def encode(self, text: str) -> tuple[int, ...]:
        """Decoder-side text, tokenized as a target (a word-and-box tokenizer such as UDOP's takes a
        plain string only as `text_target`)."""
        return tuple(self.tokenizer(text_target=text, add_special_tokens=False)["input_ids"]) if text else ()

    def instruction_ids(self, instruction: str) -> tuple[int, ...]:
        return self.encode(instruction.strip() or DEFAULT_INSTRUCTION)

    def after_ids(self, pages: int) -> tuple[int, ...]:
        return ()

    def target_ids(self, summary: str, limit: int) -> tuple[int, ...]:
        """Summary tokens (at most `limit`) followed by eos."""
        return self.encode(summary.strip())[:limit] + (self.tokenizer.eos_token_id,)


class ImageEncoderReader:
    """Pages -> `VlmReading`s: the processor's tensors for the first page and, when cached, the
    frozen encoder's states at its real positions (`features`)."""

    def __init__(self, model: Any, processor: Any, path: Path, cache_features: bool,
                 word_reader: Any = None) -> None:
        self.model = model
        self.processor = processor
        self.word_reader = word_reader
        """`PageWordReader` for a processor that takes the page's words and boxes (`page_words`);
        its own OCR is then switched off."""
        if word_reader is not None:
            setattr(processor.image_processor, OCR_SWITCH, False)
        self.prompt = DecoderPrompt(processor.tokenizer)
        self.cache_features = cache_features
        self.image_token_id = None
        self.characters = ""
        self.pages_cut = 0
        self.max_pages = 1
        image_processor = getattr(processor, "image_processor", None)
        self._identity = {
            "reader": "vlm-image-encoder", "model_type": model.config.model_type, "path": str(path),
            "files": folder_digest(path), "resolution_rule": RESOLUTION_RULE,
            "image_processor": hashlib.sha256(image_processor.to_json_string().encode()).hexdigest()[:16]
            if image_processor is not None else None,
            "processor": type(processor).__name__,
            "tokenizer": hashlib.sha256(json.dumps(processor.tokenizer.get_vocab(), sort_keys=True).encode()).hexdigest()[:16],
            "features": cache_features, "dtype": str(self.tower_dtype), "device": self.device.type,
            "version": READER_VERSION,
        }
        if word_reader is not None:
            self._identity["page_words"] = word_reader.identity()

    @property
    def encoder(self) -> Any:
        return self.model.get_encoder()

    @property
    def device(self) -> torch.device:
        return next(self.encoder.parameters()).device

    @property
    def tower_dtype(self) -> torch.dtype:
        return next(self.encoder.parameters()).dtype

    @property
    def feature_size(self) -> int:
        return int(self.encoder.config.hidden_size)

    def identity(self) -> dict[str, Any]:
        return dict(self._identity)

    def read_pages(self, pages: Sequence[Any]) -> VlmReading:
        return self.read_documents([pages])[0]

    def read_documents(self, documents: Sequence[Sequence[Any]]) -> list[VlmReading]:
        cut = [len(pages) - 1 for pages in documents if len(pages) > 1]
        if cut:
            self.pages_cut += sum(cut)
            log.warning("%s takes one image per prompt (a page cap of 1 per example for %s): %d document(s) of "
                        "more pages cut to their first page, %d page(s) not read", type(self.processor).__name__,
                        self.model.config.model_type, len(cut), sum(cut))
        readings = []
        for pages in documents:
            if not pages:
                raise DeepSynthError("a document without pages cannot be read")
            images = prepare_pages(list(pages)[:1])
            try:
                encoded = self.processor(images=images, return_tensors="pt", **self._words_of(images[0]))
            except (ValueError, TypeError) as error:
                raise DeepSynthError(f"the {type(self.processor).__name__} refused a page: {error}"
                                     f"{self._words_hint()}") from error
            except ImportError as error:  # a processor's own OCR engine (UDOP's Tesseract) is not installed
                first = next((line for line in str(error).splitlines() if line.strip()), "")
                raise DeepSynthError(f"the {type(self.processor).__name__} of {self.model.config.model_type} cannot "
                                     f"read a page here: {first.strip()}") from None
            pixels = {k: v for k, v in encoded.items() if torch.is_tensor(v) and not k.startswith("decoder_")}
            self._check_word_boxes(pixels)
            empty = torch.zeros(0, dtype=torch.long)
            if not self.cache_features:
                readings.append(VlmReading(empty, 1, None, pixels, {}))
                continue
            features = self.image_features(pixels)
            readings.append(VlmReading(empty, 1, features.detach().cpu(), {}, {}))
        return readings

    def _words_of(self, page: Any) -> dict[str, Any]:
        """The processor's word arguments (one page): DeepSynth's words and boxes, cut to the
        tokenizer's length; none when the processor reads no words."""
        if self.word_reader is None:
            return {}
        words = self.word_reader.read(page)
        if not words.words:  # a page with no text line: one empty word over no area
            words = PageWords(("",), ((0, 0, 0, 0),))
        return {"text": [list(words.words)], "boxes": [[list(box) for box in words.boxes]], "truncation": True}

    def _words_hint(self) -> str:
        if self.word_reader is None:
            return ""
        return (f" (it was given the page's words and their boxes, which the {type(self.processor.tokenizer).__name__} "
                "must turn into tokens with boxes: the folder's tokenizer_config.json must name the family's own "
                "tokenizer class)")

    def _check_word_boxes(self, pixels: dict[str, torch.Tensor]) -> None:
        """Words were given but the tokenizer returned no per-token boxes the encoder takes (LayoutLM's
        `bbox`): a tokenizer of another class than the family's (its `tokenizer_config.json`)."""
        accepted = inspect.signature(self.encoder.forward).parameters
        if self.word_reader is not None and WORD_BOXES in accepted and WORD_BOXES not in pixels:
            raise DeepSynthError(f"the {type(self.processor).__name__} returned no word boxes ({WORD_BOXES}), which the "
                                 f"encoder of {self.model.config.model_type} needs{self._words_hint()}")

    def image_features(self, inputs: dict[str, torch.Tensor], grad: bool = False) -> torch.Tensor:
        """(real positions, width): the encoder's last states for one page, padding positions dropped."""
        encoder = self.encoder
        accepted = inspect.signature(encoder.forward).parameters
        device, dtype = self.device, self.tower_dtype
        arguments = {k: (v.to(device, dtype) if v.is_floating_point() else v.to(device))
                     for k, v in inputs.items() if k in accepted}
        with torch.set_grad_enabled(grad):
            output = encoder(**arguments, return_dict=True)
        states = output.last_hidden_state
        # An encoder that joins the page's words and patches (UDOP) returns the joined sequence's mask.
        mask = getattr(output, "attention_mask", None)
        if mask is None or tuple(mask.shape) != tuple(states.shape[:2]):
            mask = next((inputs[k] for k in MASK_KEYS if k in inputs), None)
        if mask is None:
            return states.reshape(-1, states.shape[-1])
        return states[mask.to(states.device).bool()]


@functools.cache
def _encoder_output_class() -> type:
    from dataclasses import dataclass

    from transformers.modeling_outputs import BaseModelOutput

    @dataclass
    class EncoderStates(BaseModelOutput):
        attention_mask: torch.Tensor | None = None

    return EncoderStates


def encoder_output(states: torch.Tensor, mask: torch.Tensor) -> Any:
    """The encoder's output as the model's decoder takes it: the states and their mask (UDOP's
    forward reads the cross-attention mask from the encoder output, not from `attention_mask`)."""
    return _encoder_output_class()(last_hidden_state=states, attention_mask=mask)


class VlmImageEncoderModel(VlmDocumentModel):
    """DocumentModel API over an encoder-decoder model whose encoder reads the page (module docstring)."""

    def prompt_ids(self, reading: VlmReading, instruction: str) -> tuple[int, ...]:
        """The decoder's prefix: the start token, then the instruction."""
        return (self._start_token(),) + self.prompts.instruction_ids(instruction)

    def _start_token(self) -> int:
        base = self.decoder.get_base_model()
        start = base.generation_config.decoder_start_token_id
        for config in (base.config, base.config.get_text_config()):
            if start is None:
                start = getattr(config, "decoder_start_token_id", None)
        if start is None:  # UDOP's config class has no such field: its releases write it in config.json
            raise DeepSynthError(f"{base.config.model_type}: neither config.json nor generation_config.json sets "
                                 "decoder_start_token_id, the token its decoder starts from")
        return int(start)

    def collate(self, readings: Sequence[VlmReading], instructions: Sequence[str] | None = None,
                summaries: Sequence[str] | None = None) -> dict[str, Any]:
        """Decoder rows (prefix [+ target]) padded on the right; labels on the target only."""
        batch, _ = self.token_rows(readings, instructions, summaries, left=False)
        if all(r.features is not None for r in readings):
            batch["encoder_states"] = [r.features for r in readings]
        else:
            batch["pixel_inputs"] = [dict(r.pixels) for r in readings]
        return batch

    def encoder_states(self, batch: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, positions, width) encoder states padded on the right, and their (B, positions) mask:
        the cached ones, or the encoder's now."""
        if "encoder_states" in batch:
            per_row = list(batch["encoder_states"])
        else:
            per_row = [self.reader.image_features(pixels) for pixels in batch["pixel_inputs"]]
        width = max(len(states) for states in per_row)
        dtype = next(self.reader.encoder.parameters()).dtype
        states = torch.zeros((len(per_row), width, per_row[0].shape[-1]), dtype=dtype, device=self.device)
        mask = torch.zeros((len(per_row), width), dtype=torch.long, device=self.device)
        for row, row_states in enumerate(per_row):
            states[row, :len(row_states)] = row_states.to(self.device, dtype)
            mask[row, :len(row_states)] = 1
        return states, mask

    def _logits(self, batch: dict[str, Any], input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        states, mask = self.encoder_states(batch)
        base = self.decoder.get_base_model()
        return base(encoder_outputs=encoder_output(states, mask), attention_mask=mask,
                    decoder_input_ids=input_ids.to(self.device), decoder_attention_mask=attention_mask.to(self.device),
                    use_cache=False).logits

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, labels: torch.Tensor,
                **extra: Any) -> torch.Tensor:
        """Mean cross-entropy over the target tokens (decoder position t predicts token t + 1)."""
        logits = self._logits(extra, input_ids, attention_mask)
        labels = labels.to(logits.device)
        targets = labels[:, 1:]
        selected = targets != IGNORE_INDEX
        return F.cross_entropy(logits[:, :-1][selected].float(), targets[selected])

    @torch.inference_mode()
    def generate(self, batch: dict[str, Any], max_new_tokens: int | None = None) -> list[str]:
        """Greedy decoding after each row's prefix, one row at a time (prefixes differ in length)."""
        was_training = self.training
        self.eval()
        texts = []
        try:
            states, mask = self.encoder_states(batch)
            base = self.decoder.get_base_model()
            for row in range(len(batch["input_ids"])):
                prefix = batch["input_ids"][row][batch["attention_mask"][row].bool()].unsqueeze(0).to(self.device)
                out = base.generate(encoder_outputs=encoder_output(states[row:row + 1], mask[row:row + 1]),
                                    attention_mask=mask[row:row + 1], decoder_input_ids=prefix,
                                    max_new_tokens=max_new_tokens or self.config.max_target_tokens, do_sample=False,
                                    num_beams=1, use_cache=True, pad_token_id=self.tokenizer.pad_token_id,
                                    eos_token_id=self.tokenizer.eos_token_id)
                texts.append(self.tokenizer.decode(out[0, prefix.shape[1]:], skip_special_tokens=True).strip())
        finally:
            self.train(was_training)
        return texts

    def vision_tokens_read(self, reading: Any) -> int:
        """Encoder states the decoder attends to for one document (its page's real positions)."""
        if reading.features is not None:
            return int(len(reading.features))
        mask = next((reading.pixels[k] for k in MASK_KEYS if k in reading.pixels), None)
        return int(mask.sum()) if mask is not None else 0

    def frozen_modules(self) -> list[torch.nn.Module]:
        """The encoder (the vision tower): frozen, no dropout, ever."""
        return [self.reader.encoder]
