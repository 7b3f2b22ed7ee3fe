"""Importing an adapter package from someone else: validate everything, then write atomically.

Every check below runs on the ZIP's bytes in memory or streamed (nothing touches the destination)
before a single file is written; the files are then written into a temporary sibling folder and
renamed into place, so a refused or interrupted import leaves nothing behind. What is refused and
why (OWASP "file upload" and zip-slip guidance, CVE-2007-4559 style path escapes; the structural
checks of the first three points are `deepsynth.archive_checks`, shared with dataset uploads):
- paths that leave the package: `..`, absolute paths, drive letters, backslashes, control chars;
- symlinks and other special entries (the Unix mode in the ZIP's external attributes), encryption;
- duplicate names (also case-insensitively and after Unicode normalization: they collide on
  macOS/Windows filesystems, or look the same), and names with control or invisible formatting
  characters (bidirectional overrides) or look-alikes (fullwidth letters: not in NFKC form);
- more than `max_entries` entries, more than `max_unpacked_bytes` in all, and entries that inflate
  more than `max_ratio` times (a zip bomb is detected from the directory, before inflating);
- any file type but safetensors, JSON, text and SentencePiece tokenizer models (`.model`: protobuf
  data a merged decoder's tokenizer may need, checked field by field by `sentencepiece_check`, so a
  renamed pickle is refused); pickle formats (.bin/.pt/.pkl...) are named;
- a manifest that does not list exactly the files present with their sha256;
- safetensors whose header is oversized, inconsistent or truncated, or whose tensors do not have
  the shapes the base model expects (pickles renamed `.safetensors` are recognised by their bytes);
- a `deepsynth_model.json` that asks for what a package may not decide (`card_check`): remote code
  (`trust_remote_code`), a base model, text encoder or font outside the package (a path or hub id,
  unless the user allows that exact value; a URL never), or fields this DeepSynth does not know
  (refused, naming them, not ignored);
- code or requirements that differ from what `deepsynth export` writes (`package_code`): the
  README tells the receiver to run `python inference.py` and `pip install -r requirements.txt`;
- an adapter config whose `layer_replication` would build more than `max_replicated_layers` layers.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Callable, Collection, Mapping

from deepsynth import archive_checks
from deepsynth.archive_checks import name_key  # noqa: F401  (part of this module's interface)
from deepsynth.errors import InputError, PackageRefused
from deepsynth.adapter_format.files import ADAPTER_CONFIG, MODEL_CARD, PICKLE_SUFFIXES
from deepsynth.adapter_format.safetensors_check import MAX_HEADER_BYTES, SafetensorsHeader, check_shapes, parse_header
from deepsynth.export.card_check import check_card
from deepsynth.export.package_code import check_package_code
from deepsynth.export.sentencepiece_check import NotSentencePiece, check_sentencepiece_model
from deepsynth.hub_offline import base_loading

MANIFEST = "manifest.json"
TEXT_SUFFIXES = (".json", ".md", ".txt", ".py", ".toml", ".csv", ".jinja")
"""Text files a package may carry: configs, the model card, requirements, the generated script,
the vendored DeepSynth source, a tokenizer's chat template."""
WEIGHT_SUFFIXES = (".safetensors",)
TOKENIZER_MODEL_SUFFIXES = (".model",)
"""SentencePiece tokenizer models (`tokenizer.model`): protobuf data, checked before import."""
_CHUNK = 1024 * 1024

ShapeOracle = Callable[[str, SafetensorsHeader, Mapping[str, Any] | None], Mapping[str, tuple[int, ...]]]
"""(package path, header, adapter_config or None) -> the shape each tensor must have."""


