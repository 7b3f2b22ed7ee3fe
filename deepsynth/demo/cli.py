"""`deepsynth demo`: the main job (`main_job.py`), with `--task qa` the questions-about-papers
showcase (`qa_job.py`), with `--task transcribe` the scanned-pages showcase (`transcribe_job.py`),
or, with `--render-sweep`, the compression sweep over render settings (`render_sweep.py`)."""

from __future__ import annotations

import argparse

from deepsynth.demo import setup

HELP = ("Run the main job: wiki pages -> LoRA fine-tune -> ROUGE on test vs base, the blank-page control "
        "and baselines that need no training (--task qa: three questions about each ACLSum paper; "
        "--task transcribe: wiki pages degraded as scans, CER of the tuned decoder vs the reader alone).")
DEMO_TASKS = ("summarize", "qa", "transcribe")
"""`--task`: summarize (the main job on wiki pages), qa (ACLSum papers, three questions each) or
transcribe (wiki pages degraded as scans, through the line detector)."""

__all__ = ["HELP", "add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from deepsynth.demo.qa_job import add_qa_arguments
    from deepsynth.demo.transcribe_job import add_transcribe_arguments

    setup.add_arguments(parser)
    parser.add_argument("--task", choices=DEMO_TASKS, default="summarize",
                        help="summarize (default: the main job on wiki pages), qa (ACLSum: each paper's "
                             "challenge, approach and outcome asked as questions, scored by ROUGE-L) or transcribe "
                             "(wiki pages degraded as scans: CER/WER of the tuned decoder vs the reader alone)")
    add_qa_arguments(parser)
    add_transcribe_arguments(parser)


def run(args: argparse.Namespace) -> int:
    if args.render_sweep is not None:
        if getattr(args, "task", "summarize") != "summarize":
            from deepsynth.errors import InputError

            raise InputError(f"--render-sweep runs the summarize demo; leave out --task {args.task}")
        from deepsynth.demo.render_sweep import run_render_sweep

        return run_render_sweep(args)
    if getattr(args, "task", "summarize") == "qa":
        from deepsynth.demo.qa_job import run_qa_job

        return run_qa_job(args)
    if getattr(args, "task", "summarize") == "transcribe":
        from deepsynth.demo.transcribe_job import run_transcribe_job

        return run_transcribe_job(args)
    from deepsynth.demo.main_job import run_main_job

    return run_main_job(args)
