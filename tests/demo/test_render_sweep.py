"""`deepsynth demo --render-sweep`: its sizes, and a two-setting run on the tiny model that prints
the compression table (the real default takes ~15 minutes: not a test)."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

import pytest

from deepsynth.demo import setup as demo
from deepsynth.demo.render_sweep import DEFAULT_AXES, SIZES, _sized


def parsed(*argv):
    parser = argparse.ArgumentParser()
    demo.add_arguments(parser)
    return parser.parse_args(list(argv))


def test_render_sweep_sizes_replace_the_demo_defaults_but_not_typed_values():
    assert parsed().render_sweep is None and parsed("--render-sweep").render_sweep == []
    assert parsed("--render-sweep", "mode=none,tiny").render_sweep == ["mode=none,tiny"]
    sized = _sized(parsed("--render-sweep", "--train-docs", "30"))
    assert sized.train_docs == 30 and sized.eval_docs == SIZES["eval_docs"]
    assert sized.train_seconds == SIZES["train_seconds"] and sized.max_steps == SIZES["max_steps"]
    assert DEFAULT_AXES == ("font_size=22,14", "mode=none,tiny")


@pytest.mark.slow
def test_a_tiny_render_sweep_demo_prints_its_table(tmp_path, mlflow_tracking_uri, monkeypatch):
    from queue_helpers import stop_runner  # tests/ is on sys.path

    command = [sys.executable, "-m", "deepsynth", "demo", "--render-sweep", "font_size=12,16", "--model", "tiny",
               "--train-docs", "6", "--eval-docs", "3", "--max-steps", "1", "--train-seconds", "30",
               "--threads", "1", "--tracking-uri", mlflow_tracking_uri, "--experiment", "tests-render-demo"]
    monkeypatch.setenv("DEEPSYNTH_HOME", str(tmp_path))
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=900, cwd=tmp_path, env=dict(os.environ))
    finally:
        stop_runner()  # it would leave by itself once idle
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = done.stdout
    assert "2 of 2 setting(s) finished" in out
    table = out[out.index("setting "):].splitlines()
    assert {line.split()[0] for line in table[1:3]} == {"font_size=12", "font_size=16"}
    assert all(line.split()[-1] == "3" for line in table[1:3])  # 3 held-out documents scored each
