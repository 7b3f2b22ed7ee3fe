"""`deepsynth demo`: the main job (`main_job.py`) or, with `--render-sweep`, the compression sweep
over render settings (`render_sweep.py`)."""

from __future__ import annotations

import argparse

from deepsynth.demo.setup import add_arguments

HELP = ("Run the main job: wiki pages -> LoRA fine-tune -> ROUGE on test vs base, the blank-page control "
        "and baselines that need no training.")

__all__ = ["HELP", "add_arguments", "run"]


def run(args: argparse.Namespace) -> int:
    if args.render_sweep is not None:
        from deepsynth.demo.render_sweep import run_render_sweep

        return run_render_sweep(args)
    from deepsynth.demo.main_job import run_main_job

    return run_main_job(args)
