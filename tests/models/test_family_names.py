"""No VLM family's model_type is spelled in deepsynth/ outside the family table (models/vlm/families.py):
the tiny builder, the estimator and the target picker read the table instead of keeping their own."""

from __future__ import annotations

import re
from pathlib import Path

import deepsynth
from deepsynth.models.vlm.families import FAMILIES

PACKAGE = Path(deepsynth.__file__).parent
TABLE = PACKAGE / "models" / "vlm" / "families.py"


def family_name_pattern() -> re.Pattern:
    # A model_type as code spells it (lower case; `qwen2_vl_text` counts, `Qwen2VLProcessor` does not).
    names = "|".join(sorted(map(re.escape, FAMILIES), key=len, reverse=True))
    return re.compile(rf"(?<![A-Za-z0-9])({names})")


def test_the_table_lists_the_six_families_this_check_guards():
    assert set(FAMILIES) == {"deepseek_ocr2", "idefics3", "smolvlm", "qwen2_vl", "qwen2_5_vl", "florence2"}


def test_no_family_name_outside_the_table():
    pattern = family_name_pattern()
    found = []
    for path in sorted(PACKAGE.rglob("*")):
        if not path.is_file() or path == TABLE or "__pycache__" in path.parts:
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        for number, line in enumerate(text.splitlines(), 1):
            if pattern.search(line):
                found.append(f"{path.relative_to(PACKAGE.parent)}:{number}: {line.strip()}")
    assert not found, "family names outside models/vlm/families.py:\n" + "\n".join(found)


def test_the_check_finds_a_name_where_one_is(tmp_path):
    pattern = family_name_pattern()
    assert pattern.search('text_types = {"qwen2_vl": "qwen2_vl_text"}')
    assert pattern.search("if model_type == 'florence2':")
    assert not pattern.search("from transformers import Qwen2VLProcessor, Idefics3Processor")
