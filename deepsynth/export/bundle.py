"""Several adapters in one archive: one package per run (`package.export_package`, each complete and
importable on its own), stored side by side in a ZIP with `bundle.json` listing them.

    bundle.json                       {"format", "deepsynth_version", "packages": {file: {run_id, sha256, size}}}
    <run name>-<first 8 of id>.zip    one package per run (`workspace_packages.default_package_path` names)

Packages are stored, not deflated again (they are ZIPs already). The receiver unpacks the bundle
or runs `deepsynth import BUNDLE.zip`, which checks the bundle (entry names and kinds, sizes, that
`bundle.json` lists exactly the packages present with their sha256), then imports every package
with all the checks of a single one, into `DEST/<package name>/`, all or nothing. The bundle is
written to a temporary sibling and renamed, like a package.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
import zipfile
from pathlib import Path
from typing import Any, Callable, Collection, Sequence

from deepsynth.errors import InputError, PackageRefused

BUNDLE_MANIFEST = "bundle.json"
BUNDLE_FORMAT = 1


def default_bundle_path(run_ids: Sequence[str], folder: Path | None = None) -> Path:
    """`<exports>/adapters-<n>-<first 8 of the first run id>.zip`: where a bundle goes unless the
    user types another path."""
    from deepsynth import paths

    first = run_ids[0][:8] if run_ids else "none"
    return (folder or paths.exports_dir()) / f"adapters-{len(run_ids)}-{first}.zip"


def export_bundle(run_ids: Sequence[str], out_zip: str | Path, uri: str | None = None,
                  progress: Callable[[str], None] | None = None) -> Path:
    """Package each run's adapter and store the packages in one archive `out_zip`."""
    import deepsynth
    from deepsynth.export.package import _check_out_path, export_package, sha256_file, write_zip_atomically
    from deepsynth.export.workspace_packages import default_package_path
    from deepsynth.names import check_run_id
    from deepsynth.tracking.queries import get_run

    out = _check_out_path(out_zip)
    chosen = list(dict.fromkeys(check_run_id(str(run_id)) for run_id in run_ids))
    if len(chosen) < 2:
        raise InputError("a bundle holds two adapters or more; export a single adapter as a package")
    say = progress or (lambda message: None)
    with tempfile.TemporaryDirectory(prefix="deepsynth-bundle-") as work_dir:
        work = Path(work_dir)
        files: dict[str, Path] = {}
        listed: dict[str, dict[str, object]] = {}
        for index, run_id in enumerate(chosen, 1):
            try:
                name = get_run(run_id, uri).run_name
            except Exception:  # an unknown run: export_package names it in its own error below
                name = ""
            package = default_package_path(name, run_id, work)
            say(f"packaging {index} of {len(chosen)}: {package.name}")
            export_package(run_id, package, uri=uri)
            files[package.name] = package
            listed[package.name] = {"run_id": run_id, "sha256": sha256_file(package), "size": package.stat().st_size}
        manifest = work / BUNDLE_MANIFEST
        manifest.write_text(json.dumps({"format": BUNDLE_FORMAT, "deepsynth_version": deepsynth.__version__,
                                        "packages": listed}, indent=2, sort_keys=True), encoding="utf-8")
        files[BUNDLE_MANIFEST] = manifest
        say(f"writing {out}")
        return write_zip_atomically(files, out, stored=True)


def is_bundle(zip_path: str | Path) -> bool:
    """Whether a ZIP is a bundle of packages (`bundle.json` at its root) rather than one package."""
    try:
        with zipfile.ZipFile(zip_path) as archive:
            return BUNDLE_MANIFEST in archive.namelist()
    except (zipfile.BadZipFile, OSError):
        return False


