"""Exporting a comparison: the tables as CSV files (one ZIP), and one self-contained HTML report
with the charts (plotly.js inlined once, so it opens offline and can be mailed or archived)."""

from __future__ import annotations

import datetime as dt
import html
import io
import zipfile
from typing import Any, Mapping, Sequence


def tables_zip(tables: Mapping[str, Any]) -> bytes:
    """name -> DataFrame as `<name>.csv` files in one ZIP (UTF-8, header row, no index)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, frame in tables.items():
            archive.writestr(f"{name}.csv", frame.to_csv(index=False))
    return buffer.getvalue()


def _table_html(frame: Any) -> str:
    return frame.to_html(index=False, na_rep="", float_format=lambda v: f"{v:.2f}", border=0, classes="table",
                         escape=True)


STYLE = """
body { font-family: -apple-system, "Segoe UI", Roboto, sans-serif; margin: 24px; color: #222; }
h1 { font-size: 22px; } h2 { font-size: 17px; margin-top: 28px; }
.note { background: #fff6e0; border-left: 4px solid #f0a500; padding: 6px 10px; margin: 6px 0; }
.scroll { overflow-x: auto; max-width: 100%; border: 1px solid #ddd; }
table.table { border-collapse: collapse; font-size: 13px; }
table.table th, table.table td { padding: 4px 8px; border-bottom: 1px solid #eee; text-align: left;
  vertical-align: top; max-width: 420px; }
"""


def html_report(title: str, notes: Sequence[str], figures: Sequence[tuple[str, Any]],
                tables: Sequence[tuple[str, Any]]) -> str:
    """One HTML page: title, notes (warnings about comparability), each (heading, plotly figure),
    then each (heading, DataFrame) in a horizontally scrolling frame."""
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
             f"<style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1>",
             f"<p>Generated {dt.datetime.now().strftime('%Y-%m-%d %H:%M')} by DeepSynth. Intervals are 95% "
             "bootstrap intervals over documents; n is the number of documents behind each score.</p>"]
    parts.extend(f"<div class='note'>{html.escape(note)}</div>" for note in notes)
    for index, (heading, figure) in enumerate(figures):
        parts.append(f"<h2>{html.escape(heading)}</h2>")
        parts.append(figure.to_html(full_html=False, include_plotlyjs=index == 0))
    for heading, frame in tables:
        parts.append(f"<h2>{html.escape(heading)}</h2><div class='scroll'>{_table_html(frame)}</div>")
    parts.append("</body></html>")
    return "\n".join(parts)
