"""`deepsynth dataset` end to end through the CLI router."""

from __future__ import annotations

import pytest

from deepsynth.cli import main
from deepsynth.data import load_dataset_dir

SMALL_PAGES = ["--font-size", "12", "--workers", "1", "--no-progress"]


def test_dataset_command_builds_a_loadable_dataset(tmp_path, docs_jsonl, capsys):
    out = tmp_path / "ds"
    code = main(["dataset", "--source", str(docs_jsonl), "--out", str(out), "--limit", "4",
                 "--instruction", "Summarize.", "--max-pages", "1", "--mode", "tiny", *SMALL_PAGES])
    assert code == 0
    assert f"wrote {out}: 4 documents" in capsys.readouterr().out
    loaded = load_dataset_dir(out)
    assert loaded.config.render.mode == "tiny" and loaded.config.render.font_size == 12
    assert loaded.config.instruction == "Summarize."
    assert loaded.dataset["train"][0]["image"].size == (512, 512)


def test_bad_input_exits_2_with_the_message(tmp_path, write_file, capsys):
    path = write_file("bad.jsonl", '{"text": "a", "summary": "b"}\n{oops\n')
    code = main(["dataset", "--source", str(path), "--out", str(tmp_path / "ds"), *SMALL_PAGES])
    assert code == 2
    assert "bad.jsonl: line 2, column 2: invalid JSON" in capsys.readouterr().err
    assert not (tmp_path / "ds").exists()


def test_bad_flags_are_listed_together(tmp_path, capsys):
    code = main(["dataset", "--source", "wiki", "--out", str(tmp_path / "ds"), "--language", "de",
                 "--limit", "-3", "--font-size", "2", *SMALL_PAGES[2:]])
    assert code == 2
    err = capsys.readouterr().err
    assert "--language:" in err and "--limit:" in err and "--font-size:" in err
    assert not (tmp_path / "ds").exists()


@pytest.mark.slow
def test_wiki_200_default_pages(tmp_path, capsys):
    """The issue's done-check: the bundled default at the default page size."""
    out = tmp_path / "wiki"
    assert main(["dataset", "--source", "wiki", "--limit", "200", "--out", str(out), "--no-progress"]) == 0
    loaded = load_dataset_dir(out)
    assert sum(len(split) for split in loaded.dataset.values()) == 200
    assert loaded.dataset["test"][0]["image"].size == (1024, 1448)
