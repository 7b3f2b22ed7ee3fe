"""The CPU time model (deepsynth/estimate/cpu_time.py) against real runs: estimated vs measured
samples/s for every finished CPU run in a tracking store.

    .venv/bin/python bench/cpu_time_accuracy.py --tracking-uri sqlite:///path/mlflow.db [--experiment NAME]

For each run: its saved `TrainConfig` (`config/train_config.json` artifact), the threads it ran on
(tag `deepsynth.threads`), the train split's size (its dataset folder) -> the estimate a user saw
before starting; against the median of the run's `train/samples_per_s` (wall clock, so a busy
machine reads slower than the estimate, which is for an idle one). Also prints the load average:
compare runs made on a quiet machine. Ratios are measured / estimated.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracking-uri", required=True)
    parser.add_argument("--experiment", action="append", help="only these experiments (repeatable)")
    args = parser.parse_args()

    from deepsynth.configuration import from_dict
    from deepsynth.data import read_metadata
    from deepsynth.estimate.cpu_time import cpu_has_bf16, run_time_on_cpu
    from deepsynth.tracking.queries import list_runs, metric_histories
    from deepsynth.tracking.store import download_artifacts
    from deepsynth.training.config import TRAIN_CONFIG_FILE, TrainConfig

    runs = [run for run in list_runs(args.experiment, status="FINISHED", uri=args.tracking_uri)
            if run.tags.get("deepsynth.device") == "cpu"]
    speeds = metric_histories([run.run_id for run in runs], ["train/samples_per_s"], uri=args.tracking_uri)
    print(f"load average now {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; bf16 instructions: {cpu_has_bf16()}")
    print(f"{'run':<22}{'model':<9}{'preset':<12}{'batch':>6}{'threads':>8}{'steps':>6}"
          f"{'estimated':>11}{'measured':>10}{'ratio':>7}")
    ratios = []
    for run in runs:
        with tempfile.TemporaryDirectory() as folder:
            try:
                path = download_artifacts(run.run_id, f"config/{TRAIN_CONFIG_FILE}", folder, uri=args.tracking_uri)
            except Exception:  # not a `deepsynth train` run
                continue
            data = json.loads(Path(path).read_text())
        data["dataset"] = data.get("dataset", "")
        if not Path(data["dataset"], "deepsynth_dataset.json").is_file():
            print(f"{run.run_name[:21]:<22}(dataset {data['dataset']} is gone)")
            continue
        config = from_dict(TrainConfig, data)
        train_docs = int(read_metadata(Path(config.dataset))["counts"]["train"])
        threads = int(run.tags.get("deepsynth.threads", "1"))
        estimate = run_time_on_cpu(config, train_docs, threads)
        measured = speeds[speeds["run_id"] == run.run_id]["value"].tolist()
        if len(measured) < 2:
            continue
        median = statistics.median(measured[1:])  # the first step warms caches up
        ratio = median / estimate.samples_per_second
        ratios.append(ratio)
        print(f"{(run.run_name or run.run_id)[:21]:<22}{config.model.name:<9}{config.preset:<12}{config.batch_size:>6}"
              f"{threads:>8}{len(measured):>6}{estimate.samples_per_second:>11.3f}{median:>10.3f}{ratio:>7.2f}")
    if ratios:
        print(f"median measured/estimated over {len(ratios)} runs: {statistics.median(ratios):.2f}")


if __name__ == "__main__":
    main()
