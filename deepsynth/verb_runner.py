"""Running a `deepsynth VERB` in a child process, for callers that must stay light (the dashboard).

Work that needs torch, transformers or peft (inference, merging an adapter) runs in a fresh
`python -m deepsynth VERB ...` process: the caller never imports the stack (a 12-21 s cold import
here), a crash or out-of-memory kills only the child, and the verb behaves exactly as on the
command line. Arguments are an argv list (no shell). A `DeepSynthError` in the child (exit status
2, "deepsynth VERB: error: ..." on stderr) comes back as a `DeepSynthError` with the same message.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from typing import Callable, Sequence

from deepsynth.errors import DeepSynthError

USER_ERROR_EXIT = 2  # deepsynth.cli.main's exit status for a DeepSynthError
Run = Callable[..., subprocess.CompletedProcess]


@dataclass(frozen=True)
class VerbResult:
    """What a finished verb printed."""

    argv: tuple[str, ...]
    """The command that ran."""
    stdout: str
    """Its standard output (e.g. the JSON of `--json`)."""
    stderr: str
    """Its standard error (progress, warnings)."""


def verb_argv(verb: str, args: Sequence[str]) -> list[str]:
    return [sys.executable, "-m", "deepsynth", verb, *[str(a) for a in args]]


def run_verb(verb: str, args: Sequence[str], timeout_s: float = 900.0, run: Run = subprocess.run) -> VerbResult:
    """Run `deepsynth VERB ARGS` to completion; raise `DeepSynthError` if it fails or times out."""
    argv = verb_argv(verb, args)
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    try:
        done = run(argv, capture_output=True, text=True, timeout=timeout_s, env=env, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise DeepSynthError(f"deepsynth {verb} did not finish within {timeout_s:.0f} s") from None
    check_exit(verb, done.returncode, done.stderr)
    return VerbResult(tuple(argv), done.stdout, done.stderr)


def check_exit(verb: str, returncode: int, stderr: str) -> None:
    """Raise the `DeepSynthError` a finished `deepsynth VERB` child stands for (none on success)."""
    if returncode == USER_ERROR_EXIT:
        prefix = f"deepsynth {verb}: error: "
        lines = [line for line in stderr.splitlines() if line.strip()]
        start = next((i for i, line in enumerate(lines) if line.startswith(prefix)), None)
        message = ("\n".join(lines[start:])[len(prefix):] if start is not None
                   else "\n".join(lines[-5:]) or "failed")
        raise DeepSynthError(message)
    if returncode != 0:
        tail = "\n".join(stderr.strip().splitlines()[-15:])
        raise DeepSynthError(f"deepsynth {verb} failed (exit status {returncode}):\n{tail}")
