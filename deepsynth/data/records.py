"""From a `DatasetConfig` to clean `Record`s: open the source, map columns, filter, limit.

Counts every row dropped and why, so an empty result can say exactly what happened
("read 40 rows; dropped: empty summary 40"), and the dataset's metadata records it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deepsynth.data.bundled import read_aclsum, read_wiki
from deepsynth.data.config import DatasetConfig
from deepsynth.data.page_files import is_page_file
from deepsynth.data.sources import RawTable, Row, read_file, read_hf
from deepsynth.data.tasks import check_target, effective_prompt
from deepsynth.errors import InputError

# Column names tried, in order, when the user names no column (common summarization corpora:
# CNN/DailyMail article/highlights, XSum document/summary, arXiv article/abstract).
CANDIDATES = {
    "text": ("text", "document", "article", "content", "body", "source", "input", "extract"),
    "summary": ("summary", "target", "highlights", "abstract", "output", "description", "headline"),
    "id": ("id", "doc_id", "document_id", "uid", "guid"),
    "prompt": ("prompt", "question"),
}
FLAGS = {"text": "--text-column", "summary": "--summary-column", "id": "--id-column",
         "prompt": "--prompt-column"}


@dataclass(frozen=True)
class Record:
    """One document and its reference summary."""

    id: str
    """Unique id within the dataset."""
    text: str
    """The document (trimmed, line endings normalised to \\n)."""
    summary: str
    """The reference summary (trimmed, line endings normalised to \\n)."""
    prompt: str = ""
    """The prompt given to the model as text ("": the rendered instruction or the model's default)."""


@dataclass
class Collected:
    """Records plus what reading them found: the columns used, counts, warnings."""

    records: list[Record]
    columns: dict[str, str | None]
    counts: dict[str, int]
    warnings: list[str] = field(default_factory=list)


def open_source(config: DatasetConfig) -> RawTable:
    kind = config.source_kind
    if kind == "wiki":
        return read_wiki(config.language)
    if kind == "aclsum":
        return read_aclsum()
    if kind == "hf":
        return read_hf(config.source)
    path = Path(config.source).expanduser()
    if path.is_dir() or is_page_file(path):
        raise InputError(f"{config.source}: page files have no text rows to read; build them with "
                         "build_dataset, or look at them with deepsynth.data.page_preview.preview_page_examples")
    return read_file(path, config.max_input_bytes)


def read_records(config: DatasetConfig) -> list[Record]:
    """The documents `config` selects (all of them, or the first `config.limit`)."""
    return collect_records(config).records


def preview_records(config: DatasetConfig, n: int = 20) -> list[Record]:
    """The first `n` documents, reading no further than needed (for a preview table)."""
    limit = n if not config.limit else min(n, config.limit)
    return collect_records(config, limit=limit).records


def collect_records(config: DatasetConfig, limit: int | None = None) -> Collected:
    """Read, map, filter and limit; raise `InputError` if nothing usable is left.

    Under `--task transcribe` without `--summary-column` each document's target is its own text
    (what the rendered page shows; a document cut at `render.max_pages` keeps its whole text)."""
    limit = config.limit if limit is None else limit
    table = open_source(config)
    requested = {"text": config.text_column, "summary": config.summary_column, "id": config.id_column,
                 "prompt": config.prompt_column}
    # transcribe: the target is the rendered text itself, unless a target column is named
    from_text = config.task == "transcribe" and not config.summary_column
    roles = ("text", "id", "prompt") if from_text else ("text", "summary", "id", "prompt")
    columns = {role: _resolve(table, role, requested[role]) for role in roles}
    if from_text:
        columns["summary"] = columns["text"]
    elif columns["text"] == columns["summary"]:
        raise InputError(f"{table.name}: the text and the summary are both read from column "
                         f"{columns['text']!r}; name different columns")
    counts = {"rows_read": 0, "kept": 0}
    dropped: dict[str, int] = {}
    records: list[Record] = []
    seen_ids: dict[str, int] = {}
    for where, row in table.rows:
        counts["rows_read"] += 1
        text = _text(row, columns["text"], where, "text")
        summary = _text(row, columns["summary"], where, "summary")
        reason = _drop_reason(config, text, summary)
        if reason:
            dropped[reason] = dropped.get(reason, 0) + 1
            continue
        check_target(config.task, summary, where)
        prompt = effective_prompt(config.task, _text(row, columns["prompt"], where, "prompt"), config.prompt, where)
        record_id = _record_id(row, columns["id"], where, table.name, counts["rows_read"] - 1)
        if record_id in seen_ids:
            seen_ids[record_id] += 1
            dropped_key = "duplicate_ids_renamed"
            counts[dropped_key] = counts.get(dropped_key, 0) + 1
            record_id = f"{record_id}-{seen_ids[record_id]}"
        seen_ids.setdefault(record_id, 1)
        records.append(Record(record_id, text, summary, prompt))
        if limit and len(records) >= limit:
            break
    _check_columns_seen(table, requested)
    counts["kept"] = len(records)
    counts.update({f"dropped_{reason}": n for reason, n in dropped.items()})
    if not records:
        details = ", ".join(f"{reason.replace('_', ' ')} {n}" for reason, n in dropped.items()) or "none"
        raise InputError(
            f"{table.name}: no usable documents: read {counts['rows_read']} rows, dropped {details} "
            f"(text from column {columns['text']!r}, summary from {columns['summary']!r}; "
            f"filters min_text_chars={config.min_text_chars}, max_text_chars={config.max_text_chars}, "
            f"min_summary_chars={config.min_summary_chars}, max_summary_chars={config.max_summary_chars})"
        )
    warnings = []
    if dropped:
        warnings.append(f"{table.name}: dropped " + ", ".join(f"{n} ({r.replace('_', ' ')})" for r, n in dropped.items()))
    if counts.get("duplicate_ids_renamed"):
        warnings.append(f"{table.name}: {counts['duplicate_ids_renamed']} duplicate ids got a -N suffix")
    return Collected(records=records, columns=columns, counts=counts, warnings=warnings)


def _resolve(table: RawTable, role: str, requested: str) -> str | None:
    listing = ", ".join(table.columns) or "(none)"
    if requested:
        if requested in table.columns or not table.columns_complete:
            return requested  # JSON rows may add keys later; checked after reading
        raise InputError(f"{table.name}: no column {requested!r} for the {role} ({FLAGS[role]}); "
                         f"columns: {listing}")
    default = table.defaults.get(role)
    if default:
        return default
    lowered = {column.lower(): column for column in table.columns}
    for candidate in CANDIDATES[role]:
        if candidate in lowered:
            return lowered[candidate]
    if role in ("id", "prompt"):
        return None
    raise InputError(f"{table.name}: cannot tell which column holds the {role}; name it with "
                     f"{FLAGS[role]}; columns: {listing}")


def _check_columns_seen(table: RawTable, requested: dict[str, str]) -> None:
    for role, column in requested.items():
        if column and column not in table.columns:
            raise InputError(f"{table.name}: no row has a {column!r} field for the {role} "
                             f"({FLAGS[role]}); fields: {', '.join(table.columns) or '(none)'}")


def _text(row: Row, column: str | None, where: str, role: str) -> str:
    value: Any = row.get(column) if column else None
    if value is None:
        return ""
    if not isinstance(value, str):
        shown = repr(value)[:60]
        raise InputError(f"{where}: column {column!r} ({role}) holds a {type(value).__name__} "
                         f"({shown}), expected text")
    return value.replace("\r\n", "\n").replace("\r", "\n").strip()


def _record_id(row: Row, column: str | None, where: str, source: str, index: int) -> str:
    value = row.get(column) if column else None
    if isinstance(value, (str, int)) and str(value).strip():
        return str(value).strip()
    if value is not None and not isinstance(value, (str, int)):
        raise InputError(f"{where}: id column {column!r} holds a {type(value).__name__}, expected text or a number")
    stem = Path(source.removeprefix("hf:").split(":")[0].split("@")[0]).stem or "doc"
    return f"{stem}-{index:06d}"


def _drop_reason(config: DatasetConfig, text: str, summary: str) -> str | None:
    if not text:
        return "empty_text"
    if not summary:
        return "empty_summary"
    if len(text) < config.min_text_chars:
        return "text_too_short"
    if config.max_text_chars and len(text) > config.max_text_chars:
        return "text_too_long"
    if len(summary) < config.min_summary_chars:
        return "summary_too_short"
    if config.max_summary_chars and len(summary) > config.max_summary_chars:
        return "summary_too_long"
    return None
