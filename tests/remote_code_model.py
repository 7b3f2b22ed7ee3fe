"""A model folder whose config.json maps the Auto classes to its own `evil.py`, which writes a
marker file when imported: what `trust_remote_code` would run. Tests use it to prove that nothing
from an imported file or a model card turns remote code on."""

from __future__ import annotations

import json
from pathlib import Path


def write_remote_code_model(folder: Path, marker: Path) -> Path:
    """The folder (created), whose code writes `marker` when transformers imports it."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps({
        "model_type": "deepsynth_evil", "architectures": ["EvilModel"],
        "auto_map": {"AutoConfig": "evil.EvilConfig", "AutoModel": "evil.EvilModel",
                     "AutoModelForCausalLM": "evil.EvilModel"}}))
    (folder / "evil.py").write_text(
        f"from pathlib import Path\nPath({str(marker)!r}).write_text('owned')\n"
        "from transformers import PretrainedConfig, PreTrainedModel\n"
        "class EvilConfig(PretrainedConfig):\n    model_type = 'deepsynth_evil'\n"
        "class EvilModel(PreTrainedModel):\n    config_class = EvilConfig\n")
    return folder
