"""`auto` in the config: `--print-config` and the job's file keep the word, the run records the
numbers (MLflow params and report.json), resolved by the one rule in training.step_plan."""

import json

import pytest

from deepsynth.training.step_plan import (CHECKPOINT_CAP, WARMUP_CAP, auto_checkpoint_every, auto_warmup_steps,
                                          planned_steps, resolve_automatic)


def test_auto_follows_the_planned_steps_and_typed_numbers_stay(tiny_config):
    config = tiny_config(warmup_steps="auto", checkpoint_every="auto", max_steps=0, epochs=2.0, batch_size=4)
    resolved = resolve_automatic(config, train_docs=18)
    steps = planned_steps(18, 4, 0, 2.0)
    assert resolved.warmup_steps == auto_warmup_steps(steps)
    assert resolved.checkpoint_every == auto_checkpoint_every(steps)
    long_run = tiny_config(warmup_steps="auto", checkpoint_every="auto", max_steps=10_000)
    assert (resolve_automatic(long_run, 18).warmup_steps, resolve_automatic(long_run, 18).checkpoint_every) == (
        WARMUP_CAP, CHECKPOINT_CAP)
    typed = tiny_config(warmup_steps=7, checkpoint_every=3)
    assert resolve_automatic(typed) is typed


def test_auto_reads_from_flags_and_files_and_nothing_else_takes_words(tiny_dataset, tmp_path, capsys):
    from deepsynth.configuration import ConfigError
    from deepsynth.training.cli import parse_train_args

    config, _ = parse_train_args(["--dataset", tiny_dataset, "--warmup-steps", "auto", "--checkpoint-every", "4"])
    assert (config.warmup_steps, config.checkpoint_every) == ("auto", 4)
    with pytest.raises(SystemExit):
        parse_train_args(["--dataset", tiny_dataset, "--max-steps", "auto"])
    assert "--max-steps: invalid int value: 'auto'" in capsys.readouterr().err
    file = tmp_path / "c.json"
    file.write_text(json.dumps({"dataset": tiny_dataset, "warmup_steps": "auto", "seed": "auto"}))
    with pytest.raises(ConfigError) as refused:
        parse_train_args(["--config", str(file)])
    assert refused.value.problems == [(f"seed (in {file})", "must be an integer, got 'auto'")]


@pytest.mark.slow
def test_the_run_records_the_resolved_numbers(tiny_config, mlflow_tracking_uri, tmp_path):
    from deepsynth.tracking.queries import get_run
    from deepsynth.training.worker import train

    config = tiny_config(warmup_steps="auto", checkpoint_every="auto", max_steps=8, eval_docs=0,
                         measure_memory=False)
    run_id = train(config, job_dir=tmp_path, progress=False)
    params = get_run(run_id, mlflow_tracking_uri).params
    expected = (auto_warmup_steps(8), auto_checkpoint_every(8))
    assert (params["warmup_steps"], params["checkpoint_every"]) == tuple(map(str, expected))
    report = json.loads((tmp_path / "report.json").read_text())
    assert (report["warmup_steps"], report["checkpoint_every"]) == expected
