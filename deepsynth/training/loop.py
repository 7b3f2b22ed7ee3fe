"""The optimisation step: AdamW + warm-up/decay schedule, gradient clipping, a non-finite guard,
and the data order (a pure function of seed and step, so a resumed run replays the same stream).

Kept free of tracking and files so `bench/train_throughput.py` can time exactly this against a
bare PyTorch loop and HF Trainer. Per step it does what a bare loop does plus two `.item()` reads
(loss, grad norm: needed for the NaN guard and the metrics) and a clip on the LoRA gradients.
"""

from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import torch

from deepsynth.errors import DeepSynthError


class NonFiniteLossError(DeepSynthError):
    """The loss (or gradient) was NaN/inf for too many steps in a row."""

    def __init__(self, step: int, value: float, consecutive: int) -> None:
        self.step = step
        super().__init__(
            f"loss is not finite ({value}) at step {step} ({consecutive} steps in a row; those "
            "updates were skipped). Lower --lr, check the data for empty summaries, or resume "
            "from the last checkpoint with a smaller learning rate.")


class LrSchedule:
    """Multiplier of the peak learning rate at step `step` (0-based): linear warm-up, then
    constant, linear or cosine decay to 0 at the schedule's horizon (the cosine of SGDR, Loshchilov
    & Hutter 2017, without restarts).

    The horizon is the step cap `total_steps` unless a time budget will stop the run first: then
    the worker re-plans it (`TrainingLoop.plan_horizon`) to the step the budget allows at the
    measured pace (`training.step_plan.BudgetPlan`), and the warm-up shrinks in proportion, so a
    budget stop lands at the end of the decay instead of at a high rate. At the step cap the
    numbers are exactly those of the plain schedule (seeded runs that fit their budget do not change).
    A callable object, not a closure: `LambdaLR.state_dict` saves its attributes in checkpoints."""

    def __init__(self, schedule: str, warmup_steps: int, total_steps: int) -> None:
        self.schedule, self.warmup_steps, self.total_steps = schedule, warmup_steps, total_steps
        self.horizon = total_steps
        """Step at which the decay reaches 0: `total_steps`, or fewer under a time budget."""

    def __call__(self, step: int) -> float:
        end, warmup = self.total_steps, self.warmup_steps
        if self.horizon < self.total_steps:
            end, warmup = self.horizon, warmup * self.horizon // self.total_steps
        if warmup and step < warmup:
            return (step + 1) / warmup
        if self.schedule == "constant":
            return 1.0
        progress = min(1.0, (step - warmup) / max(1, end - warmup))
        if self.schedule == "linear":
            return 1.0 - progress
        return 0.5 * (1.0 + math.cos(math.pi * progress))


def lr_factor(schedule: str, warmup_steps: int, total_steps: int) -> Callable[[int], float]:
    """The schedule over `total_steps` (`LrSchedule` at its step cap)."""
    return LrSchedule(schedule, warmup_steps, total_steps)


class DataOrder:
    """Which documents form batch `step`: a fresh seeded permutation per epoch, cut into batches
    (the last one of an epoch may be smaller). No state: `batch(step)` is a pure function."""

    def __init__(self, num_documents: int, batch_size: int, seed: int) -> None:
        if num_documents < 1:
            raise DeepSynthError("the train split is empty: nothing to train on")
        self.num_documents, self.batch_size, self.seed = num_documents, batch_size, seed
        self.steps_per_epoch = math.ceil(num_documents / batch_size)
        self._epoch, self._permutation = -1, None

    def total_steps(self, max_steps: int, epochs: float) -> int:
        return max_steps if max_steps else max(1, math.ceil(epochs * self.steps_per_epoch))

    def batch(self, step: int) -> list[int]:
        epoch, index = divmod(step, self.steps_per_epoch)
        if epoch != self._epoch:
            generator = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            self._permutation = torch.randperm(self.num_documents, generator=generator).tolist()
            self._epoch = epoch
        return self._permutation[index * self.batch_size:(index + 1) * self.batch_size]

    def epoch(self, step: int) -> float:
        return step / self.steps_per_epoch


@dataclass(frozen=True)
class StepResult:
    """What one optimizer step did."""

    step: int
    """Steps done after this one (1-based step number)."""
    loss: float
    """Mean loss over the batch's target tokens."""
    lr: float
    """Learning rate used for this step."""
    grad_norm: float
    """Global gradient norm before clipping (nan if the loss was not finite)."""
    samples: int
    """Documents in the batch."""
    tokens: int
    """Non-padding tokens in the batch."""
    seconds: float
    """Wall time of the step."""
    applied: bool
    """False when a non-finite loss/gradient made the step skip its update."""


