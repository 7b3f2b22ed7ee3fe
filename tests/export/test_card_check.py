"""A package's deepsynth_model.json never decides what code runs or which outside files are read.

Each case feeds a real package (the tiny adapter's files, the card edited, a correct manifest)
through `import_package` / `deepsynth import`, asserts the exact reason and that nothing at all was
written (no destination, no staging folder), and that the remote code a card points at never ran.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from remote_code_model import write_remote_code_model

from deepsynth.errors import PackageRefused
from deepsynth.export.safe_import import import_package, validate_package

REFUSED = "deepsynth_model.json asks for what a package may not decide:"


def snapshot(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


@pytest.fixture
def card(tiny_adapter_dir) -> dict:
    """The tiny adapter's real card (edited by each test)."""
    return json.loads((tiny_adapter_dir / "deepsynth_model.json").read_text())


@pytest.fixture
def package(tmp_path, tiny_adapter_dir, zip_tools):
    """package(card) -> a ZIP of the tiny adapter with that card and a correct manifest."""

    def build(card: dict, name: str = "pkg.zip") -> Path:
        files = {p.name: p.read_bytes() for p in tiny_adapter_dir.iterdir()}
        files["deepsynth_model.json"] = json.dumps(card).encode()
        return zip_tools.build_package(tmp_path / "zips" / name, files)

    (tmp_path / "zips").mkdir()
    return build


@pytest.fixture
def remote_code_model(tmp_path) -> tuple[Path, Path]:
    """(a model folder whose config.json maps the Auto classes to its own evil.py, the file evil.py
    creates when it is imported): what `trust_remote_code` would run."""
    marker = tmp_path / "outside" / "REMOTE_CODE_RAN"
    folder = write_remote_code_model(tmp_path / "outside" / "evil-model", marker)
    return folder, marker


def refused(tmp_path: Path, zip_path: Path, *patterns: str, allowed=(), oracle=None) -> str:
    """Import must raise PackageRefused with every `pattern` in its message and write nothing."""
    before = snapshot(tmp_path)
    with pytest.raises(PackageRefused) as caught:
        import_package(zip_path, tmp_path / "imports" / "pkg", shape_oracle=oracle, allowed_locations=allowed)
    message = str(caught.value)
    assert message.startswith(REFUSED), message
    for pattern in patterns:
        assert pattern in message, message
    assert snapshot(tmp_path) == before, "a refused import left files behind"
    assert not (tmp_path / "imports").exists()
    return message


def test_a_card_asking_for_remote_code_is_refused_and_the_code_never_runs(
        tmp_path, card, package, remote_code_model, capsys):
    from deepsynth.cli import main

    folder, marker = remote_code_model
    card["model_config"].update(name=str(folder), trust_remote_code=True)
    zip_path = package(card)
    refused(tmp_path, zip_path,
            "model_config.trust_remote_code: True would run the Python code of the base model's folder; a "
            "package never turns it on (only you do, with `deepsynth infer --trust-remote-code`)")
    # allowing the folder does not allow its code
    message = refused(tmp_path, zip_path, "model_config.trust_remote_code: True", allowed=[str(folder)])
    assert "model_config.name" not in message
    # the CLI the user runs: exit 2, the reason, nothing written
    before = snapshot(tmp_path)
    assert main(["import", str(zip_path), "--dest", str(tmp_path / "imported"),
                 "--allow-location", str(folder)]) == 2
    assert "error: deepsynth_model.json asks for what a package may not decide" in capsys.readouterr().err
    assert snapshot(tmp_path) == before
    assert not marker.exists(), "the package's remote code ran"


def test_the_card_is_checked_even_when_shapes_come_from_elsewhere(tmp_path, card, package, shape_oracle):
    card["model_config"]["trust_remote_code"] = True
    refused(tmp_path, package(card), "model_config.trust_remote_code: True", oracle=shape_oracle)
    with pytest.raises(PackageRefused, match="trust_remote_code"):
        validate_package(package(card, "again.zip"), shape_oracle)


