"""Every verb that takes settings names the flag the user typed when a value is invalid, and lists
every problem at once (the dataclass checks them all, not argparse one by one)."""

import pytest

from deepsynth.cli import main


@pytest.fixture
def text_file(tmp_path):
    path = tmp_path / "doc.txt"
    path.write_text("A short document.")
    return path


@pytest.fixture
def dataset_dir(tmp_path):
    (tmp_path / "ds").mkdir()
    (tmp_path / "ds" / "deepsynth_dataset.json").write_text("{}")
    return tmp_path / "ds"


def problems(capsys):
    return [line.strip() for line in capsys.readouterr().err.splitlines() if line.strip().startswith("- ")]


@pytest.mark.parametrize("argv, flags", [
    (["dataset", "--out", "{tmp}/out", "--limit", "-1", "--font-size", "3", "--language", "de"],
     ["--limit", "--font-size", "--language"]),
    (["estimate", "--rank", "0", "--batch-size", "0", "--optimizer", "sgd"], ["--rank", "--batch-size", "--optimizer"]),
    (["train", "--dataset", "{ds}", "--lr", "0", "--schedule", "wavy", "--preset", "huge"],
     ["--lr", "--schedule", "--preset"]),
    (["render", "--text-file", "{text}", "--out", "{tmp}/p.png", "--margin", "-2", "--mode", "giant"],
     ["--margin", "--mode"]),
    (["export", "--run", "../etc", "--out", "{tmp}/x.tar"], ["--run", "--out"]),
])
def test_an_invalid_value_names_its_flag(argv, flags, tmp_path, text_file, dataset_dir, capsys):
    argv = [a.format(tmp=tmp_path, ds=dataset_dir, text=text_file) for a in argv]
    assert main(argv) == 2
    listed = problems(capsys)
    for flag in flags:
        assert any(line.startswith(f"- {flag}:") for line in listed), (flag, listed)
    assert not (tmp_path / "out").exists() and not (tmp_path / "p.png").exists()
