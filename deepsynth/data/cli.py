"""`deepsynth dataset`: build a page-image dataset from a file, a Hugging Face dataset or a bundled corpus."""

from __future__ import annotations

import argparse
import functools
import time

from deepsynth.data.files import DEFAULT_MAX_INPUT_BYTES, MiB

HELP = ("Build a train/validation/test dataset of page images: render a corpus (CSV/JSONL/Parquet, hf:NAME, "
        "wiki, aclsum) or rasterize page files (PDFs, images, a folder with a manifest, LLaVA JSON).")


@functools.lru_cache(maxsize=1)
def dataset_flags():
    """The `DatasetConfig` flags, render settings included (`--font-size`, `--mode`, ...)."""
    from deepsynth.config_flags import ConfigFlags
    from deepsynth.data.config import DatasetConfig

    return ConfigFlags(DatasetConfig, skip=("max_input_bytes",))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, help="folder to write (must not exist, or be empty)")
    parser.add_argument("--config", metavar="FILE.json",
                        help="a DatasetConfig as JSON (from --print-config); flags override its fields")
    dataset_flags().add_to(parser, {"render": "page rendering"})
    parser.add_argument("--max-input-mb", type=float, default=None,
                        help=f"refuse input files larger than this (default {DEFAULT_MAX_INPUT_BYTES / MiB:g})")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing DeepSynth dataset at --out")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--print-config", action="store_true",
                        help="print the merged DatasetConfig as JSON (a valid --config file) and exit")


def config_from_args(args: argparse.Namespace):
    """The `DatasetConfig` the flags describe; one ConfigError names every bad flag (render ones too)."""
    from deepsynth.config_flags import read_config_file
    from deepsynth.configuration import ConfigError
    from deepsynth.data.config import DatasetConfig

    typed = dataset_flags().typed(args)
    if args.max_input_mb is not None:
        if args.max_input_mb <= 0:
            raise ConfigError([("--max-input-mb", f"must be > 0, got {args.max_input_mb}")], "dataset options")
        typed["max_input_bytes"] = max(1, int(args.max_input_mb * MiB))
    base = read_config_file(args.config, DatasetConfig) if args.config else {}
    return dataset_flags().build(typed, base, source=args.config, what="dataset options")


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from deepsynth.data.builder import build_dataset
    from deepsynth.data.page_examples import page_source_kind
    from deepsynth.data.storage import read_metadata

    config = config_from_args(args)
    if args.print_config:
        from deepsynth.config_flags import config_json

        print(config_json(config), end="")
        return 0
    started = time.perf_counter()
    bar = None
    rasterizing = page_source_kind(config) is not None

    def progress(done: int, total: int) -> None:
        nonlocal bar
        if bar is None:
            bar = tqdm(total=total, unit="example" if rasterizing else "doc",
                       desc="rasterizing" if rasterizing else "rendering", disable=args.no_progress)
        bar.update(done - bar.n)

    try:
        out = build_dataset(config, args.out, progress=progress, overwrite=args.overwrite)
    finally:
        if bar is not None:
            bar.close()
    metadata = read_metadata(out)
    counts = metadata["counts"]
    elapsed = time.perf_counter() - started
    noun, rate = ("examples", "examples/s") if rasterizing else ("documents", "docs/s")
    task = "" if config.task == "summarize" else f", task {config.task}"
    print(f"wrote {out}: {counts['kept']} {noun} ({counts['train']} train, {counts['validation']} "
          f"validation, {counts['test']} test), {counts['pages']} pages in {elapsed:.1f} s "
          f"({counts['kept'] / max(elapsed, 1e-9):.1f} {rate}){task}")
    for warning in metadata["warnings"]:
        print(f"warning: {warning}")
    return 0
