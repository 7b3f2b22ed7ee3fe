"""How much a page compresses what the decoder reads: the `compression/...` metrics of a run.

Rendering text to pages only pays if the decoder reads fewer tokens from the page than the text
would cost as text, without losing what the summary needs. DeepSeek-OCR reports ~97% OCR
precision below 10x text-to-vision-token compression and ~60% at 20x (arXiv 2510.18234, abstract);
Glyph searched rendering settings to reach 3-4x. These metrics put a run's render settings on that
axis, measured once per run on the documents it trains on:

- `compression/chars_per_page`: characters of page text (instruction header + document) per page.
- `compression/pages_per_doc`: rendered pages per document.
- `compression/text_tokens_per_doc`: the page text in the model's own tokenizer (what the decoder
  would read if it were given the text).
- `compression/read_tokens_per_doc` and `_per_page`: tokens the decoder actually reads from the
  page images: the page reader's text tokenized (the `ocr_text` interface), vision tokens (the
  `features` interface), or what a VLM's hook says (`VISION_TOKENS_HOOK`); capped at
  `max_source_tokens` as the batch is.
- `compression/ratio`: text tokens / tokens read, over all documents (> 1: the page is cheaper).
- `compression/reading_accuracy` (`ocr_text` only): share of the page text's characters the
  reader's text matches in order (difflib matching blocks), on untruncated documents.
- `compression/docs`: documents measured.
"""

from __future__ import annotations

import difflib
from typing import Any, Sequence

PREFIX = "compression/"
RATIO = f"{PREFIX}ratio"
VISION_TOKENS_HOOK = "vision_tokens_read"
"""A vision-language model (`deepsynth.models.vlm.model`) reads the pages with its own vision encoder and
says how many vision tokens its language model attends to for one document (all pages):
`model.vision_tokens_read(reading) -> int`. `max_source_tokens` does not cap those."""
ACCURACY_DOCS = 64
"""Documents whose reading accuracy is measured (difflib costs ~10 ms per 500 characters)."""
ACCURACY_CHARS = 1500
"""Characters of each document compared (a proportional prefix of the reading)."""


def tokens_read(model: Any, reading: Any) -> int:
    """Tokens the decoder reads for one document's pages (after the `max_source_tokens` cap)."""
    limit = model.config.max_source_tokens
    hook = getattr(model, VISION_TOKENS_HOOK, None)
    if callable(hook):
        return int(hook(reading))
    if model.config.vision_interface == "features":
        return min(0 if reading.features is None else len(reading.features), limit)
    return len(model.prompts.page_ids(reading.text, limit))


def _matched_share(reference: str, reading: str) -> float:
    reference, reading = " ".join(reference.split()), " ".join(reading.split())
    if not reference:
        return 1.0
    if len(reference) > ACCURACY_CHARS:  # compare prefixes of the same share of each text
        reading = reading[:round(len(reading) * ACCURACY_CHARS / len(reference))]
        reference = reference[:ACCURACY_CHARS]
    matcher = difflib.SequenceMatcher(None, reference, reading, autojunk=False)
    return sum(block.size for block in matcher.get_matching_blocks()) / len(reference)


def measure_compression(model: Any, split: Any, readings: Sequence[Any]) -> dict[str, float]:
    """The `compression/...` metrics of one dataset split (`augmented_text`, `num_pages`,
    `truncated` columns) and what the model's reader made of it (`readings`, same order)."""
    texts = list(split["augmented_text"])
    pages = [max(1, int(n)) for n in split["num_pages"]]
    truncated = list(split["truncated"])
    if not texts:
        return {}
    text_tokens = [len(model.prompts.encode(text)) for text in texts]
    read = [tokens_read(model, reading) for reading in readings]
    total_pages = sum(pages)
    metrics = {
        f"{PREFIX}docs": float(len(texts)),
        f"{PREFIX}pages_per_doc": total_pages / len(texts),
        f"{PREFIX}chars_per_page": sum(len(text) for text in texts) / total_pages,
        f"{PREFIX}text_tokens_per_doc": sum(text_tokens) / len(texts),
        f"{PREFIX}read_tokens_per_doc": sum(read) / len(texts),
        f"{PREFIX}read_tokens_per_page": sum(read) / total_pages,
    }
    if sum(read):
        metrics[RATIO] = sum(text_tokens) / sum(read)
    uses_reader_text = model.config.vision_interface == "ocr_text" and not callable(
        getattr(model, VISION_TOKENS_HOOK, None))
    if uses_reader_text:
        whole = [i for i, cut in enumerate(truncated) if not cut][:ACCURACY_DOCS]
        if whole:
            shares = [_matched_share(texts[i], readings[i].text) for i in whole]
            metrics[f"{PREFIX}reading_accuracy"] = sum(shares) / len(shares)
    return metrics
