"""Exporting an adapter as a self-describing ZIP package a colleague can run or import.

Layout (flat, so the package root is itself a PEFT adapter folder):
    adapter_model.safetensors, adapter_config.json   the adapter (vanilla PEFT)
    deepsynth_model.json                              model config + base identity + render config
    projection.safetensors, ...                       extra trained weights, if the run has any
    merged/                                           with --merge: the 16-bit merged decoder
    README.md                                         model card
    requirements.txt, requirements-assets.txt         what to install (versions used at export)
    inference.py + deepsynth_src/                     the runnable script and the DeepSynth code it runs
                                                      (a VLM adapter's script needs no DeepSynth code:
                                                      transformers + peft + pillow, no deepsynth_src/)
    manifest.json                                     sha256 and size of every other file
The ZIP is written to a temporary file beside `out_zip` and renamed into place: an interrupted
export leaves no half-written package. Entries carry a fixed timestamp, so the same inputs give
the same bytes. Weights are stored (they do not deflate); text is deflated.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import zipfile
from pathlib import Path
from typing import Any, Callable, Mapping

from deepsynth.adapter_format.files import ADAPTER_CONFIG, ADAPTER_WEIGHTS, MODEL_CARD, PICKLE_SUFFIXES
from deepsynth.errors import InputError
from deepsynth.export.run_source import RunRecord, fetch_run
from deepsynth.export.safe_import import MANIFEST, TEXT_SUFFIXES
from deepsynth.adapter_format.safetensors_check import read_header
from deepsynth.names import check_run_id

VENDORED_SOURCE = "deepsynth_src"
_FIXED_TIME = (1980, 1, 1, 0, 0, 0)
PACKAGE_FORMAT = 1


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


def build_manifest(files: Mapping[str, Path], extra: Mapping[str, Any]) -> dict[str, Any]:
    """`{"format", ..., "files": {name: {"sha256", "size"}}}` for every package file."""
    return {
        "format": PACKAGE_FORMAT,
        **extra,
        "files": {name: {"sha256": sha256_file(path), "size": path.stat().st_size}
                  for name, path in sorted(files.items())},
    }


def write_zip_atomically(files: Mapping[str, Path], out_zip: Path, stored: bool = False) -> Path:
    """Write `files` (package name -> local file) into `out_zip` via a temporary sibling + rename;
    `stored`: no entry is deflated (a bundle of packages, which are ZIPs already)."""
    out_zip.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{out_zip.name}.", suffix=".partial", dir=out_zip.parent)
    os.close(handle)
    try:
        with zipfile.ZipFile(temporary, "w") as archive:
            for name, path in sorted(files.items()):
                info = zipfile.ZipInfo(name, date_time=_FIXED_TIME)
                info.external_attr = 0o100644 << 16  # a regular file, rw-r--r--
                info.compress_type = (zipfile.ZIP_STORED if stored or name.endswith(".safetensors")
                                      else zipfile.ZIP_DEFLATED)
                with path.open("rb") as source, archive.open(info, "w", force_zip64=True) as sink:
                    while chunk := source.read(1024 * 1024):
                        sink.write(chunk)
        os.replace(temporary, out_zip)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return out_zip


def adapter_files(adapter_dir: Path) -> dict[str, Path]:
    """The files of an adapter folder that go into the package, after checking each one."""
    if not adapter_dir.is_dir():
        raise InputError(f"{adapter_dir}: not an adapter folder")
    files: dict[str, Path] = {}
    for path in sorted(adapter_dir.iterdir()):
        if path.is_symlink() or not path.is_file():
            continue
        suffix = path.suffix.lower()
        if suffix in PICKLE_SUFFIXES:
            raise InputError(f"{path}: pickle-based weights cannot be exported; save the adapter as safetensors")
        if suffix == ".safetensors":
            read_header(path)  # refuses a corrupt or renamed file before it is packaged
        elif suffix not in TEXT_SUFFIXES:
            continue
        files[path.name] = path
    for required in (ADAPTER_WEIGHTS, ADAPTER_CONFIG, MODEL_CARD):
        if required not in files:
            raise InputError(f"{adapter_dir}: missing {required} (an adapter folder written by "
                             f"DeepSynth training has adapter_model.safetensors, adapter_config.json "
                             f"and deepsynth_model.json)")
    return files


def vendored_source_files() -> dict[str, Path]:
    """DeepSynth's own code (the version exporting), so that inference.py runs exactly it."""
    import deepsynth

    root = Path(deepsynth.__file__).parent
    files = {}
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if (path.is_file() and not path.is_symlink() and "__pycache__" not in relative.parts
                and path.suffix in (".py", ".json", ".txt")):
            files[f"{VENDORED_SOURCE}/deepsynth/{relative.as_posix()}"] = path
    return files


