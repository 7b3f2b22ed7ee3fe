"""A vision-language model's own processor and frozen vision tower as DeepSynth's page reader.

A reading (`VlmReading`) is what one document becomes before the language model: the prompt's
opening with every page's image tokens expanded by the processor, the processor's small tensors
(Qwen's `image_grid_thw`, DeepSeek-OCR-2's `num_local_patches`), and either
- the image features the tower + projector yield (`features`, (image tokens, width)), computed
  once and cached on disk by `deepsynth.models.reading` (a second epoch, a resumed run or another
  run on the same dataset does not run the tower again), when the family's forward takes
  precomputed features (`mm_encoder_outputs`) and the projector is frozen; or
- the processor's pixel tensors (`pixels`), from which the tower runs at every step (a projector
  that trains, or a family whose forward only takes pixels).
For a family trained through its own forward (`vlm.own_forward`) a reading holds the processor's
full output instead (pixels, extras, per-token tensors over the opening: `tokens`) and, when
features are cached, the vision tower modules' recorded outputs (`tower`).
A reading is a pure function of the pixels and `identity()` (the content of every file in the model
folder, `models.folder_digest`: weights in any format, configs, processor, tokenizer, chat template;
processor settings, dtype).
"""

from __future__ import annotations

import hashlib
import inspect
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import torch

from deepsynth.errors import DeepSynthError
from deepsynth.models.folder_digest import folder_digest
from deepsynth.models.vlm.prompt import RESOLUTION_RULE, VlmPrompt, prepare_pages, processor_settings

log = logging.getLogger(__name__)

READER_VERSION = 3
_TOKEN_KEYS = ("input_ids", "attention_mask", "token_type_ids", "mm_token_type_ids")


@dataclass(frozen=True)
class VlmReading:
    """One document as the VLM reads it (see the module docstring)."""

    prompt_ids: torch.Tensor
    """(L,) token ids up to the instruction, image placeholders expanded."""
    pages: int
    """Number of pages (images) in the prompt."""
    features: torch.Tensor | None = field(default=None, compare=False)
    """(image tokens, width): the tower + projector output, or None when the tower runs per step."""
    pixels: dict[str, torch.Tensor] = field(default_factory=dict, compare=False)
    """The processor's pixel tensors (only when the tower runs per step)."""
    extras: dict[str, torch.Tensor] = field(default_factory=dict, compare=False)
    """The processor's other tensors (image_grid_thw, num_local_patches, ...)."""
    text: str = ""
    """No OCR text: the model reads the pixels (kept for the readers' common shape)."""
    tokens: dict[str, torch.Tensor] = field(default_factory=dict, compare=False)
    """The processor's per-token tensors over `prompt_ids` (the model's own forward path,
    `vlm.own_forward`: mm_token_type_ids, token_type_ids, image_attention_mask ...)."""
    tower: dict[str, torch.Tensor] = field(default_factory=dict, compare=False)
    """The vision tower modules' recorded outputs (`own_forward.capture_tower_outputs`), or empty
    when the tower runs per step (the model's own forward path only)."""

    def to_tensors(self) -> dict[str, torch.Tensor]:
        tensors = {"prompt_ids": self.prompt_ids, "pages": torch.tensor([self.pages])}
        if self.features is not None:
            tensors["features"] = self.features
        for prefix, part in (("pixels", self.pixels), ("extras", self.extras), ("tokens", self.tokens),
                             ("tower", self.tower)):
            tensors.update({f"{prefix}.{k}": v for k, v in part.items()})
        return tensors

    @classmethod
    def from_tensors(cls, tensors: dict[str, torch.Tensor]) -> "VlmReading":
        def part(prefix: str) -> dict[str, torch.Tensor]:
            return {k[len(prefix) + 1:]: v for k, v in tensors.items() if k.startswith(prefix + ".")}

        return cls(prompt_ids=tensors["prompt_ids"], pages=int(tensors["pages"][0]),
                   features=tensors.get("features"), pixels=part("pixels"), extras=part("extras"),
                   tokens=part("tokens"), tower=part("tower"))


