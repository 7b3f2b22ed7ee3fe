"""Readers that turn a source (CSV, TSV, JSONL, JSON, Parquet, a Hugging Face dataset) into rows.

Each reader returns a `RawTable`: the columns it has and an iterator of `(where, row)` pairs, where
`where` says where a row came from ("data.csv line 12") so that later checks can point at it.
Rows are produced lazily, so a `--limit` or a preview stops reading early.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping

from deepsynth.data.files import check_parquet_magic, check_size, decode_text, format_of, read_bytes
from deepsynth.errors import InputError

Row = Mapping[str, Any]


@dataclass
class RawTable:
    """Rows from one source, before column mapping and filtering."""

    name: str
    """How messages name the source (a path, `hf:NAME`, `wiki (en)`)."""
    columns: list[str]
    """Column names; for JSON lines, the keys seen so far (it grows while rows are read)."""
    rows: Iterator[tuple[str, Row]]
    """(where, row) pairs, read lazily."""
    columns_complete: bool = True
    """False when more columns may appear in later rows (JSON lines)."""
    defaults: dict[str, str] = field(default_factory=dict)
    """Column a bundled source uses for `id`, `text`, `summary` unless the user picks another."""


def read_file(path: Path, max_bytes: int) -> RawTable:
    """A local CSV/TSV/JSONL/JSON/Parquet file as a `RawTable`."""
    fmt = format_of(path)
    if fmt == "parquet":
        return _read_parquet(path, max_bytes)
    text = decode_text(read_bytes(path, max_bytes), str(path))
    if not text.strip():
        raise InputError(f"{path}: the file holds only whitespace, no rows")
    if fmt in ("csv", "tsv"):
        return _read_csv(text, str(path), "\t" if fmt == "tsv" else ",", max_bytes)
    if fmt == "jsonl":
        return _read_jsonl(text, str(path))
    return _read_json(text, str(path))


def _read_csv(text: str, name: str, delimiter: str, max_bytes: int) -> RawTable:
    # The default field limit (128 KiB) would reject one long document; the file size is capped.
    csv.field_size_limit(max(max_bytes, csv.field_size_limit()))
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    header = _csv_row(reader, name, start_line=1)
    if header is None:
        raise InputError(f"{name}: no header row")
    header = [column.strip() for column in header]
    duplicates = sorted({c for c in header if header.count(c) > 1})
    if duplicates:
        raise InputError(f"{name}: line 1: duplicate column names {duplicates}")
    if "" in header:
        raise InputError(f"{name}: line 1: column {header.index('') + 1} has no name")

    def rows() -> Iterator[tuple[str, Row]]:
        count = 0
        while True:
            start = reader.line_num + 1
            values = _csv_row(reader, name, start)
            if values is None:
                break
            if not values or values == [""]:
                continue  # blank line
            if len(values) != len(header):
                raise InputError(
                    f"{name}: line {start}: {len(values)} fields, but the header has {len(header)} "
                    f"({', '.join(header)}); check for an unquoted delimiter or a missing field"
                )
            count += 1
            yield f"{name} line {start}", dict(zip(header, values))
        if count == 0:
            raise InputError(f"{name}: the header has no data rows below it (columns {', '.join(header)}): "
                             "the file has no rows to build from")

    # the first row is read now, so a header-only file says so before any column is looked for
    return _peek_columns(RawTable(name=name, columns=header, rows=rows()))


def _csv_row(reader: Any, name: str, start_line: int) -> list[str] | None:
    try:
        return next(reader)
    except StopIteration:
        return None
    except csv.Error as error:
        message = str(error)
        if "unexpected end of data" in message:
            message = "a quoted field is never closed (unbalanced '\"')"
        elif "expected after" in message:
            message = f"{message} (a quote inside a field must be doubled: \"\")"
        raise InputError(f"{name}: line {start_line}: malformed CSV: {message}") from None


def _read_jsonl(text: str, name: str) -> RawTable:
    columns: list[str] = []
    # Split on "\n" only: str.splitlines would also split on U+2028, valid inside JSON strings.
    lines = text.split("\n")

    def rows() -> Iterator[tuple[str, Row]]:
        count = 0
        for number, line in enumerate(lines, start=1):
            line = line.rstrip("\r")
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as error:
                raise InputError(f"{name}: line {number}, column {error.colno}: invalid JSON: {error.msg}") from None
            if not isinstance(row, dict):
                raise InputError(f"{name}: line {number}: expected a JSON object, got {type(row).__name__}")
            columns.extend(key for key in row if key not in columns)
            count += 1
            yield f"{name} line {number}", row
        if count == 0:
            raise InputError(f"{name}: no JSON objects in the file")

    table = RawTable(name=name, columns=columns, rows=rows(), columns_complete=False)
    return _peek_columns(table)


def _read_json(text: str, name: str) -> RawTable:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise InputError(f"{name}: line {error.lineno}, column {error.colno}: invalid JSON: {error.msg}") from None
    if not isinstance(data, list):
        raise InputError(f"{name}: expected a JSON list of objects, got {type(data).__name__} "
                         "(for one object per line, name the file .jsonl)")
    if not data:
        raise InputError(f"{name}: the JSON list is empty")
    columns: list[str] = []

    def rows() -> Iterator[tuple[str, Row]]:
        for index, row in enumerate(data):
            if not isinstance(row, dict):
                raise InputError(f"{name}: item {index}: expected a JSON object, got {type(row).__name__}")
            columns.extend(key for key in row if key not in columns)
            yield f"{name} item {index}", row

    return _peek_columns(RawTable(name=name, columns=columns, rows=rows(), columns_complete=False))


def _peek_columns(table: RawTable) -> RawTable:
    """Read the first row now, so `columns` is filled for column auto-detection."""
    rest = table.rows
    first = next(rest)

    def chained() -> Iterator[tuple[str, Row]]:
        yield first
        yield from rest

    table.rows = chained()
    return table


def _read_parquet(path: Path, max_bytes: int) -> RawTable:
    import pyarrow
    import pyarrow.parquet as pq

    if not path.is_file():
        raise InputError(f"{path}: no such file")
    size = path.stat().st_size
    check_size(size, max_bytes, str(path), "max_input_bytes / --max-input-mb")
    with path.open("rb") as stream:
        head = stream.read(4)
        stream.seek(max(size - 4, 0))
        tail = stream.read(4)
    check_parquet_magic(head, tail, str(path))
    try:
        parquet = pq.ParquetFile(path)
    except (pyarrow.ArrowException, OSError) as error:
        raise InputError(f"{path}: unreadable Parquet file: {error}") from None
    columns = list(parquet.schema_arrow.names)
    if parquet.metadata.num_rows == 0:
        raise InputError(f"{path}: the Parquet file has no rows")

    def rows() -> Iterator[tuple[str, Row]]:
        index = 0
        try:
            for batch in parquet.iter_batches(batch_size=512):
                for row in batch.to_pylist():
                    yield f"{path} row {index}", row
                    index += 1
        except (pyarrow.ArrowException, OSError) as error:
            raise InputError(f"{path}: unreadable Parquet data near row {index}: {error}") from None

    return RawTable(name=str(path), columns=columns, rows=rows())


def parse_hf_source(source: str) -> tuple[str, str | None, str | None]:
    """`hf:NAME[:CONFIG][@SPLIT]` -> (name, config, split)."""
    spec = source[len("hf:"):]
    spec, _, split = spec.partition("@")
    name, _, config = spec.partition(":")
    if not name:
        raise InputError(f"{source!r}: expected hf:NAME[:CONFIG][@SPLIT]")
    return name, config or None, split or None


def _chain_parquet(source: str, shards: list[Path]) -> RawTable:
    """One table over a split's Parquet shards, rows named by the source and their row number."""
    tables = [_read_parquet(shard, shard.stat().st_size) for shard in shards]

    def rows() -> Iterator[tuple[str, Row]]:
        index = 0
        for table in tables:
            for _, row in table.rows:
                yield f"{source} row {index}", row
                index += 1

    return RawTable(name=source, columns=tables[0].columns, rows=rows())


