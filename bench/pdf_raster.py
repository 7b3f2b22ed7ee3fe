"""PDF rasterizing: DeepSynth's page reader against pypdfium2 called directly; memory while building.

1. Pages per second, CPU time (`time.process_time`, steady on a shared machine), the same pages:
   - direct: `pypdfium2.PdfDocument(path)`, per page `page.render(scale=dpi/72, grayscale=True)
     .to_pil()` plus the text layer (`get_textpage().get_text_bounded()`): the same pixels and text
     DeepSynth keeps;
   - DeepSynth: `PageFile(path).page(i)` (the same calls plus its checks: magic bytes, %%EOF,
     encryption, the pixel cap, text normalisation).
   Rounds alternate the order; the figure is the median over rounds. Goal: overhead <= 10%.
   PNG encoding and storing are not in this figure (they are in 2).
2. RSS of the building process (`build_dataset`, --task transcribe, one example per page,
   rasterizing + PNG + Arrow writing) after 100 and after all pages of one N-page PDF. Goal: within 20%.

The PDF is written by tests/data/page_documents.py (`text_pdf`, Helvetica text pages, 40 lines each).

    .venv/bin/python bench/pdf_raster.py            # 1,000 pages, ~1-2 min on 2 cores
    .venv/bin/python bench/pdf_raster.py --quick    # 200 pages, to check it runs
    .venv/bin/python bench/pdf_raster.py --results docs/results/pdf-raster.json   # the README's figures
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import psutil

from deepsynth.data import DatasetConfig, build_dataset
from deepsynth.data.page_files import DEFAULT_DPI, PageFile

ROOT = Path(__file__).resolve().parents[1]


def page_documents():
    spec = importlib.util.spec_from_file_location("page_documents", ROOT / "tests" / "data" / "page_documents.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def make_pdf(path: Path, pages: int) -> None:
    words = ("the model reads every page of the document and writes what it finds there "
             "in plain text for the reader").split()
    texts = []
    for page in range(pages):
        lines = [" ".join(words[(page + line + k) % len(words)] for k in range(12)) for line in range(40)]
        texts.append(f"Page {page + 1}\n" + "\n".join(lines))
    path.write_bytes(page_documents().text_pdf(texts))


def direct(path: Path, dpi: int) -> int:
    import pypdfium2

    document = pypdfium2.PdfDocument(str(path))
    checksum = 0
    for index in range(len(document)):
        page = document[index]
        image = page.render(scale=dpi / 72, grayscale=True).to_pil()
        text_page = page.get_textpage()
        checksum += bool(text_page.get_text_bounded()) + image.size[0] * image.size[1]
        text_page.close()
        page.close()
    document.close()
    return checksum


def deepsynth(path: Path, dpi: int) -> int:
    checksum = 0
    with PageFile(path, path.name, 1 << 40, dpi) as opened:
        for index in range(opened.page_count):
            page = opened.page(index)
            checksum += bool(page.text) + page.image.size[0] * page.image.size[1]
    return checksum


def cpu_seconds(function, *args) -> float:
    start = time.process_time()
    function(*args)
    return time.process_time() - start


def rss_while_building(path: Path, out: Path, pages: int) -> dict[int, int]:
    process = psutil.Process()
    marks = {100: 0, pages: 0}

    def progress(done: int, total: int) -> None:
        if done in marks:
            marks[done] = process.memory_info().rss

    config = DatasetConfig(source=str(path), task="transcribe", workers=1, validation_fraction=0.1,
                           test_fraction=0.1, dpi=DEFAULT_DPI)
    build_dataset(config, out, progress=progress)
    return marks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=1000)
    parser.add_argument("--raster-pages", type=int, default=200, help="pages per round of the speed figure")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--results", default="", metavar="FILE.json",
                        help="also write the figures to this results file (docs/results/pdf-raster.json: the README)")
    args = parser.parse_args()
    from deepsynth.results_file import start_measuring

    measuring = start_measuring()
    if args.quick:
        args.pages, args.raster_pages, args.rounds = 200, 50, 2
    import pypdfium2

    print(f"pypdfium2 {pypdfium2.version.PYPDFIUM_INFO}, PDFium {pypdfium2.version.PDFIUM_INFO}; "
          f"{os.cpu_count()} CPUs; dpi {DEFAULT_DPI}; python {sys.version.split()[0]}")
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        small, big = folder / "speed.pdf", folder / "build.pdf"
        make_pdf(small, args.raster_pages)
        make_pdf(big, args.pages)
        assert direct(small, DEFAULT_DPI) == deepsynth(small, DEFAULT_DPI), "different page sizes or text layers"
        times = {"direct": [], "deepsynth": []}
        for round_ in range(args.rounds):
            order = ("direct", "deepsynth") if round_ % 2 == 0 else ("deepsynth", "direct")
            for name in order:
                times[name].append(cpu_seconds(direct if name == "direct" else deepsynth, small, DEFAULT_DPI))
        rates = {name: args.raster_pages / statistics.median(values) for name, values in times.items()}
        overhead = rates["direct"] / rates["deepsynth"] - 1
        print(f"\n1. rasterizing {args.raster_pages} US Letter text pages at {DEFAULT_DPI} DPI (greyscale + text "
              f"layer), CPU time, median of {args.rounds} rounds")
        print(f"   {'':<28}{'pages/s':>10}")
        print(f"   {'pypdfium2 called directly':<28}{rates['direct']:>10.1f}")
        print(f"   {'DeepSynth PageFile.page':<28}{rates['deepsynth']:>10.1f}")
        print(f"   overhead: {overhead * 100:+.1f}% (goal <= 10%): {'MET' if overhead <= 0.10 else 'NOT MET'}")

        start = time.perf_counter()
        marks = rss_while_building(big, folder / "dataset", args.pages)
        elapsed = time.perf_counter() - start
        low, high = marks[100], marks[args.pages]
        growth = high / low - 1
        print(f"\n2. building a dataset from one {args.pages}-page PDF (--task transcribe: rasterize, PNG, "
              f"Arrow), {elapsed:.1f} s wall ({args.pages / elapsed:.1f} pages/s)")
        print(f"   RSS after 100 pages: {low / 2**20:.0f} MiB; after {args.pages}: {high / 2**20:.0f} MiB; "
              f"growth {growth * 100:+.1f}% (goal within 20%): {'MET' if abs(growth) <= 0.20 else 'NOT MET'}")
        if args.results:
            figures = {"raster_pages": args.raster_pages, "rounds": args.rounds, "dpi": DEFAULT_DPI,
                       "cpu_seconds": times, "pages_per_s": rates, "overhead": overhead,
                       "build_pages": args.pages, "build_wall_s": elapsed, "rss_bytes": {str(k): v for k, v in marks.items()},
                       "rss_growth": growth}
            print(f"\nresults file: {write_raster_results(args.results, measuring, figures)}")


def write_raster_results(path: str, measuring, figures: dict) -> Path:
    """The figures as a results file (`deepsynth.results_file`): the README's PDF table."""
    from deepsynth.results_file import Table, write_results

    rates, overhead, growth = figures["pages_per_s"], figures["overhead"], figures["rss_growth"]
    rss = figures["rss_bytes"]
    pages = figures["build_pages"]
    speed = Table(["rasterizing (US Letter text pages, %d DPI, gray + text layer)" % figures["dpi"],
                   "pages/s (CPU time, 1 core)"],
                  [["pypdfium2 called directly", f"{rates['direct']:.1f}"],
                   ["DeepSynth (`PageFile.page`: its checks included)", f"{rates['deepsynth']:.1f}"]])
    memory = Table(["building a dataset from one %d-page PDF" % pages, "RSS (MiB)"],
                   [["after 100 pages", f"{rss['100'] / 2**20:.0f}"],
                    [f"after {pages:,} pages", f"{rss[str(pages)] / 2**20:.0f}"]])
    notes = [f"DeepSynth's overhead over pypdfium2 called directly: {overhead * 100:+.1f}% (goal <= 10%: "
             f"{'met' if overhead <= 0.10 else 'not met'}); CPU time, median of {figures['rounds']} rounds of "
             f"{figures['raster_pages']} pages, the order alternating.",
             f"Building the {pages:,}-page dataset (rasterize, PNG, Arrow; `--task transcribe`, the text layer as "
             f"target) took {figures['build_wall_s']:.0f} s of wall clock ({pages / figures['build_wall_s']:.1f} "
             f"pages/s); RSS grew {growth * 100:+.1f}% from 100 to {pages:,} pages (goal within 20%: "
             f"{'met' if abs(growth) <= 0.20 else 'not met'}): the build streams."]
    return write_results(path, Path(path).stem, measuring, tables={"rasterizing": speed, "memory": memory},
                         notes=notes, figures=figures)


if __name__ == "__main__":
    main()
