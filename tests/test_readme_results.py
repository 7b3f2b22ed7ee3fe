"""Every README figure comes from a results file a measuring command wrote (`docs/results/*.json`,
`deepsynth.results_file`): the README's results blocks are what `scripts/render_readme_results.py`
generates from those files, each file says which command measured it, where and when, and the
sections that report measurements hold no table of figures outside a results block."""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from pathlib import Path

import pytest

from deepsynth.results_file import Table, start_measuring, write_results

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
RESULTS = ROOT / "docs" / "results"
MEASURED_SECTIONS = ("## What the main job shows", "## Performance")


def load_renderer():
    spec = importlib.util.spec_from_file_location("render_readme_results", ROOT / "scripts" / "render_readme_results.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


renderer = load_renderer()


def test_readme_figures_are_the_results_files():
    text = README.read_text(encoding="utf-8")
    assert renderer.block_names(text), "the README has no results blocks"
    assert renderer.render_readme(text, RESULTS) == text, (
        "README.md differs from docs/results/: run `python scripts/render_readme_results.py`")


def test_every_results_file_is_shown_and_says_where_it_came_from():
    shown = set(renderer.block_names(README.read_text(encoding="utf-8")))
    for path in sorted(RESULTS.glob("*.json")):
        record = json.loads(path.read_text(encoding="utf-8"))
        assert path.stem in shown, f"{path.name} has no <!-- results:{path.stem} --> block in the README"
        assert record["command"] and record["date"] and record["git"]["commit"], path.name
        assert record["machine"]["cpu_model"] and record["machine"]["cores_usable"] >= 1, path.name
        assert record["machine"]["ram_bytes"] and len(record["load_average_at_start"]) == 3, path.name
        assert record["tables"] or record["notes"], f"{path.name} holds no figures"


def measured_sections(text: str) -> list[tuple[int, str]]:
    """(line number, line) of the sections that report measurements, results blocks left out."""
    kept, inside_section, inside_block = [], False, False
    for number, line in enumerate(text.splitlines(), 1):
        if line.startswith("## "):
            inside_section = line.startswith(MEASURED_SECTIONS)
        if line.startswith("<!-- results:"):
            inside_block = True
        elif line.startswith("<!-- /results:"):
            inside_block = False
        elif inside_section and not inside_block:
            kept.append((number, line))
    return kept


def test_no_table_of_figures_outside_a_results_block():
    rows = [f"README.md:{n}: {line}" for n, line in measured_sections(README.read_text(encoding="utf-8"))
            if line.startswith("|") and re.search(r"\d", line)]
    assert not rows, "figures typed by hand (generate them from docs/results/):\n" + "\n".join(rows)


def test_a_changed_figure_changes_the_readme(tmp_path):
    started = start_measuring()
    write_results(tmp_path / "bench.json", "bench", started, tables={"t": Table(["arm", "wall s"], [["sweep", "101.4"]])},
                  notes=["The sweep was 1.51× faster."], command=["python", "bench/sweep.py"])
    text = "before\n<!-- results:bench -->\nhand-typed 85.3 s\n<!-- /results:bench -->\nafter\n"
    rendered = renderer.render_readme(text, tmp_path)
    assert "| sweep | 101.4 |" in rendered and "1.51× faster" in rendered and "85.3" not in rendered
    assert "`python bench/sweep.py`" in rendered and rendered.startswith("before\n") and rendered.endswith("after\n")
    assert renderer.render_readme(rendered, tmp_path) == rendered  # generating twice changes nothing

    record = json.loads((tmp_path / "bench.json").read_text())
    record["tables"]["t"]["rows"][0][1] = "85.3"
    (tmp_path / "bench.json").write_text(json.dumps(record))
    assert renderer.render_readme(rendered, tmp_path) != rendered
    (tmp_path / "bench.json").unlink()
    assert "is missing" in renderer.render_readme(rendered, tmp_path)


def test_the_results_file_records_machine_load_date_and_commit(tmp_path):
    out = write_results(tmp_path / "r.json", "r", start_measuring(), figures={"x": 1.5})
    record = json.loads(out.read_text())
    assert record["name"] == "r" and record["figures"] == {"x": 1.5} and record["command"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", record["date"])
    assert record["machine"]["cpu_cores"] >= 1 and len(record["load_average_at_start"]) == 3
    assert record["git"]["commit"] is None or re.fullmatch(r"[0-9a-f]{40}", record["git"]["commit"])
    assert isinstance(record["loaded_machine"], bool)


@pytest.mark.parametrize("load, cores, loaded", [((0.5, 0, 0), 2, False), ((2.5, 0, 0), 2, True), ((2.5, 0, 0), 4, False)])
def test_loaded_means_more_runnable_work_than_cores(load, cores, loaded):
    from deepsynth.results_file import is_loaded

    assert is_loaded(load, cores) is loaded


@pytest.mark.parametrize("argv, command", [
    (["/repo/.venv/bin/deepsynth", "demo", "--results", "docs/results/demo.json"], "deepsynth demo --results docs/results/demo.json"),
    (["/repo/deepsynth/__main__.py", "demo"], "deepsynth demo"),  # python -m deepsynth demo
])
def test_the_command_line_is_written_as_the_user_typed_it(tmp_path, monkeypatch, argv, command):
    monkeypatch.setattr(sys, "argv", argv)
    record = json.loads(write_results(tmp_path / "r.json", "r", start_measuring()).read_text())
    assert record["command"] == command
