"""Static safety rules over the shipped code: no shell=True, no pickle, safe torch.load, no
mlflow model loading (seen to corrupt PEFT weights on reload), streamlit only in the dashboard."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = sorted(
    p for folder in ("deepsynth", "dashboard", "pages", "bench", "scripts")
    for p in (ROOT / folder).rglob("*.py")
)

FORBIDDEN = {
    "shell=True": re.compile(r"shell\s*=\s*True"),
    "pickle": re.compile(r"^\s*(import|from)\s+(c?pickle|dill|cloudpickle|joblib)\b|pickle\.loads?\(", re.M),
    "torch.load without weights_only=True": re.compile(r"torch\.load\((?![^)]*weights_only\s*=\s*True)"),
    "weights_only=False": re.compile(r"weights_only\s*=\s*False"),
    "mlflow load_model": re.compile(r"mlflow\.[a-z_.]*load_model"),
    "os.system / os.popen": re.compile(r"os\.(system|popen)\("),
    "eval/exec": re.compile(r"(?<![\w.])(eval|exec)\("),
}


def test_there_is_code_to_check():
    assert any(p.parts[-2] == "deepsynth" for p in SHIPPED)


@pytest.mark.parametrize("rule", sorted(FORBIDDEN))
def test_no_unsafe_calls(rule):
    pattern = FORBIDDEN[rule]
    hits = [
        f"{path.relative_to(ROOT)}:{text[: m.start()].count(chr(10)) + 1}"
        for path in SHIPPED
        for text in [path.read_text(encoding="utf-8")]
        for m in pattern.finditer(text)
    ]
    assert not hits, f"{rule} found in: {hits}"


def test_rules_catch_what_they_should():
    # the rules themselves must fire on the bad forms (a grep that matches nothing proves nothing)
    assert FORBIDDEN["shell=True"].search("subprocess.run(cmd, shell = True)")
    assert FORBIDDEN["torch.load without weights_only=True"].search("torch.load(path, map_location='cpu')")
    assert not FORBIDDEN["torch.load without weights_only=True"].search("torch.load(path, weights_only=True)")
    assert FORBIDDEN["pickle"].search("import pickle\n")
    assert FORBIDDEN["mlflow load_model"].search("mlflow.transformers.load_model(uri)")


def test_library_never_imports_streamlit():
    offenders = [
        str(p.relative_to(ROOT)) for p in (ROOT / "deepsynth").rglob("*.py")
        if re.search(r"^\s*(import|from)\s+streamlit\b", p.read_text(encoding="utf-8"), re.M)
    ]
    assert not offenders, offenders


def test_only_tracking_imports_mlflow():
    offenders = [
        str(p.relative_to(ROOT)) for p in (ROOT / "deepsynth").rglob("*.py")
        if "tracking" not in p.parts
        and re.search(r"^\s*(import|from)\s+mlflow\b", p.read_text(encoding="utf-8"), re.M)
    ]
    assert not offenders, offenders
