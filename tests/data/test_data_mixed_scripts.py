"""Mixed scripts and emoji, some with no glyph in any font, end to end through `deepsynth dataset`
(bad-input catalogue): the build succeeds, the text is kept verbatim, covered scripts are drawn by
the fallback fonts, and the uncovered characters are reported by document and code point."""

from __future__ import annotations

import json

from deepsynth.cli import main
from deepsynth.data import load_dataset_dir

# Greek, Cyrillic, Arabic, Hebrew, Devanagari and emoji are in the bundled Noto fonts; a
# private-use character and a cuneiform sign are in no font anywhere.
COVERED = "Ωμέγα Привет مرحبا שלום नमस्ते 😀"
UNCOVERED = ("\ue000", "\U00012000")
MIXED = f"Héllo {COVERED} box{UNCOVERED[0]} tablet{UNCOVERED[1]} end."


def test_mixed_scripts_build_with_the_missing_glyphs_reported(tmp_path, write_file, capsys):
    rows = [{"id": "mixed", "text": MIXED, "summary": "Greetings 👋 in many scripts."},
            {"id": "plain", "text": "Plain English text about rivers.", "summary": "Rivers."}]
    source = write_file("mixed.jsonl", "\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n")
    out = tmp_path / "ds"
    code = main(["dataset", "--source", str(source), "--out", str(out), "--font-size", "12", "--workers", "1",
                 "--no-progress", "--validation-fraction", "0", "--test-fraction", "0"])
    printed = capsys.readouterr().out
    assert code == 0
    loaded = load_dataset_dir(out)
    rows_by_id = {row["id"]: row for row in loaded.dataset["train"]}
    assert rows_by_id["mixed"]["text"] == MIXED  # nothing dropped or replaced in the stored text
    assert rows_by_id["mixed"]["summary"] == "Greetings 👋 in many scripts."
    assert loaded.metadata["counts"]["documents_with_missing_glyphs"] == 1
    warning = next(w for w in loaded.metadata["warnings"] if "no font covers" in w)
    assert warning.endswith(": mixed")  # the document, by id
    for char in UNCOVERED:
        assert repr(char) in warning
    for char in COVERED.replace(" ", ""):
        assert repr(char) not in warning  # drawn by a fallback font, not a box
    assert f"warning: {warning}" in printed
    assert [p.name for p in tmp_path.iterdir() if p.name != "mixed.jsonl"] == ["ds"]  # no staging left
