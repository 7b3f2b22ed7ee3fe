"""ModelConfig validation names every bad field at once."""

from __future__ import annotations

import pytest

from deepsynth.configuration import ConfigError
from deepsynth.models import ModelConfig


def test_all_problems_reported_with_field_names():
    with pytest.raises(ConfigError) as caught:
        ModelConfig(vision_interface="pixels", feature_pool=0, projection_init="zeros",
                    max_source_tokens=0)
    fields = {field for field, _ in caught.value.problems}
    assert fields == {"vision_interface", "feature_pool", "projection_init", "max_source_tokens"}
