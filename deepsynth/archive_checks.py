"""ZIP archives from someone else, checked from their central directory before anything is inflated.

One definition of the checks every received archive goes through (an imported adapter package,
`deepsynth.export.safe_import`; a dataset ZIP uploaded on the Dataset page, `deepsynth.data.uploads`).
What is refused and why (OWASP "file upload" and zip-slip guidance, CVE-2007-4559 style escapes):
- paths that leave the archive: `..`, absolute paths, drive letters, backslashes, control chars;
- symlinks and other special entries (the Unix mode in the ZIP's external attributes), encryption,
  compression methods other than stored and deflate;
- duplicate names (also case-insensitively and after Unicode normalization: they collide on
  macOS/Windows filesystems, or look the same), and names with invisible formatting characters
  (bidirectional overrides) or look-alikes (fullwidth letters: not in NFKC form);
- more than `max_entries` entries, more than `max_unpacked_bytes` in all, folders nested deeper
  than `max_depth`, and entries that inflate more than `max_ratio` times (a zip bomb is detected
  from the directory, before inflating; `copy_entry` also counts the bytes really inflated, since
  the directory's sizes can lie).
Each caller says how a refusal is raised (`refuse`: message -> exception) and adds its own checks
per file (`check_file`).
"""

from __future__ import annotations

import re
import stat
import unicodedata
import zipfile
from pathlib import PurePosixPath
from typing import BinaryIO, Callable, Protocol

Refuse = Callable[[str], Exception]
"""Builds the exception a refusal raises (PackageRefused for packages, InputError for uploads)."""
CHUNK = 1024 * 1024


class ArchiveLimits(Protocol):
    """The bounds `scan_archive` reads (`safe_import.ImportLimits`, `uploads.UploadLimits`)."""

    max_entries: int
    max_unpacked_bytes: int
    max_ratio: float
    ratio_floor_bytes: int
    max_depth: int


_DRIVE = re.compile(r"^[A-Za-z]:")


def _unicode_problem(name: str) -> str | None:
    """Why a name could show as something it is not, else None: control and format characters
    (bidirectional overrides, zero-width joiners) and characters that normalize to others
    (fullwidth look-alikes, decomposed accents: NFKC changes the name)."""
    for char in name:
        category = unicodedata.category(char)
        if category in ("Cc", "Cf", "Co", "Cs", "Cn", "Zl", "Zp") or (category == "Zs" and char != " "):
            kind = {"Cc": "control", "Cf": "invisible formatting (e.g. a bidirectional override)"}.get(
                category, "invisible or unassigned")
            return f"{kind} character U+{ord(char):04X} ({unicodedata.name(char, 'unnamed')}) in its name"
    normal = unicodedata.normalize("NFKC", name)
    if normal != name:
        odd = next((c for c in name if unicodedata.normalize("NFKC", c) != c or unicodedata.combining(c)), name[0])
        looks = ("combines with the character before it" if unicodedata.combining(odd)
                 else f"looks like {unicodedata.normalize('NFKC', odd)!r}")
        return (f"character U+{ord(odd):04X} ({unicodedata.name(odd, 'unnamed')}) in its name {looks} "
                f"(not in Unicode normal form NFKC: {normal!r})")
    return None


def name_key(name: str) -> str:
    """What two entry names are compared by: names equal after NFKC normalization and case folding
    are the same file on macOS and Windows, and the same to a reader."""
    return unicodedata.normalize("NFKC", name).casefold()


def check_entry_name(name: str, max_depth: int, refuse: Refuse, container: str = "archive") -> PurePosixPath:
    """The archive-relative path of one entry, or a refusal naming what is wrong with it
    (`container`: what messages call the archive, "package" or "ZIP")."""
    if not name:
        raise refuse("an entry has an empty name")
    bad = next((c for c in name if ord(c) < 32 or ord(c) == 127), None)
    if bad is not None:
        raise refuse(f"entry {name!r}: control character U+{ord(bad):04X} in its name")
    problem = _unicode_problem(name)
    if problem is not None:
        raise refuse(f"entry {ascii(name)}: {problem}")
    if "\\" in name:
        raise refuse(f"entry {name!r}: backslash in its path (a Windows path separator)")
    if _DRIVE.match(name):
        raise refuse(f"entry {name!r}: drive-letter path points outside the {container}")
    if name.startswith("/"):
        raise refuse(f"entry {name!r}: absolute path points outside the {container}")
    parts = name.rstrip("/").split("/")
    if ".." in parts:
        raise refuse(f"entry {name!r}: '..' in its path points outside the {container} (zip slip)")
    if any(part in ("", ".") for part in parts):
        raise refuse(f"entry {name!r}: empty or '.' path component")
    if len(parts) > max_depth:
        raise refuse(f"entry {name!r}: nested {len(parts)} levels deep (limit {max_depth})")
    return PurePosixPath(*parts)


