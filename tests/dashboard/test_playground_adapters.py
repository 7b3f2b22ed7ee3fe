"""The Playground words each adapter's score, and an output's score against the user's reference,
in the adapter's task metric: CER (lower is better) for a transcription run, ROUGE-L for summaries."""

from types import SimpleNamespace

from dashboard_testing import load_ui

playground_adapters = load_ui("playground_adapters")
adapter_choices, reference_score = playground_adapters.adapter_choices, playground_adapters.reference_score


def run(run_id, name, metrics, tags=None):
    return SimpleNamespace(run_id=run_id, run_name=name, metrics=metrics, tags=tags or {})


def test_each_choice_is_worded_by_its_task_metric():
    version = SimpleNamespace(version="3", tags={"eval/cer": "7.5", "deepsynth.task": "transcribe",
                                                 "deepsynth.primary_metric": "cer"})
    registered = SimpleNamespace(name="scans", versions=[version], aliases={"champion": "3"})
    runs = [run("a" * 32, "summaries", {"eval/rougeL": 21.0}),
            run("b" * 32, "scans-r8", {"eval/cer": 12.5, "eval/rougeL": 3.0},
                {"deepsynth.task": "transcribe", "deepsynth.primary_metric": "cer"}),
            run("c" * 32, "qa-run", {"eval/anls": 61.0}, {"deepsynth.task": "qa"})]
    choices = adapter_choices([registered], runs)
    assert choices["models:/scans@champion"].label == "scans@champion (version 3) · CER 7.5 · transcribe"
    assert choices["models:/scans/3"].metric == "cer"
    assert choices["a" * 32].label == f"run summaries · {'a' * 8} · ROUGE-L 21.0"
    assert choices["b" * 32].label == f"run scans-r8 · {'b' * 8} · CER 12.5 · transcribe"
    assert choices["c" * 32].metric == "anls" and "ANLS 61.0" in choices["c" * 32].label
    assert playground_adapters.in_short_names(f"{'b' * 32} needs max source tokens 99", choices) == (
        "scans-r8 (bbbbbbbb) needs max source tokens 99")
    assert choices["b" * 32].ranking == -12.5 and choices["a" * 32].ranking == 21.0  # higher is better for both


def test_the_reference_score_uses_the_metric_and_its_direction():
    assert reference_score("cer", "the river", "the river") == "CER 0.0 vs your reference (lower is better)"
    said = reference_score("rougeL", "a tower in paris", "a tower in paris")
    assert said == "ROUGE-L 100.0 vs your reference (higher is better)"
    assert reference_score("field_f1", '{"a": 1}', "not json").startswith("field F1")


def test_runs_whose_adapter_was_deleted_are_not_offered():
    from deepsynth.tracking.deletion import ADAPTER_DELETED_TAG

    runs = [run("a" * 32, "kept", {"eval/rougeL": 21.0}),
            run("d" * 32, "gone", {"eval/rougeL": 25.0}, {ADAPTER_DELETED_TAG: '{"by": "ana", "at": "2026-12-06"}'})]
    assert list(adapter_choices([], runs)) == ["a" * 32]
