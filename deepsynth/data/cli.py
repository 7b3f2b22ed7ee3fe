"""`deepsynth dataset`: build a page-image dataset from a file, a Hugging Face dataset or a bundled corpus."""

from __future__ import annotations

import argparse
import time

from deepsynth.data.files import MiB

HELP = "Render a corpus (CSV/JSONL/Parquet, hf:NAME, wiki, aclsum) into a train/validation/test dataset."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--source", required=True,
                        help="a .csv/.tsv/.jsonl/.json/.parquet file, hf:NAME[:CONFIG][@SPLIT], "
                             "wiki (bundled Wikipedia extracts) or aclsum (bundled ACL papers)")
    parser.add_argument("--out", required=True, help="folder to write (must not exist, or be empty)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing DeepSynth dataset at --out")
    parser.add_argument("--text-column", default="", help="column holding the document (default: detected)")
    parser.add_argument("--summary-column", default="", help="column holding the summary (default: detected)")
    parser.add_argument("--id-column", default="", help="column holding a document id (default: id, else row number)")
    parser.add_argument("--instruction", default="", help="instruction rendered above every document")
    parser.add_argument("--limit", type=int, default=0, help="keep the first N usable documents (0: all)")
    parser.add_argument("--language", default="en", help="language of the wiki source: en, fr, es")
    parser.add_argument("--validation-fraction", type=float, default=0.1)
    parser.add_argument("--test-fraction", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=0, help="seed of the split shuffle")
    parser.add_argument("--min-text-chars", type=int, default=1)
    parser.add_argument("--max-text-chars", type=int, default=0, help="0: no maximum")
    parser.add_argument("--min-summary-chars", type=int, default=1)
    parser.add_argument("--max-summary-chars", type=int, default=0, help="0: no maximum")
    parser.add_argument("--font-size", type=int, default=None, help="body text size in pixels")
    parser.add_argument("--mode", default=None, help="page resolution: none, tiny, small, base, large")
    parser.add_argument("--max-pages", type=int, default=None, help="page cap per document (longer ones are cut)")
    parser.add_argument("--workers", type=int, default=0, help="rendering processes (0: one per core)")
    parser.add_argument("--max-input-mb", type=float, default=None, help="refuse input files larger than this")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def config_from_args(args: argparse.Namespace):
    """The `DatasetConfig` the flags describe; one ConfigError lists every bad flag (render ones too)."""
    from deepsynth.configuration import ConfigError
    from deepsynth.data.config import DatasetConfig
    from deepsynth.data.files import DEFAULT_MAX_INPUT_BYTES
    from deepsynth.render import RenderConfig

    render_overrides = {name: value for name, value in
                        (("font_size", args.font_size), ("mode", args.mode), ("max_pages", args.max_pages))
                        if value is not None}
    problems: list[tuple[str, str]] = []
    try:
        render = RenderConfig(**render_overrides)
    except ConfigError as error:
        problems.extend((f"render.{field}", message) for field, message in error.problems)
        render = RenderConfig()
    max_bytes = DEFAULT_MAX_INPUT_BYTES if args.max_input_mb is None else max(1, int(args.max_input_mb * MiB))
    try:
        config = DatasetConfig(
            source=args.source, text_column=args.text_column, summary_column=args.summary_column,
            id_column=args.id_column, instruction=args.instruction, limit=args.limit, language=args.language,
            validation_fraction=args.validation_fraction, test_fraction=args.test_fraction, seed=args.seed,
            min_text_chars=args.min_text_chars, max_text_chars=args.max_text_chars,
            min_summary_chars=args.min_summary_chars, max_summary_chars=args.max_summary_chars,
            render=render, workers=args.workers, max_input_bytes=max_bytes,
        )
    except ConfigError as error:
        problems[:0] = error.problems
    if problems:
        raise ConfigError(problems, "dataset options")
    return config


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from deepsynth.data.builder import build_dataset
    from deepsynth.data.storage import read_metadata

    config = config_from_args(args)
    started = time.perf_counter()
    bar = None

    def progress(done: int, total: int) -> None:
        nonlocal bar
        if bar is None:
            bar = tqdm(total=total, unit="doc", desc="rendering", disable=args.no_progress)
        bar.update(done - bar.n)

    try:
        out = build_dataset(config, args.out, progress=progress, overwrite=args.overwrite)
    finally:
        if bar is not None:
            bar.close()
    metadata = read_metadata(out)
    counts = metadata["counts"]
    elapsed = time.perf_counter() - started
    print(f"wrote {out}: {counts['kept']} documents ({counts['train']} train, {counts['validation']} "
          f"validation, {counts['test']} test), {counts['pages']} pages in {elapsed:.1f} s "
          f"({counts['kept'] / max(elapsed, 1e-9):.1f} docs/s)")
    for warning in metadata["warnings"]:
        print(f"warning: {warning}")
    return 0
