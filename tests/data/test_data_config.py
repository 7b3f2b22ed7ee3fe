"""DatasetConfig: validation, round trip through its metadata form, and a light import."""

from __future__ import annotations

import subprocess
import sys

import pytest

from deepsynth.configuration import ConfigError, flat_params, from_dict, to_dict
from deepsynth.data import DatasetConfig
from deepsynth.render import RenderConfig


def test_round_trip_keeps_nested_render_settings():
    config = DatasetConfig(source="data/news.csv", text_column="body", limit=50, language="fr",
                           render=RenderConfig(font_size=14, mode="base", fallback_fonts=()))
    again = from_dict(DatasetConfig, to_dict(config))
    assert again == config and isinstance(again.render, RenderConfig)
    flat = flat_params(config)
    assert flat["render.font_size"] == 14 and flat["source"] == "data/news.csv"


def test_every_problem_is_named_at_once():
    with pytest.raises(ConfigError) as caught:
        DatasetConfig(source="", min_text_chars=10, max_text_chars=5, workers=-1, max_input_bytes=0,
                      validation_fraction=1.5)
    assert {field for field, _ in caught.value.problems} == {
        "source", "workers", "validation_fraction", "max_text_chars", "max_input_bytes"}


def test_accepted_sources():
    for source in ("wiki", "aclsum", "hf:cnn_dailymail:3.0.0@test", "x.csv", "x.tsv", "x.jsonl", "x.json",
                   "x.parquet"):
        assert DatasetConfig(source=source).source == source


def test_importing_the_package_loads_no_heavy_library():
    code = ("import sys, deepsynth.data, deepsynth.data.cli; "
            "print(sorted(m for m in ('datasets', 'pyarrow', 'torch', 'pandas', 'streamlit', 'mlflow') "
            "if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
