"""The MLflow Model Registry for adapters: register a run's adapter, alias versions, list, download.

Decisions (see /work/shared/ENVIRONMENT.md):
- A version's source is the run's `adapter/` artifact folder, registered with
  `create_registered_model` + `create_model_version(source=f"{artifact_uri}/adapter", run_id=...)`:
  `mlflow.register_model("runs:/ID/adapter")` on a plain folder fails in MLflow 3 and leaves an
  empty registered model behind.
- An adapter comes back as plain files (`download_adapter`), loaded by PEFT from safetensors; never
  through `mlflow.*.load_model` (which would unpickle, and whose transformers flavour reloads a
  PEFT model with re-initialised weights).
- Names and aliases are checked before any call (`deepsynth.names`): they become cache
  folder names and appear in shell commands users copy.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from mlflow.exceptions import MlflowException

from deepsynth import paths
from deepsynth.errors import InputError
from deepsynth.hub_models import PINNED_PARAM
from deepsynth.names import check_alias, check_model_name, check_run_id, check_version
from deepsynth.tracking.store import client_for, resolve_tracking_uri, with_retry

ADAPTER_ARTIFACT = "adapter"
KEY_METRICS = ("eval/rougeL", "eval/rouge1", "eval/rouge2", "eval/base_rougeL", "train/loss",
               "memory/measured_peak_bytes",
               # the other tasks' metrics (deepsynth.evaluation.metrics): the alias guard ranks by them
               "eval/cer", "eval/wer", "eval/anls", "eval/exact_match", "eval/json_valid", "eval/field_f1",
               "eval/chrf", "eval/bleu")
DOCUMENT_KEYS = ("eval/docs",)
"""Copied too: on how many documents the scores were computed (the Registry page and the alias
warning say it), beside each tuned score's 95% interval bounds (`eval/<metric>_lo`, `_hi`)."""
COPIED_TAGS = ("deepsynth.task", "deepsynth.primary_metric", "deepsynth.eval_split", "deepsynth.eval_documents")
"""Run tags copied onto a version: which metric ranks it (absent: a summarize run, ROUGE-L), and
which documents it was scored on."""


def version_metric_keys(metrics: dict[str, float]) -> list[str]:
    """The keys of a run's metrics copied onto a version registered from it: the key metrics, the
    document count, and the interval bounds of each tuned score among them."""
    bounds = [f"{key}_{bound}" for key in KEY_METRICS for bound in ("lo", "hi")]
    return [key for key in (*KEY_METRICS, *DOCUMENT_KEYS, *bounds) if key in metrics]
BASE_MODEL_TAG = "deepsynth.base_model"
"""A version's base model: the run's model name, a hub id pinned to its commit (`ORG/NAME@COMMIT`)."""
REGISTRY_SCHEME = "models:/"
_MODEL_URI = re.compile(r"^models:/(?P<name>[^/@]+)(?:@(?P<alias>[^/@]+)|/(?P<version>[^/@]+))$")


@dataclass(frozen=True)
class AdapterVersion:
    """One registered version of an adapter."""

    name: str
    """Registered model name."""
    version: str
    """Version number (as MLflow returns it, a string)."""
    run_id: str
    """The run whose adapter this version is."""
    source: str
    """Artifact URI of the adapter folder."""
    aliases: tuple[str, ...] = ()
    """Aliases pointing at this version."""
    tags: dict[str, str] = field(default_factory=dict)
    """Version tags (key metrics are copied here at registration)."""


@dataclass(frozen=True)
class RegisteredAdapter:
    """A registered model and its versions, newest first."""

    name: str
    """Registered model name."""
    aliases: dict[str, str]
    """alias -> version."""
    versions: tuple[AdapterVersion, ...]
    """All versions, newest first."""


def _not_found(error: MlflowException) -> bool:
    return getattr(error, "error_code", "") == "RESOURCE_DOES_NOT_EXIST" or "not found" in str(error).lower()


def _version(entity) -> AdapterVersion:
    return AdapterVersion(entity.name, str(entity.version), entity.run_id or "", entity.source,
                          tuple(getattr(entity, "aliases", []) or []), dict(entity.tags or {}))


def alias_uri(name: str, alias: str) -> str:
    """The reference to the version an alias points at: `models:/NAME@ALIAS`."""
    return f"{REGISTRY_SCHEME}{name}@{alias}"


def version_uri(name: str, version: str | int) -> str:
    """The reference to one version: `models:/NAME/VERSION`."""
    return f"{REGISTRY_SCHEME}{name}/{version}"


def is_registry_reference(text: str) -> bool:
    """Whether `text` names a registered version or alias (rather than a run or a folder)."""
    return str(text).startswith(REGISTRY_SCHEME)


def parse_model_uri(model_uri: str) -> tuple[str, str | None, str | None]:
    """`models:/NAME@ALIAS` or `models:/NAME/VERSION` -> (name, alias, version), validated."""
    match = _MODEL_URI.match(model_uri or "")
    if match is None:
        raise InputError(f"{model_uri!r} is not a registry reference; use models:/NAME@ALIAS or models:/NAME/VERSION")
    name = check_model_name(match.group("name"))
    alias = check_alias(match.group("alias")) if match.group("alias") else None
    version = check_version(match.group("version")) if match.group("version") else None
    return name, alias, version


