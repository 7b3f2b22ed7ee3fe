"""How DeepSynth writes sizes and durations for people (CLI tables, the dashboard, logs)."""

from __future__ import annotations

GIB = 2**30


def readable_duration(seconds: float | None) -> str:
    """`18 ms`, `42 s`, `3.5 min`, `2.25 h`, `1.5 days`; `—` when unknown. Short runs stay in
    milliseconds, seconds or minutes rather than reading "0.0 s" or "0.00 h"."""
    if seconds is None:
        return "—"
    seconds = max(0.0, float(seconds))
    if 0 < seconds < 1:
        return f"{seconds * 1000:.0f} ms" if seconds >= 0.001 else "< 1 ms"
    if seconds < 120:
        return f"{seconds:.0f} s" if seconds >= 10 else f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.2f} h"
    return f"{seconds / 86400:.1f} days"