@dataclass(frozen=True)
class ImportLimits:
    """Bounds on what an imported package may contain."""

    max_entries: int = 1024
    """Most ZIP entries accepted (an adapter package has ~8 files and the vendored DeepSynth source,
    the whole library: ~250 at 0.3; four times that leaves room to grow and still bounds the scan)."""
    max_unpacked_bytes: int = 2 * 1024**3
    """Most bytes after unpacking, all files together (a merged 135M model in 16 bits is ~270 MB)."""
    max_ratio: float = 100.0
    """Largest uncompressed/compressed size of one entry (text deflates ~3-10x; bombs ~1000x)."""
    ratio_floor_bytes: int = 1024 * 1024
    """Entries smaller than this skip the ratio check: they cannot inflate into much."""
    max_text_bytes: int = 16 * 1024 * 1024
    """Largest JSON/text file (read into memory to be parsed)."""
    max_tokenizer_model_bytes: int = 64 * 1024 * 1024
    """Largest SentencePiece `.model` file (read into memory to be checked; Llama's is 0.5 MB,
    Gemma's 4 MB)."""
    max_depth: int = 6
    """Deepest folder nesting inside the package (the vendored source reaches 5:
    `deepsynth_src/deepsynth/estimate/vlm/__init__.py`)."""
    max_header_bytes: int = MAX_HEADER_BYTES
    """Largest safetensors JSON header."""
    max_replicated_layers: int = 512
    """Most decoder layers an adapter's `layer_replication` may build in all (PEFT copies a layer
    per entry: 2000 ranges took 122 s and 1.08 GB to load; DeepSynth's bases have <= 40 layers)."""


@dataclass(frozen=True)
class ImportedPackage:
    """A package that passed every check and now lives in `path`."""

    path: Path
    """Folder holding the unpacked files."""
    manifest: dict[str, Any]
    """The package's manifest.json."""
    files: tuple[str, ...]
    """Package-relative paths written."""


def _refuse(message: str) -> PackageRefused:
    return PackageRefused(message)


def check_entry_name(name: str, max_depth: int) -> PurePosixPath:
    """The package-relative path of one entry, or a refusal naming what is wrong with it."""
    return archive_checks.check_entry_name(name, max_depth, _refuse, "package")


def _check_entry_kind(info: zipfile.ZipInfo) -> None:
    """Regular files and folders only, unencrypted, stored or deflated (`export.bundle` uses it too)."""
    archive_checks.check_entry_kind(info, _refuse)


def _check_suffix(path: PurePosixPath) -> str:
    suffix = path.suffix.lower()
    if suffix in PICKLE_SUFFIXES:
        raise _refuse(f"{path}: {suffix} files are pickle-based weights (loading them can run code); "
                      f"only safetensors weights are accepted")
    if suffix in WEIGHT_SUFFIXES:
        return "safetensors"
    if suffix in TEXT_SUFFIXES:
        return "text"
    if suffix in TOKENIZER_MODEL_SUFFIXES:
        return "tokenizer model"
    raise _refuse(f"{path}: file type {suffix or '(none)'!r} is not allowed; a package holds only "
                  f"safetensors, JSON, text and SentencePiece tokenizer (.model) files")


def _scan_directory(archive: zipfile.ZipFile, limits: ImportLimits) -> dict[str, zipfile.ZipInfo]:
    """Structural checks from the ZIP's central directory alone (nothing inflated yet): the shared
    archive checks (`deepsynth.archive_checks`), plus a package's own file types and sizes."""

    files = archive_checks.scan_archive(archive, limits, _refuse, check_file=lambda path, info: _check_suffix(path),
                                        container="package")
    for name, info in files.items():
        kind = _check_suffix(PurePosixPath(name))
        if kind == "text" and info.file_size > limits.max_text_bytes:
            raise _refuse(f"{name}: text file of {info.file_size:,} bytes exceeds {limits.max_text_bytes:,}")
        if kind == "tokenizer model" and info.file_size > limits.max_tokenizer_model_bytes:
            raise _refuse(f"{name}: tokenizer model of {info.file_size:,} bytes exceeds "
                          f"{limits.max_tokenizer_model_bytes:,}")
    if MANIFEST not in files:
        raise _refuse(f"no {MANIFEST} at the package root")
    return files


def _read_entry(archive: zipfile.ZipFile, info: zipfile.ZipInfo, keep: int, budget: list[int]) -> tuple[str, bytes, int]:
    """sha256, the first `keep` bytes, and the byte count of one entry, inflated in chunks and
    bounded by the remaining unpacked-size budget (the directory's sizes could lie)."""
    digest = hashlib.sha256()
    head = bytearray()

    def take(chunk: bytes) -> None:
        digest.update(chunk)
        if len(head) < keep:
            head.extend(chunk[: keep - len(head)])

    count = archive_checks.copy_entry(archive, info, None, budget, _refuse, on_chunk=take)
    return digest.hexdigest(), bytes(head), count


