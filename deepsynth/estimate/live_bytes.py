"""The bytes of tensors alive while code runs, and their peak, counted op by op (any device, meta too).

`LiveBytes` is a `TorchDispatchMode`: every ATen op that runs inside it (forward, autograd's
backward, optimizer updates) reports its outputs; an output whose storage is new (not the storage of
one of the op's inputs: views and in-place ops allocate nothing) is counted at its storage's size
until that storage is freed, which a `weakref.finalize` on the storage reports. So on the meta
device, where nothing is allocated, the counts are the bytes the same code would allocate on a real
device, and `peak` is the largest total alive at any moment. A meta tensor has no values: a
data-dependent check (`.item()`, `bool()`) inside the mode gets `_meta_scalar`'s answer, `nonzero`
on a meta tensor takes every element as non-zero, and an op mixing meta and CPU tensors runs on meta. Storages made before the mode (weights,
the batch) are not counted. Parameter gradients can be told apart (`mark_gradients`): the bytes of
the `.grad` tensors autograd accumulates are kept in `gradient_bytes`.

`device_attention(device)`: on the meta device `scaled_dot_product_attention` falls back to the math
kernel (it materialises the attention matrix); on CPU and CUDA the flash kernels run. Inside this
context the fused kernel's op is called directly, so the trace keeps what the real kernel keeps
(q, k, v, output and the log-sum-exp rows). The replacement is process-wide while the context is
open: the estimator opens it around one traced step, never while a real model runs.
"""

from __future__ import annotations

import contextlib
import math
import weakref
from typing import Any, Iterator

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten


def _storage_key(tensor: torch.Tensor) -> int | None:
    try:
        return tensor.untyped_storage()._cdata
    except (RuntimeError, NotImplementedError):  # sparse or wrapper tensors: no plain storage
        return None


class LiveBytes(TorchDispatchMode):
    """Counts the bytes of storages created inside it while they live (module docstring)."""

    def __init__(self) -> None:
        super().__init__()
        self.sizes: dict[int, int] = {}
        self.now = 0
        self.peak = 0
        self.gradient_keys: set[int] = set()
        self.gradient_bytes = 0
        self.peak_without_gradients = 0
        """The largest total alive, parameter gradients left out (activations and temporaries)."""

    def _free(self, key: int) -> None:
        size = self.sizes.pop(key, 0)
        self.now -= size
        if key in self.gradient_keys:
            self.gradient_keys.discard(key)
            self.gradient_bytes -= size

    def _count(self, tensor: torch.Tensor, inputs: set[int]) -> None:
        key = _storage_key(tensor)
        if key is None or key in self.sizes or key in inputs:
            return
        storage = tensor.untyped_storage()
        size = int(storage.nbytes())
        self.sizes[key] = size
        self.now += size
        self.peak = max(self.peak, self.now)
        self.peak_without_gradients = max(self.peak_without_gradients, self.now - self.gradient_bytes)
        weakref.finalize(storage, self._free, key)

    def __torch_dispatch__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        kwargs = kwargs or {}
        if func is torch.ops.aten._local_scalar_dense.default and args[0].device.type == "meta":
            return _meta_scalar(args[0])
        if func is torch.ops.aten.nonzero.default and args[0].device.type == "meta":
            return torch.empty(args[0].numel(), args[0].dim(), dtype=torch.long, device="meta")  # all non-zero
        if func in (torch.ops.aten.index.Tensor, torch.ops.aten.index_put.default, torch.ops.aten.index_put_.default):
            args = (args[0], _every_element_indices(args[1], args[0].device.type == "meta"), *args[2:])
        args, kwargs = _on_meta_if_mixed(args, kwargs)
        if func is torch.ops.aten._grouped_mm.default and args[0].device.type == "meta" \
                and args[0].dtype != torch.bfloat16:  # its meta kernel takes bf16 only; the CPU kernel any float
            low = [a.to(torch.bfloat16) if isinstance(a, torch.Tensor) and a.is_floating_point() else a for a in args]
            out = func(*low, **kwargs).to(args[0].dtype)
        else:
            out = func(*args, **kwargs)
        inputs = {key for t in tree_flatten((args, kwargs))[0] if isinstance(t, torch.Tensor)
                  for key in (_storage_key(t),) if key is not None}
        for tensor in tree_flatten(out)[0]:
            if isinstance(tensor, torch.Tensor):
                self._count(tensor, inputs)
        return out

    def mark_gradients(self, parameters: list[torch.nn.Parameter]) -> list[Any]:
        """Count each parameter's `.grad` as a gradient once autograd has accumulated it (hooks
        returned: remove them when done)."""
        def hook(parameter: torch.Tensor) -> None:
            key = _storage_key(parameter.grad)
            if key in self.sizes and key not in self.gradient_keys:
                self.gradient_keys.add(key)
                self.gradient_bytes += self.sizes[key]

        return [p.register_post_accumulate_grad_hook(hook) for p in parameters]


