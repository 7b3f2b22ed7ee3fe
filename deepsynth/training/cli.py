"""`deepsynth train`: fine-tune in the foreground; prints the MLflow run id (last line).

The job layer (`deepsynth jobs start`, the dashboard) runs this same command as a subprocess.
"""

from __future__ import annotations

import argparse

HELP = "Fine-tune a document-reading model with LoRA/QLoRA on a dataset (foreground)."

# TrainConfig / ModelConfig field -> the flag a user typed, so errors name what they can fix.
FLAGS = {
    "dataset": "--dataset", "preset": "--preset", "max_steps": "--max-steps", "epochs": "--epochs",
    "batch_size": "--batch-size", "learning_rate": "--lr", "experiment": "--experiment",
    "run_name": "--run-name", "tracking_uri": "--tracking-uri", "warmup_steps": "--warmup-steps",
    "seed": "--seed", "checkpoint_every": "--checkpoint-every", "eval_docs": "--eval-docs",
    "threads": "--threads", "device": "--device", "time_budget_s": "--time-budget",
    "output_dir": "--output-dir", "name": "--model", "vision_interface": "--vision-interface",
    "schedule": "--schedule", "eval_split": "--eval-split",
    "rank": "--rank", "alpha": "--alpha", "dropout": "--dropout", "target_modules": "--targets",
    "quantization": "--quant", "double_quantization": "--double-quant", "compute_dtype": "--compute-dtype",
    "bias": "--bias",
}

# LoRA fields a flag can override on top of --preset (None: keep the preset's value)
LORA_OVERRIDES = ("rank", "alpha", "dropout", "target_modules", "quantization", "double_quantization",
                  "compute_dtype", "bias")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", metavar="DIR", help="dataset folder from `deepsynth dataset`")
    parser.add_argument("--preset", metavar="NAME", help="LoRA preset (see presets.json), e.g. minimal")
    lora = parser.add_argument_group("LoRA overrides (on top of --preset; the run is then recorded as preset 'custom')")
    lora.add_argument("--rank", type=int, default=None)
    lora.add_argument("--alpha", type=float, default=None)
    lora.add_argument("--dropout", type=float, default=None)
    lora.add_argument("--targets", default=None, metavar="M1,M2", help="module names, e.g. q_proj,v_proj")
    lora.add_argument("--quant", dest="quantization", choices=("none", "nf4", "fp4", "int8"), default=None)
    lora.add_argument("--double-quant", dest="double_quantization", choices=("on", "off"), default=None)
    lora.add_argument("--compute-dtype", choices=("float32", "bfloat16", "float16"), default=None)
    lora.add_argument("--bias", choices=("none", "all", "lora_only"), default=None)
    parser.add_argument("--model", default="default", help="default, tiny, or a local model folder")
    parser.add_argument("--vision-interface", choices=("ocr_text", "features"), default="ocr_text",
                        help="how the decoder sees the page (default ocr_text)")
    parser.add_argument("--max-steps", type=int, default=0, help="optimizer steps (0: use --epochs)")
    parser.add_argument("--epochs", type=float, default=1.0, help="passes over the train split")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--lr", type=float, default=2e-4, help="peak learning rate")
    parser.add_argument("--warmup-steps", type=int, default=10)
    parser.add_argument("--schedule", choices=("constant", "linear", "cosine"), default="cosine")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--checkpoint-every", type=int, default=50, metavar="N")
    parser.add_argument("--time-budget", type=float, default=0.0, metavar="SECONDS",
                        help="stop stepping after this long, then evaluate (0: no limit)")
    parser.add_argument("--eval-docs", type=int, default=100, metavar="N",
                        help="held-out documents scored with ROUGE (0: skip)")
    parser.add_argument("--eval-split", choices=("validation", "test", "train"), default="validation")
    parser.add_argument("--blank-pages", action="store_true", help="control run: train and evaluate on blank pages")
    parser.add_argument("--experiment", default="deepsynth", help="MLflow experiment")
    parser.add_argument("--run-name", default="", help="MLflow run name")
    parser.add_argument("--tracking-uri", default="", help="MLflow tracking URI (default: ./mlflow.db)")
    parser.add_argument("--output-dir", default="", help="run folders (default: workspace/runs)")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: cores / running jobs)")
    parser.add_argument("--no-system-metrics", action="store_true", help="do not record CPU/memory/disk metrics")
    parser.add_argument("--nproc", type=int, default=1, metavar="N",
                        help="data-parallel worker processes (torchrun, DDP: gloo on CPU, nccl on GPUs); "
                             "--batch-size stays the global batch")
    parser.add_argument("--resume", metavar="RUN_ID",
                        help="continue this MLflow run from its last complete checkpoint (its saved settings)")


