"""Tables whose rows carry their page images: a local `save_to_disk` folder (`hf:PATH`), Parquet, or a
hub dataset (`hf:ORG/NAME`, its Parquet shards in the HF cache: `data/hub_tables.py`).

An image column is one whose Arrow type is an image cell (`struct<bytes, path>`, as `datasets`
writes an `Image` feature), a list of them (several pages), or plain `binary`. Rows are read back by
index when the builder rasterizes them (the `save_to_disk` Arrow files are memory-mapped; Parquet is
read one row group at a time), so building never holds the table's images in memory.

Rows whose images are byte-for-byte the same (several questions about one page, as in DocVQA)
share a split: their content hash joins them into one document.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from deepsynth.data.config import DatasetConfig
from deepsynth.data.page_files import PageFile
from deepsynth.data.sources import parse_hf_source
from deepsynth.data.tasks import check_target, effective_prompt
from deepsynth.errors import InputError

IMAGE_COLUMNS = ("image", "images", "page", "pages")
"""Names preferred, in this order, when several columns hold images."""
TARGET_COLUMNS = ("target", "summary", "answer", "answers", "text", "ground_truth")
PROMPT_COLUMNS = ("prompt", "question", "query")
ID_COLUMNS = ("id", "question_id", "questionId", "uid")


def _is_image_type(arrow_type: Any) -> bool:
    import pyarrow as pa

    if pa.types.is_struct(arrow_type):
        names = {arrow_type.field(i).name for i in range(arrow_type.num_fields)}
        return "bytes" in names
    return pa.types.is_binary(arrow_type) or pa.types.is_large_binary(arrow_type)


def image_column(schema: Any) -> str | None:
    """The column of an Arrow schema that holds page images (one, or a list of them), or None."""
    import pyarrow as pa

    found = []
    for field in schema:
        kind = field.type
        if pa.types.is_list(kind) or pa.types.is_large_list(kind):
            kind = kind.value_type
        if _is_image_type(kind):
            found.append(field.name)
    for name in IMAGE_COLUMNS:
        if name in found:
            return name
    return found[0] if found else None


def table_shards(config: DatasetConfig) -> list[Path] | None:
    """The Parquet files of an image-table source: the file itself, or a hub dataset's shards of one
    split (None for a local `save_to_disk` folder, which `datasets` memory-maps)."""
    if config.source_kind != "hf":
        return [Path(config.source).expanduser()]
    from deepsynth.data.hub_tables import hub_parquet_shards, is_hub_name

    name, hub_config, split = parse_hf_source(config.source)
    if is_saved_folder(Path(name).expanduser()):
        return None
    if not is_hub_name(name):
        raise InputError(f"{config.source}: {name!r} is neither a save_to_disk folder nor a hub dataset name")
    shards = hub_parquet_shards(config.source, name, hub_config, split)
    if not shards:
        raise InputError(f"{config.source}: the hub dataset holds no Parquet files to read images from")
    return shards


def is_saved_folder(path: Path) -> bool:
    return (path / "dataset_dict.json").is_file() or (path / "state.json").is_file()


class ImageRows:
    """Row access to an image table: `columns`, `len()`, `row(i)` (images as raw cells)."""

    def __init__(self, config: DatasetConfig) -> None:
        self.name = config.source
        self._dataset = None
        self._group: tuple[int, list[dict[str, Any]]] | None = None
        shards = table_shards(config)
        if shards is None:
            import datasets

            name, _, split = parse_hf_source(config.source)
            loaded = datasets.load_from_disk(str(Path(name).expanduser()))
            if isinstance(loaded, datasets.DatasetDict):
                split = split or ("train" if "train" in loaded else next(iter(loaded)))
                if split not in loaded:
                    raise InputError(f"{config.source}: no split {split!r}; splits: {', '.join(loaded)}")
                loaded = loaded[split]
            self._dataset = loaded.with_format("arrow")
            self.schema = loaded.data.schema
            self.length = len(loaded)
        else:
            import pyarrow.parquet as pq

            self._files = [pq.ParquetFile(shard) for shard in shards]
            self.schema = self._files[0].schema_arrow
            self._groups: list[tuple[int, int]] = []  # (file, row group), in row order
            self._starts: list[int] = []
            start = 0
            for number, parquet in enumerate(self._files):
                for index in range(parquet.num_row_groups):
                    self._groups.append((number, index))
                    self._starts.append(start)
                    start += parquet.metadata.row_group(index).num_rows
            self.length = start
        self.columns = list(self.schema.names)

    def __len__(self) -> int:
        return self.length

    def row(self, index: int) -> dict[str, Any]:
        if self._dataset is not None:
            return self._dataset[index].to_pylist()[0]
        import bisect

        group = bisect.bisect_right(self._starts, index) - 1
        if self._group is None or self._group[0] != group:
            number, in_file = self._groups[group]
            self._group = (group, self._files[number].read_row_group(in_file).to_pylist())
        return self._group[1][index - self._starts[group]]


def is_image_table(config: DatasetConfig) -> bool:
    """A local `save_to_disk` folder, a Parquet file or a hub dataset with an image column."""
    try:
        if config.source_kind == "hf":
            from deepsynth.data.hub_tables import is_hub_name

            name, _, _ = parse_hf_source(config.source)
            if not (is_saved_folder(Path(name).expanduser()) or is_hub_name(name)):
                return False
        elif not (config.source_kind == "file" and Path(config.source).suffix.lower() in (".parquet", ".pq")
                  and Path(config.source).expanduser().is_file()):
            return False
        return image_column(ImageRows(config).schema) is not None
    except (OSError, ValueError, InputError):
        return False  # the table readers report the problem with their own messages


class RowImage:
    """One image cell of a table row, read again when the builder rasterizes it."""

    def __init__(self, rows: ImageRows, index: int, column: str, item: int | None) -> None:
        self.rows, self.index, self.column, self.item = rows, index, column, item

    def read(self) -> bytes:
        cell = self.rows.row(self.index)[self.column]
        if self.item is not None:
            cell = cell[self.item]
        return cell_bytes(cell, self.rows.name, self.index, self.column)


def cell_bytes(cell: Any, name: str, index: int, column: str) -> bytes:
    if isinstance(cell, (bytes, bytearray)):
        return bytes(cell)
    if isinstance(cell, dict) and cell.get("bytes"):
        return cell["bytes"]
    if isinstance(cell, dict) and cell.get("path"):
        raise InputError(f"{name} row {index}: column {column!r} names a file ({cell['path']!r}) instead of "
                         "holding the image bytes; save the dataset with embedded images")
    raise InputError(f"{name} row {index}: column {column!r} holds no image")


def collect_image_table(config: DatasetConfig):
    """Examples from an image table: one per row, pages from its image column."""
    from deepsynth.data.page_examples import PageExample, PageSet, _check_cap

    rows = ImageRows(config)
    column = image_column(rows.schema)
    lowered = {c.lower(): c for c in rows.columns}

    def pick(requested: str, candidates: tuple[str, ...], flag: str) -> str | None:
        if requested:
            if requested not in rows.columns:
                raise InputError(f"{rows.name}: no column {requested!r} ({flag}); columns: {', '.join(rows.columns)}")
            return requested
        return next((lowered[c.lower()] for c in candidates if c.lower() in lowered), None)

    columns = {"file": column, "target": pick(config.summary_column, TARGET_COLUMNS, "--summary-column"),
               "prompt": pick(config.prompt_column, PROMPT_COLUMNS, "--prompt-column"),
               "id": pick(config.id_column, ID_COLUMNS, "--id-column"), "pages": None}
    if columns["target"] is None:
        raise InputError(f"{rows.name}: cannot tell which column holds the target; name it with --summary-column; "
                         f"columns: {', '.join(rows.columns)}")
    source_path = Path(parse_hf_source(config.source)[0] if config.source_kind == "hf" else config.source)
    stem, label = source_path.stem or "row", source_path.name or config.source
    files: dict[str, RowImage] = {}
    aliases: dict[str, str] = {}
    examples = []
    seen: dict[str, str] = {}
    dropped = 0
    for index in range(len(rows)):
        row = rows.row(index)
        where = f"{rows.name} row {index}"
        cell = row[column]
        cells = cell if isinstance(cell, list) else [cell]
        if not cells:
            raise InputError(f"{where}: column {column!r} holds no image")
        keys = []
        for item, one in enumerate(cells):
            key = f"{label} row {index}" + (f" image {item + 1}" if isinstance(cell, list) else "")
            data = cell_bytes(one, rows.name, index, column)
            with PageFile(None, f"{where} ({column})", config.max_input_bytes, config.dpi, config.max_page_pixels,
                          config.page_color, data=data) as opened:
                count = opened.page_count
            files[key] = RowImage(rows, index, column, item if isinstance(cell, list) else None)
            aliases[key] = hashlib.sha256(data).hexdigest()
            keys.extend((key, page) for page in range(count))
        _check_cap(len(keys), config, where, ranged=False)
        target = _text(row.get(columns["target"]), where, columns["target"])
        if not target:
            dropped += 1
            continue
        check_target(config.task, target, where)
        prompt = effective_prompt(config.task, _text(row.get(columns["prompt"]), where, columns["prompt"])
                                  if columns["prompt"] else "", config.prompt, where)
        example_id = _text(row.get(columns["id"]), where, columns["id"]) if columns["id"] else ""
        example_id = example_id or f"{stem}-{index:06d}"
        if example_id in seen:
            raise InputError(f"{where}: duplicate id {example_id!r} (first at {seen[example_id]})")
        seen[example_id] = where
        examples.append(PageExample(example_id, where, tuple(keys), target, prompt))
    if not examples:
        raise InputError(f"{rows.name}: no usable rows: all {len(rows)} have an empty target "
                         f"(column {columns['target']!r})")
    warnings = [f"{rows.name}: dropped {dropped} row(s) with an empty target"] if dropped else []
    page_set = PageSet(rows.name, files, examples, columns, {"rows_read": len(rows), "dropped_empty_target": dropped},
                       warnings)
    page_set.aliases = aliases
    return page_set


def _text(value: Any, where: str, column: str | None) -> str:
    if value is None:
        return ""
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        value = value[0]  # several reference answers (DocVQA's `answers`): the first is the target
    if isinstance(value, (dict, list)):
        import json

        return json.dumps(value, ensure_ascii=False)
    if not isinstance(value, (str, int, float)) or isinstance(value, bool):
        raise InputError(f"{where}: column {column!r} holds a {type(value).__name__}, expected text")
    return str(value).strip()
