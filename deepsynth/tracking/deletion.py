"""Deleting a run's adapter or a registered adapter version, and recording who did it and when.

Nothing here can be undone, so every rule errs on the side of refusing:
- A run is named by its full id or its exact name, never a prefix (`run_by_id_or_name`); a name
  that several runs share is refused, naming their ids.
- A version an alias points at is refused until the alias moves (or is deleted): `champion` must
  never point at nothing.
- A run's adapter is refused while a registered version's files are that adapter (a registered
  version is the run's `adapter/` folder, not a copy): delete the versions first; and while the
  run is still running (its job may write the adapter yet).
- Each deletion is recorded with who and when: on the run (`ADAPTER_DELETED_TAG`, by and at) or
  on the registered model (`deleted_version_tag(version)`: by, at, the run it came from).
Who may delete is the caller's rule (the dashboard asks `deepsynth.dashboard_host.roles`); the
caller passes the name it acts for in `by`.
"""

from __future__ import annotations

import datetime as dt
import getpass
import json
import re
from dataclasses import dataclass
from typing import Any

from mlflow.exceptions import MlflowException

from deepsynth.errors import InputError
from deepsynth.tracking.registry import ADAPTER_ARTIFACT, get_version, version_uri
from deepsynth.tracking.store import client_for, resolve_tracking_uri, with_retry

ADAPTER_DELETED_TAG = "deepsynth.adapter_deleted"
"""On a run whose adapter was deleted: JSON {"by", "at"}."""
DELETED_VERSION_PREFIX = "deepsynth.deleted_version."
"""On a registered model, one tag per deleted version: JSON {"by", "at", "run_id"}."""
FULL_RUN_ID = re.compile(r"^[0-9a-f]{32}$")
_HEX_PREFIX = re.compile(r"^[0-9a-f]{1,31}$")


@dataclass(frozen=True)
class Deletion:
    """What was deleted, by whom and when."""

    what: str
    """`run RUN_ID's adapter` or `models:/NAME/VERSION`."""
    by: str
    """Who deleted it (the signed-in user, or this machine's user)."""
    at: str
    """When (UTC, ISO 8601)."""

    def describe(self) -> str:
        """`deleted models:/wiki/2 (by ana, 2026-12-06 09:53 UTC)`."""
        when = self.at[:16].replace("T", " ") + (" UTC" if self.at.endswith("+00:00") else "")
        return f"deleted {self.what} (by {self.by}, {when})"


def local_user() -> str:
    """This machine's user name (who a command line or a dashboard without sign-in acts for)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (some containers)
        return "unknown local user"


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat()


def _quote(value: str) -> str:
    return "'" + str(value).replace("\\", "\\\\").replace("'", "\\'") + "'"


def run_by_id_or_name(reference: str, uri: str | None = None) -> Any:
    """The run whose full id or exact name is `reference` (a `RunSummary`); `InputError` for a
    prefix, an unknown run, or a name several runs share."""
    from deepsynth.tracking.queries import get_run, list_runs

    reference = (reference or "").strip()
    if not reference:
        raise InputError("name the run: its full run id or its exact run name")
    if FULL_RUN_ID.match(reference):
        try:
            return get_run(reference, uri)
        except MlflowException:
            pass  # perhaps a run named like an id: look it up by name below
    named = list_runs(None, filter_string=f"attributes.run_name = {_quote(reference)}", uri=uri)
    named = [run for run in named if run.run_name == reference]
    if len(named) == 1:
        return named[0]
    if len(named) > 1:
        ids = ", ".join(run.run_id for run in named[:5])
        raise InputError(f"{len(named)} runs are named {reference!r} ({ids}{' ...' if len(named) > 5 else ''}): "
                         "give the full run id of the one to delete")
    hint = (" (deleting takes the full 32-character run id or the exact run name, never the start of an id)"
            if _HEX_PREFIX.match(reference) else " (give its full run id or its exact run name)")
    raise InputError(f"no run with id or name {reference!r} in {resolve_tracking_uri(uri)}{hint}")


def adapter_deleted(tags: dict[str, str] | None) -> dict[str, str] | None:
    """Who deleted a run's adapter and when ({"by", "at"}), from the run's tags; None if not deleted."""
    value = (tags or {}).get(ADAPTER_DELETED_TAG)
    if not value:
        return None
    try:
        record = json.loads(value)
    except json.JSONDecodeError:
        return {"by": "unknown", "at": value}
    return record if isinstance(record, dict) else {"by": "unknown", "at": str(record)}


def versions_of_run(run_id: str, uri: str | None = None) -> list[Any]:
    """Registered versions whose files are run `run_id`'s adapter."""
    from deepsynth.tracking.registry import list_adapters

    return [version for adapter in list_adapters(uri) for version in adapter.versions
            if version.run_id == run_id and version.source.rstrip("/").endswith(f"/{ADAPTER_ARTIFACT}")]


