"""Names that end up in paths, URIs or shell history: registry names, aliases, run ids, job ids.

A name is refused, with the reason, when it could escape a folder (`/`, `\\`, `..`, a drive letter),
hide text (control characters), or change meaning when pasted into a shell (`;|&$\\`<>'"` ...).
The allowed alphabet is deliberately small: letters, digits, `.`, `_`, `-`, and (for registry
names, which MLflow shows as titles) single spaces between words.
"""

from __future__ import annotations

import re
import unicodedata

from deepsynth.errors import InputError

MAX_NAME_LENGTH = 64
"""Long enough for `summarizer-wiki-en-r16-v2`; short enough for a path component on any filesystem."""

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(?: [A-Za-z0-9._-]+)*$")
_ALIAS = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
_RUN_ID = re.compile(r"^[A-Za-z0-9_-]+$")
_FOLDER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,80}$")
_SHELL_METACHARACTERS = set(";|&$`<>(){}[]*?!~#'\"\\%^=,")
_PATH_CHARACTERS = set("/\\:")


def _describe(char: str) -> str:
    if unicodedata.category(char).startswith("C"):
        return f"control character U+{ord(char):04X}"
    if char in _PATH_CHARACTERS:
        return f"path character {char!r}"
    if char in _SHELL_METACHARACTERS:
        return f"shell metacharacter {char!r}"
    if char.isspace():
        return f"whitespace U+{ord(char):04X}"
    return f"character {char!r}"


def _check(value: object, what: str, pattern: re.Pattern[str], allowed: str, max_length: int,
           punctuation: str = "._-") -> str:
    if not isinstance(value, str) or not value:
        raise InputError(f"{what} must be a non-empty string, got {value!r}")
    if len(value) > max_length:
        raise InputError(f"{what} {value[:20]!r}... is {len(value)} characters long; the limit is {max_length}")
    for position, char in enumerate(value, start=1):
        if unicodedata.category(char).startswith("C") or char in _PATH_CHARACTERS or char in _SHELL_METACHARACTERS:
            raise InputError(f"{what} {value!r} contains a {_describe(char)} at position {position}; {allowed}")
    if ".." in value:
        raise InputError(f"{what} {value!r} contains '..'; {allowed}")
    if not pattern.match(value):
        bad = next((c for c in value if not (c.isascii() and (c.isalnum() or c in punctuation))), None)
        where = f" (a {_describe(bad)})" if bad else ""
        raise InputError(f"{what} {value!r} is not allowed{where}; {allowed}")
    return value


def check_model_name(name: object) -> str:
    """A registered-model name: letters, digits, `.`, `_`, `-`, single inner spaces; max 64."""
    return _check(name, "model name", _NAME,
                  "use letters, digits, '.', '_', '-' (and single spaces between words), "
                  "starting with a letter or digit", MAX_NAME_LENGTH, punctuation="._- ")


def check_alias(alias: object) -> str:
    """A registry alias (`champion`, `staging-2`): MLflow forbids `v<digits>` (it means a version)."""
    value = _check(alias, "alias", _ALIAS,
                   "use letters, digits, '_' and '-', starting with a letter or '_'", MAX_NAME_LENGTH,
                   punctuation="_-")
    if re.fullmatch(r"[vV]\d+", value) or value.lower() == "latest":
        raise InputError(f"alias {value!r} is reserved by MLflow (it names a version); choose another")
    return value


def check_run_id(run_id: object) -> str:
    """An MLflow run id (32 hex digits in the local store; other stores use other letters)."""
    return _check(run_id, "run id", _RUN_ID, "a run id has only letters, digits, '_' and '-'", 64,
                  punctuation="_-")


def check_version(version: object) -> str:
    """A model version number as text (`3`)."""
    text = str(version)
    if not text.isdigit() or not text.isascii() or int(text) < 1 or len(text) > 9:
        raise InputError(f"model version must be a positive integer, got {version!r}")
    return str(int(text))


def check_sweep_id(sweep_id: object) -> str:
    """A sweep id (a folder name under workspace/sweeps/ and an MLflow tag value): letters, digits,
    '-' and '_'."""
    if not isinstance(sweep_id, str) or not _FOLDER_NAME.match(sweep_id):
        raise InputError(f"invalid sweep id {sweep_id!r}: letters, digits, '-' and '_' only")
    return sweep_id


def check_job_id(job_id: object) -> str:
    """A job id (it becomes a folder name under workspace/jobs/): letters, digits, '-' and '_'."""
    if not isinstance(job_id, str) or not _FOLDER_NAME.match(job_id):
        raise InputError(f"invalid job id {job_id!r}: letters, digits, '-' and '_' only")
    return job_id
