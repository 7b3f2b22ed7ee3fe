"""Words that stay true: every repository path and `deepsynth.` module a docstring, comment or doc
names exists. A file moved or deleted without its mentions fails here, naming file:line.

What counts as a mention (a token not inside a longer path, so `workspace/models/` or
`~/.cache/deepsynth/...` are runtime paths and left alone):
- a path under a top-level folder of the repository (`deepsynth/models/build.py`, `tests/...`,
  `docs/TEAM.md`, `bench/sweep.py`, `dashboard/ui/`), checked from the repository root;
- a library file named from inside the package (`training/worker.py`, `models/vlm_detect.py`):
  a `.py` path whose first folder is one of `deepsynth/`'s, checked under `deepsynth/`;
- a document name in capitals (`MEASURING.md`, `shared/MEASURING.md`): a file from the repository
  root or from the folder of the file that names it;
- a dotted module path (`deepsynth.models.tiny_vlm.build_tiny_vlm`): the longest importable prefix
  is a module or package here, and the next name, if any, is defined or imported in it. Names that
  are not modules (MLflow tags, session keys: `deepsynth.user`, `deepsynth.sweep`) are true when
  the code spells them as a string literal.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCANNED_FOLDERS = ("deepsynth", "dashboard", "pages", "bench", "scripts", "tests", "docs")
SCANNED_SUFFIXES = {".py", ".md", ".sh", ".toml", ".txt", ".tmpl"}
MADE_UP = {"tests/test_words_stay_true.py", "tests/test_import_layers.py"}
"""Tests that build a made-up repository in a temporary folder: their paths are examples."""
WRITTEN_BY_COMMANDS = ("docs/results/",)
"""Files the measuring commands write (`--results`): `tests/test_readme_results.py` checks them."""
TOP_FOLDERS = ("deepsynth", "dashboard", "pages", "bench", "scripts", "tests", "docs", ".ci")
PATH = re.compile(r"(?<![\w./~$%{}<>*-])((?:\.ci|[A-Za-z_][\w-]*)/[\w./-]*[\w/])")
CAPS_DOC = re.compile(r"(?<![\w./~$%{}<>*-])((?:[\w.-]+/)*[A-Z][A-Z0-9_]+\.md)\b")
MODULE = re.compile(r"(?<![\w./])(deepsynth(?:\.[A-Za-z_]\w*)+)")
LITERAL = re.compile(r"""["'](deepsynth(?:\.\w+)+)""")
DEFINED = r"(?m)^\s*(?:def|class|async def)\s+{0}\b|^\s*{0}\s*[:=]|\bimport\b.*\b{0}\b|\bimport\s*\([^)]*\b{0}\b|^\s+{0},|^{0}\b"


def scanned_files(root: Path = ROOT) -> list[Path]:
    files = [root / "README.md"]
    for folder in SCANNED_FOLDERS:
        files += [p for p in (root / folder).rglob("*") if p.is_file() and p.suffix in SCANNED_SUFFIXES
                  and "__pycache__" not in p.parts]
    return sorted(p for p in files if p.exists() and str(p.relative_to(root)) not in MADE_UP)


def library_families(root: Path) -> set[str]:
    return {p.name for p in (root / "deepsynth").iterdir() if p.is_dir() and (p / "__init__.py").exists()}


def path_problem(token: str, root: Path, families: set[str]) -> str | None:
    """Why a path-like token names nothing in the repository (None: it exists or is not a mention)."""
    token = token.rstrip(".")
    if any(part in ("", "..") for part in token.rstrip("/").split("/")) or re.search(r"/[a-z](/|$)", token):
        return None  # `a//b`, `../x` and rates such as `docs/s` are no mentions
    first = token.split("/")[0]
    if token.startswith(WRITTEN_BY_COMMANDS):
        return None
    if first in TOP_FOLDERS:
        return None if (root / token).exists() else f"{token} does not exist"
    if first in families and token.endswith(".py"):
        return None if (root / "deepsynth" / token).exists() else f"deepsynth/{token} does not exist"
    return None


def doc_problem(token: str, root: Path, beside: Path | None = None) -> str | None:
    """A document name, from the repository root or from the folder of the file that names it."""
    if token.split("/")[0] in TOP_FOLDERS:
        return None  # a path under a top folder: `path_problem` answers for it
    if (root / token).is_file() or (beside is not None and (beside / token).is_file()):
        return None
    return f"{token} is not a file in the repository"


