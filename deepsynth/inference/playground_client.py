"""Summaries from several adapters (and the base) without loading a model in this process.

The playground must not import torch (the dashboard's import path stays light), so inference runs
as `deepsynth infer ... --json` in a child process (deepsynth.verb_runner): the base loads once
there, every adapter is applied to the same page, and the summaries come back as JSON.
`summarize_each` reads `deepsynth infer --stream` instead: a line per model as it is ready, with
its time, so the caller can show progress per model.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from deepsynth.errors import DeepSynthError, InputError
from deepsynth.verb_runner import Run, check_exit, run_verb, verb_argv


def infer_args(adapters: Sequence[str], text_file: str | None = None, image: str | None = None,
               include_base: bool = True, instruction: str = "", max_new_tokens: int | None = None,
               uri: str | None = None) -> list[str]:
    """The `deepsynth infer` arguments for one comparison."""
    if not adapters:
        raise InputError("choose at least one adapter (a run, a registered version, or a folder)")
    if (text_file is None) == (image is None):
        raise InputError("give a text or a page image, not both")
    args = [item for adapter in adapters for item in ("--adapter", str(adapter))]
    args += ["--text-file", text_file] if text_file is not None else ["--image", image]
    if include_base:
        args.append("--base")
    if instruction:
        args += ["--instruction", instruction]
    if max_new_tokens:
        args += ["--max-new-tokens", str(int(max_new_tokens))]
    if uri:
        args += ["--tracking-uri", uri]
    return args + ["--json"]


def parse_summaries(stdout: str) -> dict[str, str]:
    """`{label: summary}` from `deepsynth infer --json` output (its last non-empty line)."""
    lines = [line for line in stdout.splitlines() if line.strip()]
    try:
        data = json.loads(lines[-1]) if lines else None
    except json.JSONDecodeError:
        data = None
    if isinstance(data, dict) and isinstance(data.get("summaries"), dict):
        data = data["summaries"]
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise DeepSynthError(f"deepsynth infer --json printed no summaries: {stdout[-300:]!r}")
    return {str(label): summary for label, summary in data.items()}


def summarize(adapters: Sequence[str], text: str | None = None, image: str | Path | None = None,
              include_base: bool = True, instruction: str = "", max_new_tokens: int | None = None,
              uri: str | None = None, timeout_s: float = 900.0, run: Run = subprocess.run) -> dict[str, str]:
    """Summaries of one text (rendered with each adapter's settings) or page image, by each adapter
    and, with `include_base`, the base model (label "base"), computed in a child process."""
    if text is not None and not text.strip():
        raise InputError("the text to summarize is empty")
    if text is None:
        return parse_summaries(run_verb("infer", infer_args(adapters, image=str(image), include_base=include_base,
                                                            instruction=instruction, max_new_tokens=max_new_tokens,
                                                            uri=uri), timeout_s, run).stdout)
    handle, path = tempfile.mkstemp(prefix="deepsynth-playground-", suffix=".txt")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
        args = infer_args(adapters, text_file=path, include_base=include_base, instruction=instruction,
                          max_new_tokens=max_new_tokens, uri=uri)
        return parse_summaries(run_verb("infer", args, timeout_s, run).stdout)
    finally:
        os.unlink(path)


# -- one model at a time: progress and timing per model ----------------------------------------------
@dataclass(frozen=True)
class StreamEvent:
    """What the child reported: the models are `loaded`, or one model's `summary` is ready."""

    event: str
    """`loaded` or `summary`."""
    seconds: float
    """Seconds this step took (loading the base and adapters; one model's summary)."""
    label: str = ""
    """The adapter (as given) or "base", for a summary."""
    summary: str = ""
    """The summary text."""


def parse_event(line: str) -> StreamEvent | None:
    """One `deepsynth infer --stream` line as an event; None for anything else (a library's print)."""
    try:
        data = json.loads(line)
    except json.JSONDecodeError:
        return None
    if not isinstance(data, dict) or data.get("event") not in ("loaded", "summary"):
        return None
    return StreamEvent(str(data["event"]), float(data.get("seconds") or 0.0), str(data.get("label", "")),
                       str(data.get("summary", "")))


def summarize_each(adapters: Sequence[str], on_event: Callable[[StreamEvent], None], text: str | None = None,
                   image: str | Path | None = None, include_base: bool = True, instruction: str = "",
                   max_new_tokens: int | None = None, uri: str | None = None, timeout_s: float = 900.0,
                   popen: Callable[..., Any] = subprocess.Popen) -> dict[str, StreamEvent]:
    """`summarize`, reporting each step as it happens (`on_event`): the base and adapters loaded,
    then each model's summary with its time. Returns {label: its summary event}. The child is
    killed (by its pid) if it runs past `timeout_s`."""
    if text is not None and not text.strip():
        raise InputError("the text to summarize is empty")
    path = None
    if text is not None:
        handle, path = tempfile.mkstemp(prefix="deepsynth-playground-", suffix=".txt")
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
    args = infer_args(adapters, text_file=path, image=None if image is None else str(image), include_base=include_base,
                      instruction=instruction, max_new_tokens=max_new_tokens, uri=uri)
    args = args[:-1] + ["--stream"]  # one line per event instead of one JSON object at the end
    results: dict[str, StreamEvent] = {}
    try:
        with tempfile.TemporaryFile() as errors:  # a file: a chatty stderr can never block the child
            child = popen(verb_argv("infer", args), stdout=subprocess.PIPE, stderr=errors, text=True,
                          stdin=subprocess.DEVNULL, env=dict(os.environ, PYTHONUNBUFFERED="1"))
            timed_out = threading.Event()

            def stop() -> None:
                timed_out.set()
                child.kill()  # our child, by its pid

            timer = threading.Timer(timeout_s, stop)
            timer.start()
            try:
                for line in child.stdout:
                    event = parse_event(line)
                    if event is None:
                        continue
                    if event.event == "summary":
                        results[event.label] = event
                    on_event(event)
                returncode = child.wait()
            finally:
                timer.cancel()
                child.stdout.close()
            if timed_out.is_set():
                raise DeepSynthError(f"deepsynth infer did not finish within {timeout_s:.0f} s")
            errors.seek(0)
            check_exit("infer", returncode, errors.read().decode("utf-8", errors="replace"))
    finally:
        if path is not None:
            os.unlink(path)
    return results