def read_hf(source: str) -> RawTable:
    """A Hugging Face dataset: a `save_to_disk` folder, a local data folder, or a hub id: its Parquet
    shards from the user's HF cache (fetched when the hub is reachable), else `datasets.load_dataset`."""
    import datasets

    name, config, split = parse_hf_source(source)
    local = Path(name)
    if (local / "dataset_dict.json").is_file() or (local / "state.json").is_file():
        loaded = datasets.load_from_disk(str(local))
        if isinstance(loaded, datasets.DatasetDict):
            split = split or ("train" if "train" in loaded else None)
            if split not in loaded:
                raise InputError(f"{source}: no split {split!r}; splits: {', '.join(loaded)}")
            loaded = loaded[split]
        dataset = loaded
    else:
        from deepsynth.data.hub_tables import hub_parquet_shards, is_hub_name

        shards = hub_parquet_shards(source, name, config, split) if is_hub_name(name) else None
        if shards:
            return _chain_parquet(source, shards)
        try:
            dataset = datasets.load_dataset(name, config, split=split or "train")
        except (ConnectionError, FileNotFoundError, OSError, ValueError,
                datasets.exceptions.DatasetNotFoundError) as error:
            raise InputError(
                f"{source}: could not load the Hugging Face dataset {name!r}"
                f"{f' (config {config!r})' if config else ''}: {error}. Without network access "
                "(HF_HUB_OFFLINE=1) use a local file, a local dataset folder, or a save_to_disk folder."
            ) from None
    if len(dataset) == 0:
        raise InputError(f"{source}: the dataset split has no rows")

    def rows() -> Iterator[tuple[str, Row]]:
        for index, row in enumerate(dataset):
            yield f"{source} row {index}", row

    return RawTable(name=source, columns=list(dataset.column_names), rows=rows())
