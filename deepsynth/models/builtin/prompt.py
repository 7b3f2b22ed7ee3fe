"""The prompt around the page: where the instruction, the page and the summary sit in a sequence.

With a chat tokenizer the user turn is "<instruction>\\n\\n<page>" and the summary is the assistant
turn (the chat template decides the markup); without one (the tiny byte tokenizer) a plain
"Instruction: ... Document: ... Summary: " layout is used. The template is rendered once with
marker strings and cut at them, so each piece is tokenized once per instruction.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

DEFAULT_INSTRUCTION = "Summarize the document in one or two sentences."
"""Used for documents whose dataset row has no instruction."""

_INSTRUCTION_MARK = "\u0001INSTRUCTION\u0001"
_PAGE_MARK = "\u0001PAGE\u0001"


@dataclass(frozen=True)
class PromptPieces:
    """Token ids of the fixed text between the variable parts of a prompt."""

    head: tuple[int, ...]
    """Before the instruction (system turn, user turn opening)."""
    middle: tuple[int, ...]
    """Between the instruction and the page."""
    tail: tuple[int, ...]
    """After the page, up to where the summary starts (assistant turn opening)."""


def _template_strings(tokenizer: Any) -> tuple[str, str, str]:
    if getattr(tokenizer, "chat_template", None):
        content = f"{_INSTRUCTION_MARK}\n\n{_PAGE_MARK}"
        rendered = tokenizer.apply_chat_template([{"role": "user", "content": content}],
                                                 tokenize=False, add_generation_prompt=True)
    else:
        rendered = f"Instruction: {_INSTRUCTION_MARK}\nDocument: {_PAGE_MARK}\nSummary: "
    head, rest = rendered.split(_INSTRUCTION_MARK)
    middle, tail = rest.split(_PAGE_MARK)
    return head, middle, tail


class PromptBuilder:
    """Tokenizes prompts and targets for one tokenizer (pieces cached per tokenizer)."""

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer
        head, middle, tail = _template_strings(tokenizer)
        self.pieces = PromptPieces(self.encode(head), self.encode(middle), self.encode(tail))
        self.encode_cached = lru_cache(maxsize=256)(self.encode)

    def encode(self, text: str) -> tuple[int, ...]:
        if not text:
            return ()
        return tuple(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def instruction_ids(self, instruction: str) -> tuple[int, ...]:
        return self.encode_cached(instruction.strip() or DEFAULT_INSTRUCTION)

    def page_ids(self, text: str, limit: int) -> tuple[int, ...]:
        return self.encode(text)[:limit]

    def target_ids(self, summary: str, limit: int) -> tuple[int, ...]:
        """Summary tokens (at most `limit`) followed by the end-of-turn token."""
        return self.encode(summary.strip())[:limit] + (self.tokenizer.eos_token_id,)