def accepts_precomputed(model: Any) -> bool:
    """Whether the family's inner model takes precomputed image features, so cached features can
    stand in for the tower: transformers' `mm_encoder_outputs`, or, for an encoder-decoder VLM
    (Florence-2), the encoder's `inputs_embeds` (DeepSynth scatters the features into the image
    token positions as the model does; its `generate` takes `mm_encoder_outputs`)."""
    inner = getattr(model, model.base_model_prefix, model)
    accepted = inspect.signature(inner.forward).parameters
    return "mm_encoder_outputs" in accepted or (model.config.is_encoder_decoder and "inputs_embeds" in accepted)


def image_token_id(model: Any, processor: Any) -> int | None:
    """The id of the image placeholder token: the model config's (`image_token_id`, or the older
    `image_token_index`), else the processor's; None for a family without one (image features by
    cross-attention or prepended: BLIP, IDEFICS, Kosmos-2 ...)."""
    for source, name in ((model.config, "image_token_id"), (model.config, "image_token_index"),
                         (processor, "image_token_id")):
        value = getattr(source, name, None)
        if isinstance(value, int):
            return value
    return None


def _arranged(layout: str, pages: list[Any]) -> list[Any]:
    """A document's pages as the processor's `images` argument for one prompt (`page_layout`)."""
    return pages if layout == "flat" else [pages]


