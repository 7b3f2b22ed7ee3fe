"""Issue 21, item 6: a text-encoder folder with an `auto_map` made transformers ask "Do you wish to
run the custom code? [y/N]" on the terminal (`train --text-encoder`, `import --allow-location`,
`infer --adapter RUN_ID` of a teammate's run), and answering "y" ran it. Every transformers
`from_pretrained` in deepsynth/ now passes an explicit `trust_remote_code` (never None, so
transformers never asks), and the folder is refused before anything starts.

Each attack runs the CLI in a child process whose stdin answers "y" to every question; the folder's
code would write a marker file when imported."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest
from attack_tools import CHECKOUT, build_package, run_deepsynth, tampered_adapter
from attack_tools import tiny_adapter, attack_dataset  # noqa: F401  (fixtures)
from remote_code_model import write_remote_code_model

YES = "y\n" * 20
LIBRARY = CHECKOUT / "deepsynth"
NO_CODE_LOADERS = {"PeftModel"}
"""Receivers whose `from_pretrained` loads no code (PEFT reads adapter_config.json and safetensors)."""


def _calls_without_explicit_trust(tree: ast.AST) -> list[int]:
    """Lines of `X.from_pretrained(...)` calls that do not pass trust_remote_code explicitly (not
    None); a `**kwargs` counts when that name is bound to a dict literal holding the key."""
    dict_keys: dict[str, set[str]] = {}
    for node in ast.walk(tree):
        if isinstance(node, (ast.Assign, ast.AnnAssign)) and isinstance(node.value, ast.Dict):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            keys = {k.value for k in node.value.keys if isinstance(k, ast.Constant)}
            for target in targets:
                if isinstance(target, ast.Name):
                    dict_keys.setdefault(target.id, set()).update(keys)
    missing = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr == "from_pretrained"):
            continue
        receiver = node.func.value
        if isinstance(receiver, ast.Name) and receiver.id in NO_CODE_LOADERS:
            continue
        explicit = [k for k in node.keywords if k.arg == "trust_remote_code"]
        if explicit:
            if isinstance(explicit[0].value, ast.Constant) and explicit[0].value.value is None:
                missing.append(node.lineno)
            continue
        spread = [k.value.id for k in node.keywords if k.arg is None and isinstance(k.value, ast.Name)]
        if not any("trust_remote_code" in dict_keys.get(name, ()) for name in spread):
            missing.append(node.lineno)
    return missing


def _trees(path: Path):
    """The module's syntax tree, and those of the Python programs it carries as string templates
    (the generated inference scripts)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    yield "", tree
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and "from_pretrained(" in node.value:
            try:
                yield f" (template at line {node.lineno})", ast.parse(node.value)
            except SyntaxError:
                continue  # prose that mentions from_pretrained


def test_every_from_pretrained_in_the_library_passes_trust_remote_code_explicitly():
    offenders, seen = [], 0
    for path in sorted(LIBRARY.rglob("*.py")):
        for where, tree in _trees(path):
            seen += sum(1 for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
                        and n.func.attr == "from_pretrained")
            offenders += [f"{path.relative_to(CHECKOUT)}:{line}{where}" for line in _calls_without_explicit_trust(tree)]
    assert seen >= 10, "the scan found too few calls to be looking at the library"
    assert offenders == [], "from_pretrained without an explicit trust_remote_code (transformers would ask):\n" \
        + "\n".join(offenders)


def test_the_scan_catches_a_call_that_leaves_the_question_to_transformers():
    tree = ast.parse("AutoTokenizer.from_pretrained(p)\nAutoModel.from_pretrained(p, trust_remote_code=None)\n"
                     "kw = {'dtype': 1}\nAutoModel.from_pretrained(p, **kw)\n"
                     "ok = {'trust_remote_code': False}\nAutoConfig.from_pretrained(p, **ok)\n"
                     "AutoProcessor.from_pretrained(p, trust_remote_code=False)\nPeftModel.from_pretrained(m, p)\n")
    assert _calls_without_explicit_trust(tree) == [1, 2, 4]