class TrainingLoop:
    """Optimizer, schedule and the step itself for the trainable parameters of `model`."""

    def __init__(self, model: torch.nn.Module, learning_rate: float, total_steps: int,
                 warmup_steps: int = 0, schedule: str = "cosine", weight_decay: float = 0.0,
                 max_grad_norm: float = 1.0, nan_patience: int = 3, bf16_autocast: bool = False,
                 distributed: Any = None) -> None:
        self.model = model
        # Data parallel (`deepsynth.training.distributed`): the forward runs through DDP, which
        # averages the gradients of the processes' token-weighted losses.
        self.distributed = distributed
        self.forward = distributed.wrap(model) if distributed is not None and distributed.enabled else model
        self.parameters = [p for p in model.parameters() if p.requires_grad]
        if not self.parameters:
            raise DeepSynthError("the model has no trainable parameters (LoRA targets matched nothing?)")
        self.optimizer = torch.optim.AdamW(self.parameters, lr=learning_rate, weight_decay=weight_decay)
        self.schedule = LrSchedule(schedule, warmup_steps, total_steps)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, self.schedule)
        self.total_steps = total_steps
        self.max_grad_norm = max_grad_norm
        self.nan_patience = nan_patience
        self.bf16_autocast = bf16_autocast
        self.step = 0
        self.consecutive_bad = 0

    def _autocast(self) -> Any:
        if self.bf16_autocast:
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def train_step(self, batch: dict[str, torch.Tensor], counted: bool = True) -> StepResult:
        """One optimizer step on `batch`. Data parallel: `batch` is this process's share of the
        global batch (`counted=False`: a stand-in for an empty share, weighted 0); the loss,
        samples and tokens returned are those of the global batch."""
        started = time.perf_counter()
        lr = self.scheduler.get_last_lr()[0]
        samples = int(batch["input_ids"].shape[0]) if counted else 0
        tokens = int(batch["attention_mask"].sum()) if counted else 0
        with self._autocast():
            loss = self.forward(**batch)
        if self.forward is self.model:
            loss_value = float(loss.detach())
        else:
            loss, loss_value, samples, tokens = self._global_loss(loss, batch, counted, samples, tokens)
        grad_norm = math.nan
        applied = False
        if math.isfinite(loss_value):
            loss.backward()
            if self.max_grad_norm > 0:
                norm = torch.nn.utils.clip_grad_norm_(self.parameters, self.max_grad_norm)
            else:
                norm = torch.nn.utils.get_total_norm([p.grad for p in self.parameters if p.grad is not None])
            grad_norm = float(norm)
            if math.isfinite(grad_norm):
                self.optimizer.step()
                applied = True
        self.optimizer.zero_grad(set_to_none=True)
        self.scheduler.step()
        self.step += 1
        if applied:
            self.consecutive_bad = 0
        else:
            self.consecutive_bad += 1
            if self.consecutive_bad >= self.nan_patience:
                raise NonFiniteLossError(self.step, loss_value if not math.isfinite(loss_value) else grad_norm,
                                         self.consecutive_bad)
        return StepResult(self.step, loss_value, lr, grad_norm, samples, tokens,
                          time.perf_counter() - started, applied)

    def _global_loss(self, loss: torch.Tensor, batch: dict[str, torch.Tensor], counted: bool, samples: int,
                     tokens: int) -> tuple[torch.Tensor, float, int, int]:
        """(loss to backpropagate, the global batch's mean loss, its samples, its tokens).

        Each process's mean loss is weighted by its share of the summary tokens, times the number
        of processes, because DDP averages gradients: sum_r (n_r / N) * grad(mean_r) is the
        gradient of the mean over all N tokens, what one process computes on the whole batch."""
        targets = float((batch["labels"][:, 1:] != -100).sum()) if counted else 0.0  # as DocumentModel.forward
        local = float(loss.detach())
        total_targets, loss_sum, samples, tokens = self.distributed.sum(
            [targets, local * targets if targets else 0.0, samples, tokens])
        weight = targets * self.distributed.world_size / max(total_targets, 1.0)
        return loss * weight, loss_sum / max(total_targets, 1.0), int(samples), int(tokens)

    def plan_horizon(self, horizon: int) -> None:
        """Decay over `horizon` steps (a time budget's end, `LrSchedule`), clamped to
        [this step, total_steps]; the next step's rate follows at once."""
        horizon = max(self.step, min(self.total_steps, int(horizon)))
        if horizon == self.schedule.horizon:
            return
        self.schedule.horizon = horizon
        step = self.scheduler.last_epoch  # the step the next `train_step` takes (0-based)
        rates = [base * self.schedule(step) for base in self.scheduler.base_lrs]
        for group, rate in zip(self.optimizer.param_groups, rates):
            group["lr"] = rate
        self.scheduler._last_lr = rates  # what `get_last_lr` reports (torch keeps no public setter)

    @property
    def lr(self) -> float:
        """The rate the next step will use."""
        return self.scheduler.get_last_lr()[0]

    def state_dict(self) -> dict[str, Any]:
        return {"optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(),
                "step": self.step, "consecutive_bad": self.consecutive_bad}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.step = int(state["step"])
        self.consecutive_bad = int(state.get("consecutive_bad", 0))


def collate_batch(model: Any, readings: Sequence[Any], instructions: Sequence[str],
                  summaries: Sequence[str], indices: Sequence[int]) -> dict[str, torch.Tensor]:
    """The documents `indices` as one training batch (the model's own collate)."""
    return model.collate([readings[i] for i in indices], [instructions[i] for i in indices],
                         [summaries[i] for i in indices])


def rng_state() -> dict[str, Any]:
    """Torch RNG state (CPU and CUDA) for checkpoints: dropout continues where it was."""
    state = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