def delete_run_adapter(reference: str, by: str | None = None, uri: str | None = None) -> Deletion:
    """Delete the `adapter/` artifact of the run named `reference` (full id or exact name); the
    run, its metrics and evaluation stay. Refused while a registered version is that adapter."""
    from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

    run = run_by_id_or_name(reference, uri)
    client = client_for(uri)
    label = f"run {run.run_name or run.run_id} ({run.run_id})"
    if adapter_deleted(run.tags):
        raise InputError(f"{label}: its adapter was already deleted")
    if run.status in ("RUNNING", "SCHEDULED"):
        raise InputError(f"{label} is {run.status.lower()}: its job may still write the adapter; cancel it first")
    present = {item.path for item in with_retry(client.list_artifacts, run.run_id)}
    if ADAPTER_ARTIFACT not in present:
        raise InputError(f"{label} has no {ADAPTER_ARTIFACT}/ artifact to delete")
    registered = versions_of_run(run.run_id, uri)
    if registered:
        names = ", ".join(version_uri(v.name, v.version) for v in registered)
        raise InputError(f"{label}: its adapter is registered as {names}; delete those versions first "
                         "(a registered version is this adapter's files, not a copy)")
    record = Deletion(f"run {run.run_name or run.run_id}'s adapter ({run.run_id})", by or local_user(), _now())
    with_retry(get_artifact_repository(run.artifact_uri).delete_artifacts, ADAPTER_ARTIFACT)
    with_retry(client.set_tag, run.run_id, ADAPTER_DELETED_TAG, json.dumps({"by": record.by, "at": record.at}))
    return record


def deleted_version_tag(version: str) -> str:
    """The registered model's tag that records version `version`'s deletion."""
    return f"{DELETED_VERSION_PREFIX}{version}"


def delete_version(name: str, version: str, by: str | None = None, uri: str | None = None) -> Deletion:
    """Delete version `version` of registered adapter `name` (the run's adapter stays). Refused
    while an alias points at it."""
    target = get_version(name, version, uri)  # checks the name and version, and that it exists
    client = client_for(uri)
    model = with_retry(client.get_registered_model, target.name)
    pointing = sorted(alias for alias, number in (model.aliases or {}).items() if str(number) == target.version)
    if pointing:
        shown = ", ".join(f"'{alias}'" for alias in pointing)
        raise InputError(f"{version_uri(target.name, target.version)} is what alias {shown} of {target.name} "
                         f"points at: move the alias to another version (or delete it) first")
    record = Deletion(version_uri(target.name, target.version), by or local_user(), _now())
    with_retry(client.delete_model_version, target.name, target.version)
    with_retry(client.set_registered_model_tag, target.name, deleted_version_tag(target.version),
               json.dumps({"by": record.by, "at": record.at, "run_id": target.run_id}))
    return record


def deleted_versions(name: str, uri: str | None = None) -> dict[str, dict[str, str]]:
    """version -> {"by", "at", "run_id"} for the deleted versions of registered adapter `name`."""
    model = with_retry(client_for(uri).get_registered_model, name)
    found = {}
    for key, value in (model.tags or {}).items():
        if key.startswith(DELETED_VERSION_PREFIX):
            try:
                found[key[len(DELETED_VERSION_PREFIX):]] = json.loads(value)
            except json.JSONDecodeError:
                found[key[len(DELETED_VERSION_PREFIX):]] = {"by": "unknown", "at": value}
    return found


__all__ = ["Deletion", "delete_run_adapter", "delete_version", "deleted_versions", "adapter_deleted",
           "run_by_id_or_name", "versions_of_run", "local_user"]