class VlmPageReader:
    """Pages -> `VlmReading`s through the model's processor (and tower, when features are cached)."""

    def __init__(self, model: Any, processor: Any, path: Path, cache_features: bool, own_forward: bool = False,
                 lm_path: str = "", towers: Sequence[str] = ()) -> None:
        self.model = model  # the ForConditionalGeneration (LoRA layers inside do not touch the tower)
        self.processor = processor
        self.prompt = VlmPrompt(processor)
        self.cache_features = cache_features
        self.own_forward = own_forward
        """Readings for the model's own forward (`vlm.own_forward`): the processor's full output, the
        tower modules' outputs when cached; else for the fast path (`get_image_features` output)."""
        self.lm_path = lm_path
        self.towers = list(towers)
        """Paths of the vision tower modules whose outputs the own-forward path caches."""
        self.image_token_id = image_token_id(model, processor)
        self._appended_values: tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]] | None = None
        self.characters = ""
        self._page_layout: str | None = None
        self.pages_cut = 0
        """Pages left unread so far because a document had more than `max_pages`."""
        tokenizer = processor.tokenizer
        image_processor = getattr(processor, "image_processor", None)
        self._identity = {
            "reader": "vlm-processor", "model_type": model.config.model_type, "path": str(path),
            "files": folder_digest(path), "resolution_rule": RESOLUTION_RULE,
            "image_processor": hashlib.sha256(image_processor.to_json_string().encode()).hexdigest()[:16]
            if image_processor is not None else None,
            "processor": type(processor).__name__,
            "template": hashlib.sha256(str(self.prompt.template).encode()).hexdigest()[:16],
            "tokenizer": hashlib.sha256(json.dumps(tokenizer.get_vocab(), sort_keys=True).encode()).hexdigest()[:16],
            "features": cache_features, "dtype": str(self.tower_dtype), "device": self.device.type,
            "version": READER_VERSION, "own_forward": own_forward, "towers": list(towers),
        }

    @property
    def device(self) -> torch.device:
        return self.model.get_input_embeddings().weight.device

    @property
    def tower_dtype(self) -> torch.dtype:
        inner = getattr(self.model, self.model.base_model_prefix, self.model)
        for name in ("vision_tower", "visual", "vision_model"):
            tower = getattr(inner, name, None)
            if tower is not None:
                return next(tower.parameters()).dtype
        return self.model.dtype

    @property
    def feature_size(self) -> int:
        return int(self.model.get_input_embeddings().weight.shape[1])

    def use_own_forward(self, cache_features: bool) -> None:
        """Read for the model's own forward from now on (`vlm.own_forward`), caching the tower
        modules' outputs when `cache_features`."""
        self.own_forward, self.cache_features = True, cache_features
        self._identity.update(own_forward=True, features=cache_features)

    def identity(self) -> dict[str, Any]:
        """Everything a reading depends on besides the pixels (the readings-cache key)."""
        return dict(self._identity)

    def read_pages(self, pages: Sequence[Any]) -> VlmReading:
        return self.read_documents([pages])[0]

    @property
    def page_layout(self) -> str:
        """How the processor takes a document's pages, found by asking it once with two blank pages:
        `nested` (one list of images per prompt), `flat` (the prompt's images in one list), or
        `single` (one image per prompt: the family reads the first page of each example)."""
        if self._page_layout is None:
            from PIL import Image

            blanks = [Image.new("RGB", (64, 64), (255, 255, 255))] * 2
            before, _ = self.prompt.split(2)
            self._page_layout = "single"
            for layout in ("nested", "flat"):
                try:
                    self.processor(text=[before], images=_arranged(layout, blanks), return_tensors="pt",
                                   **processor_settings(self.processor, blanks))
                except (ValueError, TypeError, IndexError, KeyError):
                    continue
                self._page_layout = layout
                break
        return self._page_layout

    @property
    def max_pages(self) -> int | None:
        """Pages one example can hold (None: as many as it has; 1 for a one-image-per-prompt family)."""
        return 1 if self.page_layout == "single" else None

    def read_documents(self, documents: Sequence[Sequence[Any]]) -> list[VlmReading]:
        """One reading per document, every page through the processor as the family takes them;
        pages past the family's page cap (`max_pages`) are cut, and the cut is logged with its cap."""
        cap = self.max_pages
        cut = [len(pages) - cap for pages in documents if cap is not None and len(pages) > cap]
        if cut:
            self.pages_cut += sum(cut)
            log.warning("%s takes one image per prompt (a page cap of %d per example for %s): %d document(s) "
                        "of more pages cut to their first page, %d page(s) not read", type(self.processor).__name__,
                        cap, self.model.config.model_type, len(cut), sum(cut))
        return [self._read(list(pages)[:cap] if cap is not None else list(pages)) for pages in documents]

    def processor_inputs(self, pages: Sequence[Any]) -> Any:
        """The processor's output for the prompt opening of a document of these pages."""
        before, _ = self.prompt.split(len(pages))
        try:
            return self.processor(text=[before], images=_arranged(self.page_layout, prepare_pages(pages)),
                                  return_tensors="pt", **processor_settings(self.processor, pages),
                                  **self.output_settings())
        except (ValueError, TypeError) as error:
            raise DeepSynthError(f"the {type(self.processor).__name__} refused a document of {len(pages)} "
                                 f"page(s): {error}") from error

    def _read(self, pages: list[Any]) -> VlmReading:
        if not pages:
            raise DeepSynthError("a document without pages cannot be read")
        encoded = self.processor_inputs(pages)
        if self.own_forward:
            return self._read_for_own_forward(pages, encoded)
        prompt_ids = self.prompt.opening(encoded["input_ids"][0]).clone()
        tensors = {k: v for k, v in encoded.items() if k not in _TOKEN_KEYS and torch.is_tensor(v)}
        pixels = {k: v for k, v in tensors.items() if k.startswith("pixel")}
        extras = {k: v for k, v in tensors.items() if k not in pixels}
        if "mm_token_type_ids" in encoded:
            extras["uses_mm_token_type_ids"] = torch.ones(1, dtype=torch.long)
        if not self.cache_features:
            return VlmReading(prompt_ids, len(pages), None, pixels, extras)
        features = self.image_features({**pixels, **extras})
        count = int((prompt_ids == self.image_token_id).sum())
        if count != len(features):
            raise DeepSynthError(f"image tokens and features do not match: the processor inserted {count} "
                                 f"image tokens, the vision tower yielded {len(features)} features "
                                 "(processor and model configs disagree)")
        return VlmReading(prompt_ids, len(pages), features.detach().cpu(), {}, extras)

    def _read_for_own_forward(self, pages: list[Any], encoded: Any) -> VlmReading:
        """The processor's full output for the opening (per-token tensors cut to it), and the tower
        modules' outputs when features are cached (`vlm.own_forward`)."""
        from deepsynth.models.vlm.own_forward import OWN_KEYS, capture_tower_outputs, per_token_keys

        prompt_ids = self.prompt.opening(encoded["input_ids"][0]).clone()
        per_token = per_token_keys(encoded)
        tokens = {k: encoded[k][:, :len(prompt_ids)].clone() for k in per_token}
        rest = {k: v for k, v in encoded.items() if k not in OWN_KEYS and k not in per_token and torch.is_tensor(v)}
        pixels = {k: v for k, v in rest.items() if k.startswith("pixel")}
        extras = {k: v for k, v in rest.items() if k not in pixels}
        tower: dict[str, torch.Tensor] = {}
        if self.cache_features and self.towers:
            inputs = self.model_inputs({k: v for k, v in encoded.items() if torch.is_tensor(v) and k != "labels"})
            tower = capture_tower_outputs(self.model, self.lm_path, self.towers, inputs)
        return VlmReading(prompt_ids, len(pages), None, pixels, extras, tokens=tokens, tower=tower)

    def model_inputs(self, tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Processor tensors on the model's device, floating ones in the tower's dtype."""
        device, dtype = self.device, self.tower_dtype
        return {k: (v.to(device, dtype) if v.is_floating_point() else v.to(device)) for k, v in tensors.items()}

    def output_settings(self) -> dict[str, Any]:
        """Processor settings for the model's own forward: the multimodal token types
        (`return_mm_token_type_ids`) when the forward takes them (Cosmos3-Edge's processor leaves
        them out unless asked)."""
        if not self.own_forward:
            return {}
        from deepsynth.models.vlm.own_forward import forward_accepts

        return {"return_mm_token_type_ids": True} if forward_accepts(self.model, "mm_token_type_ids") else {}

    def appended_values(self) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """(prompt values, target values): per-token key -> the value the processor gives a text
        token after the prompt opening (the instruction and template tokens DeepSynth appends), and
        the one it gives the tokens of an answer (`suffix`), for a processor that takes one
        (PaliGemma's token_type_ids: 1 on the answer, 0 on the prefix), else the prompt value.
        Found by asking the processor once, on a blank page."""
        if self._appended_values is None:
            from PIL import Image

            from deepsynth.models.vlm.own_forward import per_token_keys

            blank = [Image.new("RGB", (64, 64), (255, 255, 255))]
            before, _ = self.prompt.split(1)
            settings = dict(images=_arranged(self.page_layout, blank), return_tensors="pt")
            settings.update(self.output_settings())
            text = self.processor(text=[before + "text"], **settings)
            prompt = {key: text[key][0, -1].clone() for key in per_token_keys(text)}
            target = dict(prompt)
            try:
                answered = self.processor(text=[before + "text"], suffix=["answer"], **settings)
            except (ValueError, TypeError, KeyError):
                answered = text
            if answered["input_ids"].shape[1] > text["input_ids"].shape[1]:
                target.update({key: answered[key][0, -1].clone() for key in per_token_keys(answered) if key in prompt})
            self._appended_values = (prompt, target)
        return self._appended_values

    def image_features(self, inputs: dict[str, torch.Tensor], grad: bool = False) -> torch.Tensor:
        """(image tokens, width): `get_image_features(...).pooler_output` of one document, in the
        order the forward scatters them into the image-token positions."""
        encode = self.model.get_image_features
        accepted = inspect.signature(encode).parameters
        device, dtype = self.device, self.tower_dtype
        arguments = {k: (v.to(device, dtype) if v.is_floating_point() else v.to(device))
                     for k, v in inputs.items() if k in accepted}
        # no_grad, not inference_mode: cached features later feed a forward that builds a graph.
        with torch.set_grad_enabled(grad):
            pooled = encode(**arguments, return_dict=True).pooler_output
        if isinstance(pooled, (list, tuple)):
            pooled = torch.cat([p.reshape(-1, p.shape[-1]) for p in pooled])
        return pooled.reshape(-1, pooled.shape[-1])
