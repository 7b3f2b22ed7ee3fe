"""`deepsynth train`: fine-tune in the foreground; prints the MLflow run id (last line).

Every `TrainConfig` field is a flag (`deepsynth.config_flags`: type, choices, default and help come
from the dataclasses). A run's settings travel as one JSON file: `--config FILE` reads one (flags
override its fields), `--print-config` prints the merged config and exits (its output is a valid
`--config`). The job layer (`deepsynth jobs start`, the dashboard) writes the config into the job
folder and runs `deepsynth train --config FILE`; torchrun ranks (`--nproc`) read the same file.
"""

from __future__ import annotations

import argparse
import functools
from typing import Any

HELP = "Fine-tune a document-reading model with LoRA/QLoRA on a dataset (foreground)."

# Shorter flags than the field names, kept from earlier versions (the long forms work too).
FLAG_NAMES = {
    "model.name": "--model", "learning_rate": "--lr", "time_budget_s": "--time-budget",
    "lora.target_modules": "--targets", "lora.quantization": "--quant",
    "lora.double_quantization": "--double-quant",
}
TRUST_REMOTE_CODE = "model.trust_remote_code"
"""The one model setting `--resume` takes: whether the resuming user lets the model's code run."""
GROUPS = {"model": "model (what reads the page and writes the summary)",
          "lora": "LoRA adapter (on top of --preset; the run is then recorded as preset 'custom')"}


