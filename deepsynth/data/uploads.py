"""Files uploaded on the Dataset page, checked and saved as a source `DatasetConfig.source` reads.

What one upload may be (anything else is refused, naming the file and what is accepted):
- one table (CSV, TSV, JSONL, JSON, Parquet): saved as `uploads/<name>` (`files.save_upload`);
- PDFs and page images (PNG, JPEG, TIFF, WebP), one or several: saved into a folder of their own,
  each file's first bytes checked against its name; built as one example per page under the
  `transcribe` task (the PDF's text layer is the target), or with a manifest;
- one ZIP holding page files and a manifest (`manifest.csv` / `manifest.jsonl`: file, target,
  optional id, pages, prompt), or page files alone, or a LLaVA/ShareGPT JSON with its images;
- a LLaVA/ShareGPT JSON together with its images: in a ZIP, or the image files themselves.
A ZIP is checked from its directory before anything is inflated, with the checks an imported
adapter package gets (`deepsynth.archive_checks`: paths that leave it, links, special entries,
duplicates, entry count, unpacked size, compression ratio), and holds only page files, tables
(manifests, LLaVA JSON) and text; macOS's `__MACOSX/` and `.DS_Store` entries are left out. Images a
LLaVA JSON names must lie inside the upload (no absolute path, `~` or `..`): an upload never makes
the dashboard read other files of this machine.

Each upload gets a folder named by its content's sha256 (`uploads/<stem>-<digest>/`), written into
a staging folder and renamed into place: a page rerun with the same files reuses it, and a refused
upload leaves nothing behind.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Sequence

from deepsynth import archive_checks
from deepsynth.data.files import FORMATS_BY_SUFFIX, MiB, check_size, safe_filename, save_upload
from deepsynth.data.page_files import PAGE_SUFFIXES, sniff
from deepsynth.errors import InputError

ZIP_SUFFIX = ".zip"
TABLE_SUFFIXES = tuple(FORMATS_BY_SUFFIX)
UPLOAD_SUFFIXES = (*TABLE_SUFFIXES, *PAGE_SUFFIXES, ZIP_SUFFIX)
"""Every file name ending the Dataset page's uploader accepts."""
ZIP_MEMBER_SUFFIXES = (*PAGE_SUFFIXES, ".csv", ".tsv", ".jsonl", ".json", ".txt", ".md")
"""What a dataset ZIP may hold: page files, a manifest or LLaVA JSON, and notes (a README)."""
IGNORED_NAMES = ("__MACOSX", ".DS_Store", "Thumbs.db")
"""Entries macOS's and Windows's archivers add; left out of the unpacked folder."""
COMPLETE_MARKER = ".upload-complete"
"""Written last into an upload folder: a folder without it was cut short and is rebuilt."""


@dataclass(frozen=True)
class UploadLimits:
    """Bounds on what an uploaded dataset ZIP may contain (`archive_checks.scan_archive`)."""

    max_entries: int = 10_000
    """Most ZIP entries (a page file per entry: 10,000 pages)."""
    max_unpacked_bytes: int = 4 * 1024 * MiB
    """Most bytes after unpacking, all files together."""
    max_ratio: float = 100.0
    """Largest uncompressed/compressed size of one entry (PDFs and images barely deflate; bombs ~1000x)."""
    ratio_floor_bytes: int = MiB
    """Entries smaller than this skip the ratio check: they cannot inflate into much."""
    max_depth: int = 8
    """Deepest folder nesting inside the ZIP."""


@dataclass(frozen=True)
class SavedUpload:
    """Where an upload was saved and what it holds."""

    source: Path
    """What `DatasetConfig.source` names: the table, the folder, or the LLaVA JSON."""
    kind: str
    """`table`, `pages` (page files, with or without a manifest) or `llava`."""
    files: tuple[str, ...]
    """The uploaded file names, as the user's browser sent them."""