def _check_manifest(manifest: Any) -> dict[str, Any]:
    listed = manifest.get("files") if isinstance(manifest, dict) else None
    if not isinstance(listed, dict) or not all(
            isinstance(v, dict) and isinstance(v.get("sha256"), str) for v in listed.values()):
        raise _refuse(f"{MANIFEST} must have 'files': {{path: {{'sha256': ..., 'size': ...}}}}")
    return manifest


def _check_text(name: str, data: bytes) -> Any:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise _refuse(f"{name}: not UTF-8 text (byte {error.start}); binary data in a text file") from None
    if "\x00" in text:
        raise _refuse(f"{name}: NUL byte in a text file")
    if name.endswith(".json"):
        try:
            return json.loads(text)
        except json.JSONDecodeError as error:
            raise _refuse(f"{name}: invalid JSON at line {error.lineno}, column {error.colno}: {error.msg}") from None
    return text


def layer_replication_problem(adapter_config: Any, limit: int) -> str | None:
    """Why an adapter config's `layer_replication` (PEFT: a list of [start, end) layer ranges,
    stacked into a deeper model) is refused, else None."""
    if not isinstance(adapter_config, Mapping):
        return None
    ranges = adapter_config.get("layer_replication")
    if ranges is None:
        return None
    if not isinstance(ranges, list) or not all(
            isinstance(r, list) and len(r) == 2 and all(isinstance(v, int) and not isinstance(v, bool) for v in r)
            and 0 <= r[0] < r[1] for r in ranges):
        return f"{ADAPTER_CONFIG}: layer_replication must be a list of [start, end] layer ranges"
    layers = sum(end - start for start, end in ranges)
    if layers > limit:
        return (f"{ADAPTER_CONFIG}: layer_replication builds {layers:,} layers from {len(ranges):,} ranges "
                f"(limit {limit:,}): loading it would copy the model's layers that many times")
    return None


def validate_package(zip_path: str | Path, shape_oracle: ShapeOracle | None = None,
                     limits: ImportLimits = ImportLimits(),
                     oracle_from_card: Callable[[Mapping[str, Any]], ShapeOracle] | None = None,
                     allowed_locations: Collection[str] = (), allow_download: bool = False,
                     ) -> tuple[dict[str, Any], dict[str, zipfile.ZipInfo]]:
    """Run every check on the package; return (manifest, files). Writes nothing.

    The card (deepsynth_model.json), when present, must ask for nothing a package may not decide
    (`card_check.check_card`; `allowed_locations`: paths or hub ids the local user allows it to
    name). Tensor shapes are checked last, against `shape_oracle`, or else against the oracle that
    `oracle_from_card` builds from the package's (by then validated) card."""
    zip_path = Path(zip_path)
    if not zip_path.is_file():
        raise InputError(f"{zip_path}: no such file")
    try:
        archive = zipfile.ZipFile(zip_path)
    except (zipfile.BadZipFile, OSError) as error:
        raise _refuse(f"{zip_path.name} is not a readable ZIP archive: {error}") from None
    with archive:
        files = _scan_directory(archive, limits)
        budget = [limits.max_unpacked_bytes]
        digests: dict[str, str] = {}
        texts: dict[str, Any] = {}
        headers: dict[str, SafetensorsHeader] = {}
        for name, info in files.items():
            is_weights = name.endswith(".safetensors")
            is_tokenizer_model = name.lower().endswith(TOKENIZER_MODEL_SUFFIXES)
            keep = (8 + limits.max_header_bytes if is_weights
                    else limits.max_tokenizer_model_bytes if is_tokenizer_model else limits.max_text_bytes)
            digest, head, count = _read_entry(archive, info, keep, budget)
            digests[name] = digest
            if is_weights:
                try:
                    headers[name] = parse_header(head, count, name, limits.max_header_bytes)
                except InputError as error:
                    raise _refuse(str(error)) from None
            elif is_tokenizer_model:
                if count > len(head):
                    raise _refuse(f"{name}: tokenizer model inflates past {limits.max_tokenizer_model_bytes:,} bytes")
                try:
                    check_sentencepiece_model(head, name)
                except NotSentencePiece as error:
                    raise _refuse(str(error)) from None
            else:
                texts[name] = _check_text(name, head)
    manifest = _check_manifest(texts[MANIFEST])
    listed = manifest["files"]
    present = set(files) - {MANIFEST}
    missing, unlisted = sorted(set(listed) - present), sorted(present - set(listed))
    if missing:
        raise _refuse(f"{MANIFEST} lists {missing[0]!r}, which the package does not contain")
    if unlisted:
        raise _refuse(f"{unlisted[0]!r} is not listed in {MANIFEST}")
    for name in sorted(present):
        if listed[name]["sha256"].lower() != digests[name]:
            raise _refuse(f"{name}: sha256 {digests[name][:16]}... does not match the manifest's "
                          f"{listed[name]['sha256'][:16]}... (file altered or corrupt)")
    card = texts.get(MODEL_CARD)
    if MODEL_CARD in texts:
        check_card(card, allowed_locations)
    replication = layer_replication_problem(texts.get(ADAPTER_CONFIG), limits.max_replicated_layers)
    if replication is not None:
        raise _refuse(replication)
    check_package_code(digests, texts, manifest, card if isinstance(card, dict) else None)
    if shape_oracle is None and oracle_from_card is not None:
        if not isinstance(card, dict):
            raise _refuse(f"no {MODEL_CARD} object at the package root: the base model is unknown")
        try:  # the folders an allowed location names; a hub id read from the local cache only
            with base_loading({**card["model_config"], "trust_remote_code": False}, MODEL_CARD, allow_download):
                shape_oracle = oracle_from_card(card)
        except InputError as error:  # a folder or hub id refused: the package is
            raise _refuse(str(error)) from None
    if shape_oracle is not None:
        adapter_config = texts.get(ADAPTER_CONFIG)
        for name, header in sorted(headers.items()):
            try:
                check_shapes(header, shape_oracle(name, header, adapter_config), name)
            except InputError as error:
                raise _refuse(f"wrong shapes: {error}") from None
    return manifest, files