@functools.lru_cache(maxsize=1)
def train_flags():
    """The `TrainConfig` flags (`preset` is chosen with --preset, which also sets the LoRA values)."""
    from deepsynth.config_flags import ConfigFlags
    from deepsynth.training.config import TrainConfig

    return ConfigFlags(TrainConfig, renames=FLAG_NAMES, skip=("preset",))


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags that describe one run: shared by `deepsynth train` and `deepsynth jobs start`."""
    from deepsynth.lora import preset_names

    parser.add_argument("--config", metavar="FILE.json",
                        help="a TrainConfig as JSON (from --print-config or a job folder); flags override its fields")
    parser.add_argument("--preset", metavar="{" + ",".join(preset_names()) + "}",
                        help="LoRA preset the adapter starts from (default: the --config file's, else standard); "
                             "LoRA flags then override its values")
    train_flags().add_to(parser, GROUPS)
    parser.add_argument("--nproc", type=int, default=1, metavar="N",
                        help="data-parallel worker processes (torchrun, DDP: gloo on CPU, nccl on GPUs); "
                             "--batch-size stays the global batch")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_arguments(parser)
    parser.add_argument("--print-config", action="store_true",
                        help="print the merged TrainConfig as JSON (a valid --config file) and exit")
    parser.add_argument("--resume", metavar="RUN",
                        help="continue this MLflow run from its last complete checkpoint (its saved settings): "
                             "its id, a unique id prefix or its run name")


def config_from_args(args: argparse.Namespace) -> Any:
    """The `TrainConfig` of `--config` + `--preset` + flags; every problem reported at once, each
    named by the flag the user typed (or the field and the file it came from)."""
    from deepsynth.config_flags import read_config_file
    from deepsynth.configuration import ConfigError, to_dict
    from deepsynth.lora import preset, preset_names
    from deepsynth.training.config import TrainConfig

    typed = train_flags().typed(args)
    base = read_config_file(args.config, TrainConfig, given_as_flags=typed) if getattr(args, "config", None) else {}
    problems = []
    if getattr(args, "preset", None):
        if args.preset in preset_names():
            base = {**base, "preset": args.preset, "lora": to_dict(preset(args.preset))}
        else:
            problems.append(("--preset", f"unknown preset {args.preset!r}; choose one of {', '.join(preset_names())}"))
    try:
        config = train_flags().build(typed, base, source=getattr(args, "config", None),
                                     what="training arguments")
    except ConfigError as error:
        raise ConfigError(problems + error.problems, "training arguments") from None
    if problems:
        raise ConfigError(problems, "training arguments")
    return config


def parse_train_args(argv: list[str]) -> tuple[Any, int]:
    """(TrainConfig, nproc) from `deepsynth train` arguments (what `jobs start` and tests use)."""
    parser = argparse.ArgumentParser(prog="deepsynth train")
    add_config_arguments(parser)
    args = parser.parse_args(argv)
    return config_from_args(args), checked_nproc(args.nproc)


def checked_nproc(nproc: int) -> int:
    from deepsynth.configuration import ConfigError

    if nproc < 1:
        raise ConfigError([("--nproc", f"must be >= 1, got {nproc}")], "training arguments")
    return nproc


def run(args: argparse.Namespace) -> int:
    from deepsynth.training.quiet import quiet_libraries

    quiet_libraries()  # before anything imports PEFT (deepsynth.training.quiet)
    from deepsynth.config_flags import config_json
    from deepsynth.model_folder_check import check_model_folders
    from deepsynth.training.distributed import Distributed
    from deepsynth.training.worker import train

    def started(run_id: str) -> None:
        print(f"MLflow run {run_id}", flush=True)

    place = Distributed.from_env()
    nproc = checked_nproc(args.nproc)
    if args.resume:
        _check_resume_flags(args)
        from deepsynth.errors import InputError
        from deepsynth.tracking.run_lookup import resolve_run_id

        try:  # a unique id prefix or a run name: the full id
            args.resume = resolve_run_id(args.resume, _given_tracking_uri(args))
        except InputError as error:
            raise InputError(f"cannot resume run {args.resume!r}: {error}") from None
        trust = bool(train_flags().typed(args).get(TRUST_REMOTE_CODE))  # the resuming user's own flag
        if nproc > 1 and not place.enabled:  # the launcher: the same run in N processes
            return _launch_workers(nproc, resume=args.resume, uri=_given_tracking_uri(args), trust_remote_code=trust)
        run_id = train(resume_run_id=args.resume, tracking_uri=_given_tracking_uri(args), on_run_started=started,
                       trust_remote_code=trust)
    else:
        config = config_from_args(args)
        if args.print_config:
            print(config_json(config), end="")
            return 0
        check_model_folders(config.model)  # before any run exists: remote code, links out of the folder
        if nproc > 1 and not place.enabled:
            return _launch_workers(nproc, config=config)
        run_id = train(config, on_run_started=started)
    if place.is_main:
        print(run_id)
    return 0


def _launch_workers(nproc: int, config: Any = None, resume: str | None = None, uri: str | None = None,
                    trust_remote_code: bool = False) -> int:
    """Run the same training in `nproc` torchrun processes; they read one config file (or resume
    one run). A run that cannot resume fails here, once, not in every worker."""
    import tempfile
    from pathlib import Path

    from deepsynth.training.config import TRAIN_CONFIG_FILE, save_train_config
    from deepsynth.training.distributed import launch

    if resume:
        from deepsynth.training.worker import load_resume

        load_resume(resume, uri)
        return launch(nproc, ["--resume", resume] + (["--tracking-uri", uri] if uri else [])
                      + (["--trust-remote-code"] if trust_remote_code else []))
    from deepsynth.settings.sources import user_flags

    with tempfile.TemporaryDirectory(prefix="deepsynth-workers-") as folder:
        path = save_train_config(config, Path(folder) / TRAIN_CONFIG_FILE)
        return launch(nproc, ["--config", str(path), *user_flags(config)])


def _given_tracking_uri(args: argparse.Namespace) -> str | None:
    return train_flags().typed(args).get("tracking_uri") or None


def _check_resume_flags(args: argparse.Namespace) -> None:
    from deepsynth.errors import InputError

    typed = train_flags().typed(args)
    given = [train_flags().option_for(path) for path in typed if path not in ("tracking_uri", TRUST_REMOTE_CODE)]
    given += [flag for flag, value in (("--config", args.config), ("--preset", args.preset),
                                       ("--print-config", args.print_config)) if value]
    if given:
        raise InputError(f"--resume continues a run with its saved settings (--tracking-uri and "
                         f"--trust-remote-code aside); drop {', '.join(given)}")
