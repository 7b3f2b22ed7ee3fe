"""A 4-point sweep vs the same 4 training jobs started by hand, on this machine, in one run.

    PYTHONPATH=. .venv/bin/python bench/sweep.py [--model default|tiny] [--train-docs 64]
        [--eval-docs 8] [--steps 6] [--rounds 1] [--arms sweep,at-once,one-by-one]

The four points: `lora.rank=4,8` x `learning_rate=1e-4,1e-3` over one base run (LoRA and
optimizer settings only: every point reads the same pages). Arms, each from a cold start (its own
workspace, MLflow store and readings cache; the converted model weights are shared):

- sweep: `deepsynth sweep --config base.json --grid ... --yes` with the queue's `auto` limit (on a
  CPU with 2+ cores: two jobs at a time, the cores divided between them); concurrent jobs read
  each page once (a per-page lock on the shared readings cache), later ones reuse the readings.
- at-once: what a user does who starts the four variations by hand right away: four
  `deepsynth jobs start --config point-N.json`, back to back. They run together on the cores
  (oversubscribed), and each reads the pages itself (none has finished when the others start).
- one-by-one: a user who starts each job when the previous one finished (`jobs start`, then
  `jobs wait`): the readings cache is shared by default, so this is the sweep's schedule by hand
  (the ratio shows the queue costs nothing; it does not count the user's waiting).
- sweep-1: the sweep with `--max-concurrent 1` (the CPU default before: one job at a time with
  every core).

Measured: wall time from the first command until all four jobs finished, and the CPU seconds
of every process working for the arm (sampled; `CpuMeter`): on a machine shared with other work,
four processes get a larger share of the cores than one, so wall time alone also measures the
neighbours. Rounds rotate the arms' order; medians and ratios (arm / sweep) are printed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GRID = ["lora.rank=4,8", "learning_rate=1e-4,1e-3"]
ARMS = ("sweep", "one-by-one", "at-once", "sweep-1")


def deepsynth(home: Path, cache: Path, *argv: str, check: bool = True) -> subprocess.CompletedProcess:
    env = dict(os.environ, DEEPSYNTH_HOME=str(home), DEEPSYNTH_CACHE=str(cache))
    done = subprocess.run([sys.executable, "-m", "deepsynth", *argv], capture_output=True, text=True, env=env,
                          cwd=str(home))
    if check and done.returncode != 0:
        raise RuntimeError(f"deepsynth {' '.join(argv)} failed: {done.stderr[-2000:]}")
    return done


def prepare(args: argparse.Namespace, root: Path) -> Path:
    from deepsynth.data import DatasetConfig, build_dataset

    total = args.train_docs + args.eval_docs
    return build_dataset(DatasetConfig(source="wiki", limit=total, max_text_chars=500,
                                       validation_fraction=args.eval_docs / total, test_fraction=0.0, workers=1),
                         root / "data")


def base_config(args: argparse.Namespace, dataset: Path, home: Path):
    from deepsynth.lora import preset
    from deepsynth.models.config import ModelConfig
    from deepsynth.training.config import TrainConfig

    return TrainConfig(
        dataset=str(dataset), model=ModelConfig(name=args.model, max_source_tokens=128, max_target_tokens=32),
        lora=preset("minimal", rank=8, alpha=16.0, target_modules=("q_proj", "v_proj")), preset="custom",
        max_steps=args.steps, batch_size=4, learning_rate=1e-3, warmup_steps=0, checkpoint_every=1000,
        eval_docs=args.eval_docs, eval_max_new_tokens=16, eval_base=False, experiment="bench-sweep",
        tracking_uri=f"sqlite:///{home / 'mlflow.db'}", output_dir=str(home / "runs"), system_metrics=False)


def arm_workspace(root: Path, name: str, round_: int, models: Path) -> tuple[Path, Path]:
    """A fresh home (migrated MLflow store) and a cold readings cache that shares the model weights."""
    from deepsynth.tracking.store import client_for

    home, cache = root / f"{name}-{round_}", root / f"{name}-{round_}-cache"
    home.mkdir()
    cache.mkdir()
    if models.is_dir():
        (cache / "models").symlink_to(models)
    client_for(f"sqlite:///{home / 'mlflow.db'}").search_experiments()  # migrate now, untimed
    return home, cache


class CpuMeter:
    """CPU seconds (user + system) of every process working for one arm: those whose environment
    names the arm's DEEPSYNTH_HOME (the CLI calls, the queue runner, the jobs), sampled every
    `SAMPLE_S` (what a process spends after its last sample is missed: well under a second each)."""

    SAMPLE_S = 0.25

    def __init__(self, home: Path) -> None:
        self.home = str(home)
        self.seen: dict[tuple[int, float], float] = {}

    def sample(self) -> None:
        import psutil

        for process in psutil.process_iter(["pid", "create_time"]):
            key = (process.info["pid"], process.info["create_time"])
            if key[0] == os.getpid():
                continue
            try:
                if key not in self.seen and process.environ().get("DEEPSYNTH_HOME") != self.home:
                    continue
                times = process.cpu_times()
                self.seen[key] = max(self.seen.get(key, 0.0), times.user + times.system)
            except (psutil.Error, OSError):
                continue

    @property
    def total_s(self) -> float:
        return sum(self.seen.values())


def all_finished(home: Path, expected: int, timeout_s: float = 3600) -> list[str]:
    """Wait until `expected` jobs in `home` have ended; returns their states."""
    from deepsynth import jobs

    os.environ["DEEPSYNTH_HOME"] = str(home)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = jobs.list_jobs()
        if len(found) >= expected and not any(job.alive for job in found):
            return [job.state for job in found]
        time.sleep(1.0)
    raise TimeoutError(f"jobs in {home} still running after {timeout_s} s")


def stop_runner(home: Path) -> None:
    from deepsynth.jobs.queue_runner import runner_info

    os.environ["DEEPSYNTH_HOME"] = str(home)
    info = runner_info()
    if info is not None and info.alive:
        os.kill(info.pid, signal.SIGTERM)


def run_arm(name: str, home: Path, cache: Path, base_file: Path,
            point_files: list[Path]) -> tuple[float, float, list[str]]:
    """(wall s, CPU s of every process of the arm, job states)."""
    import threading

    meter, done = CpuMeter(home), threading.Event()

    def sample() -> None:
        while not done.is_set():
            meter.sample()
            time.sleep(CpuMeter.SAMPLE_S)

    sampler = threading.Thread(target=sample, daemon=True)
    started = time.perf_counter()
    sampler.start()
    try:
        if name in ("sweep", "sweep-1"):
            slots = ["--max-concurrent", "1"] if name == "sweep-1" else []
            deepsynth(home, cache, "sweep", "--config", str(base_file), "--grid", *GRID, "--yes", *slots)
        elif name == "at-once":
            for file in point_files:
                deepsynth(home, cache, "jobs", "start", "--config", str(file))
        elif name == "one-by-one":
            for file in point_files:
                out = deepsynth(home, cache, "jobs", "start", "--config", str(file)).stdout
                job_id = out.split("started job ", 1)[1].split()[0]
                deepsynth(home, cache, "jobs", "wait", job_id, check=False)
        else:
            raise ValueError(name)
        states = all_finished(home, len(point_files))
        elapsed = time.perf_counter() - started
    finally:
        done.set()
        sampler.join()
    stop_runner(home)
    return elapsed, meter.total_s, states


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="default", help="default (EasyOCR + SmolLM2) or tiny")
    parser.add_argument("--train-docs", type=int, default=64)
    parser.add_argument("--eval-docs", type=int, default=8)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--arms", default=",".join(ARMS))
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    parser.add_argument("--results", default="", metavar="FILE.json",
                        help="also write the table to this results file (docs/results/sweep.json: the README's)")
    args = parser.parse_args()
    arms = [arm.strip() for arm in args.arms.split(",") if arm.strip()]

    from deepsynth import paths
    from deepsynth.results_file import Table, start_measuring, write_results
    from deepsynth.sweeps import parse_axes, plan_sweep
    from deepsynth.sweeps.plan import point_config
    from deepsynth.training.config import save_train_config

    models = paths.cache_dir() / "models"
    root = Path(tempfile.mkdtemp(prefix="deepsynth-bench-sweep-"))
    measuring = start_measuring()
    rounds: list[str] = []
    times: dict[str, list[float]] = {arm: [] for arm in arms}
    cpu: dict[str, list[float]] = {arm: [] for arm in arms}
    try:
        dataset = prepare(args, root)
        print(f"{len(os.sched_getaffinity(0))} cores; model {args.model}; {args.train_docs} train + {args.eval_docs} "
              f"eval documents; {args.steps} steps per job; grid {' x '.join(GRID)}", flush=True)
        for round_ in range(args.rounds):
            order = arms[round_ % len(arms):] + arms[:round_ % len(arms)]
            for arm in order:
                home, cache = arm_workspace(root, arm, round_, models)
                base = base_config(args, dataset, home)
                base_file = save_train_config(base, home / "base.json")
                plan = plan_sweep(base, parse_axes(GRID))
                point_files = [save_train_config(point_config(base, point, base.dataset, "by-hand", i),
                                                 home / f"point-{i + 1}.json") for i, point in enumerate(plan.points)]
                load = os.getloadavg()[0]
                elapsed, cpu_s, states = run_arm(arm, home, cache, base_file, point_files)
                ok = all(state == "FINISHED" for state in states)
                times[arm].append(elapsed)
                cpu[arm].append(cpu_s)
                print(f"round {round_ + 1} {arm:<11} {elapsed:7.1f} s wall  {cpu_s:7.1f} s CPU  (load average "
                      f"{load:.1f} at the start)  jobs: {', '.join(states)}"
                      + ("" if ok else "  (NOT ALL FINISHED)"), flush=True)
                rounds.append(f"round {round_ + 1}, {arm}: {elapsed:.1f} s wall, {cpu_s:.1f} s CPU, load average "
                              f"{load:.1f} at its start" + ("" if ok else " (NOT ALL FINISHED)"))
        print()
        print("ratios: arm / sweep (above 1: the sweep was faster, or used less CPU)")
        print(f"{'arm':<11} {'median wall s':>13} {'wall ratio':>10} {'median CPU s':>12} {'CPU ratio':>9}")
        rows = []
        for arm in arms:
            wall, work = statistics.median(times[arm]), statistics.median(cpu[arm])
            wall_ratio = f"{wall / statistics.median(times['sweep']):.2f}" if times.get("sweep") else "-"
            cpu_ratio = f"{work / statistics.median(cpu['sweep']):.2f}" if cpu.get("sweep") else "-"
            print(f"{arm:<11} {wall:13.1f} {wall_ratio:>10} {work:12.1f} {cpu_ratio:>9}")
            rows.append([arm, f"{wall:.1f}", wall_ratio, f"{work:.1f}", cpu_ratio])
        print(json.dumps({"args": vars(args), "wall_s": times, "cpu_s": cpu}, default=str))
        if args.results:
            table = Table(["arm", "median wall s", "wall / sweep", "median CPU s", "CPU / sweep"], rows)
            setup = (f"{args.model} model, {args.train_docs} train + {args.eval_docs} eval documents, "
                     f"{args.steps} steps a job, grid {' x '.join(GRID)}, {args.rounds} round(s).")
            print("results file:", write_results(args.results, Path(args.results).stem, measuring,
                                                 tables={"arms": table}, notes=[setup, "; ".join(rounds) + "."],
                                                 figures={"args": vars(args), "wall_s": times, "cpu_s": cpu}))
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
