"""Fixtures for export/import tests: a real tiny PEFT adapter and a package builder for attacks."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from pathlib import Path

import pytest
import torch
from tiny_adapters import build_tiny_adapter  # noqa: F401  (tests/ is on sys.path)

torch.set_num_threads(1)


@pytest.fixture(scope="session")
def tiny_lora_decoder():
    """The tiny decoder (models.builtin.tiny) with a LoRA adapter whose B is non-zero, and its saved files."""
    from peft import LoraConfig, get_peft_model

    from deepsynth.models.builtin.tiny import tiny_decoder, tiny_tokenizer

    base = tiny_decoder(len(tiny_tokenizer()))
    model = get_peft_model(base, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"]))
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if "lora_B" in name:
                parameter.normal_(0, 0.02, generator=torch.Generator().manual_seed(7))
    return model


@pytest.fixture(scope="session")
def adapter_bytes(tiny_lora_decoder, tmp_path_factory) -> dict[str, bytes]:
    folder = tmp_path_factory.mktemp("adapter")
    tiny_lora_decoder.save_pretrained(str(folder))
    return {name: (folder / name).read_bytes() for name in ("adapter_model.safetensors", "adapter_config.json")}


@pytest.fixture(scope="session")
def shape_oracle(tiny_lora_decoder):
    """Expected shapes from the tiny base decoder (what `import_package` checks against)."""
    from deepsynth.adapter_format.safetensors_check import expected_adapter_shapes

    base = tiny_lora_decoder.get_base_model()

    def oracle(name, header, adapter_config):
        return expected_adapter_shapes(base, adapter_config or {}, list(header.tensors))

    return oracle


def manifest_for(files: dict[str, bytes]) -> bytes:
    import deepsynth

    return json.dumps({"format": 1, "deepsynth_version": deepsynth.__version__, "files": {
        name: {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
        for name, data in files.items()}}).encode()


def write_zip(path: Path, entries: list[tuple[zipfile.ZipInfo | str, bytes]]) -> Path:
    """Write entries exactly as given (duplicates, odd names and modes included)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about duplicate names: we want them
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
            for info, data in entries:
                archive.writestr(info, data)
    return path


def build_package(path: Path, files: dict[str, bytes], manifest: bytes | None = None,
                  extra: list[tuple[zipfile.ZipInfo | str, bytes]] = ()) -> Path:
    """A package of `files` with a correct manifest (unless one is given), plus raw `extra` entries."""
    listed = dict(files)
    for info, data in extra:
        listed[info.filename if isinstance(info, zipfile.ZipInfo) else info] = data
    entries = [(name, data) for name, data in files.items()] + list(extra)
    entries.append(("manifest.json", manifest if manifest is not None else manifest_for(listed)))
    return write_zip(path, entries)


def torch_saved_bytes() -> bytes:
    """What `torch.save` writes (a ZIP holding a pickle): the format the import must refuse."""
    buffer = io.BytesIO()
    torch.save({"weight": torch.zeros(2)}, buffer)
    return buffer.getvalue()


class ZipTools:
    """The helpers above, as a fixture (test modules cannot import a conftest by name)."""

    manifest_for = staticmethod(manifest_for)
    write_zip = staticmethod(write_zip)
    build_package = staticmethod(build_package)
    torch_saved_bytes = staticmethod(torch_saved_bytes)


@pytest.fixture(scope="session")
def zip_tools() -> ZipTools:
    return ZipTools()




@pytest.fixture(scope="session")
def render_config():
    from deepsynth.render import RenderConfig

    return RenderConfig(font_size=24, page_height=600)


@pytest.fixture(scope="session")
def tiny_adapter_dir(tmp_path_factory, render_config) -> Path:
    return build_tiny_adapter(tmp_path_factory.mktemp("tiny-adapter") / "adapter", seed=11,
                              render_config=render_config)


@pytest.fixture(scope="session")
def page_png(tmp_path_factory, render_config) -> Path:
    """A rendered page (deepsynth.render) as a PNG file."""
    from deepsynth.render import encode_png, render_document

    document = render_document("Quarterly revenue rose nine percent while costs fell. " * 3, render_config)
    path = tmp_path_factory.mktemp("page") / "page.png"
    path.write_bytes(encode_png(document.pages[0]))
    return path


@pytest.fixture(scope="session")
def adapter_run(mlflow_tracking_uri, tiny_adapter_dir) -> str:
    """A finished MLflow run holding the adapter and the metadata files the contract names."""
    from deepsynth.tracking.store import RunLogger

    logger = RunLogger.start("export-tests", run_name="tiny-export", uri=mlflow_tracking_uri,
                             params={"lora.rank": 4, "lora.quantization": "none", "render.font_size": 24,
                                     "data.source": "bundled-wiki"})
    logger.log_metrics({"train/loss": 2.5, "eval/rouge1": 31.0, "eval/rouge2": 12.0, "eval/rougeL": 28.5,
                        "eval/base_rougeL": 9.0, "memory/estimated_bytes": 110e6,
                        "memory/measured_peak_bytes": 100e6}, step=10, flush=True)
    logger.log_artifacts(tiny_adapter_dir, "adapter")
    logger.log_dict({"split": "test", "docs": 40, "rouge": {"tuned": {"rouge1": 31.0, "rougeL": 28.5}}},
                    "eval/rouge.json")
    logger.log_dict({"lora": {"quantization": "none", "rank": 4}}, "config/train_config.json")
    logger.log_dict({"total_bytes": 110e6}, "estimate.json")
    logger.finish()
    return logger.run_id
