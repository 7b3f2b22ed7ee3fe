"""Outputs from several adapters (and the base) without loading a model in this process.

The playground must not import torch (the dashboard's import path stays light), so inference runs
as `deepsynth infer ... --json` in a child process (deepsynth.verb_runner): a base loads once per
distinct setting there (`side_by_side`), every adapter answers on the same input (a text, a page
file, a page image) and prompt, and the outputs come back as JSON. `summarize_each` reads
`deepsynth infer --stream` instead: the plan before anything loads, then a line per model as it
is ready, with its time, so the caller can show progress per model.
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
               include_base: bool = True, prompt: str = "", max_new_tokens: int | None = None,
               uri: str | None = None, file: str | None = None) -> list[str]:
    """The `deepsynth infer` arguments for one comparison."""
    if not adapters:
        raise InputError("choose at least one adapter (a run, a registered version, or a folder)")
    if sum(given is not None for given in (text_file, image, file)) != 1:
        raise InputError("give one input: a text, a page file or a page image")
    args = [item for adapter in adapters for item in ("--adapter", str(adapter))]
    if text_file is not None:
        args += ["--text-file", text_file]
    elif file is not None:
        args += ["--file", file]
    else:
        args += ["--image", image]
    if include_base:
        args.append("--base")
    if prompt:
        args += ["--prompt", prompt]
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
              include_base: bool = True, prompt: str = "", max_new_tokens: int | None = None,
              uri: str | None = None, timeout_s: float = 900.0, run: Run = subprocess.run,
              file: str | Path | None = None) -> dict[str, str]:
    """Outputs on one text (rendered with each adapter's settings), page file (PDF or image, read
    with each adapter's page settings) or page image, by each adapter and, with `include_base`,
    the base model (label "base"), computed in a child process."""
    if text is not None and not text.strip():
        raise InputError("the text to summarize is empty")
    if text is None:
        return parse_summaries(run_verb("infer", infer_args(
            adapters, image=None if image is None else str(image), file=None if file is None else str(file),
            include_base=include_base, prompt=prompt, max_new_tokens=max_new_tokens, uri=uri), timeout_s, run).stdout)
    handle, path = tempfile.mkstemp(prefix="deepsynth-playground-", suffix=".txt")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
        args = infer_args(adapters, text_file=path, include_base=include_base, prompt=prompt,
                          max_new_tokens=max_new_tokens, uri=uri)
        return parse_summaries(run_verb("infer", args, timeout_s, run).stdout)
    finally:
        os.unlink(path)


# -- one model at a time: progress and timing per model ----------------------------------------------
@dataclass(frozen=True)
class StreamEvent:
    """What the child reported: its `plan` (before anything loads), the models `loaded`, or one
    model's `summary` is ready."""

    event: str
    """`plan`, `loaded` or `summary`."""
    seconds: float
    """Seconds this step took (loading a base and its adapters; one model's output)."""
    label: str = ""
    """The adapter (as given) or "base", for a summary."""
    summary: str = ""
    """The output text."""
    note: str = ""
    """`plan`: one sentence when the bases load one at a time (they do not fit in memory together)."""
    bases: str = ""
    """`plan`: what differs between the bases, when the adapters need several."""
    pages: str = ""
    """`plan`: one sentence when the page file has more pages than an adapter reads."""


def parse_event(line: str) -> StreamEvent | None:
    """One `deepsynth infer --stream` line as an event; None for anything else (a library's print)."""
    try:
        data = json.loads(line)
    except json.JSONDecodeError:
        return None
    if not isinstance(data, dict) or data.get("event") not in ("plan", "loaded", "summary"):
        return None
    return StreamEvent(str(data["event"]), float(data.get("seconds") or 0.0), str(data.get("label", "")),
                       str(data.get("summary", "")), str(data.get("note") or ""), str(data.get("bases") or ""),
                       str(data.get("pages") or ""))


def summarize_each(adapters: Sequence[str], on_event: Callable[[StreamEvent], None], text: str | None = None,
                   image: str | Path | None = None, include_base: bool = True, prompt: str = "",
                   max_new_tokens: int | None = None, uri: str | None = None, timeout_s: float = 900.0,
                   popen: Callable[..., Any] = subprocess.Popen,
                   file: str | Path | None = None) -> dict[str, StreamEvent]:
    """`summarize`, reporting each step as it happens (`on_event`): the plan (before anything
    loads), the bases and adapters loaded, then each model's output with its time. Returns
    {label: its summary event}. The child is killed (by its pid) if it runs past `timeout_s`."""
    if text is not None and not text.strip():
        raise InputError("the text to summarize is empty")
    path = None
    if text is not None:
        handle, path = tempfile.mkstemp(prefix="deepsynth-playground-", suffix=".txt")
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
    args = infer_args(adapters, text_file=path, image=None if image is None else str(image),
                      file=None if file is None else str(file), include_base=include_base, prompt=prompt,
                      max_new_tokens=max_new_tokens, uri=uri)
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