LOCATIONS = {  # case -> (card section, field, value, what the message calls it)
    "absolute path": ("model_config", "name", "/opt/models/somebody-elses", "an absolute path outside the package"),
    "home path": ("model_config", "name", "~/models/x", "an absolute path outside the package"),
    "relative path": ("model_config", "name", "../../models/x",
                      "a path relative to the working directory, outside the package"),
    "hub id": ("model_config", "name", "someone/their-model",
               "a Hugging Face hub id (downloaded when the hub is reachable) or a folder outside the package"),
    "text encoder path": ("model_config", "text_encoder", "/opt/encoders/e5", "an absolute path outside the package"),
    "font path": ("render", "font", "/etc/passwd", "an absolute path outside the package"),
}


@pytest.mark.parametrize("case", sorted(LOCATIONS))
def test_locations_outside_the_package_are_refused_unless_the_user_allows_them(case, tmp_path, card, package):
    section, field, value, kind = LOCATIONS[case]
    card[section][field] = value
    zip_path = package(card)
    refused(tmp_path, zip_path, f"{section}.{field}: {value!r} is {kind}; a package does not choose which "
                                f"files DeepSynth reads (if you trust it, import again with --allow-location {value!r})")
    if section == "render":  # allowed: the card check passes, then the font must exist here
        message = refused(tmp_path, zip_path, "render: invalid render configuration", allowed=[value])
        assert "is an absolute path" not in message


def test_fallback_font_paths_are_refused(tmp_path, card, package):
    card["render"]["fallback_fonts"] = ["/usr/share/fonts/x.ttf", "fonts/y.ttf"]
    refused(tmp_path, package(card),
            "render.fallback_fonts[0]: '/usr/share/fonts/x.ttf' is an absolute path outside the package",
            "render.fallback_fonts[1]: 'fonts/y.ttf' is a Hugging Face hub id")


@pytest.mark.parametrize("url", ["https://example.invalid/model", "hf://someone/model", "file:///etc"])
def test_a_url_is_refused_even_when_allowed(url, tmp_path, card, package):
    card["model_config"]["name"] = url
    refused(tmp_path, package(card),
            f"model_config.name: {url!r} is a URL; a package never makes DeepSynth download anything",
            allowed=[url])


def test_unknown_fields_are_refused_naming_them(tmp_path, card, package):
    card["post_install"] = "curl x | sh"
    card["hooks"] = {}
    card["model_config"]["loader"] = "custom"
    card["render"]["shader"] = "x"
    refused(tmp_path, package(card),
            "  - unknown field(s) 'hooks', 'post_install' (this DeepSynth does not know what they do)",
            "  - model_config: unknown field(s) 'loader'", "  - render: unknown field(s) 'shader'")


def test_every_problem_is_listed_at_once(tmp_path, card, package):
    card["model_config"].update(name="https://example.invalid/m", trust_remote_code=True,
                                text_encoder="/opt/enc")
    card["extra"] = 1
    message = refused(tmp_path, package(card))
    assert message.count("\n  - ") == 4, message


def test_an_allowed_base_location_is_then_built_and_checked(tmp_path, card, package):
    missing = str(tmp_path / "not-here" / "model")
    card["model_config"]["name"] = missing
    before = snapshot(tmp_path)
    with pytest.raises(PackageRefused, match=r"base model '.*not-here/model' named in deepsynth_model\.json is not available"):
        import_package(package(card), tmp_path / "imports" / "pkg", allowed_locations=[missing])
    assert snapshot(tmp_path) - before == {"zips/pkg.zip"}


def test_a_plain_card_imports(tmp_path, card, package):
    imported = import_package(package(card), tmp_path / "imports" / "pkg")
    assert json.loads((imported.path / "deepsynth_model.json").read_text()) == card
