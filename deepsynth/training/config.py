"""`TrainConfig`: one training run, everything MLflow records as its params."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from deepsynth.configuration import Problems, choice, from_dict, to_dict
from deepsynth.lora import CUSTOM_PRESET, LoraSettings, preset, preset_label, preset_names
from deepsynth.models.config import ModelConfig
from deepsynth.settings import AUTO, TRACKING_URI, WORKSPACE_PATH, setting, shown
from deepsynth.settings.defaults import BATCH_SIZE

SCHEDULES = ("constant", "linear", "cosine")
DEVICES = ("auto", "cpu", "cuda")
AUTO_SPLIT = "auto"
EVAL_SPLITS = (AUTO_SPLIT, "test", "validation", "train")
TRAIN_CONFIG_FILE = "train_config.json"
"""A run's `TrainConfig` as JSON: in a job folder (what the job runs, `deepsynth train --config`)
and in the run folder (what `--resume` continues)."""
MAX_STEPS = 10_000_000
"""Most optimizer steps a run (or its warm-up) may ask for: weeks on any machine."""
NAME_LENGTH = 250
"""Longest experiment or run name (MLflow shows names, not documents)."""
SWEEP_TAG = "deepsynth.sweep"
"""MLflow tag naming the sweep a run belongs to (`TrainConfig.sweep_id`; the parent run has it too)."""


@dataclass(frozen=True)
class TrainConfig:
    """A LoRA/QLoRA fine-tuning run of a document-reading model."""

    dataset: str = setting(max_length=4096)
    """Dataset folder written by `deepsynth dataset` (has `deepsynth_dataset.json`)."""
    model: ModelConfig = setting(default_factory=ModelConfig, group="Model", advanced=True)
    """The document-reading model and how its decoder sees the page."""
    lora: LoraSettings = setting(default_factory=lambda: preset("standard"), group="LoRA adapter", advanced=True)
    """The adapter (rank, alpha, dropout, targets, quantization)."""
    preset: str = setting("standard", max_length=64)
    """Name of the preset `lora` came from, recorded for comparisons; it reads `custom` as soon as
    `lora` differs from that preset (set automatically)."""
    max_steps: int = setting(0, minimum=0, maximum=MAX_STEPS, group="Training", order=5)
    """Optimizer steps to run; 0: as many as `epochs` epochs need."""
    epochs: float = setting(1.0, maximum=10_000, group="Training", order=6)
    """Passes over the train split when `max_steps` is 0 (fractions allowed)."""
    batch_size: int = setting(BATCH_SIZE, minimum=1, maximum=65_536, group="Training", order=3)
    """Documents per optimizer step."""
    learning_rate: float = setting(2e-4, maximum=10.0, group="Training", order=4)
    """Peak AdamW learning rate."""
    warmup_steps: int | str = setting(AUTO, auto=True, minimum=0, maximum=MAX_STEPS, group="Training", advanced=True)
    """Linear warm-up from 0 to `learning_rate` over this many steps; `auto`: 10% of the run's
    steps, at most 10 (`training.step_plan`)."""
    schedule: str = choice("cosine", SCHEDULES, group="Training", advanced=True)
    """Learning-rate decay after warm-up: constant, linear or cosine (to 0 at the last step)."""
    weight_decay: float = setting(0.0, maximum=1e3, group="Training", advanced=True)
    """AdamW decoupled weight decay."""
    max_grad_norm: float = setting(1.0, maximum=1e9, group="Training", advanced=True)
    """Clip the global gradient norm to this (0: no clipping; the norm is logged either way)."""
    seed: int = setting(0, minimum=0, maximum=2**32 - 1, group="Training", advanced=True)
    """Seed for initialisation, data order and dropout (a resumed run replays the same stream)."""
    time_budget_s: float = setting(0.0, maximum=1e8, group="Training", order=7)
    """Stop training (then evaluate) after this many seconds of stepping; 0: no limit."""
    checkpoint_every: int | str = setting(AUTO, auto=True, minimum=1, maximum=10**9, group="Training",
                                         advanced=True)
    """Write a checkpoint every this many steps (and always at the end or on cancel); `auto`: every
    quarter of the run, at most every 50 steps (`training.step_plan`)."""
    keep_checkpoints: int = setting(2, minimum=1, maximum=1000, group="Training", advanced=True)
    """Complete checkpoints kept; older ones are deleted once a newer one is safely on disk."""
    nan_patience: int = setting(3, minimum=1, maximum=100_000, group="Training", advanced=True)
    """Fail after this many consecutive steps with a non-finite loss or gradient (those steps
    are skipped, not applied)."""
    eval_docs: int = setting(100, minimum=0, maximum=1_000_000, group="Training", order=8)
    """Held-out documents scored with ROUGE after training (the first ones of the split; every score
    gets a 95% interval, about +-6 ROUGE-L at 100 wiki documents); more than the split holds: all of
    it, and the run says so. 0: skip."""
    eval_split: str = choice(AUTO_SPLIT, EVAL_SPLITS, group="Training", order=9)
    """Split the evaluation documents come from: auto (test when the dataset has a test split, else
    validation), test, validation or train. Choose settings on validation, report test."""
    eval_max_new_tokens: int = setting(48, minimum=1, maximum=8192, group="Training", advanced=True)
    """Longest generated summary, in tokens."""
    eval_batch_size: int = setting(16, minimum=1, maximum=65_536, group="Training", advanced=True)
    """Documents per generation batch."""
    eval_base: bool = setting(True, group="Training", advanced=True)
    """Also score the untouched base model (the adapter off) on the same documents."""
    blank_pages: bool = setting(False, group="Training", advanced=True)
    """Control run: every page replaced by a blank page of the same size (the model cannot read)."""
    experiment: str = setting("deepsynth", max_length=NAME_LENGTH, group="Training", order=10)
    """MLflow experiment name."""
    run_name: str = setting("", max_length=NAME_LENGTH, group="Training", order=11)
    """MLflow run name; empty: MLflow picks one."""
    tracking_uri: str = setting("", max_length=2048, place=TRACKING_URI, group="Training", advanced=True)
    """MLflow tracking URI; empty: `MLFLOW_TRACKING_URI` or the workspace's sqlite database."""
    output_dir: str = setting("", place=WORKSPACE_PATH, group="Training", advanced=True)
    """Where run folders (checkpoints, the final adapter) go; empty: `<workspace>/workspace/runs`."""
    device: str = choice("auto", DEVICES, group="Training", advanced=True)
    """auto (CUDA if available), cpu or cuda. fp32 on CPU, bf16 autocast on CUDA."""
    threads: int = setting(0, minimum=0, maximum=4096, group="Training", advanced=True)
    """Torch CPU threads; 0: the cores this process may use divided by the concurrent jobs."""
    system_metrics: bool = setting(True, group="Training", advanced=True)
    """Record MLflow's system metrics (CPU, memory, disk, GPU) every 10 s."""
    measure_memory: bool = setting(True, group="Training", advanced=True)
    """Profile one training step's peak memory and log it beside the estimate."""
    sweep_id: str = setting("", max_length=128, group="Training", advanced=True)
    """The sweep this run is a point of (`deepsynth sweep`), recorded as the MLflow tag
    `deepsynth.sweep`; empty: not part of a sweep."""

    def __post_init__(self) -> None:
        self.validate()
        # The label follows the values: edited LoRA settings are "custom" everywhere (MLflow, pages).
        object.__setattr__(self, "preset", preset_label(self.preset, self.lora))

    def validate(self) -> None:
        problems = Problems("training configuration")

        def integer(name: str, minimum: int, auto: bool = False) -> None:
            value = getattr(self, name)
            if auto and value == AUTO:
                return
            problems.check(isinstance(value, int) and not isinstance(value, bool) and value >= minimum,
                           name, f"must be an integer >= {minimum}{' or auto' if auto else ''}, got {shown(value)}")

        def number(name: str, minimum: float, strict: bool = False) -> bool:
            value = getattr(self, name)
            ok = isinstance(value, (int, float)) and not isinstance(value, bool) and (
                value > minimum if strict else value >= minimum)
            problems.check(ok, name, f"must be a number {'>' if strict else '>='} {minimum}, got {shown(value)}")
            return ok

        problems.check(isinstance(self.dataset, str) and bool(self.dataset), "dataset", "must be a dataset folder")
        if isinstance(self.dataset, str) and self.dataset:
            meta = Path(self.dataset) / "deepsynth_dataset.json"
            problems.check(meta.is_file(), "dataset",
                           f"{shown(self.dataset)} is not a DeepSynth dataset folder (no {meta.name}); "
                           "build one with `deepsynth dataset`")
        problems.check(isinstance(self.model, ModelConfig), "model", "must be a ModelConfig")
        problems.check(isinstance(self.lora, LoraSettings), "lora", "must be LoraSettings")
        problems.check(self.preset in preset_names() or self.preset == CUSTOM_PRESET, "preset",
                       f"unknown preset {shown(self.preset)}; choose one of {', '.join(preset_names())}")
        for name in ("max_steps", "seed", "eval_docs"):
            integer(name, 0)
        integer("warmup_steps", 0, auto=True)
        integer("checkpoint_every", 1, auto=True)
        for name in ("batch_size", "keep_checkpoints", "nan_patience", "eval_max_new_tokens", "eval_batch_size"):
            integer(name, 1)
        integer("threads", 0)
        number("epochs", 0, strict=True)
        number("learning_rate", 0, strict=True)
        number("weight_decay", 0)
        number("max_grad_norm", 0)
        number("time_budget_s", 0)
        problems.check(self.schedule in SCHEDULES, "schedule", f"must be one of {', '.join(SCHEDULES)}, got {shown(self.schedule)}")
        problems.check(self.device in DEVICES, "device", f"must be one of {', '.join(DEVICES)}, got {shown(self.device)}")
        problems.check(self.eval_split in EVAL_SPLITS, "eval_split",
                       f"must be one of {', '.join(EVAL_SPLITS)}, got {shown(self.eval_split)}")
        problems.check(isinstance(self.experiment, str) and bool(self.experiment.strip()), "experiment", "must not be empty")
        problems.check(self.sweep_id == "" or _is_sweep_id(self.sweep_id), "sweep_id",
                       f"must be empty or letters, digits, '-' and '_', got {shown(self.sweep_id)}")
        # Free text MLflow shows (never a path or a shell word, so `lr=1e-3; r=8` is fine), but no
        # control characters (they hide or rewrite text in terminals) and no path separators.
        for name in ("experiment", "run_name"):
            value = getattr(self, name)
            problems.check(isinstance(value, str) and value.isprintable() and not {"/", "\\"} & set(value)
                           and len(value) <= NAME_LENGTH,
                           name, f"must be printable text of <= {NAME_LENGTH} characters without '/' or '\\', "
                                 f"got {shown(value)}")
        problems.raise_if_any()

    @property
    def run_root(self) -> Path:
        from deepsynth import paths

        return Path(self.output_dir) if self.output_dir else paths.home() / "workspace" / "runs"