def save_uploads(uploads: Sequence[tuple[str, bytes]], directory: str | Path, max_bytes: int,
                 limits: UploadLimits = UploadLimits()) -> SavedUpload:
    """Check the uploaded (name, bytes) pairs and save them under `directory`; `max_bytes`: the
    upload limit of one file (the dashboard's `server.maxUploadSize`). Raises `InputError`."""
    if not uploads:
        raise InputError("no file uploaded")
    names = tuple(name for name, _ in uploads)
    for name, data in uploads:
        check_size(len(data), max_bytes, name, "the upload size limit")
        if _suffix(name) not in UPLOAD_SUFFIXES:
            raise InputError(f"{name}: not a file the Dataset page reads; upload {_accepted()}")
    tables = [(n, d) for n, d in uploads if _suffix(n) in TABLE_SUFFIXES]
    pages = [(n, d) for n, d in uploads if _suffix(n) in PAGE_SUFFIXES]
    zips = [(n, d) for n, d in uploads if _suffix(n) == ZIP_SUFFIX]
    directory = Path(directory)
    if len(uploads) == 1 and tables:
        name, data = tables[0]
        if _suffix(name) == ".json" and _is_llava(data):
            raise InputError(f"{name}: a LLaVA/ShareGPT JSON names image files; upload it together with "
                             "its images (the image files, or a ZIP of them)")
        return SavedUpload(save_upload(data, name, directory, max_bytes), "table", names)
    if len(zips) > 1:
        raise InputError(f"{', '.join(n for n, _ in zips)}: one ZIP at a time (put all the files in one ZIP)")
    llava = [(n, d) for n, d in tables if _suffix(n) == ".json" and _is_llava(d)]
    if len(tables) > len(llava) or len(llava) > 1:
        raise InputError(f"{', '.join(n for n, _ in tables)}: a table is uploaded alone; with page files or a ZIP, only one "
                         "LLaVA/ShareGPT JSON may come along (a manifest goes inside the ZIP)")
    if zips and pages:
        raise InputError(f"{zips[0][0]} and {pages[0][0]}: upload the page files inside the ZIP, or without it")
    for name, data in pages:
        _check_page_bytes(name, data)
    folder = directory / _folder_name(uploads)
    if not (folder / COMPLETE_MARKER).is_file():
        _write_folder(folder, pages + llava, zips[0] if zips else None, limits)
    if llava:
        source = folder / safe_filename(llava[0][0])
        _check_llava_images(source)
        return SavedUpload(source, "llava", names)
    return SavedUpload(_source_in(folder), "pages", names)


def _suffix(name: str) -> str:
    return PurePosixPath(name.replace("\\", "/")).suffix.lower()


def _accepted() -> str:
    return (f"a table ({', '.join(TABLE_SUFFIXES)}), PDFs or images ({', '.join(PAGE_SUFFIXES)}), a ZIP of page "
            "files with a manifest, or a LLaVA JSON with its images")


def _is_llava(data: bytes) -> bool:
    """A JSON list whose first item has `conversations` or `messages` (LLaVA / ShareGPT)."""
    try:
        items = json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return False  # the table reader says what is wrong with it
    return (isinstance(items, list) and bool(items) and isinstance(items[0], dict)
            and ("conversations" in items[0] or "messages" in items[0]))


def _check_page_bytes(name: str, data: bytes) -> None:
    expected = PAGE_SUFFIXES[_suffix(name)]
    actual = sniff(data[:1024])
    if actual != expected:
        said = f"a {actual} file" if actual else "not a PDF or image file DeepSynth reads"
        raise InputError(f"{name}: the name says {expected} but the content is {said} "
                         f"(its first bytes: {data[:8]!r}); rename or re-save it")


def _folder_name(uploads: Sequence[tuple[str, bytes]]) -> str:
    digest = hashlib.sha256()
    for name, data in sorted(uploads):
        digest.update(name.encode("utf-8") + b"\0" + hashlib.sha256(data).digest())
    first = sorted(name for name, _ in uploads)[0]
    stem = safe_filename(PurePosixPath(first.replace("\\", "/")).stem)[:40] or "upload"
    return f"{stem}-{digest.hexdigest()[:12]}"