def is_vlm_card(model_json: Mapping[str, Any]) -> bool:
    """Whether the adapter's base is of a kind whose package runs on transformers + PEFT alone (a
    vision-language model; its base identity records the kind)."""
    from deepsynth.models.kinds import kind_of_identity

    kind = kind_of_identity(model_json.get("base_model") or {})
    return kind is not None and kind.standalone_package


def vlm_requirements() -> str:
    """requirements.txt of a VLM package: the standalone script needs torch, transformers, peft
    and pillow (+ their own needs: safetensors, tokenizers, accelerate for device placement)."""
    from deepsynth.export.model_card import _version, torch_requirement

    torch_pin, torch_index = torch_requirement()
    lines = ["# Versions installed when this package was exported (see README.md for CUDA builds).",
             torch_index, torch_pin]
    for name in ("transformers", "peft", "pillow", "safetensors", "tokenizers", "accelerate"):
        version = _version(name)
        lines.append(f"{name}=={version}" if version else f"{name}  # not installed at export time")
    return "\n".join(lines) + "\n"


def trained_quantization(record: RunRecord) -> str:
    """How the run loaded its base (QLoRA or not): a merge must start from the same weights."""
    lora = (record.train_config or {}).get("lora") or {}
    return str(lora.get("quantization") or record.params.get("lora.quantization") or "none")


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise InputError(f"{path}: cannot read JSON: {error}") from None


def _check_out_path(out_zip: str | Path) -> Path:
    out = Path(out_zip)
    if out.suffix.lower() != ".zip":
        raise InputError(f"{out}: the package file name must end with .zip")
    bad = next((c for c in str(out) if ord(c) < 32 or ord(c) == 127), None)
    if bad is not None:
        raise InputError(f"{out!r}: control character U+{ord(bad):04X} in the output path")
    if out.is_dir():
        raise InputError(f"{out}: is a folder; give a .zip file path")
    return out


def export_package(source: str | Path, out_zip: str | Path, merge: bool = False, uri: str | None = None,
                   progress: Callable[[str], None] | None = None, merge_dtype: str = "float16",
                   trust_remote_code: bool = False, allow_download: bool = False) -> Path:
    """Package a run's adapter (`source` a `str`: an MLflow run id) or an adapter folder (`source` a
    `Path`) into `out_zip`. A string is never taken for a folder: `"../../etc"` is a bad run id.

    With `merge`, the package also holds the decoder with the adapter merged into a 16-bit base
    (`merged/`; see `deepsynth.export.merge`). Returns the written ZIP's path."""
    from deepsynth.export.inference_script import inference_script
    from deepsynth.export.model_card import model_card, requirements_files

    out = _check_out_path(out_zip)
    say = progress or (lambda message: None)
    with tempfile.TemporaryDirectory(prefix="deepsynth-export-") as work_dir:
        work = Path(work_dir)
        if isinstance(source, Path):
            adapter_dir, record = source, RunRecord()
        else:
            say("downloading the run's artifacts")
            adapter_dir, record = fetch_run(check_run_id(str(source)), work / "run", uri)
        files = adapter_files(adapter_dir)
        model_json = _read_json(files[MODEL_CARD])
        adapter_config = _read_json(files[ADAPTER_CONFIG])
        merge_report = None
        if merge:
            from deepsynth.export.merge import write_merged

            say("merging the adapter into a 16-bit base")
            merge_report = write_merged(adapter_dir, work / "merged", quantization=trained_quantization(record),
                                        dtype=merge_dtype, trust_remote_code=trust_remote_code,
                                        allow_download=allow_download)
            files.update({f"merged/{path.name}": path for path in sorted((work / "merged").iterdir())})
        say("writing the model card, requirements and inference script")
        vlm = is_vlm_card(model_json)
        if vlm:  # a plain PEFT adapter on a transformers VLM: no DeepSynth code needed to run it
            from deepsynth.export.vlm_inference_script import vlm_inference_script

            generated = {"requirements.txt": vlm_requirements(), "inference.py": vlm_inference_script()}
        else:
            requirements, assets = requirements_files(model_json)
            generated = {"requirements.txt": requirements, "requirements-assets.txt": assets,
                         "inference.py": inference_script()}
        generated["README.md"] = model_card(model_json, adapter_config, record, merge_report, sorted(files),
                                         vlm=vlm)
        for name, text in generated.items():
            (work / name).write_text(text, encoding="utf-8")
            files[name] = work / name
        if not vlm:
            files.update(vendored_source_files())
        import deepsynth

        manifest = build_manifest(files, {
            "deepsynth_version": deepsynth.__version__, "run_id": record.run_id,
            "merged": merge_report is not None, "base_model": model_json.get("base_model", {}),
        })
        (work / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True), encoding="utf-8")
        files[MANIFEST] = work / MANIFEST
        say(f"writing {out}")
        return write_zip_atomically(files, out)
