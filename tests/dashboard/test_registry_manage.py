"""Export & registry page, managing adapters: versions listed with their task's metric, interval
and documents; the alias warning says on how many documents both versions were scored; deleting a
version or a run's adapter asks first, refuses a version an alias points at, records who and when,
and is for admins only under sign-in; several adapters export into one archive; a run merges into
its base through `deepsynth merge`."""

from __future__ import annotations

import json
import uuid
import zipfile

import pytest
from dashboard_testing import EXPERIMENT, texts, write_fake_adapter

from deepsynth.tracking import deletion, registry
from deepsynth.tracking.store import RunLogger, client_for


def adapter_run(store, tmp_path, name: str, metrics: dict, tags: dict | None = None) -> str:
    logger = RunLogger.start(EXPERIMENT, run_name=name, uri=store.uri, tags=tags or {})
    logger.log_metrics(metrics, 1, flush=True)
    logger.log_artifacts(write_fake_adapter(tmp_path / uuid.uuid4().hex / "adapter"), "adapter")
    logger.finish()
    return logger.run_id


CER_TAGS = {"deepsynth.task": "transcribe", "deepsynth.primary_metric": "cer"}


@pytest.fixture
def cer_model(store, tmp_path):
    """A registered transcription adapter: v1 (CER 10.0 on 40 documents, alias champion) and v2
    (CER 20.0 on 3 documents)."""
    name = f"ocr-{uuid.uuid4().hex[:8]}"
    good = adapter_run(store, tmp_path, "ocr-good", {"eval/cer": 10.0, "eval/cer_lo": 8.0, "eval/cer_hi": 12.25,
                                                     "eval/docs": 40}, CER_TAGS)
    worse = adapter_run(store, tmp_path, "ocr-worse", {"eval/cer": 20.0, "eval/cer_lo": 9.0, "eval/cer_hi": 35.0,
                                                       "eval/docs": 3}, CER_TAGS)
    registry.register_adapter(good, name, alias="champion", uri=store.uri)
    registry.register_adapter(worse, name, uri=store.uri)
    return name, good, worse


def test_versions_are_listed_by_their_task_metric_with_interval_and_documents(open_page, cer_model):
    name, good, _ = cer_model
    app = open_page("registry")
    table = app.dataframe[0].value
    mine = table[table["name"] == name].set_index("version")
    assert mine.loc[1, "metric"] == "CER (lower is better)" and mine.loc[1, "score"] == pytest.approx(10.0)
    assert mine.loc[1, "95% interval"] == "[8.0, 12.2]" and mine.loc[1, "documents"] == "40"
    assert mine.loc[2, "documents"] == "3" and mine.loc[2, "aliases"] == ""
    app.selectbox(key="registry.alias.name").set_value(name).run()
    assert "CER 20.0" in app.selectbox(key="registry.alias.version").format_func("2")
    label = app.selectbox(key="registry.export.run").format_func(good)  # the pickers word it by CER too
    assert "CER 10.0" in label and "ROUGE-L" not in label


def test_moving_an_alias_to_a_worse_cer_says_on_how_many_documents_both_were_scored(open_page, cer_model):
    name, _, _ = cer_model
    app = open_page("registry")
    app.selectbox(key="registry.alias.name").set_value(name).run()
    app.selectbox(key="registry.alias.version").set_value("2")
    app.text_input(key="registry.alias.alias").set_value("champion").run()
    app.button(key="registry.alias.go").click().run()
    warning = app.warning[0].value
    assert f"{name}@champion points at version 1 (CER 10.0)" in warning
    assert "version 2 scored 20.0, 10.0 points higher (worse: lower is better)" in warning
    assert ("version 1 was scored on 40 documents, version 2 on 3 documents; their 95% intervals [8.0, 12.2] "
            "and [9.0, 35.0] overlap, so the difference may be chance.") in warning


def test_a_version_an_alias_points_at_is_not_offered_for_deletion_and_another_is_after_a_confirmation(
        open_page, cer_model, store):
    name, _, worse = cer_model
    app = open_page("registry")
    app.radio(key="registry.delete.what").set_value("A registered version").run()
    app.selectbox(key="registry.delete.name").set_value(name).run()
    app.selectbox(key="registry.delete.version").set_value("1").run()
    assert "Alias `champion` points at version 1" in texts(app)
    assert not [b for b in app.button if b.key == "registry.delete.version.go"]
    app.selectbox(key="registry.delete.version").set_value("2").run()
    app.button(key="registry.delete.version.go").click().run()
    assert f"Delete models:/{name}/2 for good?" in texts(app)
    assert [v.version for v in registry.list_versions(name, uri=store.uri)] == ["2", "1"]  # asked, not done
    app.button(key="registry.delete.version.pending.yes").click().run()
    assert not app.exception
    assert f"Deleted models:/{name}/2 (by " in app.success[0].value
    assert [v.version for v in registry.list_versions(name, uri=store.uri)] == ["1"]
    recorded = deletion.deleted_versions(name, store.uri)["2"]
    assert recorded["run_id"] == worse and "dashboard without sign-in" in recorded["by"] and recorded["at"]
    table = app.dataframe[0].value
    assert list(table[table["name"] == name]["version"]) == [1]


