"""`deepsynth render`: writes PNG page(s), names several pages, reports bad input clearly."""

import pytest
from PIL import Image

from deepsynth.cli import main


def test_writes_one_png(tmp_path, paragraph, capsys):
    source = tmp_path / "doc.txt"
    source.write_text(paragraph, encoding="utf-8")
    out = tmp_path / "page.png"
    assert main(["render", "--text-file", str(source), "--out", str(out), "--mode", "base",
                 "--instruction", "Summarize."]) == 0
    with Image.open(out) as image:
        assert image.format == "PNG" and image.size == (1024, 1024) and image.mode == "L"
    assert f"wrote {out}" in capsys.readouterr().out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["doc.txt", "page.png"]  # no temp files left


def test_several_pages_are_numbered_and_announced(tmp_path, capsys):
    source = tmp_path / "long.txt"
    source.write_text("\n".join(f"line {k}" for k in range(40)), encoding="utf-8")
    out = tmp_path / "out" / "doc.png"
    assert main(["render", "--text-file", str(source), "--out", str(out), "--page-height", "300",
                 "--page-width", "400", "--margin", "20", "--font-size", "20"]) == 0
    written = sorted(p.name for p in out.parent.iterdir())
    assert written == ["doc_1.png", "doc_2.png", "doc_3.png", "doc_4.png", "doc_5.png"]
    assert "fills 5 pages" in capsys.readouterr().out


def test_truncation_and_missing_glyphs_are_printed(tmp_path, capsys):
    source = tmp_path / "doc.txt"
    source.write_text("private \ue000\n" + "\n".join(["x"] * 40), encoding="utf-8")
    assert main(["render", "--text-file", str(source), "--out", str(tmp_path / "p.png"),
                 "--page-height", "300", "--max-pages", "1"]) == 0
    err = capsys.readouterr().err
    assert "warning: truncated" in err and "U+E000" in err


def test_bad_flags_are_named_and_nothing_is_written(tmp_path, capsys):
    source = tmp_path / "doc.txt"
    source.write_text("hello", encoding="utf-8")
    code = main(["render", "--text-file", str(source), "--out", str(tmp_path / "p.png"),
                 "--font-size", "2", "--line-spacing", "9", "--font", "Comic Nope"])
    assert code == 2
    err = capsys.readouterr().err
    assert "--font-size" in err and "--line-spacing" in err and "--font" in err
    assert not (tmp_path / "p.png").exists()


def test_non_utf8_file_says_where(tmp_path, capsys):
    source = tmp_path / "latin1.txt"
    source.write_bytes("first line\ncaf\xe9 au lait\n".encode("latin-1"))
    assert main(["render", "--text-file", str(source), "--out", str(tmp_path / "p.png")]) == 2
    err = capsys.readouterr().err
    assert "line 2, column 4" in err and "UTF-8" in err
    assert not (tmp_path / "p.png").exists()


def test_missing_file_is_a_clear_error(tmp_path, capsys):
    assert main(["render", "--text-file", str(tmp_path / "nope.txt"), "--out", str(tmp_path / "p.png")]) == 2
    assert "nope.txt: no such file" in capsys.readouterr().err


def test_help_lists_the_verb(capsys):
    with pytest.raises(SystemExit):
        main(["render", "--help"])
    assert "--text-file" in capsys.readouterr().out
