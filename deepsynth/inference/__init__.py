"""Answering with a base model and one or more adapters (`summarizer`), adapters that need
different bases side by side (`side_by_side`), page files and prompts as each adapter's dataset
read and asked them (`page_input`), the `deepsynth infer` verb (`cli`), and a torch-free client
that runs it in a child process (`playground_client`).

Light on import: `Summarizer` loads torch, transformers and peft only when used.
"""

from __future__ import annotations

from typing import Any

__all__ = ["BASE", "Summarizer"]

BASE = "base"
"""The label of the untouched base model in `Summarizer.compare` results."""


def __getattr__(name: str) -> Any:
    if name == "Summarizer":
        from deepsynth.inference.summarizer import Summarizer

        return Summarizer
    raise AttributeError(name)
