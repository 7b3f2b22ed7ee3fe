"""Several adapters in one archive (`deepsynth export --run A --run B`), and a run's adapter merged
into its base as a model folder (`deepsynth merge --run RUN`, what the Registry page's button runs)."""

from __future__ import annotations

import json
import zipfile

import pytest

from deepsynth.cli import main


@pytest.fixture(scope="module")
def second_run(mlflow_tracking_uri, tiny_adapter_dir):
    from deepsynth.tracking.store import RunLogger

    logger = RunLogger.start("export-tests", run_name="tiny second", uri=mlflow_tracking_uri)
    logger.log_metrics({"eval/rougeL": 20.0, "eval/docs": 8}, step=1, flush=True)
    logger.log_artifacts(tiny_adapter_dir, "adapter")
    logger.finish()
    return logger.run_id


def test_several_adapters_export_into_one_archive_whose_packages_import(adapter_run, second_run, mlflow_tracking_uri,
                                                                       tmp_path, capsys):
    from deepsynth.export.package import sha256_file
    from deepsynth.export.safe_import import import_package

    out = tmp_path / "adapters.zip"
    uri = ["--tracking-uri", mlflow_tracking_uri]
    assert main(["export", "--run", adapter_run, "--run", second_run, "--out", str(out), *uri]) == 0
    assert "2 packages" in capsys.readouterr().out
    names = {f"tiny-export-{adapter_run[:8]}.zip", f"tiny-second-{second_run[:8]}.zip"}
    with zipfile.ZipFile(out) as archive:
        assert set(archive.namelist()) == names | {"bundle.json"}
        listed = json.loads(archive.read("bundle.json"))["packages"]
        archive.extractall(tmp_path / "unpacked")
    assert {name: entry["run_id"] for name, entry in listed.items()} == {
        f"tiny-export-{adapter_run[:8]}.zip": adapter_run, f"tiny-second-{second_run[:8]}.zip": second_run}
    for name in names:
        package = tmp_path / "unpacked" / name
        assert sha256_file(package) == listed[name]["sha256"]
        imported = import_package(package, tmp_path / "imported" / name[:-4])
        assert (imported.path / "adapter_model.safetensors").is_file()


def test_a_bundle_refuses_merge_and_a_single_run(adapter_run, mlflow_tracking_uri, tmp_path, capsys):
    from deepsynth.errors import InputError
    from deepsynth.export.bundle import export_bundle

    out = tmp_path / "b.zip"
    assert main(["export", "--run", adapter_run, "--run", adapter_run[::-1], "--merge", "--out", str(out)]) == 2
    assert "- --merge: merges one adapter at a time" in capsys.readouterr().err
    with pytest.raises(InputError, match="two adapters or more"):
        export_bundle([adapter_run, adapter_run], out, uri=mlflow_tracking_uri)
    assert not out.exists()


def test_merge_writes_a_model_folder_that_loads(adapter_run, mlflow_tracking_uri, tmp_path, capsys):
    import torch
    from transformers import AutoModelForCausalLM

    out = tmp_path / "merged-model"
    uri = ["--tracking-uri", mlflow_tracking_uri]
    assert main(["merge", "--run", adapter_run, "--out", str(out), *uri]) == 0
    assert f"merged into {out} (float16" in capsys.readouterr().out
    assert {"model.safetensors", "config.json", "deepsynth_model.json", "merge_report.json",
            "merged_from.json"} <= {p.name for p in out.iterdir()}
    assert json.loads((out / "merged_from.json").read_text())["run_id"] == adapter_run
    model = AutoModelForCausalLM.from_pretrained(str(out), dtype=torch.float16)
    assert not any("lora_" in name for name, _ in model.named_parameters())
    assert main(["merge", "--run", adapter_run, "--out", str(out), *uri]) == 2  # never over an existing folder
    assert "already exists" in capsys.readouterr().err
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no staging left behind


def test_the_default_merged_folder_is_named_like_the_package(monkeypatch, tmp_path):
    from deepsynth.export.merge_run import default_merged_path

    monkeypatch.setenv("DEEPSYNTH_HOME", str(tmp_path))
    assert default_merged_path("wiki rank/8", "a" * 32) == tmp_path / "workspace" / "merged" / "wiki-rank-8-aaaaaaaa"


def test_a_bundle_imports_every_package_and_a_tampered_one_leaves_nothing(adapter_run, second_run, mlflow_tracking_uri,
                                                                           tmp_path, capsys):
    from deepsynth.errors import PackageRefused
    from deepsynth.export.bundle import export_bundle, import_bundle

    bundle = export_bundle([adapter_run, second_run], tmp_path / "two.zip", uri=mlflow_tracking_uri)
    assert main(["import", str(bundle), "--dest", str(tmp_path / "team")]) == 0
    assert "imported 2 packages into" in capsys.readouterr().out
    assert sorted(p.name for p in (tmp_path / "team").iterdir()) == sorted(
        [f"tiny-export-{adapter_run[:8]}", f"tiny-second-{second_run[:8]}"])
    assert all((p / "adapter_model.safetensors").is_file() for p in (tmp_path / "team").iterdir())

    tampered = tmp_path / "tampered.zip"  # the second package swapped for the first: its hash no longer matches
    with zipfile.ZipFile(bundle) as source, zipfile.ZipFile(tampered, "w") as sink:
        names = sorted(n for n in source.namelist() if n.endswith(".zip"))
        sink.writestr("bundle.json", source.read("bundle.json"))
        sink.writestr(names[0], source.read(names[0]))
        sink.writestr(names[1], source.read(names[0]))
    before = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(PackageRefused, match=r"sha256 does not match bundle\.json"):
        import_bundle(tampered, tmp_path / "imports" / "team")
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no staging, no imports/ folder
    odd = tmp_path / "odd.zip"
    with zipfile.ZipFile(odd, "w") as sink:
        sink.writestr("bundle.json", '{"packages": {}}')
        sink.writestr("run.sh", "rm -rf ~")
    with pytest.raises(PackageRefused, match=r"entry 'run.sh': a bundle holds only bundle.json and .zip packages"):
        import_bundle(odd, tmp_path / "imports" / "odd")