def config_from_args(args: argparse.Namespace):
    """A `TrainConfig` from the flags; every problem reported at once, by flag name."""
    from deepsynth.configuration import ConfigError
    from deepsynth.lora import preset, preset_label
    from deepsynth.models.config import ModelConfig
    from deepsynth.training.config import TrainConfig

    problems: list[tuple[str, str]] = []
    if not args.dataset:
        problems.append(("--dataset", "required (a folder from `deepsynth dataset`)"))
    if not args.preset:
        problems.append(("--preset", "required (e.g. minimal, standard, qlora_4bit)"))
    lora = model = None
    preset_name = args.preset or ""
    if args.preset:
        try:
            lora = preset(args.preset, **_lora_overrides(args))
            preset_name = preset_label(args.preset, lora)
        except ConfigError as error:
            problems += [(FLAGS.get(f, f), m) for f, m in error.problems]
    try:
        model = ModelConfig(name=args.model, vision_interface=args.vision_interface)
    except ConfigError as error:
        problems += [(FLAGS.get(f, f), m) for f, m in error.problems]
    fields = dict(
        dataset=args.dataset or "", preset=preset_name, max_steps=args.max_steps, epochs=args.epochs,
        batch_size=args.batch_size, learning_rate=args.lr, warmup_steps=args.warmup_steps,
        schedule=args.schedule, seed=args.seed, checkpoint_every=args.checkpoint_every,
        time_budget_s=args.time_budget, eval_docs=args.eval_docs, eval_split=args.eval_split,
        blank_pages=args.blank_pages, experiment=args.experiment, run_name=args.run_name,
        tracking_uri=args.tracking_uri, output_dir=args.output_dir, device=args.device,
        threads=args.threads, system_metrics=not args.no_system_metrics)
    if lora is not None:
        fields["lora"] = lora
    if model is not None:
        fields["model"] = model
    try:
        config = TrainConfig(**fields)
    except ConfigError as error:
        known = {flag for flag, _ in problems}
        problems += [(FLAGS.get(f, f), m) for f, m in error.problems if FLAGS.get(f, f) not in known]
        config = None
    if problems:
        raise ConfigError(problems, "training arguments")
    return config


def _lora_overrides(args: argparse.Namespace) -> dict:
    values = {name: getattr(args, name, None) for name in LORA_OVERRIDES if name != "target_modules"}
    if getattr(args, "targets", None) is not None:
        values["target_modules"] = tuple(t.strip() for t in args.targets.split(",") if t.strip())
    if values.get("double_quantization") is not None:
        values["double_quantization"] = values["double_quantization"] == "on"
    return {name: value for name, value in values.items() if value is not None}


def run(args: argparse.Namespace) -> int:
    from deepsynth.errors import InputError
    from deepsynth.training.distributed import Distributed, launch
    from deepsynth.training.worker import train

    def started(run_id: str) -> None:
        print(f"MLflow run {run_id}", flush=True)

    place = Distributed.from_env()
    if args.nproc < 1:
        raise InputError(f"--nproc must be >= 1, got {args.nproc}")
    if args.nproc > 1 and not place.enabled:  # the launcher: the same run in N processes
        return launch(args.nproc, _worker_args(args))

    if args.resume:
        _check_resume_flags(args)
        run_id = train(resume_run_id=args.resume, tracking_uri=args.tracking_uri or None, on_run_started=started)
    else:
        run_id = train(config_from_args(args), on_run_started=started)
    if place.is_main:
        print(run_id)
    return 0


def _check_resume_flags(args: argparse.Namespace) -> None:
    from deepsynth.errors import InputError

    given = [flag for flag in ("dataset", "preset") if getattr(args, flag)]
    given += [FLAGS[name].lstrip("-") for name in LORA_OVERRIDES if getattr(args, name if name != "target_modules" else "targets", None) is not None]
    if given:
        raise InputError(f"--resume continues a run with its saved settings; drop "
                         f"{', '.join('--' + g for g in given)}")


def _worker_args(args: argparse.Namespace) -> list[str]:
    """The flags each torchrun worker gets: the same run (validated here, once), without --nproc."""
    from deepsynth.job_args import train_args

    if args.resume:
        from deepsynth.training.worker import _load_resume

        _check_resume_flags(args)
        _load_resume(args.resume, args.tracking_uri or None)  # a run that cannot resume fails here, once
        return ["--resume", args.resume] + (["--tracking-uri", args.tracking_uri] if args.tracking_uri else [])
    return train_args(config_from_args(args))
