"""Config-file bounds (issue 21, item 10): a hostile `--config` file, queue entry or form gets a
short message naming the field, never a traceback, a megabyte echo, a run of 10^18 steps, a write
outside the workspace or a request to a tracking store the user did not allow. A path or URI the
user types as a flag stays their own choice."""

from __future__ import annotations

import json
import time

import pytest

from deepsynth.cli import main
from deepsynth.configuration import ConfigError

SHORT = 3000
"""Most characters an error about one bad value may print."""


def _write(path, data):
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return str(path)


def _train(capsys, *argv):
    code = main(["train", *argv, "--print-config"])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def dataset(workspace):
    folder = workspace / "workspace" / "datasets" / "d"
    folder.mkdir(parents=True)
    (folder / "deepsynth_dataset.json").write_text("{}")
    return str(folder)


def test_deep_nesting_is_a_message_not_a_recursion_error(workspace, dataset, capsys, tmp_path):
    deep = _write(tmp_path / "deep.json", "[" * 200_000 + "]" * 200_000)
    code, _, err = _train(capsys, "--config", deep)
    assert code == 2 and "nested too deeply" in err and "Traceback" not in err
    nested_value = {"dataset": dataset, "run_name": json.loads("[" * 500 + "]" * 500)}
    code, _, err = _train(capsys, "--config", _write(tmp_path / "value.json", nested_value))
    assert code == 2 and "run_name" in err and len(err) < SHORT


def test_a_huge_value_is_refused_and_echoed_cut_short(workspace, dataset, capsys, tmp_path):
    big_file = _write(tmp_path / "big.json", {"dataset": dataset, "run_name": "x" * (2 << 20)})
    code, _, err = _train(capsys, "--config", big_file)
    assert code == 2 and "larger than 1024 KiB" in err and len(err) < SHORT
    long_name = _write(tmp_path / "long.json", {"dataset": dataset, "run_name": "y" * 900_000})
    code, _, err = _train(capsys, "--config", long_name)
    assert code == 2 and "run_name (in " in err and "900000 characters" in err and len(err) < SHORT


def test_millions_of_target_modules_are_refused_quickly(workspace, dataset, capsys, tmp_path):
    many = _write(tmp_path / "many.json", {"dataset": dataset, "lora": {"target_modules": ["q"] * 150_000}})
    started = time.perf_counter()
    code, _, err = _train(capsys, "--config", many)
    assert code == 2 and "lora.target_modules" in err and "at most 256 items" in err and len(err) < SHORT
    code, _, err = _train(capsys, "--dataset", dataset, "--targets", ",".join(["k"] * 1_000_000))  # typed: bounded too
    assert code == 2 and "--targets" in err and "at most 256 items" in err
    assert time.perf_counter() - started < 10


@pytest.mark.parametrize("field, value", [("max_steps", 10**18), ("batch_size", 10**12), ("epochs", 1e9),
                                          ("learning_rate", float(10**9)), ("eval_docs", 10**15),
                                          ("checkpoint_every", 10**12)])
def test_numbers_out_of_range_are_refused(workspace, dataset, capsys, tmp_path, field, value):
    code, _, err = _train(capsys, "--config", _write(tmp_path / "n.json", {"dataset": dataset, field: value}))
    assert code == 2 and f"{field} (in " in err and "must be" in err and "<=" in err
    from deepsynth.training.cli import train_flags

    option = train_flags().option_for(field)  # the flag's name (`--lr` for learning_rate)
    code, _, err = _train(capsys, "--dataset", dataset, option, str(value))  # typed: the same bounds
    assert code == 2 and f"{option}: " in err and "<=" in err


def test_outputs_from_a_file_stay_inside_the_workspace(workspace, dataset, capsys, tmp_path):
    for place in ("/tmp/elsewhere", "../../outside", str(tmp_path / "not-home")):
        config = _write(tmp_path / "o.json", {"dataset": dataset, "output_dir": place})
        code, _, err = _train(capsys, "--config", config)
        assert code == 2 and "output_dir (in " in err and "outside the workspace" in err and "--output-dir" in err
    inside = str(workspace / "workspace" / "my-runs")
    code, out, _ = _train(capsys, "--config", _write(tmp_path / "i.json", {"dataset": dataset, "output_dir": inside}))
    assert code == 0 and json.loads(out)["output_dir"] == inside
    code, out, _ = _train(capsys, "--config", _write(tmp_path / "t.json", {"dataset": dataset, "output_dir": "/tmp/x"}),
                          "--output-dir", str(tmp_path / "typed"))  # typed by the user: their own choice
    assert code == 0 and json.loads(out)["output_dir"] == str(tmp_path / "typed")


def test_a_tracking_store_from_a_file_must_be_one_the_user_allowed(workspace, dataset, capsys, tmp_path, monkeypatch):
    outside = "http://attacker.example:5000"
    config = _write(tmp_path / "u.json", {"dataset": dataset, "tracking_uri": outside})
    code, _, err = _train(capsys, "--config", config)
    assert code == 2 and "tracking_uri (in " in err and "DEEPSYNTH_ALLOWED_TRACKING_URIS" in err
    code, out, _ = _train(capsys, "--config", config, "--tracking-uri", outside)  # typed: allowed
    assert code == 0 and json.loads(out)["tracking_uri"] == outside
    monkeypatch.setenv("DEEPSYNTH_ALLOWED_TRACKING_URIS", f"http://team:5000,{outside}")
    code, out, _ = _train(capsys, "--config", config)
    assert code == 0 and json.loads(out)["tracking_uri"] == outside
    inside = f"sqlite:///{workspace / 'other.db'}"
    code, _, _ = _train(capsys, "--config", _write(tmp_path / "s.json", {"dataset": dataset, "tracking_uri": inside}))
    assert code == 0


def test_the_tracking_store_is_never_contacted_before_the_refusal(workspace, dataset, capsys, tmp_path, monkeypatch):
    import socket

    contacted = []

    def no_network(self, address, *args, **kwargs):
        contacted.append(address)
        raise OSError("no network in this test")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket.socket, "connect_ex", no_network)
    config = _write(tmp_path / "u.json", {"dataset": dataset, "tracking_uri": "http://attacker.example:5000",
                                          "max_steps": 1})
    assert main(["train", "--config", config]) == 2
    assert contacted == [] and "tracking_uri (in " in capsys.readouterr().err


def test_a_queue_entry_is_bounded_like_a_file(workspace, dataset):
    from deepsynth.jobs import queue

    for field, value in (("output_dir", "/tmp/elsewhere"), ("tracking_uri", "http://attacker.example"),
                         ("max_steps", 10**18)):
        entry = {"job_id": queue.new_job_id(), "config": {"dataset": dataset, field: value}}
        with pytest.raises(ConfigError) as refused:
            queue.entry_config(entry)
        assert field in str(refused.value) and len(str(refused.value)) < SHORT


def test_print_config_shows_auto_and_the_file_reads_back(workspace, dataset, capsys, tmp_path):
    code, out, _ = _train(capsys, "--dataset", dataset)
    printed = json.loads(out)
    assert code == 0 and printed["warmup_steps"] == "auto" and printed["checkpoint_every"] == "auto"
    code, again, _ = _train(capsys, "--config", _write(tmp_path / "p.json", printed))
    assert code == 0 and json.loads(again) == printed
