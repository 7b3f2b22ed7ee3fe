"""A VLM's training step traced by running DeepSynth's own model code on the meta-device model.

`structural_step.py` traces the fast path (cached `get_image_features` output scattered into the
embeddings, the language model, the LM head on the targets) with its own code. A family DeepSynth
trains through the model's own forward (`models/vlm/own_forward.py`: BLIP, GIT, IDEFICS, Janus,
Cosmos3-Edge ...), or whose language model cannot be called apart from the model (Gemma 4: its
per-layer inputs come from the token ids), runs a different step. Here the step is DeepSynth's:

- the model is `models/vlm/model.VlmDocumentModel` around the meta-device PeftModel of
  `vlm/structure.py`, its reader a `VlmPageReader` with the path, the tower modules and the feature
  caching `models/vlm/build.build_vlm` gives the family (`uses_own_forward`);
- a document is `pages` blank pages of the page size read by that reader (the folder's processor,
  the prompt, the page layout); with cached features the reader runs the tower on meta tensors and
  keeps its outputs (the fast path's features, or the own-forward path's recorded tower module
  outputs, as meta tensors);
- the batch is `batch_size` rows of that document: the prompt (opening, filler instruction tokens up
  to `seq_len` text tokens, the template), `target_tokens` target tokens, as `collate` lays them out
  (the own-forward path's `documents` entries by `VlmDocumentModel._document`);
- the step is `VlmDocumentModel.forward` (the loss), backward, clipping, AdamW, inside
  `live_bytes.LiveBytes`.

The model reports the CPU as its device (`_CpuReader`), as a model loaded on the CPU does: the
processor's tensors stay real CPU tensors with their values (integer grids, token ids), ops mixing
them with the meta weights run on meta (`LiveBytes`), and a meta tensor moved to the CPU stays
where it is (`_OneDevice`: no copy, as `.to(device)` of a tensor already there).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode

from deepsynth.estimate.vlm.structure import VlmStructure
from deepsynth.estimate.workload import Workload


class _OneDevice(TorchDispatchMode):
    """The CPU and the meta device as one device: a tensor moved between them stays where it is
    (the same tensor when its dtype does not change, as `.to` of a tensor already on its device), so
    the processor's tensors keep their values and the model's keep no storage."""

    def __torch_dispatch__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        kwargs = kwargs or {}
        if func is torch.ops.aten._to_copy.default and args[0].device.type in ("meta", "cpu"):
            device = kwargs.get("device")
            if device is not None and torch.device(device).type in ("meta", "cpu"):
                dtype = kwargs.get("dtype") or args[0].dtype
                if dtype == args[0].dtype:
                    return args[0]
                return func(args[0], dtype=dtype)
        return func(*args, **kwargs)


def uses_own_forward(base: Any, workload: Workload) -> bool:
    """Whether DeepSynth trains this decoder-only model through its own forward: as
    `build.build_vlm` decides from the model (its inner forward takes no precomputed features, or it
    has no `get_image_features`), or as the live run says (`Workload.own_forward`: a family outside
    the family table whose fast path does not give its own forward's loss on its weights)."""
    from deepsynth.models.vlm.reader import accepts_precomputed

    if getattr(base.config, "is_encoder_decoder", False):
        return False
    if workload.own_forward is not None:
        return workload.own_forward
    return not (accepts_precomputed(base) and hasattr(base, "get_image_features"))


def _reader_class():
    from deepsynth.models.vlm.reader import VlmPageReader

    class _CpuReader(VlmPageReader):
        @property
        def device(self) -> torch.device:  # the module docstring: the model as loaded on the CPU
            return torch.device("cpu")

    return _CpuReader


def _rows(model: Any, reading: Any, workload: Workload) -> tuple[list[int], int]:
    """(one row's ids: prompt + targets, the prompt's length) of `seq_len` text tokens + the
    reading's image tokens, `target_tokens` of them targets."""
    from deepsynth.models.builtin.prompt import DEFAULT_INSTRUCTION

    opening = [int(i) for i in reading.prompt_ids.tolist()]
    after = list(model.prompts.after_ids(reading.pages))
    instruction = list(model.prompts.instruction_ids(DEFAULT_INSTRUCTION)) or [int(opening[-1])]
    targets = max(1, workload.target_tokens)
    image = sum(1 for i in opening if i == model.reader.image_token_id) if model.reader.image_token_id is not None else 0
    prompt_length = max(len(opening) + len(after), workload.seq_len + image - targets)
    fill = prompt_length - len(opening) - len(after)
    filler = (instruction * (fill // len(instruction) + 1))[:fill]
    target = list(model.prompts.target_ids(" ".join(["page"] * targets), targets)) or instruction[:1]
    target = (target * (targets // len(target) + 1))[:targets]
    return opening + filler + after + target, prompt_length


def _page_size(reader: Any, workload: Workload) -> tuple[int, int]:
    """The page size whose blank page the processor makes `image_tokens` image tokens per sample
    from (the workload's page size, scaled where the processor sizes by pixels and the workload's
    tokens come from pages of another size, as a live batch's)."""
    from PIL import Image

    width, height = workload.page_width, workload.page_height
    if not workload.image_tokens or reader.image_token_id is None:
        return width, height
    pages = max(1, workload.pages)
    cached, reader.cache_features = reader.cache_features, False  # the processor's count alone
    best: tuple[float, int, int] = (float("inf"), width, height)

    def tokens(w: int, h: int) -> int:
        page = Image.new("RGB", (w, h), (255, 255, 255))
        return int((reader.read_documents([[page] * pages])[0].prompt_ids == reader.image_token_id).sum())

    try:
        for _ in range(4):
            count = tokens(width, height)
            best = min(best, (abs(count - workload.image_tokens), width, height))
            if count == workload.image_tokens or count == 0:
                break
            scale = (workload.image_tokens / count) ** 0.5
            if abs(scale - 1) < 1e-3:
                break
            width, height = max(16, round(width * scale)), max(16, round(height * scale))
        # tiling processors (anyres) count tokens unevenly in the size, and processors that round to
        # patch grids miss some counts in one shape: the page's shape, then a square, scaled in steps
        for shape in ((workload.page_width, workload.page_height), (workload.page_width, workload.page_width)):
            for step in range(-24, 9):
                if not best[0]:
                    break
                scale = 2 ** (step / 4)
                w, h = max(16, round(shape[0] * scale)), max(16, round(shape[1] * scale))
                best = min(best, (abs(tokens(w, h) - workload.image_tokens), w, h))
    finally:
        reader.cache_features = cached
    return best[1], best[2]


def trace_model_step(structure: VlmStructure, peft_model: Any, workload: Workload, max_grad_norm: float,
                     own_forward: bool):
    """`StepTrace` of DeepSynth's step (module docstring) on the meta-device `peft_model` (its
    parameters already in the run's dtype, train mode set)."""
    from PIL import Image

    from deepsynth.estimate.live_bytes import LiveBytes, device_attention
    from deepsynth.estimate.vlm.structural_step import StepTrace
    from deepsynth.models.config import ModelConfig
    from deepsynth.models.document_model_base import IGNORE_INDEX
    from deepsynth.models.vlm.model import VlmDocumentModel
    from deepsynth.models.vlm.own_forward import tower_modules
    from deepsynth.models.vlm.processor import load_processor

    base = peft_model.get_base_model()
    folder = Path(structure.folder)
    towers = tower_modules(base, structure.language_root) if own_forward else []
    cached = workload.vision_cached and (bool(towers) or not own_forward)
    processor = load_processor(str(folder))
    reader = _reader_class()(base, processor, folder, cached, own_forward=own_forward,
                             lm_path=structure.language_root, towers=towers)
    model = VlmDocumentModel(ModelConfig(name=str(folder), max_target_tokens=max(1, workload.target_tokens)),
                             peft_model, processor, reader, {"model_type": structure.model_type}, None)
    b = workload.batch_size
    if own_forward and len(workload.own_rows) == b:  # a live batch's rows, each its own length (one call each)
        return _trace_rows(model, peft_model, workload, max_grad_norm, cached)
    width, height = _page_size(reader, workload)
    page = Image.new("RGB", (width, height), (255, 255, 255))
    with torch.no_grad(), device_attention(workload.device), LiveBytes(), _OneDevice():  # the tower's outputs, read before the step
        reading = reader.read_documents([[page] * max(1, workload.pages)])[0]
    ids, prompt_length = _rows(model, reading, workload)
    input_ids = torch.tensor([ids] * b, dtype=torch.long)
    labels = input_ids.clone()
    labels[:, :prompt_length] = IGNORE_INDEX
    mask = torch.ones_like(input_ids)
    if workload.padded and b > 1 and not own_forward:  # a shorter last row, padded on the right as collate pads
        last = len(ids) - 1
        input_ids[-1, prompt_length - 1:last] = input_ids[-1, prompt_length:].clone()
        input_ids[-1, last] = model.tokenizer.pad_token_id if model.tokenizer.pad_token_id is not None else 0
        labels[-1] = IGNORE_INDEX
        labels[-1, prompt_length - 1:last] = input_ids[-1, prompt_length - 1:last]
        mask[-1, last] = 0
    batch: dict[str, Any] = {"input_ids": input_ids, "attention_mask": mask, "labels": labels}
    if own_forward:
        batch["documents"] = [model._document(reading, prompt_length, len(ids)) for _ in range(b)]
    else:
        batch = model._add_images(batch, [reading] * b)
    return _traced(model, peft_model, batch, workload, max_grad_norm, cached, own_forward)


def _trace_rows(model: Any, peft_model: Any, workload: Workload, max_grad_norm: float, cached: bool):
    """The own-forward step on the live batch's rows (`Workload.own_rows`): each row read from a page
    sized for its image tokens, its real tokens, padded on the right to the widest as `collate` pads."""
    from PIL import Image

    from deepsynth.estimate.live_bytes import LiveBytes, device_attention
    from deepsynth.models.document_model_base import IGNORE_INDEX

    reader = model.reader
    rows = []
    for real, image in workload.own_rows:
        row_workload = dataclasses.replace(workload, batch_size=1, seq_len=max(1, real - image), image_tokens=image,
                                           own_rows=())
        width, height = _page_size(reader, row_workload)
        page = Image.new("RGB", (width, height), (255, 255, 255))
        with torch.no_grad(), device_attention(workload.device), LiveBytes(), _OneDevice():
            reading = reader.read_documents([[page] * max(1, workload.pages)])[0]
        if reader.image_token_id is not None:  # where no page size gives the row's image tokens exactly, the
            read = int((reading.prompt_ids == reader.image_token_id).sum())  # row keeps its length in tokens
            row_workload = dataclasses.replace(row_workload, seq_len=max(1, real - read))
        ids, prompt_length = _rows(model, reading, row_workload)
        rows.append((reading, ids, prompt_length))
    widest = max(len(ids) for _, ids, _ in rows)
    pad = model.tokenizer.pad_token_id if model.tokenizer.pad_token_id is not None else 0
    input_ids = torch.full((len(rows), widest), pad, dtype=torch.long)
    labels = torch.full_like(input_ids, IGNORE_INDEX)
    mask = torch.zeros_like(input_ids)
    for row, (_, ids, prompt_length) in enumerate(rows):
        input_ids[row, :len(ids)] = torch.tensor(ids)
        labels[row, prompt_length:len(ids)] = input_ids[row, prompt_length:len(ids)]
        mask[row, :len(ids)] = 1
    batch: dict[str, Any] = {"input_ids": input_ids, "attention_mask": mask, "labels": labels,
                             "documents": [model._document(reading, prompt_length, len(ids))
                                           for reading, ids, prompt_length in rows]}
    return _traced(model, peft_model, batch, workload, max_grad_norm, cached, True)


def _traced(model: Any, peft_model: Any, batch: dict[str, Any], workload: Workload, max_grad_norm: float,
            cached: bool, own_forward: bool):
    """`StepTrace` of `VlmDocumentModel.forward` + backward + clipping + AdamW on `batch`."""
    from deepsynth.estimate.vlm.structural_step import StepTrace, traced_step

    base = peft_model.get_base_model()
    held = _tensor_bytes(batch)
    trainable = [p for p in base.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=1e-4)
    activations, forward_backward, gradients, peak = traced_step(lambda: model(**batch), trainable, optimizer,
                                                                 max_grad_norm, workload.device, _OneDevice())
    tower = "cached" if cached else "traced"
    return StepTrace(activations, forward_backward, peak, held, gradients, tower,
                     "own forward" if own_forward else "model forward")


def _tensor_bytes(value: Any) -> int:
    if torch.is_tensor(value):
        return value.numel() * value.element_size()
    if isinstance(value, dict):
        return sum(_tensor_bytes(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        # the same document repeated per row is one set of tensors
        seen, total = set(), 0
        for item in value:
            if id(item) not in seen:
                seen.add(id(item))
                total += _tensor_bytes(item)
        return total
    if dataclasses.is_dataclass(value):
        return 0
    return 0
