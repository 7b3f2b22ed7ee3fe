"""`deepsynth import FILE.zip [--dest DIR]`: validate an adapter package, then unpack it atomically."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

HELP = "validate an adapter package (paths, sizes, hashes, file types, tensor shapes) and unpack it"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("package", metavar="FILE.zip", help="package written by `deepsynth export`")
    parser.add_argument("--dest", default=None, metavar="DIR",
                        help="new folder to unpack into (default: workspace/imports/<package name>)")
    parser.add_argument("--allow-location", action="append", default=[], metavar="PATH_OR_HUB_ID",
                        help="a base model, text encoder or font outside the package that its "
                             "deepsynth_model.json names and that you allow DeepSynth to read (exact value; "
                             "repeat for each; a URL is never allowed)")


def default_destination(package: str) -> Path:
    from deepsynth import paths

    stem = re.sub(r"[^A-Za-z0-9._-]", "_", Path(package).stem).lstrip(".")[:64] or "package"
    return paths.home() / "workspace" / "imports" / stem


def run(args: argparse.Namespace) -> int:
    from deepsynth.export.safe_import import import_package

    dest = args.dest or default_destination(args.package)
    imported = import_package(args.package, dest, allowed_locations=args.allow_location)
    print(f"imported {len(imported.files)} files into {imported.path}")
    print(f"use it with: deepsynth infer --adapter {imported.path} --text-file FILE")
    return 0
