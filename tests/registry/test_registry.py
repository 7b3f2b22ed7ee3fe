"""The MLflow Model Registry for adapters: register, alias, list, download by alias; bad names."""

from __future__ import annotations

from pathlib import Path

import pytest

from deepsynth.errors import InputError
from deepsynth.tracking import registry

NAME = "registry-test summarizer"


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("DEEPSYNTH_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture(scope="module")
def registered(registry_runs, mlflow_tracking_uri):
    """NAME v1 (first run, alias champion) and v2 (second run)."""
    first = registry.register_adapter(registry_runs["first"], NAME, alias="champion", uri=mlflow_tracking_uri)
    second = registry.register_adapter(registry_runs["second"], NAME, uri=mlflow_tracking_uri)
    return first, second


def test_round_trip_by_alias(registered, registry_runs, mlflow_tracking_uri, tmp_path):
    first, second = registered
    assert (first.version, second.version) == ("1", "2")
    assert first.aliases == ("champion",) and first.run_id == registry_runs["first"]
    assert first.source.endswith(f"{registry_runs['first']}/artifacts/adapter")
    assert first.tags["eval/rougeL"] == "25" and second.tags["eval/rouge1"] == "33"
    folder = registry.download_adapter(f"models:/{NAME}@champion", uri=mlflow_tracking_uri)
    original = Path(registry_runs["first_dir"])
    assert sorted(p.name for p in folder.iterdir()) == sorted(p.name for p in original.iterdir())
    for path in original.iterdir():
        assert (folder / path.name).read_bytes() == path.read_bytes()
    explicit = registry.download_adapter(f"models:/{NAME}/2", dest=tmp_path / "v2", uri=mlflow_tracking_uri)
    assert (explicit / "adapter_model.safetensors").read_bytes() == (
        Path(registry_runs["second_dir"]) / "adapter_model.safetensors").read_bytes()


def test_the_downloaded_adapter_loads_with_peft(registered, mlflow_tracking_uri):
    from deepsynth.inference import Summarizer

    summarizer = Summarizer.for_adapter(f"models:/{NAME}@champion", uri=mlflow_tracking_uri)
    assert list(summarizer.adapters) == [f"models:/{NAME}@champion"]


def test_aliases_move_and_are_deleted(registered, mlflow_tracking_uri):
    moved = registry.set_alias(NAME, "2", "champion", uri=mlflow_tracking_uri)
    assert moved.version == "2" and "champion" in moved.aliases
    assert registry.resolve(f"models:/{NAME}@champion", uri=mlflow_tracking_uri).version == "2"
    registry.set_alias(NAME, "1", "staging", uri=mlflow_tracking_uri)
    listed = {a.name: a for a in registry.list_adapters(uri=mlflow_tracking_uri)}[NAME]
    assert listed.aliases == {"champion": "2", "staging": "1"}
    assert [v.version for v in listed.versions] == ["2", "1"]
    registry.delete_alias(NAME, "staging", uri=mlflow_tracking_uri)
    with pytest.raises(InputError, match=rf"models:/{NAME}@staging: no registered adapter '{NAME}' with alias 'staging'"):
        registry.resolve(f"models:/{NAME}@staging", uri=mlflow_tracking_uri)
    registry.set_alias(NAME, "1", "champion", uri=mlflow_tracking_uri)


def test_unknown_versions_runs_and_adapterless_runs_are_clear_errors(registered, registry_runs, mlflow_tracking_uri):
    with pytest.raises(InputError, match=rf"registered adapter '{NAME}' has no version 9"):
        registry.set_alias(NAME, "9", "champion", uri=mlflow_tracking_uri)
    with pytest.raises(InputError, match=r"run '0{32}' not found"):
        registry.register_adapter("0" * 32, NAME, uri=mlflow_tracking_uri)
    with pytest.raises(InputError, match=r"has no adapter/adapter_model\.safetensors artifact"):
        registry.register_adapter(registry_runs["empty"], "registry-test-empty", uri=mlflow_tracking_uri)
    assert "registry-test-empty" not in {a.name for a in registry.list_adapters(uri=mlflow_tracking_uri)}


BAD_NAMES = {
    "slash": ("team/summarizer", r"path character '/'"),
    "backslash": ("team\\summarizer", r"path character '\\\\'"),
    "dot-dot": ("..summarizer", r"contains '\.\.'"),
    "semicolon": ("summarizer;rm -rf ~", r"shell metacharacter ';'"),
    "dollar": ("summarizer$(id)", r"shell metacharacter '\$'"),
    "backtick": ("summarizer`id`", r"shell metacharacter '`'"),
    "pipe": ("a|b", r"shell metacharacter '\|'"),
    "newline": ("summarizer\nv2", r"control character U\+000A at position 11"),
    "escape": ("summarizer\x1b[31m", r"control character U\+001B"),
    "too long": ("s" * 65, r"is 65 characters long; the limit is 64"),
    "empty": ("", r"must be a non-empty string"),
}


@pytest.mark.parametrize("case", sorted(BAD_NAMES))
def test_bad_names_are_refused_before_touching_the_store(case, registry_runs, monkeypatch):
    name, message = BAD_NAMES[case]
    monkeypatch.setattr(registry, "client_for", lambda uri=None: pytest.fail("the store was called"))
    with pytest.raises(InputError, match=message):
        registry.register_adapter(registry_runs["first"], name)


@pytest.mark.parametrize("alias, message", [
    ("champ/ion", r"path character '/'"), ("v3", r"reserved by MLflow"), ("latest", r"reserved"),
    ("a b", r"not allowed \(a whitespace U\+0020\)"), ("x&y", r"shell metacharacter '&'"),
    ("tab\there", r"control character U\+0009"),
])
def test_bad_aliases_are_refused(alias, message):
    with pytest.raises(InputError, match=message):
        registry.set_alias(NAME, "1", alias)


def test_bad_model_references_are_refused():
    for reference, message in [("models:/a/b/c", r"not a registry reference"), ("runs:/abc/adapter", "not a registry"),
                               ("models:/x@v1", r"reserved by MLflow"), ("models:/x/0", r"positive integer")]:
        with pytest.raises(InputError, match=message):
            registry.parse_model_uri(reference)


def test_registry_commands(registry_runs, mlflow_tracking_uri, capsys):
    from deepsynth.cli import main

    uri = ["--tracking-uri", mlflow_tracking_uri]
    assert main(["register", "--run", registry_runs["second"], "--name", "registry-test-cli", "--alias", "prod", *uri]) == 0
    assert "registered registry-test-cli version 1 (alias: prod)" in capsys.readouterr().out
    assert main(["alias", "registry-test-cli", "1", "candidate", *uri]) == 0
    assert "registry-test-cli@candidate -> version 1" in capsys.readouterr().out
    assert main(["models", "registry-test-cli", *uri]) == 0
    listing = capsys.readouterr().out
    assert "registry-test-cli  (1 version(s); candidate->v1, prod->v1)" in listing and "eval/rougeL=30" in listing
    assert main(["alias", "registry-test-cli", "--delete", "candidate", *uri]) == 0
    assert main(["register", "--run", registry_runs["second"], "--name", "bad;name", *uri]) == 2
    assert "shell metacharacter ';'" in capsys.readouterr().err