def resolve_eval_split(requested: str, sizes: dict[str, int]) -> str:
    """The split `eval_split` names, given the dataset's split sizes: `auto` is test when the
    dataset has test documents, else validation."""
    if requested != AUTO_SPLIT:
        return requested
    return "test" if sizes.get("test", 0) > 0 else "validation"


def _is_sweep_id(value: object) -> bool:
    from deepsynth.errors import InputError
    from deepsynth.names import check_sweep_id

    try:
        check_sweep_id(value)
    except InputError:
        return False
    return True


def save_train_config(config: TrainConfig, path: str | Path) -> Path:
    """Write `config` as the JSON `--config` reads (atomically). A file never turns remote code on:
    flag-only settings are written at their default (a launcher passes the user's own flag on to
    the process it starts: `settings.sources.user_flags`)."""
    from deepsynth.atomic_files import write_json_atomic
    from deepsynth.settings.sources import without_flag_only

    path = Path(path)
    write_json_atomic(path, without_flag_only(TrainConfig, to_dict(config)))
    return path


def load_train_config(path: str | Path) -> TrainConfig:
    """A saved run's settings (a run folder's train_config.json, for `--resume`). The file is not
    the person resuming: a flag-only setting it turns on (remote code) is refused; that person
    types the flag (`deepsynth train --resume RUN_ID --trust-remote-code`)."""
    from deepsynth.configuration import ConfigError
    from deepsynth.settings import FILE
    from deepsynth.settings.sources import source_problems

    data = json.loads(Path(path).read_text(encoding="utf-8"))
    problems = source_problems(TrainConfig, data, FILE, places=False) if isinstance(data, dict) else []
    if problems:
        raise ConfigError([(f"{field} (in {path})", message) for field, message in problems],
                          "saved training settings")
    return from_dict(TrainConfig, data)
