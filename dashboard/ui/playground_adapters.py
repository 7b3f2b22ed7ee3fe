"""What the Playground offers and how it words scores: each adapter (a registry alias or version, a
finished run) with its task and the score its run logged by that task's primary metric; an output
scored against the user's reference with the same metric (`deepsynth.evaluation.metrics`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from deepsynth.evaluation.keys import PRIMARY_METRIC_TAG, TASK_TAG
from deepsynth.tracking.alias_guard import main_metric, ranking_score, score_of, score_text


@dataclass(frozen=True)
class AdapterChoice:
    """One adapter the Playground can run."""

    label: str
    """What the picker shows: name, version or run, and its score in its task's metric."""
    short: str
    """A short name for sentences: `name@alias`, `name version 3`, `run-name (1a2b3c4d)`."""
    task: str
    """Its run's task (summarize when the run predates tasks)."""
    metric: str
    """Its primary metric's short name (rougeL, cer, anls...)."""
    ranking: float | None
    """Its score oriented so that higher is better (the default choice is the best)."""


def _choice(prefix: str, values: Mapping[str, Any] | None, tags: Mapping[str, Any] | None,
            short: str) -> AdapterChoice:
    tags = tags or {}
    primary = tags.get(PRIMARY_METRIC_TAG) or None
    metric = main_metric(values, primary)
    task = str(tags.get(TASK_TAG) or "summarize")
    shown = f"{prefix} · {score_text(score_of(values, primary), metric)}"
    if task != "summarize":
        shown += f" · {task}"
    return AdapterChoice(shown, short, task, metric, ranking_score(values, primary))


def adapter_choices(adapters: list[Any], runs: list[Any]) -> dict[str, AdapterChoice]:
    """Registered aliases and versions (their tags carry the run's scores and task), then finished
    runs with an adapter: {what `deepsynth infer --adapter` takes: its choice}."""
    from deepsynth.tracking.deletion import adapter_deleted
    from deepsynth.tracking.registry import alias_uri, version_uri

    choices: dict[str, AdapterChoice] = {}
    for adapter in adapters:
        tags = {v.version: v.tags for v in adapter.versions}
        for alias, version in sorted(adapter.aliases.items()):
            choices[alias_uri(adapter.name, alias)] = _choice(
                f"{adapter.name}@{alias} (version {version})", tags.get(version), tags.get(version),
                f"{adapter.name}@{alias}")
        for version in adapter.versions:
            choices[version_uri(adapter.name, version.version)] = _choice(
                f"{adapter.name} version {version.version}", version.tags, version.tags,
                f"{adapter.name} version {version.version}")
    for run in runs:
        if adapter_deleted(run.tags):  # its adapter files are gone (deepsynth delete / the Registry page)
            continue
        name = run.run_name or "(unnamed)"
        choices[run.run_id] = _choice(f"run {name} · {run.run_id[:8]}", run.metrics, run.tags,
                                      f"{name} ({run.run_id[:8]})")
    return choices


def in_short_names(sentence: str, choices: Mapping[str, AdapterChoice]) -> str:
    """A library sentence naming adapters as `deepsynth infer` was given them (run ids, models:/
    references), with each adapter's short name instead."""
    for choice in sorted(choices, key=len, reverse=True):
        sentence = sentence.replace(choice, choices[choice].short)
    return sentence


def reference_score(metric: str, output: str, reference: str) -> str:
    """`CER 12.5 vs your reference (lower is better)`; a reference the metric cannot read (extract:
    not JSON) is said instead of a number."""
    from deepsynth.evaluation.metric import direction_words
    from deepsynth.evaluation.metrics import direction, label, per_document

    try:
        value = per_document([metric], [output], [reference])[0][metric]
    except ValueError as error:  # BadReference: the metric's own words
        return f"{label(metric)}: {error}"
    return f"{label(metric)} {value:.1f} vs your reference ({direction_words(direction(metric))})"
