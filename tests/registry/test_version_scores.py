"""A registered version carries its score's interval and document count (copied from its run), and
the alias warning words scores by the task's metric and says on how many documents both versions
were scored, from their measured intervals."""

from __future__ import annotations

import uuid
from pathlib import Path

from deepsynth.tracking import registry
from deepsynth.tracking.alias_guard import Scored, alias_move_warning, scored


def test_registration_copies_the_interval_documents_and_split(registry_runs, mlflow_tracking_uri, tmp_path):
    from deepsynth.tracking.store import RunLogger

    logger = RunLogger.start("registry-tests", run_name="cer-run", uri=mlflow_tracking_uri,
                             tags={"deepsynth.task": "transcribe", "deepsynth.primary_metric": "cer",
                                   "deepsynth.eval_split": "test", "deepsynth.eval_documents": "test:40:abc"})
    logger.log_metrics({"eval/cer": 12.5, "eval/cer_lo": 9.0, "eval/cer_hi": 16.0, "eval/docs": 40,
                        "eval/wer": 30.0}, step=1, flush=True)
    logger.log_artifacts(Path(registry_runs["first_dir"]), "adapter")
    logger.finish()
    version = registry.register_adapter(logger.run_id, f"cer-{uuid.uuid4().hex[:6]}", uri=mlflow_tracking_uri)
    assert {k: version.tags[k] for k in ("eval/cer", "eval/cer_lo", "eval/cer_hi", "eval/docs")} == {
        "eval/cer": "12.5", "eval/cer_lo": "9", "eval/cer_hi": "16", "eval/docs": "40"}
    assert version.tags["deepsynth.eval_split"] == "test" and version.tags["deepsynth.eval_documents"] == "test:40:abc"
    score = scored(version.tags)
    assert score == Scored("cer", 12.5, 9.0, 16.0, 40)
    assert score.full() == "CER 12.5 [9.0, 16.0] on 40 documents (lower is better)"


def test_the_alias_warning_says_the_documents_and_whether_the_intervals_overlap():
    current, worse = Scored("rougeL", 30.0, 28.0, 32.0, 100), Scored("rougeL", 20.0, 18.0, 22.0, 100)
    warning = alias_move_warning("wiki", "champion", "1", current, "version 2", worse)
    assert warning.startswith("wiki@champion points at version 1 (ROUGE-L 30.0); version 2 scored 20.0, 10.0 points lower.")
    assert warning.endswith("Both were scored on 100 documents; their 95% intervals [28.0, 32.0] and [18.0, 22.0] "
                            "do not overlap.")
    unknown = alias_move_warning("wiki", "champion", "1", Scored("rougeL", 30.0), "version 2", Scored("rougeL", 20.0, documents=3))
    assert unknown.endswith("version 1 was scored on an unrecorded number of documents, version 2 on 3 documents.")
    assert alias_move_warning("wiki", "champion", "1", current, "version 2", Scored("rougeL", 31.0)) is None  # better
    other = alias_move_warning("ocr", "champion", "1", Scored("cer", 10.0, documents=40), "version 2",
                               Scored("rougeL", 50.0, documents=40))
    assert "version 2 is scored by ROUGE-L, another metric, so nobody can tell whether it is better" in other
