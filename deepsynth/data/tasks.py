"""What a dataset asks the model to do: the task names, their default prompts, target checks.

The task is recorded in `deepsynth_dataset.json` (`task`, and `dataset_config.task`) so that
training and evaluation pick the task's metric (`deepsynth.evaluation`). A prompt is given to the
model as text and never rendered onto the page. An empty prompt means the model's own default
instruction (`deepsynth.models.builtin.prompt.DEFAULT_INSTRUCTION`, a summary request): `summarize`
therefore stores "" and trains exactly as datasets built before tasks existed.
"""

from __future__ import annotations

import json

from deepsynth.errors import InputError

TASKS = ("summarize", "transcribe", "qa", "extract", "translate", "custom")
"""Task names; `deepsynth.evaluation` maps each to its primary metric."""

DEFAULT_PROMPTS = {
    "summarize": "",
    "transcribe": "Transcribe the text of the page.",
    "qa": "",
    "extract": "Extract the fields of the document as JSON.",
    "translate": "Translate the document into English.",
    "custom": "",
}
"""The prompt an example gets when neither its row nor `DatasetConfig.prompt` gives one.
"" for summarize: the model's default instruction. qa and custom have none: each row (or
`--prompt`) must say what to ask."""

NEEDS_PROMPT = ("qa", "custom")
"""Tasks whose examples must each carry a prompt (a question, an instruction)."""


def effective_prompt(task: str, row_prompt: str, config_prompt: str, where: str) -> str:
    """The prompt of one example: its row's, else the configured one, else the task's default."""
    prompt = (row_prompt or "").strip() or (config_prompt or "").strip() or DEFAULT_PROMPTS[task]
    if not prompt and task in NEEDS_PROMPT:
        what = "a question" if task == "qa" else "an instruction"
        raise InputError(f"{where}: no prompt; --task {task} needs {what} per example "
                         "(a `prompt` column, or --prompt for all)")
    return prompt


def check_target(task: str, target: str, where: str) -> None:
    """Task-specific checks of a reference answer (extract: a JSON object or list)."""
    if task != "extract":
        return
    try:
        value = json.loads(target)
    except json.JSONDecodeError as error:
        raise InputError(f"{where}: the target is not valid JSON (--task extract): {error.msg} at "
                         f"column {error.colno}: {target[:60]!r}") from None
    if not isinstance(value, (dict, list)):
        raise InputError(f"{where}: the target must be a JSON object or list under --task extract, "
                         f"got {type(value).__name__}: {target[:60]!r}")
