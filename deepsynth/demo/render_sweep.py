"""`deepsynth demo --render-sweep`: how far can the page be compressed before the summary suffers?

The demo's tuned run (`deepsynth.demo.main_job`: bundled wiki extracts, the embedded default, LoRA r8)
repeated over render settings as a real sweep: one dataset per setting from the same documents,
one queued job per setting run by the queue runner (two at a time on a 2+-core CPU), then the table of
compression ratio, reading accuracy and ROUGE-L per setting. The default grid crosses the font
size with DeepSeek-OCR's resolution modes: `font_size=22,14` x `mode=none,tiny` (a 1024x1448 page
squeezed into 512x512 makes 14-px text unreadable to the line reader).

Sizes are smaller than the main demo's so four settings fit in ~15 minutes on 2 cores (reading a
page ~0.1-0.5 s, a step of 4 documents ~3.3 s, 16 summaries ~10 s); any size flag given on the
command line wins.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

DEFAULT_AXES = ("font_size=22,14", "mode=none,tiny")
SIZES = {"train_docs": 96, "eval_docs": 48, "max_steps": 60, "train_seconds": 75.0}
"""Render-sweep sizes that replace the main demo's defaults (not values the user typed)."""
POLL_S = 5.0


def _sized(args: argparse.Namespace) -> argparse.Namespace:
    """`args` with the main demo's default sizes replaced by `SIZES` (typed values are kept)."""
    from deepsynth.demo.setup import add_arguments

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    defaults = vars(parser.parse_args([]))
    values = vars(args).copy()
    for name, size in SIZES.items():
        if values.get(name) == defaults.get(name):
            values[name] = size
    return argparse.Namespace(**values)


def write_sweep_results(path: str, measuring: Any, frame: Any, args: argparse.Namespace, counts: dict[str, int],
                        settings: int) -> Any:
    """The render sweep's table as a results file (`deepsynth.results_file`), as the README shows it."""
    from pathlib import Path

    from deepsynth.results_file import Table, write_results

    def number(value: Any, digits: int) -> str:
        return "-" if value is None or value != value else f"{value:.{digits}f}"

    rows = [[row["setting"], number(row["ratio"], 2), number(row["chars_per_page"], 0),
             number(row["read_tokens_per_page"], 1),
             "-" if row["reading_accuracy"] is None or row["reading_accuracy"] != row["reading_accuracy"]
             else f"{100 * row['reading_accuracy']:.0f}%",
             number(row["rougeL"], 1), f"[{number(row['rougeL_lo'], 1)}, {number(row['rougeL_hi'], 1)}]"]
            for row in frame.to_dict("records")]
    table = Table(["setting", "compression ratio", "characters / page", "tokens read / page", "reader recovered",
                   "ROUGE-L", "95% interval"], rows)
    notes = [f"{counts['FINISHED']} of {settings} settings finished; {args.train_docs} train / {args.eval_docs} "
             f"held-out wiki documents, {args.model} model, up to {args.max_steps} steps or "
             f"{args.train_seconds:.0f} s each."]
    return write_results(path, Path(path).stem, measuring, tables={"render_sweep": table}, notes=notes,
                         figures={"rows": frame.to_dict("records"), "counts": counts})


def run_render_sweep(args: argparse.Namespace) -> int:
    """Build the datasets, queue one run per render setting, wait, print the table."""
    from deepsynth.demo.setup import demo_dataset, demo_train_config
    from deepsynth.jobs import queue
    from deepsynth.sweeps import finish_sweep, is_done, parse_axes, plan_sweep, start_sweep
    from deepsynth.sweeps.compression import format_table, render_sweep_table
    from deepsynth.sweeps.grid import label
    from deepsynth.sweeps.record import load_record, point_statuses, progress_counts
    from deepsynth.settings.sources import allow_typed_tracking_uri
    from deepsynth.tracking.store import resolve_tracking_uri

    from deepsynth.results_file import start_measuring

    measuring = start_measuring()
    started = time.monotonic()

    def say(message: str) -> None:
        print(f"[render sweep {time.monotonic() - started:6.0f}s] {message}", flush=True)

    args = _sized(args)
    axes = parse_axes(render=args.render_sweep or DEFAULT_AXES)
    dataset = demo_dataset(args, say)
    base = demo_train_config(args, dataset, time_budget_s=args.train_seconds, eval_base=False, run_name="")
    plan = plan_sweep(base, axes)
    say(plan.describe())
    waiting = len(queue.list_queued())
    if waiting:
        say(f"note: {waiting} job(s) already wait in the queue; this sweep's jobs run after them")

    def built(folder: str, done: int, total: int) -> None:
        if done == total:
            say(f"rendered {total} documents into {folder}")

    allow_typed_tracking_uri(args.tracking_uri or "")  # the user's own --tracking-uri: queued points may use it
    record = start_sweep(plan, tracking_uri=resolve_tracking_uri(args.tracking_uri or None), build_progress=built)
    say(f"sweep {record.sweep_id}: {plan.count} job(s) queued (two at a time on a CPU: the queue's auto limit); "
        f"parent MLflow run {record.parent_run_id}")
    seen: dict[int, str] = {}
    while True:
        statuses = point_statuses(load_record(record.sweep_id))
        for status in statuses:
            if seen.get(status.index) != status.state:
                seen[status.index] = status.state
                say(f"point {status.index + 1}/{len(statuses)} {status.state:<8} {label(status.values)}"
                    + (f" ({status.detail})" if status.detail and status.state == "FAILED" else ""))
        if is_done(load_record(record.sweep_id)):
            break
        time.sleep(POLL_S)
    finish_sweep(record.sweep_id)
    counts = progress_counts(statuses)
    table = render_sweep_table(record.sweep_id, record.tracking_uri)
    total = time.monotonic() - started
    print()
    print(f"Render sweep {record.sweep_id}: {counts['FINISHED']} of {len(statuses)} setting(s) finished; "
          f"{args.train_docs} train / {args.eval_docs} held-out wiki documents, {args.model} model, "
          f"up to {args.max_steps} steps or {args.train_seconds:.0f} s each")
    print(format_table(table))
    print()
    print("ratio = document text tokens / tokens the decoder reads from the page; reading = share of the "
          "page's characters the reader recovered; ROUGE-L of the tuned model on the held-out documents.")
    print(f"time: {total:.0f} s in all")
    if args.results:
        say(f"results file: {write_sweep_results(args.results, measuring, table, args, counts, len(statuses))}")
    print(f"compare: deepsynth dashboard (Compare page, ?sweep={record.sweep_id}); "
          f"status: deepsynth sweep --status {record.sweep_id}")
    return 0 if counts["FINISHED"] == len(statuses) else 1