def _write_folder(folder: Path, files: list[tuple[str, bytes]], archive: tuple[str, bytes] | None,
                  limits: UploadLimits) -> None:
    """Unpack `archive` and write `files` into a staging folder, then rename it to `folder`."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.saving-", dir=folder.parent))
    try:
        if archive is not None:
            _unpack(archive[0], archive[1], staging, limits)
        for name, data in files:
            target = staging / safe_filename(name)
            if target.exists():
                raise InputError(f"{name}: two uploaded files have the name {target.name!r}")
            target.write_bytes(data)
        (staging / COMPLETE_MARKER).write_text("")
        if (folder / COMPLETE_MARKER).is_file():  # another session saved the same files meanwhile
            shutil.rmtree(staging)
            return
        if folder.exists():  # an earlier save of the same files was cut short
            shutil.rmtree(folder)
        staging.rename(folder)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _ignored(path: PurePosixPath) -> bool:
    return any(part in IGNORED_NAMES for part in path.parts) or path.name.startswith("._")


def _unpack(name: str, data: bytes, dest: Path, limits: UploadLimits) -> None:
    def refuse(message: str) -> InputError:
        return InputError(f"{name}: refused: {message}")

    def member(path: PurePosixPath, info: zipfile.ZipInfo) -> None:
        if path.suffix.lower() not in ZIP_MEMBER_SUFFIXES:
            raise refuse(f"{path}: file type {path.suffix or '(none)'!r} is not allowed in a dataset ZIP; it holds "
                         f"page files ({', '.join(PAGE_SUFFIXES)}), a manifest (.csv, .jsonl) or a LLaVA JSON")

    try:
        opened = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError) as error:
        raise InputError(f"{name}: not a readable ZIP archive ({error})") from None
    with opened:
        files = archive_checks.scan_archive(opened, limits, refuse, check_file=member, skip=_ignored, container="ZIP")
        if not files:
            raise InputError(f"{name}: the ZIP holds no files")
        budget = [limits.max_unpacked_bytes]
        for relative, info in files.items():
            target = dest.joinpath(*PurePosixPath(relative).parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            with target.open("xb") as sink:
                archive_checks.copy_entry(opened, info, sink, budget, refuse)


def _source_in(folder: Path) -> Path:
    """The folder a page source reads: the upload's own, or the one folder a ZIP wrapped it all in;
    a LLaVA JSON at its top is the source itself."""
    from deepsynth.data.page_examples import MANIFEST_NAMES

    root = folder
    entries = [p for p in root.iterdir() if p.name != COMPLETE_MARKER]
    if len(entries) == 1 and entries[0].is_dir():
        root = entries[0]
    if any((root / manifest).is_file() for manifest in MANIFEST_NAMES):
        return root
    jsons = [p for p in root.iterdir() if p.suffix.lower() == ".json" and p.is_file()]
    llava = [p for p in jsons if p.stat().st_size <= 256 * MiB and _is_llava(p.read_bytes())]
    if len(llava) == 1:
        _check_llava_images(llava[0])
        return llava[0]
    if not any(p.is_file() and p.suffix.lower() in PAGE_SUFFIXES for p in root.rglob("*")):
        raise InputError(f"{folder.name}: no page files ({', '.join(PAGE_SUFFIXES)}), no manifest "
                         f"({' or '.join(MANIFEST_NAMES)}) and no LLaVA JSON in the upload")
    return root


def _check_llava_images(path: Path) -> None:
    """Every image a LLaVA JSON names is a relative path inside its folder."""
    items = json.loads(path.read_text(encoding="utf-8-sig"))
    for index, item in enumerate(items if isinstance(items, list) else []):
        images = item.get("images", item.get("image")) if isinstance(item, dict) else None
        for image in [images] if isinstance(images, str) else images if isinstance(images, list) else []:
            if not isinstance(image, str):
                continue  # the LLaVA reader names the problem
            parts = PurePosixPath(image.replace("\\", "/")).parts
            if image.startswith(("/", "~")) or ".." in parts or (parts and ":" in parts[0]):
                raise InputError(f"{path.name} item {index}: image {image!r} must be a path inside the upload "
                                 "(relative, no '..'): an uploaded JSON may not name other files of this machine")


def upload_limit_text(max_bytes: int) -> str:
    """`200 MB per file`: the limit in Streamlit's unit (`server.maxUploadSize`, megabytes of 2**20 bytes)."""
    return f"{max_bytes / MiB:g} MB per file"
