"""Raw input files, checked before any parsing: size limit, format sniffing, text decoding.

Every problem raises `InputError` saying where it is (file, line, column, byte offset), so a user
can open the file and fix it. Text is decoded strictly as UTF-8 (a BOM is accepted and dropped);
NUL bytes are refused because they mean a binary file or UTF-16, which would otherwise decode to
garbage that renders as empty boxes.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from deepsynth.atomic_files import write_bytes_atomic
from deepsynth.errors import InputError

MiB = 1024 * 1024
DEFAULT_MAX_INPUT_BYTES = 1024 * MiB
"""Largest local input file read (the whole file is decoded in memory)."""
DEFAULT_MAX_UPLOAD_BYTES = 200 * MiB
"""Largest dashboard upload (Streamlit's own default upload limit is 200 MB)."""

FORMATS_BY_SUFFIX = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "json",
    ".parquet": "parquet",
    ".pq": "parquet",
}
PARQUET_MAGIC = b"PAR1"
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


def format_of(path: str | os.PathLike[str]) -> str:
    """The input format named by a file's suffix (csv, tsv, jsonl, json, parquet)."""
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS_BY_SUFFIX:
        known = ", ".join(sorted(FORMATS_BY_SUFFIX))
        raise InputError(f"{path}: unsupported file type {suffix or '(no suffix)'!r}; use one of {known}")
    return FORMATS_BY_SUFFIX[suffix]


def human_size(size: int) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def check_size(size: int, limit: int, name: str, setting: str) -> None:
    """Refuse an empty file, or one over `limit` bytes (naming the setting that raises the limit)."""
    if size == 0:
        raise InputError(f"{name}: the file is empty (0 bytes)")
    if size > limit:
        raise InputError(
            f"{name}: the file is {human_size(size)}, over the {human_size(limit)} limit "
            f"({setting}); split the file or raise the limit"
        )


def read_bytes(path: Path, limit: int) -> bytes:
    """A local file's bytes, after checking it exists, is a file and is within `limit`."""
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if not path.is_file():
        raise InputError(f"{path}: not a regular file")
    check_size(path.stat().st_size, limit, str(path), "max_input_bytes / --max-input-mb")
    return path.read_bytes()


def location(data: bytes, offset: int) -> tuple[int, int]:
    """1-based (line, column) of a byte offset; the column counts bytes from the line start."""
    line_start = data.rfind(b"\n", 0, offset) + 1
    return data.count(b"\n", 0, offset) + 1, offset - line_start + 1


def decode_text(data: bytes, name: str) -> str:
    """Strict UTF-8 decoding (BOM dropped); NUL bytes and invalid bytes are errors with a location."""
    if data.startswith(_UTF16_BOMS):
        raise InputError(f"{name}: the file is UTF-16 (byte-order mark at the start); save it as UTF-8")
    nul = data.find(b"\x00")
    if nul >= 0:
        line, column = location(data, nul)
        raise InputError(
            f"{name}: NUL byte at line {line}, column {column} (byte offset {nul}); "
            "this looks like a binary or UTF-16 file, not UTF-8 text"
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line, column = location(data, error.start)
        bad = data[error.start:error.end].hex(" ")
        raise InputError(
            f"{name}: not valid UTF-8 at line {line}, column {column} (byte offset {error.start}: "
            f"0x{bad}); re-save the file as UTF-8"
        ) from None


def check_parquet_magic(data_head: bytes, data_tail: bytes, name: str) -> None:
    """Parquet files start and end with b"PAR1"; anything else is not Parquet, whatever its name."""
    if not (data_head.startswith(PARQUET_MAGIC) and data_tail.endswith(PARQUET_MAGIC)):
        raise InputError(f"{name}: not a Parquet file (it does not start and end with the 'PAR1' marker)")


def validate_upload(data: bytes, filename: str, max_bytes: int = DEFAULT_MAX_UPLOAD_BYTES) -> str:
    """Check an uploaded file's bytes before saving it; returns its format (csv, jsonl, parquet...).

    Cheap checks only (size, suffix, Parquet marker, UTF-8 and NUL for text formats); the full
    parse with row-level errors happens in `read_records` once the file is saved.
    """
    fmt = format_of(filename)
    check_size(len(data), max_bytes, filename, "the upload size limit")
    if fmt == "parquet":
        check_parquet_magic(data[:4], data[-4:], filename)
    else:
        decode_text(data, filename)
    return fmt


_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def safe_filename(filename: str) -> str:
    """A file name with no directory parts, control or shell characters (keeps the suffix)."""
    base = os.path.basename(filename.replace("\\", "/"))
    cleaned = _UNSAFE_NAME.sub("_", base).lstrip(".") or "upload"
    return cleaned[:120]


def save_upload(data: bytes, filename: str, directory: str | os.PathLike[str],
                max_bytes: int = DEFAULT_MAX_UPLOAD_BYTES) -> Path:
    """Validate an upload and write it atomically under `directory` with a sanitised name."""
    validate_upload(data, filename, max_bytes)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    return write_bytes_atomic(directory / safe_filename(filename), data)
