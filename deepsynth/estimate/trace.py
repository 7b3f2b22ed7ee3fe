"""A symbolic autograd: which tensors a training step keeps, and when memory peaks.

Activation memory is not `k * b * s * h * L` for a fixed k: it is the set of tensors autograd saves
for backward, and that set depends on the block type, the attention kernel, the activation
function's implementation and where LoRA sits (a frozen Linear saves nothing; a LoRA branch saves
its input, and with dropout a noise tensor and the dropped copy). So each block is written out as
the ops transformers/PEFT run (see `ops.py` and `blocks.py`), and every op saves exactly what its PyTorch
derivative formula needs (tools/autograd/derivatives.yaml: `mul` saves the other factor of each
input that needs a gradient, `pow`/`silu`/`gelu` save their input, `rsqrt`/`tanh`/`softmax` their
result, `native_layer_norm` input + mean + rstd, flash attention q, k, v, out and logsumexp...).

The step is then replayed: forward (saved tensors accumulate, temporaries die after last use) and
backward in reverse (each op allocates gradients for its inputs, then frees its output gradients and
its saved tensors). The largest live total is the activation peak. With gradient checkpointing a
segment keeps only its input and re-materialises its saved tensors when backward reaches it.
Sizes are bytes for the whole batch. Parameter gradients are not simulated: the estimator counts
them as their own term.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(eq=False)
class T:
    """A tensor of the trace (views share their base's `T`)."""

    nbytes: int
    requires_grad: bool
    name: str = ""


@dataclass(eq=False)
class Op:
    name: str
    inputs: list[T]
    outputs: list[T]
    saved: list[T]
    alias_grad: bool = False
    """Input gradients are the output gradient itself (add, residual): no new memory."""
    grad_bytes: dict[int, int] = field(default_factory=dict)
    """Gradient size for an input when it differs from the input's size (id(T) -> bytes)."""
    workspace: int = 0
    """Scratch bytes alive while the op runs (forward and backward), e.g. a dequantized weight."""
    segment: int = -1
    backward_workspace: int = 0
    """Scratch bytes of the backward only (a broadcast factor's gradient is reduced from a full product)."""


@dataclass
class Peak:
    forward: int
    backward: int
    saved: int
    """Bytes saved for backward at the end of the forward pass."""

    @property
    def peak(self) -> int:
        return max(self.forward, self.backward)


class Trace:
    """Records ops; `peak()` replays forward and backward."""

    def __init__(self) -> None:
        self.ops: list[Op] = []
        self.segment = -1
        self._segments = 0
        self.checkpointed: set[int] = set()
        self.segment_inputs: dict[int, T] = {}
        self.inputs: dict[int, T] = {}

    def leaf(self, nbytes: int, requires_grad: bool = False, name: str = "") -> T:
        return T(int(nbytes), requires_grad, name)

    def input(self, nbytes: int, name: str = "") -> T:
        """A batch tensor (pixels, masks, cached features): alive for the whole step, counted once."""
        t = self.leaf(nbytes, name=name)
        self.inputs[id(t)] = t
        return t

    @property
    def input_bytes(self) -> int:
        return sum(t.nbytes for t in self.inputs.values())

    def op(self, name: str, inputs: list[T | None], out_bytes: int | list[int], saved: list[T | None],
           *, requires_grad: bool | None = None, alias_grad: bool = False, workspace: int = 0,
           grad_bytes: dict[int, int] | None = None) -> T:
        inputs_ = [t for t in inputs if t is not None]
        rg = any(t.requires_grad for t in inputs_) if requires_grad is None else requires_grad
        sizes = out_bytes if isinstance(out_bytes, list) else [out_bytes]
        outputs = [T(int(size), rg, name) for size in sizes]
        kept = [t for t in saved if t is not None] if rg else []
        self.ops.append(Op(name, inputs_, outputs, kept, alias_grad, grad_bytes or {}, workspace, self.segment))
        return outputs[0]

    def keep_output(self) -> T:
        """The last op saves its own result (softmax, rsqrt, tanh, sigmoid, relu, flash attention)."""
        op = self.ops[-1]
        if op.outputs[0].requires_grad:
            op.saved.append(op.outputs[0])
        return op.outputs[0]

    def begin_segment(self, checkpoint: bool, layer_input: T) -> None:
        self._segments += 1
        self.segment = self._segments
        if checkpoint:
            self.checkpointed.add(self.segment)
            self.segment_inputs[self.segment] = layer_input

    def end_segment(self) -> None:
        self.segment = -1

    # ---- replay -------------------------------------------------------------------------------
    def peak(self, loss: T) -> Peak:
        saved_by_segment: dict[int, dict[int, T]] = {}
        for op in self.ops:
            if op.segment in self.checkpointed:
                saved_by_segment.setdefault(op.segment, {}).update({id(t): t for t in op.saved})
        forward, held = self._forward(saved_by_segment)
        backward = self._backward(loss, saved_by_segment, held)
        resident = self.input_bytes
        return Peak(forward + resident, backward + resident, _total(held, self.inputs))

    def _forward(self, saved_by_segment: dict[int, dict[int, T]]) -> tuple[int, dict[int, T]]:
        last_use: dict[int, int] = {}
        for index, op in enumerate(self.ops):
            for t in op.inputs:
                last_use[id(t)] = index
        held: dict[int, T] = {}   # saved for backward
        live: dict[int, T] = {}   # temporaries
        peak = 0
        for index, op in enumerate(self.ops):
            for t in op.outputs:
                live[id(t)] = t
            now = _total(held, self.inputs) + _total({k: v for k, v in live.items() if k not in held}) + op.workspace
            peak = max(peak, now)
            if op.segment in self.checkpointed:
                inp = self.segment_inputs[op.segment]
                held[id(inp)] = inp
            else:
                held.update({id(t): t for t in op.saved})
            for t in op.inputs + op.outputs:
                if last_use.get(id(t), -1) <= index and id(t) in live and t is not self.ops[-1].outputs[0]:
                    del live[id(t)]
        return peak, held

    def _backward(self, loss: T, saved_by_segment: dict[int, dict[int, T]], held: dict[int, T]) -> int:
        refs: dict[int, int] = {}
        for op in self.ops:
            if op.segment in self.checkpointed:
                continue
            for t in op.saved:
                refs[id(t)] = refs.get(id(t), 0) + 1
        live = dict(held)
        grads: dict[int, list] = {id(loss): [loss.nbytes, 1]}  # tensor -> [bytes, holders] (shared when aliased)
        grad_of: dict[int, list] = {id(loss): grads[id(loss)]}
        materialised: set[int] = set()
        peak = 0
        for op in reversed(self.ops):
            if not any(id(t) in grad_of for t in op.outputs):
                continue
            if op.segment in self.checkpointed and op.segment not in materialised:
                materialised.add(op.segment)  # recompute the segment: its saved tensors come back
                for key, t in saved_by_segment[op.segment].items():
                    refs[key] = refs.get(key, 0) + sum(1 for o in self.ops if o.segment == op.segment
                                                       and any(s is t for s in o.saved))
                    live[key] = t
            out_grad = grad_of.get(id(op.outputs[0]))
            extra = 0
            for t in op.inputs:
                if not t.requires_grad:
                    continue
                size = op.grad_bytes.get(id(t), t.nbytes)
                if id(t) in grad_of:
                    extra += size  # accumulated into the existing buffer; transient
                elif op.alias_grad and out_grad is not None and size == out_grad[0]:
                    out_grad[1] += 1
                    grad_of[id(t)] = out_grad
                else:
                    grad_of[id(t)] = [size, 1]
            peak = max(peak, _total(live, self.inputs) + _grad_total(grad_of) + extra + op.workspace
                       + op.backward_workspace)
            for t in op.outputs:
                buffer = grad_of.pop(id(t), None)
                if buffer is not None:
                    buffer[1] -= 1
            for t in op.saved:
                key = id(t)
                refs[key] = refs.get(key, 1) - 1
                if refs[key] <= 0:
                    live.pop(key, None)
        return peak


def _total(tensors: dict[int, T], skip: dict[int, T] | None = None) -> int:
    return sum(t.nbytes for key, t in tensors.items() if not skip or key not in skip)


def _grad_total(grad_of: dict[int, list]) -> int:
    seen: dict[int, int] = {}
    for buffer in grad_of.values():
        if buffer[1] > 0:
            seen[id(buffer)] = buffer[0]
    return sum(seen.values())