def test_deleting_a_runs_adapter_asks_first_and_the_run_leaves_the_pickers(open_page, store, tmp_path):
    run_id = adapter_run(store, tmp_path, f"doomed-{uuid.uuid4().hex[:6]}", {"eval/rougeL": 5.0})
    app = open_page("registry")
    app.radio(key="registry.delete.what").set_value("A run's adapter").run()
    app.selectbox(key="registry.delete.run").set_value(run_id).run()
    app.button(key="registry.delete.run.go").click().run()
    app.button(key="registry.delete.run.pending.no").click().run()  # called off
    assert "adapter" in {a.path for a in client_for(store.uri).list_artifacts(run_id)}
    app.button(key="registry.delete.run.go").click().run()
    app.button(key="registry.delete.run.pending.yes").click().run()
    assert not app.exception and f"({run_id}) (by " in app.success[0].value
    assert "adapter" not in {a.path for a in client_for(store.uri).list_artifacts(run_id)}
    assert run_id not in app.selectbox(key="registry.export.run").options
    assert deletion.adapter_deleted(client_for(store.uri).get_run(run_id).data.tags)["by"].endswith(
        "(dashboard without sign-in)")


def test_a_signed_in_member_may_not_delete(open_page, store, tmp_path, workspace, monkeypatch):
    from dashboard_testing import APP
    from streamlit.testing.v1 import AppTest

    from deepsynth.dashboard_host import roles
    from deepsynth.dashboard_host import users as dashboard_auth

    users = workspace / "private" / "users.json"
    dashboard_auth.add_user(users, "alice", "correct horse battery staple")
    monkeypatch.setenv(dashboard_auth.USERS_FILE_ENV, str(users))
    monkeypatch.setenv(roles.ADMINS_ENV, "root")
    run_id = adapter_run(store, tmp_path, f"kept-{uuid.uuid4().hex[:6]}", {"eval/rougeL": 5.0})
    app = AppTest.from_file(str(APP), default_timeout=60)
    app.run()
    app.text_input(key="login.user").input("alice")
    app.text_input(key="login.password").input("correct horse battery staple")
    app.button[0].click().run()
    app.switch_page("../pages/registry.py").run()
    assert not app.exception and "Only the dashboard's admins may delete." in texts(app)
    app.radio(key="registry.delete.what").set_value("A run's adapter").run()
    app.selectbox(key="registry.delete.run").set_value(run_id).run()
    app.button(key="registry.delete.run.go").click().run()
    assert "alice may not delete" in app.error[0].value
    assert not [b for b in app.button if b.key == "registry.delete.run.pending.yes"]
    assert "adapter" in {a.path for a in client_for(store.uri).list_artifacts(run_id)}


def test_several_adapters_export_into_one_archive(open_page, store, tmp_path):
    first = adapter_run(store, tmp_path, "bundle-a", {"eval/rougeL": 5.0})
    second = adapter_run(store, tmp_path, "bundle-b", {"eval/rougeL": 6.0})
    app = open_page("registry")
    assert app.button(key="registry.bundle.go").disabled  # one archive needs two runs or more
    app.multiselect(key="registry.bundle.runs").set_value([first, second]).run()
    target = app.text_input(key="registry.bundle.out").value
    assert target.endswith(f"adapters-2-{first[:8]}.zip")
    app.button(key="registry.bundle.go").click().run(timeout=180)
    assert not app.exception and not app.error, [e.value for e in app.error]
    assert f"Wrote `{target}` (2 packages)" in app.success[0].value
    with zipfile.ZipFile(target) as archive:
        listed = json.loads(archive.read("bundle.json"))["packages"]
    assert sorted(entry["run_id"] for entry in listed.values()) == sorted([first, second])


def test_merge_into_its_base_runs_the_merge_verb(open_page, store, monkeypatch):
    from deepsynth.verb_runner import VerbResult

    calls = []

    def fake_run_verb(verb, args, **kwargs):
        calls.append((verb, list(args)))
        return VerbResult(("deepsynth", verb), "merged into /ws/workspace/merged/rank16-abcd (float16; max logit "
                                               "gap 0.01, tolerance 0.2)\n", "")

    monkeypatch.setattr("deepsynth.verb_runner.run_verb", fake_run_verb)
    app = open_page("registry")
    app.selectbox(key="registry.export.run").set_value(store.with_adapter).run()
    app.button(key="registry.merge.go").click().run()
    assert calls == [("merge", ["--run", store.with_adapter, "--tracking-uri", store.uri])]
    assert "Merged into `/ws/workspace/merged/rank16-abcd`" in app.success[0].value
