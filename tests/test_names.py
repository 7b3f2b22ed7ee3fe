"""Names typed by users: refused with the offending character and where it is."""

from __future__ import annotations

import pytest

from deepsynth.errors import InputError
from deepsynth.names import check_alias, check_model_name, check_run_id, check_version


@pytest.mark.parametrize("name", ["summarizer", "wiki-en.r16_v2", "Team Summarizer 2", "a" * 64])
def test_good_model_names_pass(name):
    assert check_model_name(name) == name


@pytest.mark.parametrize("name, message", [
    ("../x", r"path character '/' at position 3"), ("C:x", r"path character ':'"), ("a\\b", r"path character"),
    ("a;b", r"shell metacharacter ';' at position 2"), ("a&&b", r"shell metacharacter '&'"),
    ("$(reboot)", r"shell metacharacter '\$'"), ("a>b", r"shell metacharacter '>'"), ("a*", r"shell metacharacter '\*'"),
    ("a\x00b", r"control character U\+0000"), ("a\rb", r"control character U\+000D"),
    ("a\u202eb", r"control character U\+202E"),  # right-to-left override hides text
    (" lead", r"not allowed"), ("two  spaces", r"not allowed"), ("-dash", r"not allowed"),
    ("naïve", r"not allowed \(a character 'ï'\)"), ("x" * 65, r"the limit is 64"), (None, r"non-empty string"),
])
def test_bad_model_names_say_why(name, message):
    with pytest.raises(InputError, match=message):
        check_model_name(name)


def test_aliases_run_ids_and_versions():
    assert check_alias("champion") == "champion" and check_alias("_shadow-2") == "_shadow-2"
    assert check_run_id("0a1b2c3d4e5f67890a1b2c3d4e5f6789")
    assert check_version("3") == "3" and check_version(7) == "7"
    for bad in ("V12", "latest", "2nd", "a.b"):
        with pytest.raises(InputError):
            check_alias(bad)
    for bad in ("../r", "r id", "r;", "r\n"):
        with pytest.raises(InputError):
            check_run_id(bad)
    for bad in ("0", "-1", "1.5", "x", "١"):
        with pytest.raises(InputError, match="positive integer"):
            check_version(bad)