def _meta_scalar(tensor: torch.Tensor) -> Any:
    """A meta tensor has no value; `.item()` / `bool()` on one (a model's data-dependent check) is
    answered True for a condition (`mask.all()`: no packed sequences, nothing to fix up), 0 for a
    number. The traced code is the language model's forward on shapes DeepSynth's batches have."""
    if tensor.dtype == torch.bool:
        return True
    return 0.0 if tensor.is_floating_point() else 0


def _every_element_indices(indices: list, into_meta: bool = False) -> list:
    """Boolean meta masks in an index list as the integer indices of every element (as `nonzero`
    on meta: a mask selects all); a boolean mask with values (on the CPU) indexing a meta tensor
    (`into_meta`) as the integer indices of its true elements."""
    out: list = []
    for index in indices:
        if isinstance(index, torch.Tensor) and index.dtype == torch.bool and index.device.type == "meta":
            out += [torch.empty(index.numel(), dtype=torch.long, device="meta")] * index.dim()
        elif isinstance(index, torch.Tensor) and index.dtype == torch.bool and into_meta:
            out += [torch.empty(int(index.sum()), dtype=torch.long, device="meta")] * index.dim()
        else:
            out.append(index)
    return out


def _on_meta_if_mixed(args: tuple, kwargs: dict) -> tuple[tuple, dict]:
    """An op given meta tensors and CPU tensors (index tensors a model computes from the processor's
    integer outputs, such as image grids, which stay on the CPU with their values) runs on the meta
    device: the output's shape depends on the shapes only."""
    flat, spec = tree_flatten((args, kwargs))
    devices = {t.device.type for t in flat if isinstance(t, torch.Tensor) and t.dim() > 0}
    if "meta" not in devices or len(devices) == 1:
        return args, kwargs
    moved = [t.to("meta") if isinstance(t, torch.Tensor) and t.device.type != "meta" else t for t in flat]
    from torch.utils._pytree import tree_unflatten

    return tree_unflatten(moved, spec)


def _flash(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, attn_mask: torch.Tensor | None = None,
           dropout_p: float = 0.0, is_causal: bool = False, scale: float | None = None,
           enable_gqa: bool = False) -> torch.Tensor:
    """`scaled_dot_product_attention` through the fused CPU flash kernel's op (its meta kernel and
    derivative save what CUDA's flash / memory-efficient kernels save: q, k, v, out, log-sum-exp)."""
    if key.shape[-3] != query.shape[-3] and not enable_gqa:  # as SDPA: shared k/v heads only when asked
        raise RuntimeError("scaled_dot_product_attention: query and key heads differ without enable_gqa")
    if attn_mask is not None and attn_mask.dtype == torch.bool:  # as SDPA does: an additive mask per call
        attn_mask = torch.where(attn_mask, 0.0, float("-inf")).to(query.dtype)
    scale = scale if scale is not None else 1.0 / math.sqrt(query.shape[-1])
    width = value.shape[-1]
    if width != query.shape[-1]:  # values narrower than queries and keys (Dots3's MLA): padded, as flash
        value = torch.nn.functional.pad(value, (0, query.shape[-1] - width))  # kernels need, the output cut back
    return torch.ops.aten._scaled_dot_product_flash_attention_for_cpu(
        query, key, value, dropout_p, is_causal and attn_mask is None, attn_mask=attn_mask, scale=scale)[0][..., :width]


@contextlib.contextmanager
def device_attention(device: str = "cuda") -> Iterator[None]:
    """Inside: `torch.nn.functional.scaled_dot_product_attention` runs the fused kernel's op on
    meta tensors (module docstring). On the CPU, attention with dropout (a model in train mode whose
    config sets attention dropout: Kosmos-2) runs the math kernel, as PyTorch's CPU dispatch picks
    it (its flash kernel takes no dropout); CUDA's flash kernels take dropout."""
    original = torch.nn.functional.scaled_dot_product_attention

    def attention(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, attn_mask: Any = None,
                  dropout_p: float = 0.0, *args: Any, **kwargs: Any) -> torch.Tensor:
        if device == "cpu" and dropout_p > 0:
            return original(query, key, value, attn_mask, dropout_p, *args, **kwargs)
        return _flash(query, key, value, attn_mask, dropout_p, *args, **kwargs)

    torch.nn.functional.scaled_dot_product_attention = attention
    try:
        yield
    finally:
        torch.nn.functional.scaled_dot_product_attention = original
