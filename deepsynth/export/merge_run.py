"""Merging a run's adapter into its base, as a folder of its own: `deepsynth merge --run RUN_ID`
(and the Registry page's "Merge into its base" button, which runs that verb in a child process).

The run's adapter is fetched (`run_source.fetch_run`), merged and checked by `merge.write_merged`
(16-bit by default, QLoRA bases dequantized first, the merge refused when it strays from the
unmerged model), and written beside the adapter's card into a new folder, renamed into place only
when complete: `<workspace>/workspace/merged/<run name>-<first 8 of the run id>/` unless another
folder is named. The merged decoder loads with `from_pretrained(folder)`; `deepsynth_model.json`
beside it says which page reader and render settings produced its inputs.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable

from deepsynth import paths
from deepsynth.errors import InputError

MERGED_FOLDER = "merged"
"""The workspace folder (beside `exports/`) that holds merged models."""


def merged_dir() -> Path:
    return paths.exports_dir().parent / MERGED_FOLDER


def default_merged_path(run_name: str | None, run_id: str, folder: Path | None = None) -> Path:
    """`<workspace>/workspace/merged/<run name>-<first 8 of the run id>` (the package naming rule)."""
    from deepsynth.export.workspace_packages import default_package_path

    return (folder or merged_dir()) / default_package_path(run_name, run_id, Path(".")).stem


def merge_run(run_id: str, out_dir: str | Path | None = None, uri: str | None = None, dtype: str = "float16",
              trust_remote_code: bool = False, progress: Callable[[str], None] | None = None,
              allow_download: bool = False) -> tuple[Path, dict[str, Any]]:
    """(the merged model's folder, the merge report) for run `run_id`'s adapter."""
    from deepsynth.adapter_format.files import MODEL_CARD
    from deepsynth.export.merge import write_merged
    from deepsynth.export.package import trained_quantization
    from deepsynth.export.run_source import fetch_run
    from deepsynth.names import check_run_id

    run_id = check_run_id(run_id)
    say = progress or (lambda message: None)
    with tempfile.TemporaryDirectory(prefix="deepsynth-merge-") as work_dir:
        work = Path(work_dir)
        say("downloading the run's adapter")
        adapter_dir, record = fetch_run(run_id, work / "run", uri)
        out = Path(out_dir) if out_dir is not None else default_merged_path(record.run_name, run_id)
        if out.exists():
            raise InputError(f"{out}: already exists; choose a new folder (or remove that one)")
        out.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.merging-", dir=out.parent))
        try:
            say("merging the adapter into its base")
            report = write_merged(adapter_dir, staging / "model", quantization=trained_quantization(record),
                                  dtype=dtype, trust_remote_code=trust_remote_code, allow_download=allow_download)
            shutil.copyfile(adapter_dir / MODEL_CARD, staging / "model" / MODEL_CARD)
            (staging / "model" / "merged_from.json").write_text(
                json.dumps({"run_id": run_id, "run_name": record.run_name}, indent=2), encoding="utf-8")
            (staging / "model").rename(out)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return out, report
