"""`deepsynth sweep`: many small variations of one training run, queued as jobs.

    deepsynth sweep --config base.json --grid lora.rank=4,8,16 learning_rate=1e-4,1e-3
    deepsynth sweep --config base.json --render font_size=16,22,28 [--random N --seed S] [--yes]
    deepsynth sweep --resume SWEEP_ID        # queue again what failed; FINISHED points are kept
    deepsynth sweep --status [SWEEP_ID]      # all sweeps, or one sweep's points and table
"""

from __future__ import annotations

import argparse
import sys

HELP = "Queue one training job per point of a grid over training and render settings."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--config", metavar="BASE.json",
                      help="the base TrainConfig (`deepsynth train --print-config`, or a job's train_config.json)")
    mode.add_argument("--resume", metavar="SWEEP_ID", help="queue again the points that did not finish")
    mode.add_argument("--status", metavar="SWEEP_ID", nargs="?", const="",
                      help="progress of one sweep (or a list of all)")
    mode.add_argument("--finish", metavar="SWEEP_ID", help=argparse.SUPPRESS)  # the queue runner's call
    parser.add_argument("--grid", nargs="+", action="extend", default=[], metavar="FIELD=V1,V2",
                        help="training fields (dotted: lora.rank, learning_rate, model.max_source_tokens; "
                             "preset) or render.FIELD, each with its values; list values join items with +")
    parser.add_argument("--render", nargs="+", action="extend", default=[], metavar="FIELD=V1,V2",
                        help="RenderConfig fields (font_size=16,22,28): one dataset per setting, built from "
                             "the base dataset's documents")
    parser.add_argument("--random", type=int, default=0, metavar="N", help="run N points drawn at random from the grid")
    parser.add_argument("--seed", type=int, default=0, help="seed of --random (0)")
    parser.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
    parser.add_argument("--max-concurrent", metavar="N|auto", default=None,
                        help="jobs running at once (the queue's setting; default auto: one per GPU, two on a CPU with 2+ cores)")


def _confirm(question: str) -> bool:
    if not sys.stdin.isatty():
        return False
    try:
        return input(f"{question} [y/N] ").strip().lower() in ("y", "yes")
    except EOFError:
        return False


def _set_max_concurrent(text: str | None) -> None:
    from deepsynth.jobs import queue

    if text is not None:
        queue.set_max_concurrent(queue.parse_max_concurrent(text))


def _print_status(sweep_id: str) -> int:
    from deepsynth.sweeps import launch, record

    if not sweep_id:
        print(f"{'SWEEP':<28} {'POINTS':>6} {'DONE':>5} {'RUNNING':>7} {'QUEUED':>6} {'FAILED':>6}")
        for sweep in record.list_sweeps():
            counts = record.progress_counts(record.point_statuses(sweep))
            print(f"{sweep.sweep_id:<28} {len(sweep.points):>6} {counts[record.FINISHED]:>5} "
                  f"{counts[record.RUNNING]:>7} {counts[record.QUEUED]:>6} {counts[record.FAILED]:>6}")
        return 0
    sweep = record.load_record(sweep_id)
    statuses = record.point_statuses(sweep)
    counts = record.progress_counts(statuses)
    print(f"sweep {sweep_id}: " + ", ".join(f"{n} {state.lower()}" for state, n in counts.items() if n)
          + f"; parent run {sweep.parent_run_id or '-'}")
    from deepsynth.sweeps.grid import label

    for status in statuses:
        print(f"  {status.index + 1:>4}. {status.state:<9} {status.job_id or '-':<24} {label(status.values)}"
              + (f"  ({status.detail})" if status.detail else ""))
    if launch.is_done(sweep) and sweep.finished_at is None and sweep.parent_run_id:
        launch.finish_sweep(sweep_id)
        print("summary written to the parent run")
    if sweep.render_paths:
        from deepsynth.sweeps.compression import format_table, render_sweep_table

        table = render_sweep_table(sweep_id, sweep.tracking_uri or None)
        if len(table):
            print()
            print(format_table(table))
    return 0


def run(args: argparse.Namespace) -> int:
    from deepsynth.errors import InputError

    if args.status is not None:
        return _print_status(args.status)
    if args.finish:
        from deepsynth.sweeps.launch import finish_sweep

        rows = finish_sweep(args.finish)
        print(f"sweep {args.finish}: " + ("points still queued or running" if rows is None
                                           else f"summary of {len(rows)} point(s) written to the parent run"))
        return 0
    if args.resume:
        if args.grid or args.render or args.random:
            raise InputError("--resume runs the sweep as it was defined; drop --grid, --render and --random")
        _set_max_concurrent(args.max_concurrent)
        from deepsynth.sweeps.launch import resume_sweep

        record, again = resume_sweep(args.resume, build_progress=_build_progress)
        print(f"sweep {args.resume}: " + (f"queued again point(s) {', '.join(map(str, again))}" if again
                                          else "nothing to resume (every point finished, or is queued or running)"))
        return 0
    return _start(args)


def _build_progress(folder: str, done: int, total: int) -> None:
    if done == total or done % 50 == 0:
        print(f"  rendering {folder}: {done}/{total}", flush=True)


def _start(args: argparse.Namespace) -> int:
    from deepsynth.config_flags import read_config_file
    from deepsynth.configuration import ConfigError, from_dict
    from deepsynth.sweeps.grid import parse_axes
    from deepsynth.sweeps.launch import start_sweep
    from deepsynth.sweeps.plan import plan_sweep
    from deepsynth.training.config import TrainConfig

    try:
        base = from_dict(TrainConfig, read_config_file(args.config, TrainConfig))
    except ConfigError as error:
        raise ConfigError([(f"{field} (in {args.config})", message) for field, message in error.problems],
                          "sweep base config") from None
    if args.max_concurrent is not None:
        from deepsynth.jobs.queue import parse_max_concurrent

        parse_max_concurrent(args.max_concurrent)  # a bad value fails before anything happens
    plan = plan_sweep(base, parse_axes(args.grid, args.render), args.random, args.seed, allow_large=args.yes)
    print(plan.describe())
    if not args.yes and not _confirm(f"Queue {plan.count} training job(s)?"):
        print("nothing queued (pass --yes to skip this question)")
        return 1
    _set_max_concurrent(args.max_concurrent)
    record = start_sweep(plan, build_progress=_build_progress)
    print(f"sweep {record.sweep_id}: {plan.count} job(s) queued; parent MLflow run {record.parent_run_id}")
    print(f"  progress: deepsynth sweep --status {record.sweep_id}   resume: deepsynth sweep --resume {record.sweep_id}")
    return 0
