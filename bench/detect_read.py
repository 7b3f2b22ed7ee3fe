"""Detect + read benchmark: the CRAFT line detector + english_g2 on pages DeepSynth did not lay out.

Renders bundled wiki extracts (one page each, default RenderConfig, 1024x1448), then reads
- the untouched page by the renderer's own layout (the upper bound: exact lines),
- the same page through the detector (its render mark dropped), and
- a degraded copy (rotated +-2 degrees, Gaussian blur, noise, JPEG quality 50) through the detector,
at each detector canvas (the page's longer side fed to CRAFT; never enlarged). Prints character
error rate against the page's known text, lines found against the layout's count, CPU and wall
seconds per page for detection and for reading, pages per second, and each row's ratios to the
upper bound (CER) and to the smallest canvas (time). Then the mean confidence of the characters
read (the page reader's `MIN_CONFIDENCE` rule) on these pages and on scripts english_g2 does not know.

    python bench/detect_read.py --pages 2 --canvases 736,1024,1472 --threads 2
    python bench/detect_read.py --threads 1 --results docs/results/detect-read.json   # the README's table
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np


def degrade(page, seed: int):
    """A scan-like copy (`deepsynth.demo.scans.degrade_as_scan`: turned +-2 degrees, alternating,
    blurred, noisy, JPEG quality 50): the transcribe showcase's degradation, less its PDF."""
    from deepsynth.demo.scans import degrade_as_scan

    return degrade_as_scan(page, seed)


class TimedDetector:
    """Wraps a `LineDetector`: the page reader calls it; it adds up CPU and wall time and lines."""

    def __init__(self, detector) -> None:
        self.detector = detector
        self.cpu = self.wall = 0.0
        self.lines = 0

    def identity(self):
        return self.detector.identity()

    def line_images(self, gray):
        cpu, wall = time.process_time(), time.perf_counter()
        images = self.detector.line_images(gray)
        self.cpu += time.process_time() - cpu
        self.wall += time.perf_counter() - wall
        self.lines += len(images)
        return images


OTHER_SCRIPTS = {
    "Greek": "Η Ελλάδα είναι χώρα της νοτιοανατολικής Ευρώπης με πλούσια ιστορία και πολιτισμό. "
             "Η πρωτεύουσα είναι η Αθήνα, η μεγαλύτερη πόλη της χώρας.",
    "Russian": "Россия — государство в Восточной Европе и Северной Азии. Столица — Москва, "
               "крупнейший город страны и один из крупнейших городов мира.",
    "Arabic": "القاهرة هي عاصمة جمهورية مصر العربية وأكبر مدنها، وتقع على ضفاف نهر النيل في شمال البلاد.",
    "Hindi": "भारत दक्षिण एशिया में स्थित एक विशाल देश है जिसकी राजधानी नई दिल्ली है।",
}