def check_entry_kind(info: zipfile.ZipInfo, refuse: Refuse) -> None:
    """Regular files and folders only, unencrypted, stored or deflated."""
    mode = info.external_attr >> 16
    kind = stat.S_IFMT(mode)
    if kind == stat.S_IFLNK:
        raise refuse(f"entry {info.filename!r} is a symbolic link")
    if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
        raise refuse(f"entry {info.filename!r} is a special file (mode {oct(mode)})")
    if info.flag_bits & 0x1:
        raise refuse(f"entry {info.filename!r} is encrypted")
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise refuse(f"entry {info.filename!r} uses an unsupported compression method ({info.compress_type})")


def scan_archive(archive: zipfile.ZipFile, limits: ArchiveLimits, refuse: Refuse,
                 check_file: Callable[[PurePosixPath, zipfile.ZipInfo], None] | None = None,
                 skip: Callable[[PurePosixPath], bool] | None = None,
                 container: str = "archive") -> dict[str, zipfile.ZipInfo]:
    """Structural checks from the ZIP's central directory alone (nothing inflated yet); returns
    {archive-relative path: entry} of its files. `check_file(path, info)`: the caller's own check
    of each file, run where the entry is met (after its name and kind, before the size checks);
    `skip(path)`: files left out (checked like the others, not returned)."""
    infos = archive.infolist()
    if len(infos) > limits.max_entries:
        raise refuse(f"too many entries: {len(infos)} (limit {limits.max_entries})")
    files: dict[str, zipfile.ZipInfo] = {}
    seen: dict[str, str] = {}
    total = 0
    for info in infos:
        raw = info.orig_filename
        if raw != info.filename:  # zipfile cut the name at a NUL byte
            raise refuse(f"entry {raw!r}: NUL byte in its name")
        path = check_entry_name(raw, limits.max_depth, refuse, container)
        check_entry_kind(info, refuse)
        folded = name_key(str(path))
        if folded in seen:
            raise refuse(f"duplicate entry {raw!r} (also present as {seen[folded]!r})")
        seen[folded] = raw
        if info.is_dir():
            continue
        skipped = skip is not None and skip(path)
        if check_file is not None and not skipped:
            check_file(path, info)
        total += info.file_size
        if total > limits.max_unpacked_bytes:
            raise refuse(f"unpacked size exceeds {limits.max_unpacked_bytes:,} bytes")
        if info.file_size >= limits.ratio_floor_bytes:
            ratio = info.file_size / max(info.compress_size, 1)
            if ratio > limits.max_ratio:
                raise refuse(f"entry {raw!r} inflates {ratio:,.0f}x ({info.compress_size:,} -> "
                             f"{info.file_size:,} bytes; limit {limits.max_ratio:g}x): a zip bomb?")
        if not skipped:
            files[str(path)] = info
    folders = {str(parent) for name in seen.values() for parent in PurePosixPath(name.rstrip("/")).parents}
    clash = sorted(folders & set(files))
    if clash:
        raise refuse(f"entry {clash[0]!r} is both a file and a folder")
    return files


def copy_entry(archive: zipfile.ZipFile, info: zipfile.ZipInfo, sink: BinaryIO | None, budget: list[int],
               refuse: Refuse, on_chunk: Callable[[bytes], None] | None = None) -> int:
    """Inflate one entry in chunks into `sink` (None: read only), counting its bytes against
    `budget[0]` (the unpacked bytes still allowed; the directory's sizes could lie); returns the
    byte count. `on_chunk`: called with each chunk (a hash, a header kept)."""
    count = 0
    try:
        with archive.open(info) as stream:
            while chunk := stream.read(CHUNK):
                count += len(chunk)
                budget[0] -= len(chunk)
                if budget[0] < 0:
                    raise refuse("unpacked size exceeds the limit while inflating (sizes in the ZIP directory are false)")
                if on_chunk is not None:
                    on_chunk(chunk)
                if sink is not None:
                    sink.write(chunk)
    except (zipfile.BadZipFile, EOFError, OSError, ValueError) as error:
        raise refuse(f"entry {info.filename!r} is corrupt: {error}") from None
    return count
