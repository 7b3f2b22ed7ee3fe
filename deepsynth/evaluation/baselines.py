"""Baselines that need no training: what a tuned model must beat before anyone calls it reading.

Each baseline makes its one choice on the TRAIN split (documents and reference summaries), then
answers every held-out document from the document's text alone, scored with the same ROUGE as the
models. On short Wikipedia descriptions these are strong: an extractive rule that copies the first
sentence's predicate noun phrase ("X is a 1968 epic science fiction film ..." -> "1968 epic
science fiction film ...") scored ROUGE-L ~46 on the demo's held-out documents, close to a tuned
adapter (docs/MEASURING.md), while the blank-page control scores ~8 (README, "What the main job shows").

- `lead_k`: the document's first k words; k chosen on train.
- `first_clause`: the phrase after the first copula ("is/was/are/were", an article dropped) in the
  first sentence, cut at the first clause boundary (punctuation, a relative pronoun), at most
  `cap` words; `cap` chosen on train. Without a copula: the first sentence's first `cap` words.
- `constant`: the same answer for every document, the training summary with the best mean
  ROUGE-L against the training summaries (`rouge.best_constant`).

Choosing on train is built into the signature: `fit_baselines(train_texts, train_summaries)` sees
nothing else, and the held-out documents only go through `predict`.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Sequence

from deepsynth.evaluation import rouge

LEAD_K = "lead_k"
FIRST_CLAUSE = "first_clause"
CONSTANT = "constant"
BASELINE_NAMES = (LEAD_K, FIRST_CLAUSE, CONSTANT)
"""Every baseline a run records, in the order tables show them."""

LEAD_K_CHOICES = tuple(range(1, 31))
"""Word counts lead-k chooses from."""
CAP_CHOICES = (4, 6, 8, 10, 12, 16, 20)
"""Word caps first-clause chooses from."""
FIT_DOCUMENTS = 400
"""Training documents (a seeded sample) the choices are made on: enough to pin k, fast (< 1 s)."""

# "X is a ...", "X was the ...", "X, born 1901, was an ..."; the article after the copula is dropped.
_COPULA = re.compile(r"\b(?:is|was|are|were)\s+(?:(?:a|an|the)\s+)?", re.IGNORECASE)
# Where the predicate noun phrase stops: clause punctuation or a relative pronoun / conjunction.
_CLAUSE_END = re.compile(r"[,;:.!?()\[\]\"“”]|\s[—–-]\s|—|–|\b(?:who|which|that|whose|where|when|and is|and was)\b",
                         re.IGNORECASE)
# A sentence ends at . ! ? followed by space and a capital, digit or quote (abbreviations like
# "St. Louis" then end a sentence early: the rule stays simple, and the clause cut follows anyway).
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"“(])")


def first_sentence(text: str) -> str:
    text = " ".join(text.split())
    return _SENTENCE_END.split(text, maxsplit=1)[0] if text else ""


def first_clause(text: str, cap: int) -> str:
    """The first sentence's predicate noun phrase (see the module docstring), <= `cap` words."""
    sentence = first_sentence(text)
    match = _COPULA.search(sentence)
    phrase = sentence[match.end():] if match else sentence
    end = _CLAUSE_END.search(phrase)
    if end is not None and end.start() > 0:
        phrase = phrase[:end.start()]
    return " ".join(phrase.split()[:cap])


def lead(text: str, k: int) -> str:
    return " ".join(text.split()[:k])


@dataclass(frozen=True)
class Baseline:
    """A non-learned summarizer and the choice it made on the train split."""

    name: str
    """`lead_k`, `first_clause` or `constant`."""
    choice: dict[str, Any]
    """What was chosen on train: {"k": 12}, {"cap": 8} or {"text": "..."}."""
    train_rougeL: float
    """Its mean ROUGE-L (points) on the training documents it was chosen on."""
    description: str = field(default="", compare=False)
    """One line for tables and logs."""

    def predict(self, texts: Sequence[str]) -> list[str]:
        if self.name == LEAD_K:
            return [lead(text, self.choice["k"]) for text in texts]
        if self.name == FIRST_CLAUSE:
            return [first_clause(text, self.choice["cap"]) for text in texts]
        if self.name == CONSTANT:
            return [self.choice["text"]] * len(texts)
        raise ValueError(f"unknown baseline {self.name!r}")


@lru_cache(maxsize=200_000)
def _word_tokens(word: str) -> tuple[str, ...]:
    return tuple(rouge.tokenizer().tokenize(word))


def _tokens(text: str) -> list[str]:
    """rouge-score's tokens of `text`, word by word (its tokenizer lower-cases, turns every
    non-alphanumeric character into a space and stems each token, so the tokens of a text are the
    tokens of its words in order): each distinct word is stemmed once."""
    return [token for word in text.split() for token in _word_tokens(word)]


def _best(candidates: Sequence[int], outputs_for: Any, summaries: Sequence[str]) -> tuple[int, float]:
    """The candidate whose outputs have the highest mean ROUGE-L against `summaries` (ties: the
    smaller candidate), and that mean in points. Uses rouge-score's tokenizer and LCS directly on
    pre-tokenized text (what `score()` does for rougeL), so 30 candidates x 400 documents take ~1 s."""
    from rouge_score import rouge_scorer

    targets = [_tokens(s) for s in summaries]
    best, best_score = candidates[0], -1.0
    for candidate in candidates:
        outputs = [_tokens(o) for o in outputs_for(candidate)]
        score = sum(rouge_scorer._score_lcs(t, o).fmeasure for t, o in zip(targets, outputs)) / max(1, len(targets))
        if score > best_score + 1e-12:
            best, best_score = candidate, score
    return best, 100.0 * best_score


def fit_baselines(train_texts: Sequence[str], train_summaries: Sequence[str], seed: int = 0,
                  sample: int = FIT_DOCUMENTS) -> list[Baseline]:
    """Every baseline in `BASELINE_NAMES`, each with its choice made on these training documents
    (a seeded sample of `sample` of them); raises ValueError when there are none."""
    if len(train_texts) != len(train_summaries):
        raise ValueError(f"{len(train_texts)} training texts for {len(train_summaries)} summaries")
    pairs = [(t, s) for t, s in zip(train_texts, train_summaries) if s.strip()]
    if not pairs:
        raise ValueError("no training documents with a summary to choose baselines on")
    if len(pairs) > sample:
        pairs = random.Random(seed).sample(pairs, sample)
    texts, summaries = [t for t, _ in pairs], [s for _, s in pairs]
    # The first 30 words hold every lead-k candidate: split each text once.
    heads = [" ".join(t.split()[:max(LEAD_K_CHOICES)]) for t in texts]
    k, k_score = _best(LEAD_K_CHOICES, lambda k: [lead(h, k) for h in heads], summaries)
    cap, cap_score = _best(CAP_CHOICES, lambda cap: [first_clause(t, cap) for t in texts], summaries)
    text, constant_score = rouge.best_constant(summaries, seed=seed)
    return [
        Baseline(LEAD_K, {"k": k}, k_score, f"the first {k} words"),
        Baseline(FIRST_CLAUSE, {"cap": cap}, cap_score,
                 f"the first sentence's predicate phrase, <= {cap} words"),
        Baseline(CONSTANT, {"text": text}, constant_score, f"always {text!r}"),
    ]