def register_adapter(run_id: str, name: str, alias: str | None = None, uri: str | None = None) -> AdapterVersion:
    """Register the adapter of run `run_id` as a new version of `name` (created if needed), tagged
    with the run's key metrics; point `alias` at it if given."""
    check_run_id(run_id)
    check_model_name(name)
    if alias is not None:
        check_alias(alias)
    client = client_for(uri)
    try:
        run = with_retry(client.get_run, run_id)
    except MlflowException as error:
        if _not_found(error):
            raise InputError(f"run {run_id!r} not found in {resolve_tracking_uri(uri)}") from None
        raise
    artifacts = {item.path for item in with_retry(client.list_artifacts, run_id, ADAPTER_ARTIFACT)}
    if f"{ADAPTER_ARTIFACT}/adapter_model.safetensors" not in artifacts:
        raise InputError(f"run {run_id!r} has no {ADAPTER_ARTIFACT}/adapter_model.safetensors artifact "
                         f"(did training finish?)")
    try:
        with_retry(client.get_registered_model, name)
    except MlflowException as error:
        if not _not_found(error):
            raise
        try:
            with_retry(client.create_registered_model, name,
                       description="DeepSynth LoRA adapter (files: adapter_model.safetensors, adapter_config.json)")
        except MlflowException as create_error:  # another process created it meanwhile
            if getattr(create_error, "error_code", "") != "RESOURCE_ALREADY_EXISTS":
                raise
    tags = {key: f"{run.data.metrics[key]:.6g}" for key in version_metric_keys(run.data.metrics)}
    tags.update({key: run.data.tags[key] for key in COPIED_TAGS if run.data.tags.get(key)})
    tags["deepsynth.run_name"] = run.info.run_name or ""
    base = run.data.params.get(PINNED_PARAM) or run.data.params.get("model.name")
    if base:
        tags[BASE_MODEL_TAG] = base  # a hub id with the commit it was trained on (`hub_models.pin`)
    created = with_retry(client.create_model_version, name,
                         source=f"{run.info.artifact_uri}/{ADAPTER_ARTIFACT}", run_id=run_id, tags=tags)
    if alias is not None:
        with_retry(client.set_registered_model_alias, name, alias, str(created.version))
    return get_version(name, str(created.version), uri)


def get_version(name: str, version: str, uri: str | None = None) -> AdapterVersion:
    check_model_name(name)
    version = check_version(version)
    try:
        return _version(with_retry(client_for(uri).get_model_version, name, version))
    except MlflowException as error:
        if _not_found(error):
            raise InputError(f"registered adapter {name!r} has no version {version}") from None
        raise


def set_alias(name: str, version: str, alias: str, uri: str | None = None) -> AdapterVersion:
    """Point `alias` (e.g. `champion`) at `version` of `name`, moving it if it pointed elsewhere."""
    check_alias(alias)
    target = get_version(name, version, uri)
    with_retry(client_for(uri).set_registered_model_alias, name, alias, target.version)
    return get_version(name, target.version, uri)


def delete_alias(name: str, alias: str, uri: str | None = None) -> None:
    check_model_name(name)
    check_alias(alias)
    resolve(alias_uri(name, alias), uri)  # a clear error for an unknown alias
    with_retry(client_for(uri).delete_registered_model_alias, name, alias)


def resolve(model_uri: str, uri: str | None = None) -> AdapterVersion:
    """The version a `models:/NAME@ALIAS` or `models:/NAME/VERSION` reference points at."""
    name, alias, version = parse_model_uri(model_uri)
    if version is not None:
        return get_version(name, version, uri)
    try:
        entity = with_retry(client_for(uri).get_model_version_by_alias, name, alias)
    except MlflowException as error:
        if _not_found(error):
            raise InputError(f"{model_uri}: no registered adapter {name!r} with alias {alias!r}") from None
        raise
    return _version(entity)


def list_versions(name: str, uri: str | None = None) -> list[AdapterVersion]:
    check_model_name(name)
    found = with_retry(client_for(uri).search_model_versions, f"name = '{name}'")
    return sorted((_version(v) for v in found), key=lambda v: int(v.version), reverse=True)


def list_adapters(uri: str | None = None) -> list[RegisteredAdapter]:
    """Every registered adapter with its aliases and versions, by name."""
    client = client_for(uri)
    adapters, token = [], None
    while True:
        page = with_retry(client.search_registered_models, max_results=1000, page_token=token)
        for model in page:
            aliases = {alias: str(version) for alias, version in (model.aliases or {}).items()}
            adapters.append(RegisteredAdapter(model.name, aliases, tuple(list_versions(model.name, uri))))
        token = page.token
        if not token:
            return sorted(adapters, key=lambda a: a.name)


def _cache_folder(version: AdapterVersion, uri: str | None) -> Path:
    store = hashlib.sha256(resolve_tracking_uri(uri).encode()).hexdigest()[:12]
    return paths.cache_dir() / "registry" / store / version.name.replace(" ", "_") / version.version


def download_adapter(model_uri: str, dest: str | Path | None = None, uri: str | None = None) -> Path:
    """The adapter files of a registry reference, as a local folder (plain files; load with PEFT).

    Without `dest` the files go to DeepSynth's cache, keyed by store, name and version (versions
    are immutable, so a cached copy is reused). Only safetensors weights are accepted."""
    from mlflow.artifacts import download_artifacts

    from deepsynth.adapter_format.files import ADAPTER_CONFIG, ADAPTER_WEIGHTS, check_adapter_folder, has_adapter

    version = resolve(model_uri, uri)
    target = Path(dest) if dest is not None else _cache_folder(version, uri)
    if has_adapter(target):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.downloading-", dir=target.parent))
    try:
        local = Path(with_retry(download_artifacts, artifact_uri=version.source, dst_path=str(staging),
                                tracking_uri=resolve_tracking_uri(uri)))
        check_adapter_folder(local, f"{model_uri} (version {version.version})",
                             required=(ADAPTER_WEIGHTS, ADAPTER_CONFIG))
        if target.exists():
            if dest is not None:
                raise InputError(f"{target}: already exists and holds no adapter; choose a new folder")
            shutil.rmtree(target)  # a stale, incomplete cache entry
        local.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target
