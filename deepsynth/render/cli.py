"""`deepsynth render`: one text file to page image(s).

A document that fills several pages is written as OUT_1.png, OUT_2.png, ... (the command says so);
files appear only when every page was encoded (temporary files, then renames).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

HELP = "Render a text file to page image(s) (PNG), as the dataset builder does."

# RenderConfig field -> command-line flag, so configuration errors name what the user typed
FLAGS = {"font_size": "--font-size", "page_width": "--page-width", "page_height": "--page-height",
         "margin": "--margin", "line_spacing": "--line-spacing", "max_pages": "--max-pages",
         "mode": "--mode", "font": "--font", "fallback": "--no-fallback",
         "layout_engine": "--layout-engine", "header_font_size": "--header-font-size"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from deepsynth.render.config import LAYOUT_ENGINES, MODES  # light: no PIL import

    parser.add_argument("--text-file", required=True, type=Path, help="UTF-8 text file to render")
    parser.add_argument("--out", required=True, type=Path,
                        help="output PNG; several pages become OUT_1.png, OUT_2.png, ...")
    parser.add_argument("--instruction", help="instruction drawn as a header above the text")
    parser.add_argument("--font-size", type=int, help="body text size in pixels (default 22)")
    parser.add_argument("--header-font-size", type=int, help="instruction header size in pixels (default: --font-size)")
    parser.add_argument("--page-width", type=int, help="page width in pixels (default 1024)")
    parser.add_argument("--page-height", type=int, help="page height in pixels (default 1448)")
    parser.add_argument("--margin", type=int, help="margin in pixels on every side (default 48)")
    parser.add_argument("--line-spacing", type=float, help="baseline distance / font size (default 1.4)")
    parser.add_argument("--max-pages", type=int, help="most pages per document; the rest is cut (default 8)")
    parser.add_argument("--mode", choices=list(MODES), help="DeepSeek-OCR resolution (default none)")
    parser.add_argument("--font", help="'DejaVu Sans' (default), 'Noto Sans' or a .ttf/.otf/.ttc path")
    parser.add_argument("--no-fallback", action="store_true", help="no fallback fonts for missing glyphs")
    parser.add_argument("--layout-engine", choices=list(LAYOUT_ENGINES), help="text layout (default auto)")


def config_from_args(args: argparse.Namespace):
    """A RenderConfig from the flags given; errors name the flags."""
    from deepsynth.configuration import ConfigError
    from deepsynth.render.config import RenderConfig

    values = {field: getattr(args, field) for field in
              ("font_size", "header_font_size", "page_width", "page_height", "margin", "line_spacing",
               "max_pages", "mode", "font", "layout_engine") if getattr(args, field, None) is not None}
    if getattr(args, "no_fallback", False):
        values["fallback"] = False
    try:
        return RenderConfig(**values)
    except ConfigError as error:
        raise ConfigError([(FLAGS.get(field, field), message) for field, message in error.problems],
                          error.what) from None


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
