"""`deepsynth demo`: the main job, end to end, in about ten minutes on two CPU cores.

Bundled Wikipedia extracts -> page images -> the embedded default (EasyOCR english_g2 reader +
SmolLM2-135M-Instruct) fine-tuned with LoRA to write each article's short description -> ROUGE on
held-out TEST documents (settings are chosen on the validation split: `--eval-split validation`)
for the tuned model, the untouched base, a control trained and evaluated on BLANK pages (what the
model learns without reading), and baselines that need no training, chosen on the train split
and scored on the same documents: the first k words, the first sentence's predicate phrase
("... is a 1968 epic science fiction film ..."), and the best constant answer. Every score comes
with its 95% bootstrap interval and document count; the tuned model must beat the best
baseline by 5 ROUGE-L points (`BASELINE_MARGIN`), and the base and the blank control by 10.

Where the time goes (measured on 2 shared cores, 1 thread): reading a short page ~0.1 s, a
training step of 4 documents ~3.3 s, generating 16 summaries ~10 s. So the documents are short wiki extracts
(<= 500 characters), 200 train / 100 validation / 100 test, and training stops at a time budget.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from deepsynth.demo.setup import demo_dataset, demo_train_config

GOAL_MARGIN = 10.0
"""ROUGE-L points the tuned model must gain over the base and over the blank-page control."""
BASELINE_MARGIN = 5.0
"""ROUGE-L points the tuned model must gain over the best non-learned baseline."""
TIME_GOAL_S = 600


def _trained_steps(run_id: str, uri: str) -> int:
    from deepsynth.tracking.store import RUN_DIR_TAG, run_tags
    from deepsynth.training import checkpoint

    latest = checkpoint.latest(run_tags(run_id, uri)[RUN_DIR_TAG])
    return latest.step if latest else 0


def _intervals(run: Any, model: str) -> dict[str, Any]:
    """ROUGE key -> Interval of `model` as logged on `run` (a RunSummary)."""
    from deepsynth.evaluation import keys
    from deepsynth.evaluation.bootstrap import Interval
    from deepsynth.evaluation.rouge import ROUGE_KEYS

    docs = int(run.metrics[keys.DOCS_METRIC])
    return {k: Interval(run.metrics[keys.metric_key(model, k)], run.metrics[keys.metric_key(model, k, keys.LOW)],
                        run.metrics[keys.metric_key(model, k, keys.HIGH)], docs) for k in ROUGE_KEYS}


def results_table(tuned: Any, blank: Any, summary: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Row label -> ROUGE key -> Interval: base, tuned, the blank control, every baseline (with
    the choice it made on train), all on the same documents."""
    from deepsynth.evaluation import keys
    from deepsynth.evaluation.baselines import BASELINE_NAMES

    rows = {"base (untouched)": _intervals(tuned, keys.BASE), "tuned (LoRA)": _intervals(tuned, keys.TUNED),
            "control: blank pages": _intervals(blank, keys.TUNED)}
    for name in BASELINE_NAMES:
        choice = summary.get("baselines", {}).get(name, {}).get("choice", {})
        shown = ", ".join(f"{k}={v}" for k, v in choice.items() if k != "text")
        rows[f"baseline: {keys.LABELS[name]}" + (f" ({shown})" if shown else "")] = _intervals(tuned, name)
    return rows


def verdict(tuned: Any, blank: Any, total_s: float, uri: str | None = None) -> tuple[dict[str, bool], Any, str]:
    """The goals (name -> met), the paired comparison tuned vs the best baseline, and its name.
    Margins are on the run's primary metric (ROUGE-L for summaries) and read its direction: with
    an error rate, "tuned beats X by 5" means 5 points LOWER."""
    from deepsynth.evaluation import keys
    from deepsynth.evaluation.metric import LOWER, best_of, gain
    from deepsynth.evaluation.metrics import direction
    from deepsynth.evaluation.paired import paired_comparison
    from deepsynth.tracking import queries

    metric = keys.primary_metric(tuned.tags)
    toward = direction(metric)
    scores = {model: tuned.metrics[keys.metric_key(model, metric)] for model in (keys.TUNED, keys.BASE)}
    baselines = {name: tuned.metrics[keys.metric_key(name, metric)] for name in keys.ALL_BASELINES
                 if keys.metric_key(name, metric) in tuned.metrics}
    best = best_of(baselines, toward)
    predictions = queries.run_predictions(tuned, uri)
    paired = paired_comparison(predictions.scores(best), predictions.scores(keys.TUNED), direction=toward)
    label = keys.LABELS[best]
    beats, sign = ("<=", "-") if toward == LOWER else (">=", "+")

    def ahead(score: float, other: float, margin: float) -> bool:
        return gain(score - other, toward) >= margin

    checks = {
        f"tuned {beats} best baseline ({label} {baselines[best]:.1f}) {sign} {BASELINE_MARGIN:g}":
            ahead(scores[keys.TUNED], baselines[best], BASELINE_MARGIN),
        f"tuned {beats} base {sign} {GOAL_MARGIN:g}": ahead(scores[keys.TUNED], scores[keys.BASE], GOAL_MARGIN),
        f"tuned {beats} blank control {sign} {GOAL_MARGIN:g}":
            ahead(scores[keys.TUNED], blank.metrics[keys.metric_key(keys.TUNED, metric)], GOAL_MARGIN),
        "total <= 10 min": total_s <= TIME_GOAL_S,
    }
    return checks, paired, label