def mean_confidence(reader, pages) -> float:
    """Mean probability of the characters read on `pages` (what MIN_CONFIDENCE is compared with)."""
    lines = reader._cut_lines([pages])
    characters, probability = 0, 0.0
    for batch in reader._batches(lines):
        texts, _, confidences = reader._read_batch([lines[i].pixels for i in batch])
        characters += sum(len(t) for t in texts)
        probability += sum(confidences)
    return probability / max(characters, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=2, help="wiki pages (one page per document)")
    parser.add_argument("--start", type=int, default=100, help="first wiki record used")
    parser.add_argument("--canvases", default="736,1024,1472", help="detector input sizes (longer side)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--results", default="", metavar="FILE.json",
                        help="also write the figures to this results file (docs/results/detect-read.json: the README)")
    args = parser.parse_args()
    from deepsynth.results_file import start_measuring

    measuring = start_measuring()

    import torch
    from PIL import Image

    from ocr_reader import edit_distance, normalise, wiki_extracts

    from deepsynth.models.builtin.craft import craft_weights_path, load_craft
    from deepsynth.models.builtin.crnn import load_english_g2
    from deepsynth.models.builtin.line_detection import LineDetector
    from deepsynth.models.builtin.lines import find_lines
    from deepsynth.models.builtin.page_reader import MIN_CONFIDENCE, CrnnPageReader
    from deepsynth.render import RenderConfig, render_document

    torch.set_num_threads(args.threads)
    config = RenderConfig(max_pages=1)
    texts, pages = [], []
    for text in wiki_extracts(args.start, args.pages):
        document = render_document(text, config)
        texts.append(normalise(text[:document.rendered_characters]))
        pages.append(document.pages[0])
    unmarked = [Image.frombytes("L", page.size, page.tobytes()) for page in pages]  # no render mark
    degraded = [degrade(page, seed) for seed, page in enumerate(pages)]
    layout_lines = sum(len(find_lines(np.asarray(page))) for page in pages)
    characters = sum(len(t) for t in texts)
    crnn = load_english_g2()
    craft = load_craft(craft_weights_path())
    print(f"{args.pages} wiki pages {pages[0].width}x{pages[0].height}, {layout_lines} lines, {characters} characters, "
          f"{args.threads} torch thread(s)\n")

    def run(reader, images, timer=None, warm_up=True):
        if warm_up:
            reader.read_documents([images[:1]])  # warm-up (oneDNN primitive caches)
        if timer is not None:
            timer.cpu = timer.wall = 0.0
            timer.lines = 0
        cpu, wall = time.process_time(), time.perf_counter()
        readings = reader.read_documents([[image] for image in images])
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        errors = sum(edit_distance(t, normalise(r.text)) for t, r in zip(texts, readings))
        return 100 * errors / characters, cpu, wall, readings

    header = (f"{'pages':<10}{'lines from':<15}{'CER %':>7}{'x bound':>8}{'lines':>7}{'detect cpu s':>13}"
              f"{'read cpu s':>11}{'wall s':>8}{'pages/s':>8}{'time x':>7}")
    print(header)
    print("-" * len(header))
    layout_reader = CrnnPageReader(crnn, "english_g2", "bench")
    bound, cpu, wall, _ = run(layout_reader, pages)
    print(f"{'rendered':<10}{'layout':<15}{bound:>7.2f}{1.0:>8.2f}{layout_lines:>7}{0:>13.2f}"
          f"{cpu / len(pages):>11.2f}{wall / len(pages):>8.2f}{len(pages) / wall:>8.3f}{'':>7}")
    rows = [{"pages": "rendered", "lines_from": "layout (upper bound)", "cer": bound, "lines": layout_lines,
             "detect_cpu_s": 0.0, "read_cpu_s": cpu / len(pages), "wall_s": wall / len(pages)}]
    base_cpu: dict[str, float] = {}
    confidences: dict[str, float] = {}
    for canvas in [int(c) for c in args.canvases.split(",")]:
        timer = TimedDetector(LineDetector(craft, "craft_mlt_25k", canvas=canvas))
        reader = CrnnPageReader(crnn, "english_g2", "bench", line_detector=timer)
        for name, images in (("rendered", unmarked), ("degraded", degraded)):
            cer, cpu, wall, readings = run(reader, images, timer, warm_up=name == "rendered")
            base_cpu.setdefault(name, cpu)
            detect_cpu = timer.cpu / len(images)
            read_cpu = cpu / len(images) - detect_cpu
            print(f"{name:<10}{f'CRAFT {canvas}':<15}{cer:>7.2f}{cer / max(bound, 1e-9):>8.2f}{timer.lines:>7}"
                  f"{detect_cpu:>13.2f}{read_cpu:>11.2f}{wall / len(images):>8.2f}{len(images) / wall:>8.3f}"
                  f"{cpu / base_cpu[name]:>6.2f}x")
            rows.append({"pages": name, "lines_from": f"CRAFT detector, canvas {canvas}", "cer": cer,
                         "lines": timer.lines, "detect_cpu_s": detect_cpu, "read_cpu_s": read_cpu,
                         "wall_s": wall / len(images)})
            if canvas == int(args.canvases.split(",")[0]):
                confidences[f"English {name}, CRAFT {canvas}"] = mean_confidence(reader, images[:1])
    print("\nx bound = CER / the layout reading's CER; cpu s = CPU seconds a page (steadier than wall time "
          "on a shared machine); wall s, pages/s: wall clock, detect + read; time x = CPU seconds / the first "
          "canvas's; canvas >= 1448 is the page's own size")

    confidences["English rendered, layout"] = min(mean_confidence(layout_reader, [p]) for p in pages)
    for script, text in OTHER_SCRIPTS.items():
        confidences[f"{script} rendered, layout"] = mean_confidence(layout_reader, render_document(text, config).pages)
    print("\nmean character confidence (English: lowest page, or the first page through the detector; "
          f"a page under MIN_CONFIDENCE={MIN_CONFIDENCE} is reported unreadable)")
    for name, value in confidences.items():
        print(f"  {name:<36}{value:6.3f}  {'unreadable' if value < MIN_CONFIDENCE else 'read'}")
    if args.results:
        figures = {"pages": args.pages, "page_size": list(pages[0].size), "characters": characters,
                   "threads": args.threads, "rows": rows, "mean_confidence": confidences,
                   "min_confidence": MIN_CONFIDENCE}
        print(f"\nresults file: {write_detect_results(args.results, measuring, figures)}")


def write_detect_results(path: str, measuring, figures: dict) -> Path:
    """The figures as a results file (`deepsynth.results_file`): the README's detect + read table."""
    from deepsynth.results_file import Table, write_results

    bound = figures["rows"][0]["cer"]
    rows = []
    for row in figures["rows"]:
        cpu = row["detect_cpu_s"] + row["read_cpu_s"]
        rows.append([row["pages"], row["lines_from"], f"{row['cer']:.2f}", f"{row['cer'] / max(bound, 1e-9):.1f}x",
                     f"{row['detect_cpu_s']:.1f}", f"{row['read_cpu_s']:.1f}", f"{1 / cpu:.2f}" if cpu else "-"])
    table = Table(["pages", "lines from", "CER %", "vs upper bound", "detect CPU s/page", "read CPU s/page",
                   "pages/s (1 core)"], rows)
    width, height = figures["page_size"]
    unreadable = [name for name, value in figures["mean_confidence"].items() if value < figures["min_confidence"]]
    notes = [f"{figures['pages']} bundled wiki pages ({width}x{height}, {figures['characters']} characters), read by the "
             "embedded english_g2 reader: untouched renders by their own layout (the upper bound), the same pages "
             "without the render mark and degraded copies (turned ±2°, blurred, noisy, JPEG quality 50) through the "
             f"CRAFT detector at each input size; {figures['threads']} torch thread(s). CPU seconds a page (what one "
             "quiet core's wall clock would show); pages/s = 1 / (detect + read CPU s).",
             f"Pages flagged unreadable (mean character confidence < {figures['min_confidence']}): "
             + (", ".join(unreadable) or "none") + "."]
    return write_results(path, Path(path).stem, measuring, tables={"detect_read": table}, notes=notes, figures=figures)


if __name__ == "__main__":
    main()
