"""A `TrainConfig` as the `deepsynth train` arguments a background job runs with.

The job layer starts `deepsynth train ARGS` (deepsynth.jobs), so a config built in the dashboard
must travel as flags. Every flag is written out (nothing left to a default that could change), and
the result is parsed back with the training CLI's own parser: if that does not rebuild the same
config (a setting the CLI has no flag for), the caller gets an error naming those settings instead
of a job that silently trains something else. LoRA values travel as explicit override flags on top
of the preset, so settings edited on the estimate page (preset `custom`) train as shown.
"""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any

from deepsynth.errors import InputError


def train_args(config: Any) -> list[str]:
    """The `deepsynth train` arguments that rebuild `config` exactly."""
    from deepsynth.lora import preset_names

    base_preset = config.preset if config.preset in preset_names() else "standard"
    lora = config.lora
    args = [
        "--dataset", config.dataset, "--preset", base_preset,
        "--rank", str(lora.rank), "--alpha", repr(float(lora.alpha)), "--dropout", repr(float(lora.dropout)),
        "--targets", ",".join(lora.target_modules), "--quant", lora.quantization,
        "--double-quant", "on" if lora.double_quantization else "off", "--compute-dtype", lora.compute_dtype,
        "--bias", lora.bias,
        "--model", config.model.name, "--vision-interface", config.model.vision_interface,
        "--max-steps", str(config.max_steps), "--epochs", repr(float(config.epochs)),
        "--batch-size", str(config.batch_size), "--lr", repr(float(config.learning_rate)),
        "--warmup-steps", str(config.warmup_steps), "--schedule", config.schedule, "--seed", str(config.seed),
        "--checkpoint-every", str(config.checkpoint_every), "--time-budget", repr(float(config.time_budget_s)),
        "--eval-docs", str(config.eval_docs), "--eval-split", config.eval_split,
        "--experiment", config.experiment, "--run-name", config.run_name,
        "--tracking-uri", config.tracking_uri, "--output-dir", config.output_dir,
        "--device", config.device, "--threads", str(config.threads),
    ]
    if config.blank_pages:
        args.append("--blank-pages")
    if not config.system_metrics:
        args.append("--no-system-metrics")
    rebuilt = parse_train_args(args)
    lost = _differences(config, rebuilt)
    if lost:
        raise InputError("`deepsynth train` has no flag for these settings, so a job cannot run with "
                         f"them: {', '.join(lost)}; use a preset's values or train from Python")
    return args


def parse_train_args(args: list[str]) -> Any:
    """The `TrainConfig` the training CLI builds from `args` (its own parser and mapping)."""
    from deepsynth.training.cli import add_arguments, config_from_args

    parser = argparse.ArgumentParser(prog="deepsynth train")
    add_arguments(parser)
    return config_from_args(parser.parse_args(args))


def _differences(wanted: Any, got: Any, prefix: str = "") -> list[str]:
    names = []
    for field in dataclasses.fields(wanted):
        a, b = getattr(wanted, field.name), getattr(got, field.name)
        if dataclasses.is_dataclass(a) and dataclasses.is_dataclass(b):
            names += _differences(a, b, f"{prefix}{field.name}.")
        elif a != b:
            names.append(f"{prefix}{field.name}")
    return names
