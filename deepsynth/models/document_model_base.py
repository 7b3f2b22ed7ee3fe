"""`DocumentModelBase`: what every kind's document model shares, whatever reads its pages.

Every kind (`models/kinds.py`) builds a model with one API: a PEFT-wrapped network (`decoder`)
whose LoRA adapters train, a frozen `reader` that turns pages into readings (cached on disk by
`models/reading.py`), and, per adapter, DeepSynth-made trainable `parts` (the built-in model's
vision and instruction projections; none for a VLM, whose projector trains through PEFT). The
adapter API (save, load, switch, disable, trainable state, optimizer groups) works on those alone
and lives here, once. Subclasses say how readings become batches (`collate`), the loss
(`forward`), decoding (`generate`) and where the network sits (`device`):

- `builtin.document_model.DocumentModel`: the OCR reader + a causal LM (+ instruction encoder);
  `vlm.vision_encoder_decoder` extends it;
- `vlm.model.VlmDocumentModel`: an image-text-to-text model read through its own processor and
  tower; `vlm.seq2seq.VlmSeq2SeqModel` extends it.

Why a shared base rather than the VLM model subclassing `DocumentModel`: the built-in model's
constructor builds an OCR prompt builder and projections a VLM has none of, and its batching, loss
and decoding do not apply either; a VLM model that inherited them had to skip the constructor and
override most methods. Here each subclass runs the one constructor and defines only what differs.
"""

from __future__ import annotations

import contextlib
from typing import Any, Callable, Iterator, Sequence

import torch
from torch import nn

from deepsynth.models.config import ModelConfig

IGNORE_INDEX = -100
"""Label of positions without loss (prompt and padding)."""
BASE_PARTS = "__base__"
"""Name of the untrained copy of the non-PEFT parts, used inside `disable_adapter()`."""


class DocumentModelBase(nn.Module):
    """See the module docstring. Build one with `deepsynth.models.build_document_model`."""

    def __init__(self, config: ModelConfig, decoder: nn.Module, tokenizer: Any, reader: Any,
                 make_parts: Callable[[], nn.ModuleDict], identity: dict[str, Any], prompts: Any,
                 instruction_encoder: nn.Module | None = None, device: str | None = None) -> None:
        super().__init__()
        self.config = config
        self.decoder = decoder  # a peft.PeftModel
        self.tokenizer = tokenizer
        self.reader = reader  # frozen; not an nn.Module on purpose (never trained, never saved)
        self.instruction_encoder = instruction_encoder
        self.identity = identity
        self.prompts = prompts
        self._make_parts = make_parts
        self.parts = nn.ModuleDict({"default": make_parts()})
        base_parts = make_parts()
        base_parts.load_state_dict(self.parts["default"].state_dict())
        self.parts[BASE_PARTS] = base_parts.requires_grad_(False)
        self.active_adapter = "default"
        self._parts_in_use = "default"
        if device is not None:
            # The decoder was placed by its loader (a quantized model must not be moved again).
            self.parts.to(device)
            if instruction_encoder is not None:
                instruction_encoder.to(device)

    # -- what each kind defines ---------------------------------------------------------------

    @property
    def device(self) -> torch.device:
        raise NotImplementedError

    def collate(self, readings: Sequence[Any], instructions: Sequence[str] | None = None,
                summaries: Sequence[str] | None = None) -> dict[str, Any]:
        """Tensors for `forward` (with summaries) or `generate` (without)."""
        raise NotImplementedError

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, labels: torch.Tensor,
                **extra: Any) -> torch.Tensor:
        """Mean cross-entropy over summary tokens."""
        raise NotImplementedError

    def generate(self, batch: dict[str, Any], max_new_tokens: int | None = None) -> list[str]:
        """Greedy decoding; returns the summaries."""
        raise NotImplementedError

    def frozen_modules(self) -> list[nn.Module]:
        """Submodules that stay in eval mode whatever `train()` says (no dropout in frozen parts)."""
        return []

    # -- reading ------------------------------------------------------------------------------

    def read_pages(self, pages: Sequence[Any]) -> Any:
        """What the frozen reader sees in one document's pages (pure function of the pixels)."""
        return self.reader.read_pages(pages)

    def read_documents(self, documents: Sequence[Sequence[Any]]) -> list[Any]:
        """Several documents at once (batched where the reader can: faster)."""
        return self.reader.read_documents(documents)

    def train(self, mode: bool = True) -> "DocumentModelBase":
        super().train(mode)
        for module in self.frozen_modules():
            module.eval()
        return self

    # -- adapters -----------------------------------------------------------------------------

    def parameter_groups(self, lr: float) -> list[dict[str, Any]]:
        """Optimizer groups: LoRA (and a trained text encoder) at `lr`, projections at
        `lr * config.projection_lr_scale`. Empty groups are left out."""
        adapter, projections = [], []
        for name, parameter in self.named_parameters():
            if parameter.requires_grad:
                (projections if name.startswith("parts.") else adapter).append(parameter)
        groups = [{"name": "adapter", "params": adapter, "lr": lr},
                  {"name": "projection", "params": projections, "lr": lr * self.config.projection_lr_scale}]
        return [group for group in groups if group["params"]]

    def trainable_state(self) -> dict[str, torch.Tensor]:
        """Every trainable tensor by parameter name (for checkpoints and resume)."""
        return {name: p.detach().clone() for name, p in self.named_parameters() if p.requires_grad}

    def load_trainable_state(self, state: dict[str, torch.Tensor]) -> None:
        params = {name: p for name, p in self.named_parameters() if p.requires_grad}
        missing, unexpected = sorted(set(params) - set(state)), sorted(set(state) - set(params))
        if missing or unexpected:
            raise ValueError(f"trainable state mismatch: missing {missing[:5]}, unexpected {unexpected[:5]}")
        with torch.no_grad():
            for name, value in state.items():
                params[name].copy_(value)

    def save_adapter(self, folder, extra: dict[str, Any] | None = None):
        """Write the active adapter as vanilla PEFT files + projection.safetensors +
        deepsynth_model.json into `folder`, atomically. Returns the folder's Path."""
        from deepsynth.models.adapters import save_adapter

        return save_adapter(self, folder, extra or {})

    def load_adapter(self, folder, adapter_name: str) -> None:
        """Load a saved adapter next to the others (inactive until `set_adapter`)."""
        from deepsynth.models.adapters import load_adapter

        load_adapter(self, folder, adapter_name)

    def set_adapter(self, adapter_name: str) -> None:
        if adapter_name not in self.parts or adapter_name == BASE_PARTS:
            raise KeyError(f"no adapter named {adapter_name!r}; loaded: {self.adapter_names()}")
        self.decoder.set_adapter(adapter_name)
        self.active_adapter = self._parts_in_use = adapter_name

    def adapter_names(self) -> list[str]:
        return [name for name in self.parts if name != BASE_PARTS]

    @contextlib.contextmanager
    def disable_adapter(self) -> Iterator[None]:
        """The untouched base inside the block: LoRA off and projections at their initial weights."""
        previous = self._parts_in_use
        self._parts_in_use = BASE_PARTS
        try:
            with self.decoder.disable_adapter():
                yield
        finally:
            self._parts_in_use = previous