@pytest.fixture
def evil_encoder(tmp_path) -> tuple[Path, Path]:
    marker = tmp_path / "outside" / "TEXT_ENCODER_CODE_RAN"
    return write_remote_code_model(tmp_path / "outside" / "evil-encoder", marker), marker


def test_the_library_never_asks_even_when_called_directly(tmp_path, evil_encoder):
    """Below every CLI check: building a model whose text encoder maps to its own code, with "y"
    typed at the terminal, runs nothing (transformers is told no, so it does not ask)."""
    folder, marker = evil_encoder
    import subprocess
    import sys

    code = ("from deepsynth.models import ModelConfig, build_document_model\n"
            "from deepsynth.lora import LoraSettings\n"
            f"build_document_model(ModelConfig(name='tiny', text_encoder={str(folder)!r}), LoraSettings(rank=1), 'cpu')\n")
    done = subprocess.run([sys.executable, "-c", code], input=YES, capture_output=True, text=True, timeout=300,
                          cwd=tmp_path, env={**__import__("os").environ, "PYTHONPATH": str(CHECKOUT),
                                             "HF_MODULES_CACHE": str(tmp_path / "modules")})
    assert done.returncode != 0
    assert "Do you wish to run the custom code" not in done.stdout + done.stderr
    assert not marker.exists(), "answering 'y' ran the text encoder's own code"


@pytest.mark.slow
def test_train_with_a_text_encoder_that_ships_code_is_refused_before_any_run(tmp_path, evil_encoder, attack_dataset):
    folder, marker = evil_encoder
    home = tmp_path / "home"
    home.mkdir()
    done = run_deepsynth(["train", "--dataset", attack_dataset, "--model", "tiny", "--text-encoder",
                          str(folder), "--max-steps", "1", "--no-system-metrics"], home, stdin=YES)
    assert not marker.exists(), "answering 'y' ran the text encoder's own code"
    assert done.returncode == 2, done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    assert f"--text-encoder '{folder}': the folder runs its own Python code (auto_map in config.json); DeepSynth " \
           "never runs a text encoder's own code" in done.stderr, done.stderr[-3000:]
    assert "MLflow run" not in done.stdout and not (home / "mlruns").exists()


@pytest.mark.slow
def test_import_with_the_text_encoder_allowed_still_never_runs_its_code(tmp_path, tiny_adapter, evil_encoder):
    folder, marker = evil_encoder
    files = {p.name: p.read_bytes() for p in tiny_adapter.iterdir()}
    card = json.loads(files["deepsynth_model.json"])
    card["model_config"]["text_encoder"] = str(folder)
    files["deepsynth_model.json"] = json.dumps(card).encode()
    package = build_package(tmp_path / "pkg.zip", files)
    home = tmp_path / "home"
    home.mkdir()
    done = run_deepsynth(["import", str(package), "--dest", str(home / "in"), "--allow-location", str(folder)],
                         home, stdin=YES)
    assert not marker.exists(), "answering 'y' ran the text encoder's own code"
    assert done.returncode == 2, done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    assert "model_config.text_encoder" in done.stderr and "never runs a text encoder's own code" in done.stderr
    assert not (home / "in").exists()


@pytest.mark.slow
def test_infer_a_teammates_run_whose_text_encoder_ships_code_runs_nothing(tmp_path, tiny_adapter, evil_encoder,
                                                                          mlflow_tracking_uri):
    from deepsynth.tracking.store import RunLogger

    folder, marker = evil_encoder
    adapter = tampered_adapter(tiny_adapter, tmp_path / "teammate-adapter", text_encoder=str(folder))
    logger = RunLogger.start("security-teammate", uri=mlflow_tracking_uri)
    logger.log_artifacts(adapter, "adapter")
    logger.finish()
    text = tmp_path / "doc.txt"
    text.write_text("The river flooded the valley.")
    home = tmp_path / "home"
    home.mkdir()
    done = run_deepsynth(["infer", "--adapter", logger.run_id, "--tracking-uri", mlflow_tracking_uri,
                          "--text-file", str(text)], home, stdin=YES)
    assert not marker.exists(), "answering 'y' ran the text encoder's own code"
    assert done.returncode == 2, done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    assert "deepsynth_model.json model_config.text_encoder" in done.stderr
    assert "never runs a text encoder's own code" in done.stderr
