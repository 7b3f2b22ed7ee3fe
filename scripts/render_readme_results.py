"""Write the README's figures from the results files the measuring commands wrote.

Every block of the README between `<!-- results:NAME -->` and `<!-- /results:NAME -->` is generated
from `docs/results/NAME.json` (`deepsynth.results_file`): its tables, its notes, and one line that
says which command measured them, when, at which commit, on which machine and under which load.
A block whose file is missing says so instead of showing figures.

    python scripts/render_readme_results.py            # rewrite README.md
    python scripts/render_readme_results.py --check    # exit 1 if README.md differs (tests do this)
    python scripts/render_readme_results.py --missing  # the marker blocks for results files not shown yet

A file may hold several tables (`bench/pdf_raster.py`: rasterizing speed, then memory): they are
rendered in the file's order, each its own markdown table, then the notes.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
RESULTS = ROOT / "docs" / "results"
BLOCK = re.compile(r"(<!-- results:(?P<name>[\w-]+) -->\n)(?P<body>.*?)(<!-- /results:(?P=name) -->)", re.S)
GIB = 1 << 30


def cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return str(value).replace("|", "\\|")


def markdown_table(table: dict[str, Any]) -> str:
    lines = ["| " + " | ".join(cell(c) for c in table["columns"]) + " |",
             "|" + "---|" * len(table["columns"])]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in table["rows"]]
    return "\n".join(lines)


def provenance(record: dict[str, Any], name: str) -> str:
    host = record.get("machine", {})
    git = record.get("git", {})
    commit = (git.get("commit") or "no git checkout")[:10] + (", with uncommitted changes" if git.get("changed") else "")
    ram = f", {host['ram_bytes'] / GIB:.1f} GiB" if host.get("ram_bytes") else ""
    load = record.get("load_average_at_start") or [0.0]
    state = "a loaded machine" if record.get("loaded_machine") else "a quiet machine"
    return (f"_Measured by `{record.get('command', '?')}` on {record.get('date', '?')[:10]} (commit {commit}): "
            f"{host.get('cpu_model', '?')}, {host.get('cores_usable', '?')} cores{ram}; load average "
            f"{load[0]:.1f} at the start ({state}); {record.get('seconds', 0):.0f} s. "
            f"File: `docs/results/{name}.json`._")


def render_block(record: dict[str, Any], name: str) -> str:
    parts = [markdown_table(table) for table in record.get("tables", {}).values()]
    parts += list(record.get("notes", []))
    parts.append(provenance(record, name))
    return "\n\n".join(parts) + "\n"


def missing_block(name: str) -> str:
    return (f"_No figures: `docs/results/{name}.json` is missing. Run the command above with "
            f"`--results docs/results/{name}.json`, then `python scripts/render_readme_results.py`._\n")


def render_readme(text: str, results: Path = RESULTS) -> str:
    def replace(match: re.Match) -> str:
        name = match.group("name")
        path = results / f"{name}.json"
        body = render_block(json.loads(path.read_text(encoding="utf-8")), name) if path.is_file() else missing_block(name)
        return match.group(1) + body + match.group(4)

    return BLOCK.sub(replace, text)


def block_names(text: str) -> list[str]:
    return [match.group("name") for match in BLOCK.finditer(text)]


def unshown_results(text: str, results: Path = RESULTS) -> list[str]:
    """Names of the results files no block of `text` shows (each needs one: tests check it)."""
    shown = set(block_names(text))
    return [path.stem for path in sorted(results.glob("*.json")) if path.stem not in shown]


def marker_block(name: str) -> str:
    """The empty block to paste into the README where `docs/results/<name>.json` belongs."""
    return f"<!-- results:{name} -->\n<!-- /results:{name} -->\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check: exit 1 when README.md is out of date")
    parser.add_argument("--missing", action="store_true",
                        help="print the marker block of every results file the README does not show yet")
    args = parser.parse_args()
    text = README.read_text(encoding="utf-8")
    if args.missing:
        names = unshown_results(text)
        for name in names:
            print(marker_block(name))
        return 1 if names else 0
    rendered = render_readme(text)
    if args.check:
        if rendered != text:
            print("README.md differs from docs/results/: run python scripts/render_readme_results.py", file=sys.stderr)
            return 1
        return 0
    if rendered != text:
        README.write_text(rendered, encoding="utf-8")
    print(f"README.md: {len(block_names(rendered))} results blocks")
    return 0


if __name__ == "__main__":
    sys.exit(main())
