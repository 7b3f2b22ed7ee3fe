"""`deepsynth demo`: the main job, end to end, in about ten minutes on two CPU cores.

Bundled Wikipedia extracts -> page images -> the embedded default (EasyOCR english_g2 reader +
SmolLM2-135M-Instruct) fine-tuned with LoRA to write each article's short description -> ROUGE on
held-out documents for the tuned model, the untouched base, and two controls evaluated the same
way: a run trained and evaluated on BLANK pages (what the model learns without reading), and the
best CONSTANT answer (the training summary with the highest ROUGE-L against the training
summaries). A tuned model that does not beat both controls by a margin has not learned to read.

Where the time goes (measured on 2 shared cores, 1 thread): reading a short page ~0.1 s, a
training step of 4 documents ~3.3 s, generating 16 summaries ~10 s. So the documents are short
wiki extracts (<= 500 characters), 200 train / 100 held out, and training stops at a time budget.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

HELP = "Run the main job: wiki pages -> LoRA fine-tune -> ROUGE vs base, blank-page and constant controls."

GOAL_MARGIN = 10.0  # ROUGE-L points the tuned model must gain over the base and over each control


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--vision-interface", choices=("ocr_text", "features"), default="ocr_text",
                        help="how the decoder sees the page (default ocr_text)")
    parser.add_argument("--model", default="default", help="default (embedded), tiny (a smoke test), or a folder")
    parser.add_argument("--train-docs", type=int, default=200, help="training documents (200)")
    parser.add_argument("--eval-docs", type=int, default=100, help="held-out documents scored (100; >= 100 for +-2 RL)")
    parser.add_argument("--max-chars", type=int, default=500, help="keep wiki extracts up to this long (500)")
    parser.add_argument("--max-steps", type=int, default=90, help="training steps at most (90)")
    parser.add_argument("--train-seconds", type=float, default=240.0,
                        help="time budget of the tuned run's training (240); the blank control gets the same steps")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--rank", type=int, default=8, help="LoRA rank (8, on q_proj and v_proj)")
    parser.add_argument("--experiment", default="deepsynth-demo")
    parser.add_argument("--tracking-uri", default="", help="MLflow tracking URI (default: ./mlflow.db)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: from idle cores)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--render-sweep", nargs="*", metavar="FIELD=V1,V2", default=None,
                        help="instead: the tuned run over render settings, as a sweep, and its compression-vs-ROUGE "
                             "table (default font_size=22,14 mode=none,tiny; deepsynth.sweeps.demo)")


def _dataset(args: argparse.Namespace, say) -> str:
    from deepsynth import paths
    from deepsynth.data import DatasetConfig, build_dataset, read_metadata
    from deepsynth.configuration import to_dict

    total = args.train_docs + args.eval_docs
    config = DatasetConfig(source="wiki", limit=total, max_text_chars=args.max_chars,
                           validation_fraction=args.eval_docs / total, test_fraction=0.0, seed=args.seed)
    folder = paths.datasets_dir() / f"demo-wiki-{args.train_docs}-{args.eval_docs}-{args.max_chars}-s{args.seed}"
    if folder.is_dir():
        try:
            if read_metadata(folder)["dataset_config"] == to_dict(config):
                say(f"dataset: reusing {folder}")
                return str(folder)
        except Exception:  # unreadable or foreign: rebuild it
            pass
    say(f"dataset: rendering {total} wiki extracts (<= {args.max_chars} characters) to pages")
    build_dataset(config, folder, overwrite=folder.is_dir())
    return str(folder)


def _train_config(args: argparse.Namespace, dataset: str, **overrides: Any):
    from deepsynth.lora import preset
    from deepsynth.models.config import ModelConfig
    from deepsynth.training.config import TrainConfig

    fields: dict[str, Any] = dict(
        dataset=dataset,
        model=ModelConfig(name=args.model, vision_interface=args.vision_interface, max_source_tokens=128,
                          max_target_tokens=32),
        lora=preset("minimal", rank=args.rank, alpha=2.0 * args.rank, target_modules=("q_proj", "v_proj")),
        preset="custom", max_steps=args.max_steps, batch_size=args.batch_size, learning_rate=args.lr,
        warmup_steps=5, schedule="cosine", seed=args.seed, checkpoint_every=30, eval_docs=args.eval_docs,
        eval_max_new_tokens=24, eval_batch_size=16, experiment=args.experiment,
        tracking_uri=args.tracking_uri, threads=args.threads)
    return TrainConfig(**{**fields, **overrides})


def _trained_steps(run_id: str, uri: str) -> int:
    from deepsynth.tracking.store import RUN_DIR_TAG, run_tags
    from deepsynth.training import checkpoint

    latest = checkpoint.latest(run_tags(run_id, uri)[RUN_DIR_TAG])
    return latest.step if latest else 0


def _constant_control(args: argparse.Namespace, dataset: str, uri: str, say) -> tuple[str, dict[str, float]]:
    """Pick the constant on the train split, score it on the held-out documents, log it as a run."""
    from deepsynth.data import load_dataset_dir
    from deepsynth.tracking.store import RunLogger
    from deepsynth.evaluation import rouge as evaluate

    loaded = load_dataset_dir(dataset)
    text, train_score = evaluate.best_constant(loaded.dataset["train"]["summary"], seed=args.seed)
    held_out = loaded.dataset["validation"].select(range(min(args.eval_docs, len(loaded.dataset["validation"]))))
    result = evaluate.score(held_out["id"], held_out["summary"], [text] * len(held_out))
    logger = RunLogger.start(args.experiment, f"demo-constant-{args.vision_interface}", uri=uri,
                             params={"control": "constant", "constant": text, "chosen_on": "train",
                                     "train_rougeL": round(train_score, 2), "dataset": dataset},
                             tags={"deepsynth.control": "constant"})
    logger.log_metrics({**{f"eval/{k}": v for k, v in result.scores.items()}, "eval/docs": len(held_out)}, 0)
    logger.log_text(evaluate.predictions_csv({"constant": result}), "eval/predictions.csv")
    logger.log_dict({"split": "validation", "docs": len(held_out), "rouge": {"constant": result.scores},
                     "constant": text}, "eval/rouge.json")
    logger.finish()
    say(f"constant control: {text!r} (train ROUGE-L {train_score:.1f}) -> run {logger.run_id}")
    return logger.run_id, result.scores


def _scores(run_id: str, uri: str, prefix: str) -> dict[str, float]:
    from deepsynth.tracking import queries

    metrics = queries.get_run(run_id, uri).metrics
    return {key: metrics[f"{prefix}{key}"] for key in ("rouge1", "rouge2", "rougeL")}


def run(args: argparse.Namespace) -> int:
    if args.render_sweep is not None:  # hand-off: deepsynth/sweeps/demo.py
        from deepsynth.sweeps.demo import run_render_sweep

        return run_render_sweep(args)
    from deepsynth import paths
    from deepsynth.tracking.store import RUN_DIR_TAG, resolve_tracking_uri, run_tags
    from deepsynth.evaluation import rouge as evaluate
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
    dataset = _dataset(args, say)
    mark = phase("dataset", mark)

    iface = args.vision_interface
    say(f"tuned run: LoRA r{args.rank} on q_proj,v_proj, up to {args.max_steps} steps or {args.train_seconds:.0f} s")
    tuned = train(_train_config(args, dataset, time_budget_s=args.train_seconds, eval_base=True,
                                run_name=f"demo-tuned-{iface}"))
    mark = phase("tuned run (read pages, train, evaluate tuned + base)", mark)
    steps = _trained_steps(tuned, uri)

    say(f"blank-page control: same {steps} steps on blank pages")
    blank = train(_train_config(args, dataset, max_steps=max(1, steps), eval_base=False, blank_pages=True,
                                run_name=f"demo-blank-{iface}"))
    mark = phase("blank-page control (train, evaluate)", mark)
    constant, constant_scores = _constant_control(args, dataset, uri, say)
    phase("constant control", mark)

    results = {"base (untouched)": _scores(tuned, uri, "eval/base_"), "tuned (LoRA)": _scores(tuned, uri, "eval/"),
               "control: blank pages": _scores(blank, uri, "eval/"), "control: constant": constant_scores}
    total = time.monotonic() - started
    tuned_rl = results["tuned (LoRA)"]["rougeL"]
    checks = {
        "tuned >= base + 10": tuned_rl >= results["base (untouched)"]["rougeL"] + GOAL_MARGIN,
        "tuned >= blank control + 10": tuned_rl >= results["control: blank pages"]["rougeL"] + GOAL_MARGIN,
        "tuned >= constant control + 10": tuned_rl >= results["control: constant"]["rougeL"] + GOAL_MARGIN,
        "total <= 10 min": total <= 600,
    }
    print()
    print(f"ROUGE on {args.eval_docs} held-out wiki documents ({iface} interface, {steps} steps):")
    print(evaluate.rouge_table(results))
    print()
    for name, ok in checks.items():
        print(f"  {'PASS' if ok else 'MISS'}  {name}")
    print(f"\ntime: {total:.0f} s in all; " + "; ".join(f"{k} {v:.0f} s" for k, v in timings.items()))
    run_dir = Path(run_tags(tuned, uri)[RUN_DIR_TAG])
    summary = {"interface": iface, "steps": steps, "eval_docs": args.eval_docs, "seconds": round(total, 1),
               "timings_s": {k: round(v, 1) for k, v in timings.items()}, "rouge": results, "checks": checks,
               "runs": {"tuned": tuned, "blank": blank, "constant": constant}, "tracking_uri": uri,
               "dataset": dataset, "adapter": str(run_dir / "adapter")}
    out = paths.home() / "workspace" / "demo" / f"summary-{iface}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(summary, indent=2))
    print("\nwhere to look:")
    print(f"  MLflow: mlflow ui --backend-store-uri {uri}   (experiment {args.experiment!r})")
    print(f"  runs:   tuned {tuned}, blank {blank}, constant {constant}")
    print(f"  adapter {run_dir / 'adapter'}; predictions: the runs' eval/predictions.csv")
    print(f"  dashboard: deepsynth dashboard; this summary: {out}")
    return 0
