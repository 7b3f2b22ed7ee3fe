"""How far a training job has got, for a live view: plan, step, time left, state in words, and the
end of its log without the noise.

Read-only helpers over what the worker leaves behind (report.json, log.txt, its metric history);
no torch, no mlflow, cheap enough to call every couple of seconds.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any, Sequence

from deepsynth.training.report import FAILED, FINISHED, KILLED, QUEUED, REPORT_FILE, RUNNING

PACE_WINDOW = 20
"""Steps the pace is measured over: recent enough to follow a slowdown, long enough to be steady."""
CANCELLING = "CANCELLING"  # deepsynth.jobs.lifecycle's state while a cancel is under way


def planned_steps(job_dir: str | Path) -> int | None:
    """Steps the worker plans in all (it writes `total_steps` to report.json once it knows)."""
    try:
        value = json.loads((Path(job_dir) / REPORT_FILE).read_text(encoding="utf-8")).get("total_steps")
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    return int(value) if isinstance(value, (int, float)) and value > 0 else None


def eta_seconds(steps: Sequence[int], times_ms: Sequence[int], total: int | None) -> float | None:
    """Seconds left at the recent pace (steps per second over the last `PACE_WINDOW` logged steps);
    None when the plan or the pace is unknown."""
    if total is None or len(steps) < 2:
        return None
    first, last = max(0, len(steps) - 1 - PACE_WINDOW), len(steps) - 1
    elapsed_s = (times_ms[last] - times_ms[first]) / 1000
    done = steps[last] - steps[first]
    if elapsed_s <= 0 or done <= 0:
        return None
    return max(0.0, (total - steps[last]) * elapsed_s / done)


# -- step and state, the same words in every place ----------------------------------------------
def current_step(reported: int | None, logged_steps: Sequence[int] = ()) -> int | None:
    """The step a job has reached: the later of what report.json says (written every few seconds
    and at checkpoints) and the last step the run logged a metric for (written more often)."""
    known = [int(s) for s in (reported, *logged_steps) if s is not None]
    return max(known) if known else None


def step_text(step: int | None, total: int | None) -> str:
    """`7 / 10`; `— / 10` before the first step; `—` when nothing is known (never "None")."""
    shown = "—" if step is None else str(step)
    return f"{shown} / {total}" if total else shown


STATE_WORDS = {QUEUED: "Queued (waiting for GPU memory)", RUNNING: "Running", CANCELLING: "Stopping",
               FINISHED: "Finished", FAILED: "Failed", KILLED: "Stopped"}
CANCELLED_BY_YOU = "Cancelled by you"


def state_text(state: str, cancelled_by_user: bool = False) -> str:
    """The job state in words: a cancel the user asked for reads as that, not as a failure."""
    if state == KILLED and cancelled_by_user:
        return CANCELLED_BY_YOU
    return STATE_WORDS.get(state, state.capitalize())


def clock(seconds: float | None) -> str:
    """An epoch time as local `YYYY-MM-DD HH:MM` ("" when unknown)."""
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(seconds)) if seconds else ""


def history_lines(job: Any) -> list[str]:
    """What happened to a job before its current attempt, as neutral sentences, oldest first:
    `Started 2026-11-28 17:37`, `Cancelled by you at step 5`, `Resumed 2026-11-28 17:45`."""
    lines = [f"Started {clock(job.started_at)}"] if job.started_at else []
    for index, resumed in enumerate(job.resumed_at):
        ended = job.past_attempts[index] if index < len(job.past_attempts) else {}
        if ended:
            at = f" at step {ended['step']}" if ended.get("step") is not None else ""
            words = state_text(str(ended.get("state")), bool(ended.get("by_user")))
            reason = f" ({ended['error']})" if ended.get("error") else ""
            lines.append(f"{words}{at}{reason}")
        lines.append(f"Resumed {clock(resumed)}")
    return lines


def memory_text(peaks: dict[str, int] | None) -> str:
    """A job's peak memory per phase: `load 0.81 GB · read 0.80 GB · train 1.62 GB · evaluate 1.75 GB`
    ("" before the first phase ends)."""
    from deepsynth.training.phase_memory import PHASES

    if not peaks:
        return ""
    order = {phase: index for index, phase in enumerate(PHASES)}
    ordered = sorted(peaks.items(), key=lambda item: order.get(item[0], len(order)))
    return " · ".join(f"{phase} {value / 1e9:.2f} GB" for phase, value in ordered)


# -- the log, without progress bars and library chatter -----------------------------------------
_PROGRESS_BAR = re.compile(r"\d+%\|.*\|\s*\d+/\d+")  # tqdm: "reading train pages:  50%|█████     | 16/32 [..]"
NOISE = tuple(re.compile(pattern) for pattern in (
    r"^USDT:",                                           # the torch profiler's probes (memory measurement)
    r"^Loading weights",                                 # transformers' per-load progress
    r"^\S+\.py:\d+: \w*Warning: ",                       # Python warnings (FutureWarning, UserWarning...)
    r"^\s+warnings\.warn\(",                             # ...and the source line printed after them
    r"^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d INFO mlflow\.",    # mlflow's INFO logging (db tables, monitors)
    r"^Failed to load CPU gemm_4bit_forward",            # bitsandbytes looking for optional kernels
))


def is_noise(line: str) -> bool:
    return any(pattern.search(line) for pattern in NOISE)


_CANCEL_LINE = re.compile(r"^(deepsynth \w+): error: (cancelled by SIG\w+)$")  # the CLI's exit line after a cancel


def clean_log(text: str) -> list[str]:
    """The log's lines a person reads: a line redrawn with carriage returns (a progress bar) keeps
    only its last state, progress bars are left out except a last one still moving, library noise
    (`NOISE`) is dropped, and a cancel is not announced as an error. Errors and tracebacks are
    kept as they are."""
    lines = []
    for raw in text.splitlines():
        line = raw.rstrip().split("\r")[-1].rstrip() if "\r" in raw else raw.rstrip()
        if line and not is_noise(line):
            lines.append(_CANCEL_LINE.sub(r"\1: \2 (a cancel: resume continues from the last checkpoint)", line))
    kept = [line for line in lines if not _PROGRESS_BAR.search(line)]
    if lines and _PROGRESS_BAR.search(lines[-1]) and "100%|" not in lines[-1]:
        kept.append(lines[-1])  # what the job is busy with right now
    return kept


def log_tail(path: str | Path, lines: int = 40, max_bytes: int = 256_000, clean: bool = True) -> str:
    """The last `lines` lines of a (possibly large, growing) log, reading at most `max_bytes`;
    with `clean`, without progress bars and library noise (`clean_log`)."""
    try:
        with open(path, "rb") as handle:
            handle.seek(0, 2)
            size = handle.tell()
            handle.seek(max(0, size - max_bytes))
            data = handle.read()
    except FileNotFoundError:
        return ""
    text = data.decode("utf-8", errors="replace")
    kept = clean_log(text) if clean else text.splitlines()
    return "\n".join(kept[-lines:])
