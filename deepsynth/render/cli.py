"""`deepsynth render`: one text file to page image(s).

A document that fills several pages is written as OUT_1.png, OUT_2.png, ... (the command says so);
files appear only when every page was encoded (temporary files, then renames).
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
import tempfile
from pathlib import Path

HELP = "Render a text file to page image(s) (PNG), as the dataset builder does."

def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--text-file", required=True, type=Path, help="UTF-8 text file to render")
    parser.add_argument("--out", required=True, type=Path,
                        help="output PNG; several pages become OUT_1.png, OUT_2.png, ...")
    parser.add_argument("--instruction", help="instruction drawn as a header above the text")
    render_flags().add_to(parser)


@functools.lru_cache(maxsize=1)
def render_flags():
    from deepsynth.config_flags import ConfigFlags
    from deepsynth.render.config import RenderConfig

    return ConfigFlags(RenderConfig)


def config_from_args(args: argparse.Namespace):
    """A RenderConfig from the flags given; errors name the flags."""
    return render_flags().build(render_flags().typed(args), what="render options")


def read_text_file(path: Path) -> str:
    """The file's text; a clear InputError when it is missing or not UTF-8 (with line and column)."""
    from deepsynth.errors import InputError

    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a directory, not a text file") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        column = error.start - (data.rfind(b"\n", 0, error.start) + 1) + 1
        raise InputError(f"{path}: line {line}, column {column} (byte {error.start}): not valid UTF-8 "
                         f"({error.reason}); save the file as UTF-8") from None


def page_paths(out: Path, count: int) -> list[Path]:
    if count == 1:
        return [out]
    return [out.with_name(f"{out.stem}_{number}{out.suffix or '.png'}") for number in range(1, count + 1)]


def write_atomically(files: dict[Path, bytes]) -> None:
    """Write every file or none: temporary files beside the targets, renamed at the end."""
    temporary: list[tuple[str, Path]] = []
    try:
        for target, data in files.items():
            target.parent.mkdir(parents=True, exist_ok=True)
            handle, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
            temporary.append((name, target))
            with os.fdopen(handle, "wb") as stream:
                stream.write(data)
        for name, target in temporary:
            os.replace(name, target)
    finally:
        for name, _ in temporary:
            if os.path.exists(name):
                os.unlink(name)


def run(args: argparse.Namespace) -> int:
    from deepsynth.render.page import render_document
    from deepsynth.render.png import encode_png

    config = config_from_args(args)
    text = read_text_file(args.text_file)
    document = render_document(text, config, instruction=args.instruction)
    paths = page_paths(args.out, len(document.pages))
    write_atomically({path: encode_png(page) for path, page in zip(paths, document.pages)})
    for note in document.warnings:
        print(f"warning: {note}", file=sys.stderr)
    width, height = document.pages[0].size
    if len(paths) == 1:
        print(f"wrote {paths[0]} ({width}x{height})")
    else:
        print(f"the document fills {len(paths)} pages ({width}x{height} each); wrote "
              + ", ".join(str(p) for p in paths))
    return 0