def _bundle_entries(archive: zipfile.ZipFile, limits: Any) -> dict[str, zipfile.ZipInfo]:
    """The bundle's entries after the structural checks a package gets: names, kinds, duplicates,
    sizes; only `bundle.json` and `.zip` packages at the root."""
    from deepsynth.export.safe_import import _check_entry_kind, check_entry_name, name_key

    infos = archive.infolist()
    if len(infos) > limits.max_entries:
        raise PackageRefused(f"too many entries: {len(infos)} (limit {limits.max_entries})")
    entries: dict[str, zipfile.ZipInfo] = {}
    seen: set[str] = set()
    total = 0
    for info in infos:
        path = check_entry_name(info.orig_filename, 1)  # packages sit at the root
        _check_entry_kind(info)
        if info.is_dir() or (str(path) != BUNDLE_MANIFEST and path.suffix.lower() != ".zip"):
            raise PackageRefused(f"entry {info.filename!r}: a bundle holds only {BUNDLE_MANIFEST} and .zip packages")
        if name_key(str(path)) in seen:
            raise PackageRefused(f"duplicate entry {info.filename!r}")
        seen.add(name_key(str(path)))
        total += info.file_size
        if total > limits.max_unpacked_bytes:
            raise PackageRefused(f"unpacked size exceeds {limits.max_unpacked_bytes:,} bytes")
        entries[str(path)] = info
    if BUNDLE_MANIFEST not in entries:
        raise PackageRefused(f"no {BUNDLE_MANIFEST} at the bundle's root")
    return entries


def import_bundle(zip_path: str | Path, dest: str | Path, limits: Any = None,
                  allowed_locations: Collection[str] = (), allow_download: bool = False) -> list[Any]:
    """Check a bundle, then import each of its packages (`safe_import.import_package`, every check)
    into `dest/<package name>/`; `dest` must not exist, and a refusal leaves nothing behind."""
    from deepsynth.export.safe_import import ImportLimits, import_package

    limits = limits or ImportLimits()
    zip_path, dest = Path(zip_path), Path(dest)
    if dest.exists():
        raise InputError(f"{dest}: destination already exists; choose a new folder")
    try:
        archive = zipfile.ZipFile(zip_path)
    except (zipfile.BadZipFile, OSError) as error:
        raise PackageRefused(f"{zip_path.name} is not a readable ZIP archive: {error}") from None
    created = [parent for parent in reversed(dest.parents) if not parent.exists()]
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.importing-", dir=dest.parent))
    try:
        with archive, tempfile.TemporaryDirectory(prefix="deepsynth-bundle-import-") as work_dir:
            entries = _bundle_entries(archive, limits)
            if entries[BUNDLE_MANIFEST].file_size > limits.max_text_bytes:
                raise PackageRefused(f"{BUNDLE_MANIFEST} is larger than {limits.max_text_bytes:,} bytes")
            try:
                listed = json.loads(archive.read(BUNDLE_MANIFEST).decode("utf-8")).get("packages")
            except (ValueError, AttributeError):
                listed = None
            if not isinstance(listed, dict) or not all(isinstance(v, dict) and isinstance(v.get("sha256"), str)
                                                       for v in listed.values()):
                raise PackageRefused(f"{BUNDLE_MANIFEST} must be {{\"packages\": {{file: {{\"sha256\": ...}}}}}}")
            present = set(entries) - {BUNDLE_MANIFEST}
            if set(listed) != present:
                odd = sorted(set(listed) ^ present)[0]
                raise PackageRefused(f"{odd!r}: {BUNDLE_MANIFEST} and the bundle's packages differ")
            budget = limits.max_unpacked_bytes
            imported = []
            for name in sorted(present):
                local = Path(work_dir) / name
                digest = hashlib.sha256()
                with archive.open(entries[name]) as source, local.open("xb") as sink:
                    while chunk := source.read(1024 * 1024):
                        budget -= len(chunk)
                        if budget < 0:
                            raise PackageRefused("unpacked size exceeds the limit while inflating")
                        digest.update(chunk)
                        sink.write(chunk)
                if digest.hexdigest() != str(listed[name]["sha256"]).lower():
                    raise PackageRefused(f"{name}: sha256 does not match {BUNDLE_MANIFEST} (altered or corrupt)")
                try:
                    imported.append(import_package(local, staging / Path(name).stem, limits=limits,
                                                   allowed_locations=allowed_locations,
                                                   allow_download=allow_download))
                except PackageRefused as error:
                    raise PackageRefused(f"{name}: {error}") from None
        staging.rename(dest)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        for parent in reversed(created):
            try:
                parent.rmdir()
            except OSError:
                break
        raise
    return [type(package)(dest / package.path.name, package.manifest, package.files) for package in imported]