def names_in_code(files: list[Path]) -> set[str]:
    """Every `deepsynth.x` spelled as a string literal in the code (tags, keys, setting names)."""
    return {m.group(1) for path in files if path.suffix == ".py"
            for m in LITERAL.finditer(path.read_text(encoding="utf-8"))}


def module_problem(dotted: str, root: Path, literals: set[str] = frozenset()) -> str | None:
    """`deepsynth.a.b.name`: the longest prefix that is a module or package, then the next name
    must be defined or imported there (attribute chains past it are not checked). A name that is
    no module, `deepsynth.<not a module>...`, is true when the code spells it as a literal."""
    parts = dotted.split(".")
    if any(part.startswith("__") for part in parts):
        return None
    is_module = root.joinpath(*parts[:2]).with_suffix(".py").is_file() or root.joinpath(*parts[:2]).is_dir()
    if not is_module and dotted in literals:
        return None
    for end in range(len(parts), 0, -1):
        base = root.joinpath(*parts[:end])
        source = base.with_suffix(".py") if base.with_suffix(".py").is_file() else base / "__init__.py"
        if not source.is_file():
            continue
        if end == len(parts):
            return None
        name = parts[end]
        text = source.read_text(encoding="utf-8")
        if re.search(DEFINED.format(re.escape(name)), text):
            return None
        return f"{dotted}: {'.'.join(parts[:end])} has no {name}"
    return f"{dotted}: no such module"


def problems_in(path: Path, root: Path = ROOT, literals: set[str] = frozenset()) -> list[str]:
    families = library_families(root)
    text = path.read_text(encoding="utf-8")
    found = []
    for number, line in enumerate(text.splitlines(), 1):
        where = f"{path.relative_to(root)}:{number}"
        for match in PATH.finditer(line):
            problem = path_problem(match.group(1), root, families)
            if problem:
                found.append(f"{where}: {problem}")
        for match in CAPS_DOC.finditer(line):
            problem = doc_problem(match.group(1), root, path.parent)
            if problem:
                found.append(f"{where}: {problem}")
        for match in MODULE.finditer(line):
            problem = module_problem(match.group(1).rstrip("."), root, literals)
            if problem:
                found.append(f"{where}: {problem}")
    return found


def test_every_named_path_and_module_exists():
    files = scanned_files()
    assert len(files) > 100 and ROOT / "README.md" in files
    literals = names_in_code(files)
    problems = [problem for path in files for problem in problems_in(path, ROOT, literals)]
    assert not problems, "stale mentions (move the words with the file):\n" + "\n".join(problems)


@pytest.mark.parametrize("line, stale", [
    ("see `docs/MISSING.md`", True),                       # a doc that is not there
    ("as in shared/MEASURING.md", True),                   # outside the repository
    ("tested in tests/estimate/test_nothing_here.py", True),
    ("`models/no_such_module.py` builds it", True),        # library-relative file
    ("`deepsynth.models.no_such_module.build`", True),
    ("`deepsynth.errors.NoSuchError`", True),              # module exists, name does not
    ("`deepsynth.errors.InputError` names the row", False),
    ("runs are tagged `deepsynth.user`", False),            # a tag the code spells as a literal
    ("runs are tagged `deepsynth.owner`", True),            # ... and one it does not
    ("`deepsynth.__file__`, rates of 3.2 docs/s and 14 pages/s/core", False),
    ("`deepsynth/errors.py` and `tests/test_names.py`", False),
    ("`docs/TEAM.md`, README.md, `bench/`", False),
    ("TEAM.md beside this document", False),              # resolved from the naming file's folder
    ("folders under workspace/models/ or ~/.cache/deepsynth/models/x.py", False),  # runtime paths
    ("`cache_dir()/models/...`, mlruns/, eval/predictions.csv", False),
])
def test_the_detector_tells_stale_from_true(tmp_path, line, stale):
    for name in ("deepsynth/models/__init__.py", "deepsynth/errors.py", "tests/test_names.py",
                 "docs/TEAM.md", "README.md", "bench/x.py"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("class InputError(Exception):\n    pass\n")
    (tmp_path / "docs" / "words.md").write_text(line + "\n")
    problems = problems_in(tmp_path / "docs" / "words.md", tmp_path, {"deepsynth.user"})
    assert bool(problems) == stale, problems
    assert all(p.startswith("docs/words.md:1: ") for p in problems)
