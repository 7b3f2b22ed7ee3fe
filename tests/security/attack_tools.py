"""Shared by the attack tests of issue 21 (items 6-9, 11, 12): a real tiny adapter to tamper with, a
small dataset, and a way to run the CLI as a user would (a child process, this checkout's code, its
own Hugging Face caches). Test modules import the fixtures they use by name (not a conftest, so
that this file never collides with another one in tests/security/)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from tiny_adapters import build_tiny_adapter  # noqa: F401  (tests/ is on sys.path)

CHECKOUT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def tiny_adapter(tmp_path_factory) -> Path:
    return build_tiny_adapter(tmp_path_factory.mktemp("security-adapter") / "adapter", seed=41)


def run_deepsynth(args: list[str], home: Path, stdin: str = "", timeout: float = 300, **env: str
                  ) -> subprocess.CompletedProcess:
    """`python -m deepsynth ARGS` in a child process, workspace `home`, its own module and hub caches,
    `stdin` as what the user types."""
    environment = dict(os.environ, DEEPSYNTH_HOME=str(home), HF_MODULES_CACHE=str(home / "hf-modules"),
                       HF_HOME=str(home / "hf"), PYTHONPATH=str(CHECKOUT))
    environment.pop("MLFLOW_TRACKING_URI", None)
    environment.update(env)
    return subprocess.run([sys.executable, "-m", "deepsynth", *args], input=stdin, capture_output=True,
                          text=True, timeout=timeout, env=environment, cwd=home)


def build_package(path: Path, files: dict[str, bytes]) -> Path:
    """A ZIP holding `files` and a manifest.json with their correct sha256 (what `export` writes)."""
    import hashlib
    import json
    import zipfile

    manifest = {"format": 1, "files": {name: {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
                                       for name, data in files.items()}}
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in {**files, "manifest.json": json.dumps(manifest).encode()}.items():
            archive.writestr(name, data)
    return path


def tampered_adapter(adapter: Path, folder: Path, **model_config: object) -> Path:
    """A copy of `adapter` in `folder` whose card's model_config has `model_config` on top."""
    import json
    import shutil

    shutil.copytree(adapter, folder)
    card = json.loads((folder / "deepsynth_model.json").read_text())
    card["model_config"].update(model_config)
    (folder / "deepsynth_model.json").write_text(json.dumps(card))
    return folder


@pytest.fixture(scope="session")
def attack_dataset(tmp_path_factory) -> str:
    """4 bundled wiki documents rendered to pages (3 train, 1 validation)."""
    from deepsynth.data import DatasetConfig, build_dataset

    out = tmp_path_factory.mktemp("security-data") / "wiki4"
    config = DatasetConfig(source="wiki", limit=4, validation_fraction=0.25, test_fraction=0.0,
                           max_text_chars=300, workers=1)
    return str(build_dataset(config, out))
