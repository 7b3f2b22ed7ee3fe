"""Several adapters in one archive: one package per run (`package.export_package`, each complete and
importable on its own), stored side by side in a ZIP with `bundle.json` listing them.

    bundle.json                       {"format", "deepsynth_version", "packages": {file: {run_id, sha256, size}}}
    <run name>-<first 8 of id>.zip    one package per run (`workspace_packages.default_package_path` names)

Packages are stored, not deflated again (they are ZIPs already). The receiver unpacks the bundle
and imports each package with `deepsynth import` (every check of a single package applies); the
bundle is written to a temporary sibling and renamed, like a package.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Callable, Sequence

from deepsynth.errors import InputError

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
