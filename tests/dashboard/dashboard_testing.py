"""Helpers for the dashboard tests (a module of its own: `conftest` is a name every test folder uses)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "dashboard" / "app.py"
EXPERIMENT = "dashboard-tests"
EVAL_EXPERIMENT = "dashboard-eval-tests"  # evaluated runs with per-document predictions (conftest eval_store)
PAGES = ("estimate", "dataset", "train", "compare", "registry", "playground")


@dataclass(frozen=True)
class Store:
    """The session's tracking store and the runs made in it for the dashboard tests."""

    uri: str
    """The sqlite tracking URI shared by the test session."""
    finished: tuple[str, ...]
    """Three FINISHED runs (ranks 8, 16, 32), newest last; the rank-16 run has an adapter."""
    failed: str
    """A FAILED run with a deepsynth.error tag."""
    with_adapter: str
    """The finished run with an `adapter/` artifact (for export, register, playground)."""


def write_fake_adapter(folder: Path, rank: int = 4) -> Path:
    """A structurally valid PEFT adapter folder (safetensors written without torch)."""
    import numpy as np
    from safetensors.numpy import save_file

    folder.mkdir(parents=True, exist_ok=True)
    prefix = "base_model.model.model.layers.0.self_attn.q_proj"
    save_file({f"{prefix}.lora_A.weight": np.zeros((rank, 16), np.float32),
               f"{prefix}.lora_B.weight": np.zeros((16, rank), np.float32)},
              str(folder / "adapter_model.safetensors"))
    (folder / "adapter_config.json").write_text(json.dumps({
        "peft_type": "LORA", "r": rank, "lora_alpha": 2 * rank, "target_modules": ["q_proj"],
        "base_model_name_or_path": "tiny", "task_type": "CAUSAL_LM"}))
    (folder / "deepsynth_model.json").write_text(json.dumps({"model": {"name": "tiny"}, "base": {"name": "tiny"}}))
    return folder


class FakeSpawn:
    """Stands in for subprocess.Popen in jobs.start_job/resume: records the argv it was asked to run
    and starts a harmless sleeper instead (a real process, so job state and cancel are real)."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []
        self.processes: list = []

    def __call__(self, argv, **kwargs):
        import subprocess
        import sys

        self.calls.append(list(argv))
        process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"], **kwargs)
        self.processes.append(process)
        return process


def started_config(argv):
    """The TrainConfig a recorded `deepsynth train --config FILE` job would run."""
    from deepsynth.training.config import load_train_config

    return load_train_config(argv[argv.index("--config") + 1])


def texts(app) -> str:
    """Everything the page shows as text (markdown, captions, alerts, titles), one string."""
    parts = []
    for kind in ("title", "subheader", "markdown", "caption", "info", "success", "warning", "error"):
        parts.extend(str(element.value) for element in getattr(app, kind))
    return "\n".join(parts)


def flat(node) -> list:
    """Every element under `node` in page order (blocks opened up)."""
    out = []
    for child in getattr(node, "children", {}).values():
        if getattr(child, "children", None) and child.type not in ("dataframe",):
            out.extend(flat(child))
        else:
            out.append(child)
    return out


def element_after(app, key: str):
    """The element shown right after the widget with `key` (where a field's error goes)."""
    elements = [element for element in flat(app.main) if element.type != "column"]  # layout, not content
    for index, element in enumerate(elements):
        if getattr(element, "key", None) == key:
            return elements[index + 1] if index + 1 < len(elements) else None
    raise AssertionError(f"no widget with key {key!r} on the page")


def error_after(app, key: str):
    """The first error shown below the widget with `key` (a generated form puts a group's
    problems in one slot under the group)."""
    elements = [element for element in flat(app.main) if element.type != "column"]
    keys = [getattr(element, "key", None) for element in elements]
    if key not in keys:
        raise AssertionError(f"no widget with key {key!r} on the page")
    return next((element for element in elements[keys.index(key) + 1:] if element.type == "error"), None)


def load_ui(name: str):
    """A `dashboard/ui/<name>.py` module loaded from its file (pages import it as `ui.<name>`, with
    Streamlit's script folder on sys.path; tests leave sys.path alone)."""
    import importlib.util
    import sys

    spec = importlib.util.spec_from_file_location(f"dashboard_ui_{name}", ROOT / "dashboard" / "ui" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module
