"""The logic under the forms, without a page: widgets generated from the dataclasses, per-user form
memory, step plans, alias guardrails and dataset form checks."""

import dataclasses

from dashboard_testing import load_ui

from deepsynth.configuration import from_dict
from deepsynth.data import DatasetConfig
from deepsynth.data.form_checks import planned_splits, small_split_warnings, with_field_names
from deepsynth.tracking.alias_guard import lower_score_warning, score_of
from deepsynth.training.config import TrainConfig
from deepsynth.training.step_plan import auto_checkpoint_every, auto_warmup_steps, planned_steps

config_form, form_memory = load_ui("config_form"), load_ui("form_memory")


def test_every_leaf_field_becomes_a_widget_and_reads_back(tmp_path):
    config_value, defaults, form_fields, nested = (getattr(config_form, n) for n in (
        "config_value", "defaults", "form_fields", "nested"))

    fields = form_fields(TrainConfig)
    paths = [f.path for f in fields]
    assert "lora.rank" in paths and "model.reader_precision" in paths and "warmup_steps" in paths
    by_path = {f.path: f for f in fields}
    assert by_path["schedule"].choices == ("constant", "linear", "cosine")  # choice(...) -> a select box
    assert by_path["lora.target_modules"].kind is tuple and by_path["eval_base"].kind is bool
    assert by_path["learning_rate"].help.startswith("Peak AdamW")
    (tmp_path / "deepsynth_dataset.json").write_text("{}")
    widget_values = defaults(fields, "p")
    values = {f.path: config_value(f, widget_values[f"p.{f.path}"]) for f in fields}
    values["dataset"] = str(tmp_path)
    assert from_dict(TrainConfig, nested(values)) == TrainConfig(dataset=str(tmp_path))  # round trip


def test_a_new_field_appears_without_a_page_edit():
    @dataclasses.dataclass(frozen=True)
    class Extended(TrainConfig):
        label_smoothing: float = 0.0
        """Label smoothing of the summary loss."""

    added = {f.path: f for f in config_form.form_fields(Extended)}["label_smoothing"]
    assert added.kind is float and added.default == 0.0


def test_form_memory_is_per_user_on_disk(workspace):
    import streamlit as st
    FormMemory, memory_path = form_memory.FormMemory, form_memory.memory_path

    assert memory_path("../../etc/passwd").parent == workspace / "workspace" / "dashboard-forms"
    assert memory_path("alice") == workspace / "workspace" / "dashboard-forms" / "alice.json"
    st.session_state.clear()
    mine = FormMemory("train", user="alice")
    st.session_state["train.x"] = 5
    mine.save(["train.x", "train.missing"])
    st.session_state.clear()
    FormMemory("train", user="bob").restore(["train.x"], {"train.x": 1})
    assert st.session_state["train.x"] == 1
    st.session_state.clear()
    mine.restore(["train.x"], {"train.x": 1})
    assert st.session_state["train.x"] == 5


def test_the_step_plan_matches_the_worker():
    from deepsynth.training.loop import DataOrder  # imports torch: the test may, the dashboard may not

    for docs, batch, max_steps, epochs in ((32, 8, 0, 1.0), (33, 8, 0, 2.5), (3, 8, 0, 1.0), (40, 4, 10, 1.0)):
        assert planned_steps(docs, batch, max_steps, epochs) == DataOrder(docs, batch, 0).total_steps(max_steps, epochs)
    assert (auto_warmup_steps(10), auto_checkpoint_every(10)) == (1, 2)
    assert (auto_warmup_steps(5000), auto_checkpoint_every(5000)) == (10, 50)  # the defaults cap them
    assert auto_checkpoint_every(1) == 1


def test_alias_guard():
    assert score_of({"eval/rougeL": "20.6"}) == 20.6 and score_of({}) is None and score_of(None) is None
    warning = lower_score_warning("wiki", "champion", "1", 20.6, "version 2", 8.3)
    assert warning == ("wiki@champion points at version 1 (ROUGE-L 20.6); version 2 scored 8.3, 12.3 points lower.")
    assert lower_score_warning("wiki", "champion", "1", 20.6, "version 2", 25.0) is None  # better: no question
    assert lower_score_warning("wiki", "champion", None, None, "version 2", 1.0) is None  # a new alias
    assert "no recorded ROUGE-L" in lower_score_warning("wiki", "champion", "1", 20.6, "version 2", None)


def test_dataset_form_checks():
    sizes = planned_splits(3, DatasetConfig(source="wiki"))
    assert sizes == {"train": 1, "validation": 1, "test": 1}
    warnings = small_split_warnings(sizes)
    assert len(warnings) == 2 and warnings[0].startswith("1 training document(s)")
    assert small_split_warnings({"train": 800, "validation": 100, "test": 0}) == []  # test fraction 0: chosen
    message = "docs.csv: cannot tell which column holds the summary; name it with --summary-column; columns: a, b"
    assert with_field_names(message, {"summary_column": "Summary column"}) == (
        "docs.csv: cannot tell which column holds the summary; choose it in the “Summary column” field; columns: a, b")
    assert with_field_names("use --unknown-flag", {"summary_column": "S"}) == "use --unknown-flag"
    assert with_field_names("no column 'x' for the text (--text-column)", {"text_column": "Text column"}) == (
        "no column 'x' for the text (the “Text column” field)")
