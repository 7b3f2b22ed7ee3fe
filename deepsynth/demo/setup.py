"""What both demos share: their command-line options, the bundled wiki dataset they render (reused
when it already exists with the same settings), and the tuned run's `TrainConfig`."""

from __future__ import annotations

import argparse
from typing import Any


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--vision-interface", choices=("ocr_text", "features"), default="ocr_text",
                        help="how the decoder sees the page (default ocr_text)")
    parser.add_argument("--model", default="default", help="default (embedded), tiny (a smoke test), or a folder")
    parser.add_argument("--train-docs", type=int, default=200, help="training documents (200)")
    parser.add_argument("--eval-docs", type=int, default=100,
                        help="documents in each of the validation and test splits, all scored (100)")
    parser.add_argument("--eval-split", choices=("test", "validation"), default="test",
                        help="score on test (default: the report) or validation (to choose settings)")
    parser.add_argument("--max-chars", type=int, default=500, help="keep wiki extracts up to this long (500)")
    parser.add_argument("--max-steps", type=int, default=90, help="training steps at most (90)")
    parser.add_argument("--train-seconds", type=float, default=240.0,
                        help="time budget of the tuned run's training (240); the blank control gets the same steps")
    parser.add_argument("--batch-size", type=int, default=4, help="documents per step (4)")
    parser.add_argument("--lr", type=float, default=3e-3,
                        help="peak learning rate (3e-3, chosen on validation among 1e-3, 2e-3, 3e-3 and 5e-3)")
    parser.add_argument("--rank", type=int, default=8, help="LoRA rank (8, on q_proj and v_proj; another model: its own default targets)")
    parser.add_argument("--experiment", default="deepsynth-demo")
    parser.add_argument("--tracking-uri", default="", help="MLflow tracking URI (default: ./mlflow.db)")
    parser.add_argument("--threads", type=int, default=0,
                        help="torch threads (0: from the cores other work leaves idle, sampled again before training)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--results", default="", metavar="FILE.json",
                        help="also write the figures to this results file, with the command, machine, load and "
                             "date (docs/results/demo.json is what the README shows)")
    parser.add_argument("--render-sweep", nargs="*", metavar="FIELD=V1,V2", default=None,
                        help="instead: the tuned run over render settings, as a sweep, and its compression-vs-ROUGE "
                             "table (default font_size=22,14 mode=none,tiny; deepsynth.demo.render_sweep)")


def demo_dataset(args: argparse.Namespace, say) -> str:
    from deepsynth import paths
    from deepsynth.configuration import to_dict
    from deepsynth.data import DatasetConfig, build_dataset, read_metadata

    total = args.train_docs + 2 * args.eval_docs
    config = DatasetConfig(source="wiki", limit=total, max_text_chars=args.max_chars,
                           validation_fraction=args.eval_docs / total, test_fraction=args.eval_docs / total,
                           seed=args.seed)
    folder = paths.datasets_dir() / f"demo-wiki-{args.train_docs}-{args.eval_docs}x2-{args.max_chars}-s{args.seed}"
    if folder.is_dir():
        try:
            if read_metadata(folder)["dataset_config"] == to_dict(config):
                say(f"dataset: reusing {folder}")
                return str(folder)
        except Exception:  # unreadable or foreign: rebuild it
            pass
    say(f"dataset: rendering {total} wiki extracts (<= {args.max_chars} characters) to pages "
        f"({args.train_docs} train, {args.eval_docs} validation, {args.eval_docs} test)")
    build_dataset(config, folder, overwrite=folder.is_dir())
    return str(folder)


def demo_targets(model: str) -> tuple[str, ...]:
    """LoRA targets of the demos' tuned run: q_proj and v_proj on the embedded model (its seeded
    figures), the kind's own defaults on any other model (for a VLM, the language model's layers;
    never the vision tower, whose features the run caches)."""
    from deepsynth.models.config import BUILT_IN_MODELS

    return ("q_proj", "v_proj") if model in BUILT_IN_MODELS else ()


def demo_targets_label(model: str) -> str:
    """The demos' targets in words, for their progress lines."""
    return ",".join(demo_targets(model)) or "the model's default targets"


def demo_train_config(args: argparse.Namespace, dataset: str, **overrides: Any):
    from deepsynth.lora import preset
    from deepsynth.models.config import ModelConfig
    from deepsynth.training.config import TrainConfig

    fields: dict[str, Any] = dict(
        dataset=dataset,
        model=ModelConfig(name=args.model, vision_interface=args.vision_interface, max_source_tokens=128,
                          max_target_tokens=32),
        lora=preset("minimal", rank=args.rank, alpha=2.0 * args.rank, target_modules=demo_targets(args.model)),
        preset="custom", max_steps=args.max_steps, batch_size=args.batch_size, learning_rate=args.lr,
        warmup_steps=5, schedule="cosine", seed=args.seed, checkpoint_every=30, eval_docs=args.eval_docs,
        eval_max_new_tokens=24, eval_batch_size=16, experiment=args.experiment,
        tracking_uri=args.tracking_uri, threads=args.threads)
    return TrainConfig(**{**fields, **overrides})