def run_main_job(args: argparse.Namespace) -> int:
    from deepsynth import paths
    from deepsynth.evaluation import keys
    from deepsynth.evaluation.scorecard import score_table
    from deepsynth.tracking import queries
    from deepsynth.tracking.store import RUN_DIR_TAG, resolve_tracking_uri
    from deepsynth.training.worker import train

    started = time.monotonic()
    timings: dict[str, float] = {}

    def say(message: str) -> None:
        print(f"[demo {time.monotonic() - started:6.0f}s] {message}", flush=True)

    def phase(name: str, mark: float) -> float:
        timings[name] = time.monotonic() - mark
        return time.monotonic()

    uri = resolve_tracking_uri(args.tracking_uri or None)
    mark = time.monotonic()
    dataset = demo_dataset(args, say)
    mark = phase("dataset", mark)

    iface = args.vision_interface
    say(f"tuned run: LoRA r{args.rank} on q_proj,v_proj, up to {args.max_steps} steps or {args.train_seconds:.0f} s")
    tuned_id = train(demo_train_config(args, dataset, time_budget_s=args.train_seconds, eval_base=True,
                                   eval_split=args.eval_split, run_name=f"demo-tuned-{iface}"))
    mark = phase("tuned run (read pages, train, evaluate tuned + base + baselines)", mark)
    steps = _trained_steps(tuned_id, uri)

    say(f"blank-page control: same {steps} steps on blank pages")
    blank_id = train(demo_train_config(args, dataset, max_steps=max(1, steps), eval_base=False, blank_pages=True,
                                   eval_split=args.eval_split, run_name=f"demo-blank-{iface}"))
    phase("blank-page control (train, evaluate)", mark)

    tuned, blank = queries.get_run(tuned_id, uri), queries.get_run(blank_id, uri)
    summary = queries.run_rouge_summary(tuned, uri) or {}
    results = results_table(tuned, blank, summary)
    total = time.monotonic() - started
    checks, paired, best_label = verdict(tuned, blank, total, uri)
    threads = tuned.tags.get("deepsynth.threads", "?")
    split, docs = tuned.tags.get(keys.SPLIT_TAG, args.eval_split), int(tuned.metrics[keys.DOCS_METRIC])
    print()
    print(f"ROUGE on {docs} {split} wiki documents ({iface} interface, {steps} steps, {threads} torch thread(s); "
          "baselines chosen on train):")
    print(score_table(results))
    print(f"\ntuned - {best_label} (paired, same {paired.documents} documents): {paired.delta:+.1f} "
          f"[{paired.low:+.1f}, {paired.high:+.1f}]; tuned better on {paired.wins}, worse on {paired.losses}, "
          f"tied on {paired.ties}")
    for note in [tuned.tags.get(keys.SHORTFALL_TAG)] if tuned.tags.get(keys.SHORTFALL_TAG) else []:
        print(f"note: {note}")
    print()
    for name, ok in checks.items():
        print(f"  {'PASS' if ok else 'MISS'}  {name}")
    print(f"\ntime: {total:.0f} s in all; " + "; ".join(f"{k} {v:.0f} s" for k, v in timings.items()))
    run_dir = Path(tuned.tags[RUN_DIR_TAG])
    record = {
        "interface": iface, "split": split, "docs": docs, "steps": steps, "threads": threads,
        "seconds": round(total, 1), "timings_s": {k: round(v, 1) for k, v in timings.items()},
        "rouge": {name: {k: [round(i.mean, 2), round(i.low, 2), round(i.high, 2)] for k, i in by_key.items()}
                  for name, by_key in results.items()},
        "tuned_vs_best_baseline": {"baseline": best_label, "delta": paired.delta, "low": paired.low,
                                   "high": paired.high, "wins": paired.wins, "losses": paired.losses},
        "checks": checks, "runs": {"tuned": tuned_id, "blank": blank_id}, "tracking_uri": uri,
        "dataset": dataset, "adapter": str(run_dir / "adapter")}
    out = paths.home() / "workspace" / "demo" / f"summary-{iface}-{split}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=2))
    print("\nwhere to look:")
    print(f"  MLflow: mlflow ui --backend-store-uri {uri}   (experiment {args.experiment!r})")
    print(f"  compare: deepsynth compare {tuned_id} {blank_id}   (or the dashboard's Compare page)")
    print(f"  adapter {run_dir / 'adapter'}; predictions: the runs' {keys.PREDICTIONS_FILE}")
    print(f"  dashboard: deepsynth dashboard; this summary: {out}")
    return 0
