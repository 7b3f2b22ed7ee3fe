"""Peak memory of `deepsynth train` on the embedded default (SmolLM2-135M + the OCR reader) with the
demo's model settings, the code before a change beside the code now, in one run.

    .venv/bin/python bench/train_memory.py --before REV [--steps 4] [--train-docs 20] [--eval-docs 16] \
        [--results docs/results/train-memory.json]

Each arm runs `python -m deepsynth train` as a child process from a copy of its code (`--before`:
a git revision exported with `git archive`; the other arm: this checkout) on the same rendered wiki
dataset, with the demo's model, LoRA, batch and evaluation settings (`deepsynth.demo.setup`) and
fewer steps and documents (peak memory depends on the batch's shape, not on how many steps run).
Measured per arm: the child's peak resident set, polled every 50 ms with psutil (the whole process
tree's RSS, the figure `/usr/bin/time -v` gives as "Maximum resident set size"); the per-phase
peaks the job report carries (load, read, train, evaluate; only where the code reports them); the
training losses of every step, which must be equal between the arms (a memory change must not
change what trains). Arms run one after the other, never side by side.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
GB = 1e9
STEP_LINE = re.compile(r"^step (\d+)/\d+ loss ([0-9.]+)", re.M)


def export_revision(revision: str, into: Path) -> Path:
    """The tracked files of `revision` (the `deepsynth` package) under `into`."""
    archive = into / "code.tar"
    with open(archive, "wb") as handle:
        subprocess.run(["git", "-C", str(ROOT), "archive", "--format=tar", revision, "deepsynth"], stdout=handle,
                       check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(into / "code", filter="data")
    return into / "code"


def train_argv(dataset: str, args: argparse.Namespace, home: Path) -> list[str]:
    from deepsynth.demo.setup import add_arguments

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    demo = parser.parse_args([])  # the demo's defaults: model settings, LoRA, batch, evaluation
    return ["train", "--dataset", dataset, "--model", demo.model, "--vision-interface", demo.vision_interface,
            "--max-source-tokens", "128", "--max-target-tokens", "32", "--preset", "minimal",
            "--rank", str(demo.rank), "--alpha", str(2.0 * demo.rank), "--targets", "q_proj,v_proj",
            "--max-steps", str(args.steps), "--batch-size", str(demo.batch_size), "--lr", str(demo.lr),
            "--warmup-steps", "1", "--schedule", "cosine", "--seed", str(demo.seed),
            "--eval-docs", str(args.eval_docs), "--eval-max-new-tokens", "24", "--eval-batch-size", "16",
            "--threads", str(args.threads), "--experiment", "bench-train-memory",
            "--tracking-uri", f"sqlite:///{home / 'mlflow.db'}", "--output-dir", str(home / "runs")]


def run_arm(name: str, code: Path, argv: list[str], home: Path) -> dict:
    """One `deepsynth train` from `code`: peak RSS of its process tree, phase peaks, losses."""
    import psutil

    job_dir = home / f"job-{name}"
    job_dir.mkdir()
    env = dict(os.environ, PYTHONPATH=str(code), DEEPSYNTH_HOME=str(home), DEEPSYNTH_JOB_DIR=str(job_dir),
               HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", HF_DATASETS_OFFLINE="1")
    started = time.monotonic()
    cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with open(home / f"log-{name}.txt", "wb") as log:
        child = subprocess.Popen([sys.executable, "-m", "deepsynth", *argv], env=env, cwd=str(home),
                                 stdout=log, stderr=subprocess.STDOUT)
        process = psutil.Process(child.pid)
        peak = 0
        while child.poll() is None:
            try:
                tree = [process, *process.children(recursive=True)]
                peak = max(peak, sum(p.memory_info().rss for p in tree if p.is_running()))
            except psutil.Error:
                pass
            time.sleep(0.05)
    cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)  # the child, reaped by poll(), is counted now
    cpu_s = (cpu_after.ru_utime + cpu_after.ru_stime) - (cpu_before.ru_utime + cpu_before.ru_stime)
    text = (home / f"log-{name}.txt").read_text(errors="replace")
    if child.returncode != 0:
        raise SystemExit(f"{name}: deepsynth train failed (exit {child.returncode}):\n{text[-3000:]}")
    report = json.loads((job_dir / "report.json").read_text()) if (job_dir / "report.json").is_file() else {}
    phases = {k: v for k, v in (report.get("memory_peaks") or {}).items() if k != "since_start"}
    return {"peak_rss_bytes": peak, "phases": phases, "seconds": round(time.monotonic() - started, 1),
            "cpu_seconds": round(cpu_s, 1),
            "losses": [float(loss) for _step, loss in STEP_LINE.findall(text)]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", required=True, help="git revision of the code before the change")
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--train-docs", type=int, default=20)
    parser.add_argument("--eval-docs", type=int, default=16, help="one evaluation batch of the demo's 16")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--results", default="", metavar="FILE.json")
    args = parser.parse_args()

    from deepsynth.data import DatasetConfig, build_dataset
    from deepsynth.results_file import Table, start_measuring, write_results

    measuring = start_measuring()
    with tempfile.TemporaryDirectory(prefix="deepsynth-bench-memory-") as folder:
        home = Path(folder)
        total = args.train_docs + 2 * args.eval_docs
        dataset = build_dataset(DatasetConfig(source="wiki", limit=total, max_text_chars=500,
                                              validation_fraction=args.eval_docs / total,
                                              test_fraction=args.eval_docs / total, workers=1), home / "wiki")
        argv = train_argv(str(dataset), args, home)
        arms = {"before": export_revision(args.before, home), "after": ROOT}
        measured = {name: run_arm(name, code, argv, home) for name, code in arms.items()}
    same = measured["before"]["losses"] == measured["after"]["losses"] and bool(measured["after"]["losses"])
    phases = ("load", "read", "train", "evaluate")

    def gb(value) -> str:
        return f"{value / GB:.2f}" if value else "—"

    rows = [[name, gb(m["peak_rss_bytes"]), *(gb(m["phases"].get(p)) for p in phases), f"{m['cpu_seconds']:.0f}",
             f"{m['seconds']:.0f}"]
            for name, m in measured.items()]
    for row in rows:
        print("  ".join(f"{cell:>9}" for cell in row))
    print(f"losses equal: {same} ({measured['after']['losses']})")
    if args.results:
        notes = [f"`deepsynth train` on the embedded default with the demo's model settings (batch 4, 128 source + "
                 f"32 target tokens, LoRA r=8 on q_proj/v_proj, evaluation batch 16), {args.steps} steps, "
                 f"{args.train_docs} train documents, {args.eval_docs} evaluated, {args.threads} thread(s); "
                 f"'before' is {args.before}. Peak resident set of the process (polled every 50 ms); per phase "
                 "from the job report. CPU s: the child's user + system CPU time (the whole run; on a loaded "
                 "machine it grows with contention too, so compare runs made in one go).",
                 f"The training losses of the two arms are {'identical' if same else 'DIFFERENT'}: "
                 f"{measured['after']['losses']}."]
        out = write_results(args.results, "train-memory", measuring,
                            tables={"train memory": Table(["code", "peak GB", *(f"{p} GB" for p in phases), "CPU s", "wall s"],
                                                          rows)},
                            notes=notes, figures={"arms": measured, "losses_equal": same})
        print(f"wrote {out}")


if __name__ == "__main__":
    main()
