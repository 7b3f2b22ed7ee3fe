"""A run is named by its full id, a unique id prefix or its run name, in every verb that takes one;
ambiguity is refused with the candidates named; deletion's lookup takes no prefix."""

import pytest

from deepsynth.errors import InputError
from deepsynth.tracking.run_lookup import AmbiguousRun, RunNotFound, resolve_run, resolve_run_id


@pytest.fixture(scope="module")
def named_runs(mlflow_tracking_uri):
    from deepsynth.tracking.store import RunLogger

    ids = {}
    for name in ("lookup-walk-c-queued", "lookup-twin", "lookup-twin", "lookup-solo"):
        logger = RunLogger.start("tests-run-lookup", name, uri=mlflow_tracking_uri)
        logger.finish()
        ids.setdefault(name, []).append(logger.run_id)
    return ids


def test_full_id_prefix_and_name_find_the_run(named_runs, mlflow_tracking_uri):
    run_id = named_runs["lookup-walk-c-queued"][0]
    assert resolve_run_id(run_id, mlflow_tracking_uri) == run_id
    assert resolve_run_id(run_id[:8], mlflow_tracking_uri) == run_id  # what the dashboard shows: name (d7ff0df8)
    assert resolve_run_id("lookup-walk-c-queued", mlflow_tracking_uri) == run_id
    assert resolve_run("lookup-solo", mlflow_tracking_uri).run_name == "lookup-solo"


def test_ambiguity_names_every_candidate(named_runs, mlflow_tracking_uri):
    with pytest.raises(AmbiguousRun) as raised:
        resolve_run("lookup-twin", mlflow_tracking_uri)
    message = str(raised.value)
    assert "'lookup-twin' is ambiguous: 2 runs are named it" in message
    assert all(run_id in message for run_id in named_runs["lookup-twin"])
    assert {run.run_id for run in raised.value.candidates} == set(named_runs["lookup-twin"])
    assert isinstance(raised.value, InputError)  # the CLI prints it as an error, no traceback


def test_unknown_short_and_prefix_refused_when_deleting(named_runs, mlflow_tracking_uri):
    run_id = named_runs["lookup-solo"][0]
    with pytest.raises(RunNotFound, match="run 'no-such-run' not found"):
        resolve_run("no-such-run", mlflow_tracking_uri)
    with pytest.raises(RunNotFound, match="at least 4 characters"):
        resolve_run(run_id[:3], mlflow_tracking_uri)  # too short to name a run on purpose
    # deletion: the full id or the exact name, never a prefix
    assert resolve_run_id(run_id, mlflow_tracking_uri, allow_prefix=False) == run_id
    assert resolve_run_id("lookup-solo", mlflow_tracking_uri, allow_prefix=False) == run_id
    with pytest.raises(RunNotFound, match="the full run id or the exact run name"):
        resolve_run(run_id[:8], mlflow_tracking_uri, allow_prefix=False)


def test_verbs_take_a_prefix_or_a_name(named_runs, mlflow_tracking_uri, capsys):
    from deepsynth.cli import main

    # register: the run's name resolves (then the run is refused for what it lacks, not as unknown)
    assert main(["register", "--run", "lookup-solo", "--name", "lookup", "--tracking-uri", mlflow_tracking_uri]) == 2
    error = capsys.readouterr().err
    assert named_runs["lookup-solo"][0] in error and "has no adapter/" in error
    assert main(["register", "--run", "lookup-twin", "--name", "lookup", "--tracking-uri", mlflow_tracking_uri]) == 2
    assert "is ambiguous" in capsys.readouterr().err
    # export: the same, with the flag named
    assert main(["export", "--run", named_runs["lookup-solo"][0][:10], "--out", "x.zip",
                 "--tracking-uri", mlflow_tracking_uri]) == 2
    assert "has no adapter/" in capsys.readouterr().err


def test_compare_takes_id_prefixes(mlflow_tracking_uri, capsys):
    from evaluated_runs import log_evaluated_run

    from deepsynth.cli import main

    ids, refs = [f"d{i}" for i in range(4)], ["a b c", "d e f", "g h i", "j k l"]
    first = log_evaluated_run(mlflow_tracking_uri, "tests-run-lookup", "lookup-compare-a", ids, refs, {"tuned": refs})
    log_evaluated_run(mlflow_tracking_uri, "tests-run-lookup", "lookup-compare-b", ids, refs, {"tuned": ["a"] * 4})
    capsys.readouterr()  # the scorecards logging printed
    assert main(["compare", first[:8], "lookup-compare-b", "--tracking-uri", mlflow_tracking_uri, "--json"]) == 0
    import json

    result = json.loads(capsys.readouterr().out)
    assert result["reference"] == first and [r["run"].split(" ")[0] for r in result["runs"]] == [
        "lookup-compare-a", "lookup-compare-b"]
    assert main(["compare", first, first[:8], "--tracking-uri", mlflow_tracking_uri]) == 2
    assert "name the same run" in capsys.readouterr().err


def test_jobs_list_shows_run_names(named_runs, mlflow_tracking_uri, monkeypatch, capsys, tmp_path):
    import json
    from pathlib import Path
    from types import SimpleNamespace

    config = tmp_path / "train_config.json"  # a job not started yet: its run name is in its config
    config.write_text(json.dumps({"run_name": "not-yet-a-run"}))

    from deepsynth import jobs
    from deepsynth.cli import main

    run_id = named_runs["lookup-walk-c-queued"][0]
    listed = [SimpleNamespace(job_id="20991231-000000-aaaaaa", state="RUNNING", pid=123, step=4, run_id=run_id,
                              tracking_uri=mlflow_tracking_uri, train_args=("--dataset", "x"), job_dir=Path("/nonexistent")),
              SimpleNamespace(job_id="20991231-000000-bbbbbb", state="RUNNING", pid=124, step=None, run_id=None,
                              tracking_uri=None, train_args=("--config", str(config)), job_dir=config.parent)]
    monkeypatch.setattr(jobs, "list_jobs", lambda: listed)
    assert main(["jobs", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "RUN NAME" in lines[0]
    named = next(line for line in lines if line.startswith("20991231-000000-aaaaaa"))
    assert "lookup-walk-c-queued" in named and named.split()[-1] == run_id
    waiting = next(line for line in lines if line.startswith("20991231-000000-bbbbbb"))
    assert "not-yet-a-run" in waiting
