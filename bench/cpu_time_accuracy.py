"""Whole training jobs against the plan the Train page shows: actual / estimated seconds per phase
(start and load, read pages, train, save, evaluate) and for the whole job.

    .venv/bin/python bench/cpu_time_accuracy.py [--docs 24] [--results docs/results/cpu_time_accuracy.json]

Builds a small wiki dataset in a temporary folder, then runs a few short `deepsynth train` jobs one
after another (the default model, as the dashboard starts them: a job folder, so the worker writes
its per-phase seconds to report.json) and compares each phase with `estimate.job_time.job_plan`
for the threads the job used. Actual is wall clock: on a busy machine it reads slower than the plan
(made for an idle one), so the load average at the start and the jobs' CPU seconds are printed too.
Goal: 0.67-1.5 for whole jobs on a quiet machine.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

JOBS = (  # (label, extra train flags): short runs of the shapes the dashboard starts
    ("8 steps, eval 4", ["--max-steps", "8", "--batch-size", "2", "--eval-docs", "4"]),
    ("16 steps, batch 4, eval 0", ["--max-steps", "16", "--batch-size", "4", "--eval-docs", "0"]),
    ("4 steps, eval 8", ["--max-steps", "4", "--batch-size", "2", "--eval-docs", "8"]),
)


def build_dataset(folder: Path, docs: int) -> Path:
    out = folder / "wiki"
    subprocess.run([sys.executable, "-m", "deepsynth", "dataset", "--source", "wiki", "--out", str(out),
                    "--limit", str(docs), "--no-progress", "--workers", "1"], check=True,
                   stdout=subprocess.DEVNULL)
    return out


def run_job(folder: Path, dataset: Path, label: str, flags: list[str], threads: int) -> dict:
    """One foreground `deepsynth train` with a job folder; its report and its own wall/CPU seconds."""
    job_dir = folder / "jobs" / label.replace(" ", "-").replace(",", "")
    job_dir.mkdir(parents=True)
    env = dict(os.environ, DEEPSYNTH_JOB_DIR=str(job_dir))
    argv = [sys.executable, "-m", "deepsynth", "train", "--dataset", str(dataset), "--experiment", "cpu-time-bench",
            "--tracking-uri", f"sqlite:///{folder / 'mlflow.db'}", *(["--threads", str(threads)] if threads else []),
            *flags]
    before = os.times()
    started = time.monotonic()
    with open(job_dir / "log.txt", "w") as log:
        done = subprocess.run(argv, env=env, stdout=log, stderr=subprocess.STDOUT)
    wall = time.monotonic() - started
    after = os.times()
    if done.returncode != 0:
        raise SystemExit(f"job {label!r} failed; see {job_dir / 'log.txt'}:\n"
                         + (job_dir / "log.txt").read_text()[-3000:])
    report = json.loads((job_dir / "report.json").read_text())
    return {"wall": wall, "cpu": (after.children_user - before.children_user) + (after.children_system - before.children_system),
            "report": report, "argv": argv}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=24, help="documents in the wiki dataset (default 24)")
    parser.add_argument("--threads", type=int, default=0,
                        help="torch threads per job (default: the job's own choice, as the dashboard starts it)")
    parser.add_argument("--jobs", type=int, default=len(JOBS), help=f"how many of the {len(JOBS)} jobs to run")
    parser.add_argument("--results", default="", metavar="FILE.json", help="also write a results file")
    args = parser.parse_args()

    from deepsynth.data import read_metadata
    from deepsynth.estimate.cpu_time import cpu_has_bf16
    from deepsynth.estimate.job_time import JOB_PHASES, job_plan
    from deepsynth.estimate.this_machine import busy_factor, cpu_threads
    from deepsynth.results_file import start_measuring
    from deepsynth.training.cli import parse_train_args

    measuring = start_measuring()
    threads = args.threads
    rows, figures, ratios, load_ratios = [], {}, [], []
    print(f"load average at start {os.getloadavg()[0]:.2f} on {cpu_threads()} cores; torch threads per job: "
          f"{threads or 'the job chooses'}; bf16 instructions: {cpu_has_bf16()}")
    with tempfile.TemporaryDirectory(prefix="deepsynth-bench-cpu-time-") as name:
        folder = Path(name)
        os.environ["DEEPSYNTH_HOME"] = str(folder / "home")
        dataset = build_dataset(folder, args.docs)
        counts = read_metadata(dataset)["counts"]
        for label, flags in JOBS[: args.jobs]:
            load = os.getloadavg()[0]
            result = run_job(folder, dataset, label, flags, threads)
            config, _ = parse_train_args(result["argv"][4:])
            used = int(result["report"].get("threads") or threads or 1)
            plan = job_plan(config, counts, used)
            actual = result["report"].get("phase_seconds", {})
            actual_total = result["wall"]
            ratio = actual_total / plan.total_seconds
            ratios.append(ratio)
            at_load = plan.total_seconds * busy_factor(used, cpu_threads(), load)  # what the Train page adds
            load_ratios.append(actual_total / at_load)
            per_phase = {p: (round(plan.seconds[p], 1), round(float(actual.get(p, 0.0)), 1)) for p in JOB_PHASES}
            cpu = result["report"].get("phase_cpu_seconds", {})
            figures[label] = {"load_average_before": round(load, 2), "threads": used,
                              "estimated_and_actual_s": per_phase,
                              "phase_cpu_s": {p: round(float(v), 1) for p, v in cpu.items()},
                              "job_wall_s": round(actual_total, 1), "job_cpu_s": round(result["cpu"], 1),
                              "estimated_total_s": round(plan.total_seconds, 1), "ratio": round(ratio, 2),
                              "estimated_at_load_s": round(at_load, 1), "ratio_at_load": round(actual_total / at_load, 2)}
            cells = [f"{plan.seconds[p]:.1f} / {float(actual.get(p, 0.0)):.1f}" for p in JOB_PHASES]
            rows.append([label, f"{load:.1f}", str(used), *cells, f"{plan.total_seconds:.0f} / {actual_total:.0f}",
                         f"{result['cpu']:.0f}", f"{ratio:.2f}", f"{at_load:.0f}", f"{actual_total / at_load:.2f}"])
            print(f"{label:<28} load {load:4.1f}  " + "  ".join(f"{p} {c}" for p, c in zip(JOB_PHASES, cells))
                  + f"  job {plan.total_seconds:.0f} / {actual_total:.0f} s (cpu {result['cpu']:.0f} s)  ratio {ratio:.2f}"
                  + f"  at the load: est {at_load:.0f} s, ratio {actual_total / at_load:.2f}", flush=True)
            summarize(args, measuring, rows, figures, ratios, load_ratios)  # kept as it goes: a busy machine is slow


def summarize(args, measuring, rows, figures, ratios, load_ratios) -> None:
    """Print the medians so far and, with --results, (re)write the results file."""
    from deepsynth.estimate.job_time import JOB_PHASES
    from deepsynth.results_file import Table, write_results

    median = statistics.median(ratios)
    print(f"median actual/estimated over {len(ratios)} jobs: {median:.2f} (goal 0.67-1.5 on a quiet machine); "
          f"against the estimate at the measured load: {statistics.median(load_ratios):.2f}")
    if args.results:
        columns = ["job", "load avg", "threads", *[f"{p} s (est / actual)" for p in JOB_PHASES], "job s (est / actual)",
                   "job CPU s", "actual / est", "est at load s", "actual / est at load"]
        out = write_results(args.results, "cpu_time_accuracy", measuring, tables={"jobs": Table(columns, rows)},
                            notes=[f"Median actual / estimated over {len(ratios)} whole jobs: {median:.2f} "
                                   "(wall clock; the estimate is for an idle machine); against the estimate scaled "
                                   f"for the load average measured before each job: "
                                   f"{statistics.median(load_ratios):.2f}."],
                            figures={"jobs": figures, "median_ratio": round(median, 2),
                                     "median_ratio_at_load": round(statistics.median(load_ratios), 2)})
        print(f"wrote {out}")


if __name__ == "__main__":
    main()
