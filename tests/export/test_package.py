"""Export packages: contents and hashes, the generated inference.py, refusals, the CLI."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from deepsynth.errors import InputError
from deepsynth.export.package import export_package
from deepsynth.export.safe_import import import_package

ADAPTER_FILES = {"adapter_model.safetensors", "adapter_config.json", "deepsynth_model.json"}
GENERATED = {"README.md", "requirements.txt", "requirements-assets.txt", "inference.py", "manifest.json"}


@pytest.fixture(scope="module")
def package(tmp_path_factory, tiny_adapter_dir) -> Path:
    return export_package(tiny_adapter_dir, tmp_path_factory.mktemp("pkg") / "tiny.zip")


@pytest.fixture(scope="module")
def run_package(tmp_path_factory, adapter_run, mlflow_tracking_uri) -> Path:
    return export_package(adapter_run, tmp_path_factory.mktemp("run-pkg") / "run.zip", uri=mlflow_tracking_uri)


def test_package_contents_and_hashes(package, tiny_adapter_dir):
    with zipfile.ZipFile(package) as archive:
        names = archive.namelist()
        top = {name for name in names if "/" not in name}
        assert top == ADAPTER_FILES | GENERATED
        assert len(names) == len(set(names))
        manifest = json.loads(archive.read("manifest.json"))
        assert set(manifest["files"]) == set(names) - {"manifest.json"}
        for name, entry in manifest["files"].items():
            data = archive.read(name)
            assert entry["sha256"] == hashlib.sha256(data).hexdigest(), name
            assert entry["size"] == len(data)
        for name in ADAPTER_FILES:
            assert archive.read(name) == (tiny_adapter_dir / name).read_bytes()
        assert "deepsynth_src/deepsynth/inference/summarizer.py" in names
        assert "deepsynth_src/deepsynth/export/package.py" in names
        assert not any("__pycache__" in name or name.endswith(".pyc") for name in names)
        assert archive.getinfo("adapter_model.safetensors").compress_type == zipfile.ZIP_STORED
        requirements = archive.read("requirements.txt").decode()
    import torch

    assert f"torch=={torch.__version__}\n" in requirements
    assert "--extra-index-url https://download.pytorch.org/whl/cpu" in requirements
    assert "cu128" in requirements  # says how to get a CUDA build
    import peft
    import transformers

    assert f"transformers=={transformers.__version__}" in requirements and f"peft=={peft.__version__}" in requirements
    assert manifest["run_id"] is None and manifest["merged"] is False


def test_same_adapter_gives_the_same_bytes(package, tiny_adapter_dir, tmp_path):
    again = export_package(tiny_adapter_dir, tmp_path / "again.zip")
    assert again.read_bytes() == package.read_bytes()


def test_export_from_a_run_writes_its_model_card(run_package, adapter_run, mlflow_tracking_uri):
    with zipfile.ZipFile(run_package) as archive:
        card = archive.read("README.md").decode()
        manifest = json.loads(archive.read("manifest.json"))
    assert manifest["run_id"] == adapter_run
    assert f"MLflow run `{adapter_run}`" in card
    assert "ROUGE-L (higher is better), the summarize task's primary metric, on 40 test documents" in card
    assert "| tuned | 28.5 | not recorded | 40 |" in card and "| base (untouched) | 9.0 | not recorded | 40 |" in card
    assert "estimated before training: 104.9 MiB" in card and "measured peak: 95.4 MiB" in card
    assert "estimate error: +10.0%" in card
    assert "| `render.font_size` | 24 |" in card
    assert "| `r` | 4 |" in card and "| `model.name` | tiny |" in card


def test_the_package_imports_and_its_inference_script_matches_deepsynth(package, page_png, tmp_path, render_config):
    from deepsynth.inference import BASE, Summarizer

    imported = import_package(package, tmp_path / "clean" / "pkg")
    text_file = tmp_path / "doc.txt"
    text_file.write_text("The committee approved the budget after a long debate about schools.", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "DEEPSYNTH_HOME")}

    def script(*args: str) -> str:
        done = subprocess.run([sys.executable, "inference.py", *args, "--threads", "1", "--max-new-tokens", "12"],
                              cwd=imported.path, env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-3000:]
        return done.stdout.rstrip("\n")

    version = subprocess.run([sys.executable, "inference.py", "--version"], cwd=imported.path, env=env,
                             capture_output=True, text=True, timeout=120)
    assert str(imported.path / "deepsynth_src" / "deepsynth") in version.stdout  # the vendored code runs

    ours = Summarizer.for_adapter(imported.path, label="adapter")
    assert ours.render_config_for("adapter") == render_config  # the adapter's own render settings
    expected_image = ours.summarize(image=page_png, max_new_tokens=12)
    expected_text = ours.summarize(text=text_file.read_text(encoding="utf-8"), max_new_tokens=12)
    assert expected_image != ours.summarize(image=page_png, adapter=BASE, max_new_tokens=12)  # the adapter matters
    assert script("--image", str(page_png)) == expected_image
    assert script("--text-file", str(text_file)) == expected_text


@pytest.mark.parametrize("run_id, message", [
    ("../../etc", r"run id '\.\./\.\./etc' contains a path character '/'"),
    ("abc;rm -rf ~", r"contains a shell metacharacter ';'"),
    ("abc\x07", r"contains a control character U\+0007"),
    ("0123456789abcdef0123456789abcdef", r"run '0123456789abcdef0123456789abcdef' not found"),
])
def test_bad_run_ids_are_refused(run_id, message, tmp_path, mlflow_tracking_uri):
    with pytest.raises(InputError, match=message):
        export_package(run_id, tmp_path / "out.zip", uri=mlflow_tracking_uri)
    assert list(tmp_path.iterdir()) == []


def test_bad_adapter_folders_and_outputs_are_refused(tiny_adapter_dir, tmp_path, zip_tools):
    import shutil

    with pytest.raises(InputError, match=r"must end with \.zip"):
        export_package(tiny_adapter_dir, tmp_path / "out.tar")
    with pytest.raises(InputError, match=r"control character U\+000A in the output path"):
        export_package(tiny_adapter_dir, tmp_path / "bad\nname.zip")
    pickled = tmp_path / "pickled"
    shutil.copytree(tiny_adapter_dir, pickled)
    (pickled / "adapter_model.bin").write_bytes(zip_tools.torch_saved_bytes())
    with pytest.raises(InputError, match=r"adapter_model\.bin: pickle-based weights cannot be exported"):
        export_package(pickled, tmp_path / "out.zip")
    renamed = tmp_path / "renamed"
    shutil.copytree(tiny_adapter_dir, renamed)
    (renamed / "adapter_model.safetensors").write_bytes(zip_tools.torch_saved_bytes())
    with pytest.raises(InputError, match=r"not a safetensors file: it is a ZIP archive"):
        export_package(renamed, tmp_path / "out.zip")
    (renamed / "adapter_model.safetensors").unlink()
    with pytest.raises(InputError, match=r"missing adapter_model\.safetensors"):
        export_package(renamed, tmp_path / "out.zip")
    assert not (tmp_path / "out.zip").exists()


def test_an_interrupted_export_leaves_no_package(tiny_adapter_dir, tmp_path, monkeypatch):
    from deepsynth.export import package as package_module

    def fail_midway(data: bytes) -> None:
        raise OSError("disk full")

    original = zipfile.ZipFile.open

    def opening(self, name, mode="r", **kwargs):
        handle = original(self, name, mode, **kwargs)
        if mode == "w" and str(getattr(name, "filename", name)) == "manifest.json":
            handle.write = fail_midway
        return handle

    monkeypatch.setattr(zipfile.ZipFile, "open", opening)
    with pytest.raises(OSError, match="disk full"):
        package_module.export_package(tiny_adapter_dir, tmp_path / "out.zip")
    assert list(tmp_path.iterdir()) == []


def test_export_and_import_commands(tiny_adapter_dir, tmp_path, capsys, zip_tools):
    from deepsynth.cli import main

    out = tmp_path / "cli.zip"
    assert main(["export", "--adapter-dir", str(tiny_adapter_dir), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"wrote {out}" in printed and "adapter_model.safetensors" in printed and "deepsynth_src/" in printed
    assert main(["import", str(out), "--dest", str(tmp_path / "imported")]) == 0
    assert (tmp_path / "imported" / "adapter_model.safetensors").is_file()
    evil = zip_tools.build_package(tmp_path / "evil.zip", {"adapter_config.json": b"{}"}, extra=[("../x.txt", b"x")])
    assert main(["import", str(evil), "--dest", str(tmp_path / "evil")]) == 2
    assert "error: entry '../x.txt': '..' in its path points outside the package (zip slip)" in capsys.readouterr().err
    assert not (tmp_path / "evil").exists() and not (tmp_path / "x.txt").exists()


def _package_with(tmp_path, tiny_adapter_dir, zip_tools, name, **replace) -> Path:
    files = {p.name: p.read_bytes() for p in tiny_adapter_dir.iterdir()}
    files.update(replace)
    return zip_tools.build_package(tmp_path / name, files)


def test_the_default_import_checks_shapes_against_the_base_in_the_card(tiny_adapter_dir, tmp_path, zip_tools):
    import torch
    from safetensors.torch import load_file, save

    from deepsynth.errors import PackageRefused

    state = load_file(str(tiny_adapter_dir / "adapter_model.safetensors"))
    key = sorted(k for k in state if k.endswith("v_proj.lora_B.weight"))[0]
    state[key] = torch.zeros(state[key].shape[0] * 2, state[key].shape[1])
    bad = _package_with(tmp_path, tiny_adapter_dir, zip_tools, "shapes.zip", **{"adapter_model.safetensors": save(state)})
    with pytest.raises(PackageRefused, match=rf"wrong shapes: .*'{key}' has shape \[64, 4\], the base model expects \[32, 4\]"):
        import_package(bad, tmp_path / "imports" / "a")
    card = json.loads((tiny_adapter_dir / "deepsynth_model.json").read_text())
    card["model_config"]["name"] = str(tmp_path / "no-such-model")
    unknown = _package_with(tmp_path, tiny_adapter_dir, zip_tools, "unknown.zip",
                            **{"deepsynth_model.json": json.dumps(card).encode()})
    with pytest.raises(PackageRefused, match=r"base model '.*no-such-model' named in deepsynth_model\.json is not available"):
        import_package(unknown, tmp_path / "imports" / "b", allowed_locations=[card["model_config"]["name"]])
    assert not (tmp_path / "imports").exists()
