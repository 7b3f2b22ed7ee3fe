"""The README renderer with several tables in one results file (the PDF benchmark: speed, then
memory), and `--missing`: the marker blocks of results files the README does not show yet."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from deepsynth.results_file import Table, start_measuring, write_results

ROOT = Path(__file__).resolve().parents[1]


def _renderer():
    spec = importlib.util.spec_from_file_location("render_readme_results_blocks",
                                                  ROOT / "scripts" / "render_readme_results.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_two_tables_render_in_order_then_the_notes(tmp_path):
    renderer = _renderer()
    started = start_measuring()
    write_results(tmp_path / "pdf-raster.json", "pdf-raster", started,
                  tables={"rasterizing": Table(["path", "pages/s"], [["direct", "31.0"], ["DeepSynth", "30.2"]]),
                          "memory": Table(["built", "RSS (MiB)"], [["after 100 pages", "212"]])},
                  notes=["Overhead +2.6%."], command=["python", "bench/pdf_raster.py"])
    text = "<!-- results:pdf-raster -->\n<!-- /results:pdf-raster -->\n"
    rendered = renderer.render_readme(text, tmp_path)
    assert rendered.index("| direct | 31.0 |") < rendered.index("| after 100 pages | 212 |") < rendered.index("+2.6%")
    assert "File: `docs/results/pdf-raster.json`" in rendered


def test_results_files_without_a_block_are_listed_with_their_markers(tmp_path):
    renderer = _renderer()
    for name in ("demo-qa", "detect-read"):
        write_results(tmp_path / f"{name}.json", name, start_measuring(), notes=["x"], command=["deepsynth"])
    text = "<!-- results:detect-read -->\n<!-- /results:detect-read -->\n"
    assert renderer.unshown_results(text, tmp_path) == ["demo-qa"]
    block = renderer.marker_block("demo-qa")
    assert renderer.block_names(block) == ["demo-qa"]
    assert "| " not in renderer.render_readme(text + block, tmp_path).split("results:demo-qa -->")[1].split("_Measured")[0]