def import_package(zip_path: str | Path, dest: str | Path, shape_oracle: ShapeOracle | None = None,
                   limits: ImportLimits = ImportLimits(), check_shapes_against_base: bool = True,
                   allowed_locations: Collection[str] = (), allow_download: bool = False) -> ImportedPackage:
    """Validate `zip_path` completely, then unpack it into `dest` (which must not exist) atomically.

    `allowed_locations`: base model / text encoder / font paths or hub ids the package's card may
    name because the local user said so (`deepsynth import --allow-location`); see `card_check`.
    `allow_download` (`deepsynth import --allow-download`, the local user's too): a hub-id base the
    Hugging Face cache lacks may be fetched to check the tensor shapes against it.

    `shape_oracle` says which shape each tensor must have; by default it is built, once everything
    else passed, from the base model named in the package's `deepsynth_model.json`
    (`base_shapes.oracle_for_card`).
    Raises `PackageRefused` (nothing written) or `InputError` (bad arguments)."""
    dest = Path(dest)
    if dest.exists():
        raise InputError(f"{dest}: destination already exists; choose a new folder")
    oracle_from_card = None
    if shape_oracle is None and check_shapes_against_base:
        from deepsynth.export.base_shapes import oracle_for_card as oracle_from_card
    manifest, files = validate_package(zip_path, shape_oracle, limits, oracle_from_card, allowed_locations,
                                       allow_download)
    created = [parent for parent in reversed(dest.parents) if not parent.exists()]
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.importing-", dir=dest.parent))
    try:
        with zipfile.ZipFile(zip_path) as archive:
            for name, info in files.items():
                target = staging.joinpath(*PurePosixPath(name).parts)
                target.parent.mkdir(parents=True, exist_ok=True)
                digest = hashlib.sha256()
                with archive.open(info) as source, target.open("xb") as sink:
                    while chunk := source.read(_CHUNK):
                        digest.update(chunk)
                        sink.write(chunk)
                expected = manifest["files"].get(name, {}).get("sha256") if name != MANIFEST else None
                if expected is not None and digest.hexdigest() != expected.lower():
                    raise _refuse(f"{name}: changed while being imported")
        staging.rename(dest)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        for parent in reversed(created):  # folders this import made, deepest first
            try:
                parent.rmdir()
            except OSError:
                break
        raise
    return ImportedPackage(dest, manifest, tuple(sorted(files)))
