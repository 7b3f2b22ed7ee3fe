"""RenderConfig: defaults, validation naming every bad field, serialisation."""

import dataclasses

import pytest

from deepsynth.configuration import ConfigError, flat_params, from_dict, to_dict
from deepsynth.render import MODES, RenderConfig


def test_defaults_suit_the_line_reader():
    config = RenderConfig()
    assert config.page_width == 1024 and 20 <= config.font_size <= 24
    assert config.line_spacing >= 1.2
    assert (config.text_color, config.background_color) == (0, 255)
    assert config.output_size == (1024, 1448)


def test_every_field_has_a_docstring():
    import inspect

    source = inspect.getsource(RenderConfig)
    for field in dataclasses.fields(RenderConfig):
        declaration = source.index(f"    {field.name}: ")
        following = source[declaration:].split("\n", 2)[1].strip()
        assert following.startswith('"""'), f"{field.name} has no docstring"


def test_config_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        RenderConfig().font_size = 30


def test_bad_config_names_every_field_at_once():
    with pytest.raises(ConfigError) as caught:
        RenderConfig(font_size=2, line_spacing=0.5, mode="huge", max_pages=0, text_color=300,
                     font="no-such-font", layout_engine="fancy", fallback_fonts=("/nonexistent.ttf",))
    named = {field for field, _ in caught.value.problems}
    assert named == {"font_size", "line_spacing", "mode", "max_pages", "text_color", "font",
                     "layout_engine", "fallback_fonts"}
    message = str(caught.value)
    assert "font_size" in message and "huge" in message and "DejaVu Sans" in message


def test_relations_between_fields_are_checked():
    with pytest.raises(ConfigError) as caught:
        RenderConfig(page_width=200, margin=90, text_color=255, background_color=255)
    assert {field for field, _ in caught.value.problems} == {"margin", "text_color"}
    with pytest.raises(ConfigError) as caught:
        RenderConfig(page_height=100, margin=40)
    assert caught.value.for_field("page_height")


def test_booleans_are_not_integers():
    with pytest.raises(ConfigError) as caught:
        RenderConfig(font_size=True, fallback="yes")
    assert {field for field, _ in caught.value.problems} == {"font_size", "fallback"}


def test_round_trips_through_dict_and_flat_params():
    config = RenderConfig(font_size=20, mode="base", fallback_fonts=())
    assert from_dict(RenderConfig, to_dict(config)) == config
    flat = flat_params(config, prefix="render.")
    assert flat["render.font_size"] == 20 and flat["render.mode"] == "base"


@pytest.mark.parametrize("mode", list(MODES))
def test_output_size_per_mode(mode):
    side = MODES[mode]
    assert RenderConfig(mode=mode).output_size == ((1024, 1448) if side is None else (side, side))
