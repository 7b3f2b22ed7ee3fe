"""The content of a model folder as one digest, for cache keys (tower features, readings).

A cache keyed by file names, sizes and modification times serves stale results when weights are
replaced by others of the same size and the time is set back (`os.utime` does it), or when a file
it does not list changes (`pytorch_model.bin`, `processor_config.json`, the chat template). So the
key is a SHA-256 over the bytes of every file `from_pretrained` may read from the folder: each
regular file at its top level (weights in any format, configs, processor and tokenizer files, chat
template), symlinks followed (a hub cache's snapshot links to its blobs); dotfiles and `*.md` notes
are left out.

Hashing gigabytes on every run would cost seconds, so each file's hash is kept in
`<cache>/folder-digests/` beside its size, inode and change time (`st_ctime_ns`: every write
sets it, and no user call can set it back), and a file is read again only when one of these
changed. A file replaced by rename has a new inode; one rewritten in place has a new change time.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path

from deepsynth.atomic_files import write_bytes_atomic

log = logging.getLogger(__name__)

DIGEST_VERSION = 1
_CHUNK = 1 << 20
_LOUD_BYTES = 1 << 30
"""Say so before hashing this many bytes (the first run on a large model takes seconds)."""


def loaded_files(folder: Path) -> list[Path]:
    """The files of `folder` a model load may read (module docstring), sorted by name."""
    return sorted(path for path in folder.iterdir()
                  if not path.name.startswith(".") and not path.name.lower().endswith(".md") and path.is_file())


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _stamp(stat: os.stat_result) -> list[int]:
    return [stat.st_size, stat.st_ino, stat.st_ctime_ns]


def _store(folder: Path, store: Path | None) -> Path:
    from deepsynth.paths import cache_dir

    root = store if store is not None else cache_dir() / "folder-digests"
    return root / (hashlib.sha256(str(folder).encode()).hexdigest()[:24] + ".json")


def folder_digest(folder: str | Path, store: Path | None = None) -> str:
    """SHA-256 (hex) of the names and contents of `folder`'s loaded files; per-file hashes are
    reused while a file's size, inode and change time stay the same (module docstring)."""
    folder = Path(folder).expanduser().resolve()
    record_path = _store(folder, store)
    try:
        record = json.loads(record_path.read_text(encoding="utf-8"))
        known = record["files"] if record.get("version") == DIGEST_VERSION and record.get("folder") == str(folder) else {}
    except (OSError, ValueError, KeyError, TypeError):
        known = {}  # no record yet, or an unreadable one: hash everything again
    files, changed, to_read = {}, False, []
    for path in loaded_files(folder):
        stamp = _stamp(path.stat())
        entry = known.get(path.name)
        if isinstance(entry, dict) and entry.get("stamp") == stamp and isinstance(entry.get("sha256"), str):
            files[path.name] = entry
        else:
            to_read.append((path, stamp))
    if sum(stamp[0] for _, stamp in to_read) >= _LOUD_BYTES:
        log.info("hashing %d file(s) of %s (%.1f GB) for the cache key; later runs reuse the hashes",
                 len(to_read), folder, sum(stamp[0] for _, stamp in to_read) / 1e9)
    for path, stamp in to_read:
        files[path.name] = {"stamp": stamp, "sha256": file_sha256(path)}
        changed = True
    if changed or set(known) != set(files):
        payload = {"version": DIGEST_VERSION, "folder": str(folder), "files": files}
        try:
            write_bytes_atomic(record_path, json.dumps(payload, sort_keys=True).encode("utf-8"))
        except OSError as error:  # a read-only cache only costs the hashing next time
            log.warning("cannot keep the file hashes of %s in %s: %s", folder, record_path.parent, error)
    digest = hashlib.sha256()
    for name in sorted(files):
        digest.update(f"{name}\0{files[name]['sha256']}\n".encode())
    return digest.hexdigest()
