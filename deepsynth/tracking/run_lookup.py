"""Finding a run from what a person typed: its full id, a unique prefix of the id, or its run name.

The dashboard labels runs `walk-c-queued (d7ff0df8)`, so either half of that label is what a user
carries to the shell. Every verb that takes a run resolves it here (`resolve_run_id`):

    full id        d7ff0df8a1b2...      always (one lookup)
    run name       walk-c-queued        when exactly one active run has that name
    id prefix      d7ff0df8             when exactly one active run's id starts with it
                                        (at least `MIN_PREFIX` characters; `allow_prefix=False` refuses)

A reference that matches several runs (two runs named alike, a short prefix, or a name that is
also another run's prefix) is refused with every candidate named, never guessed. Deleting takes
the full id or the exact name only: `resolve_run(ref, allow_prefix=False)`.
"""

from __future__ import annotations

from typing import Any

from deepsynth.errors import InputError

MIN_PREFIX = 4
"""A shorter id prefix is refused: like git's abbreviations, too short a prefix names a run by luck."""
MAX_CANDIDATES_SHOWN = 8


class RunNotFound(InputError):
    """No active run has that id, name or id prefix."""


class AmbiguousRun(InputError):
    """Several runs match; `candidates` holds them (`RunSummary`)."""

    def __init__(self, message: str, candidates: tuple[Any, ...]) -> None:
        super().__init__(message)
        self.candidates = candidates


def _quote(value: str) -> str:
    return "'" + str(value).replace("\\", "\\\\").replace("'", "\\'") + "'"


def _search(filter_string: str, uri: str | None) -> list[Any]:
    from deepsynth.tracking.queries import list_runs

    return list_runs(filter_string=filter_string, uri=uri, max_results=MAX_CANDIDATES_SHOWN * 8)


def _exact(ref: str, uri: str | None) -> Any | None:
    from deepsynth.tracking.queries import get_run

    try:
        run = get_run(ref, uri)
    except Exception as error:  # mlflow raises its own not-found type per store
        text = str(error)
        if "not found" in text.lower() or "RESOURCE_DOES_NOT_EXIST" in text or "INVALID_PARAMETER_VALUE" in text:
            return None
        raise
    return run if run.run_id == ref else None


def _candidate(run: Any) -> str:
    started = run.start_time.strftime("%Y-%m-%d %H:%M") if run.start_time else "not started"
    return f"{run.run_id} ({run.run_name or 'unnamed'}, {run.status}, {started})"


def resolve_run(ref: str, uri: str | None = None, allow_prefix: bool = True) -> Any:
    """The run (`queries.RunSummary`) that `ref` names: its full id, its exact run name, or (when
    `allow_prefix`) a unique prefix of its id. `RunNotFound` or `AmbiguousRun` (an `InputError`
    naming the candidates) otherwise. Deletion passes `allow_prefix=False`."""
    from deepsynth.tracking.store import resolve_tracking_uri

    text = str(ref or "").strip()
    if not text:
        raise RunNotFound("no run given: give a run id, a unique prefix of one, or a run name")
    found = _exact(text, uri) if "/" not in text else None
    if found is not None:
        return found
    named = _search(f"attributes.run_name = {_quote(text)}", uri)
    prefixed: list[Any] = []
    if allow_prefix and len(text) >= MIN_PREFIX and all(c.isalnum() or c in "-_" for c in text):
        like = text.replace("_", "\\_")  # `_` is a LIKE wildcard; the startswith below decides anyway
        prefixed = [run for run in _search(f"attributes.run_id LIKE {_quote(like + '%')}", uri)
                    if run.run_id.startswith(text)]
    matches = {run.run_id: run for run in [*named, *prefixed]}
    if len(matches) == 1:
        return next(iter(matches.values()))
    store = resolve_tracking_uri(uri)
    if not matches:
        how = (f"a run id, a unique id prefix (at least {MIN_PREFIX} characters) or a run name" if allow_prefix
               else "the full run id or the exact run name (no prefix here)")
        raise RunNotFound(f"run {text!r} not found in the tracking store {store}: give {how}")
    shown = list(matches.values())[:MAX_CANDIDATES_SHOWN]
    more = len(matches) - len(shown)
    what = ("runs are named" if named and not prefixed else "run ids start with" if prefixed and not named
            else "runs are named or have ids starting with")
    raise AmbiguousRun(f"{text!r} is ambiguous: {len(matches)} {what} it: "
                       + "; ".join(_candidate(run) for run in shown) + (f"; and {more} more" if more else "")
                       + ". Give the full run id (or a longer prefix).", tuple(matches.values()))


def resolve_run_id(ref: str, uri: str | None = None, allow_prefix: bool = True) -> str:
    """`resolve_run(...).run_id`."""
    return resolve_run(ref, uri, allow_prefix).run_id


def run_names(run_ids: list[str], uri: str | None = None) -> dict[str, str]:
    """run id -> run name for the ids found in the store (one query; {} when it cannot be read)."""
    from deepsynth.tracking.queries import list_runs

    ids = [run_id for run_id in dict.fromkeys(run_ids) if run_id and all(c.isalnum() or c in "-_" for c in run_id)]
    if not ids:
        return {}
    clause = "attributes.run_id IN (" + ", ".join(_quote(run_id) for run_id in ids) + ")"
    return {run.run_id: run.run_name for run in list_runs(filter_string=clause, uri=uri, max_results=len(ids))}
