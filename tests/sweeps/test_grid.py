"""Sweep axes: typed from the dataclasses, expanded to a grid or random draws; every bad input named."""

import pytest

from deepsynth.configuration import ConfigError
from deepsynth.sweeps.grid import Axis, expand, label, parse_axes, point_count, sweepable_fields


def test_values_take_the_type_of_their_field_training_and_render():
    axes = parse_axes(["lora.rank=4,8,16", "learning_rate=1e-4,1e-3", "eval_base=on,off",
                       "lora.target_modules=q_proj+v_proj,all-linear", "schedule=constant,cosine"],
                      render=["font_size=16,22", "mode=none,tiny"])
    typed = {axis.path: axis.values for axis in axes}
    assert typed == {"lora.rank": (4, 8, 16), "learning_rate": (1e-4, 1e-3), "eval_base": (True, False),
                     "lora.target_modules": (("q_proj", "v_proj"), ("all-linear",)),
                     "schedule": ("constant", "cosine"), "render.font_size": (16, 22), "render.mode": ("none", "tiny")}
    assert [a.is_render for a in axes] == [False] * 5 + [True] * 2
    assert parse_axes(["render.font_size=12"]) == [Axis("render.font_size", (12,))]
    assert parse_axes(["preset=minimal,standard"]) == [Axis("preset", ("minimal", "standard"))]


def test_the_grid_is_the_product_in_order_and_random_draws_are_distinct_and_seeded():
    axes = parse_axes(["lora.rank=4,8,16", "learning_rate=0.1,0.2"])
    points = expand(axes)
    assert point_count(axes) == len(points) == 6
    assert points[:3] == [{"lora.rank": 4, "learning_rate": 0.1}, {"lora.rank": 4, "learning_rate": 0.2},
                          {"lora.rank": 8, "learning_rate": 0.1}]
    drawn = expand(axes, random_draws=4, seed=7)
    assert len(drawn) == 4 and all(p in points for p in drawn) and len({label(p) for p in drawn}) == 4
    assert drawn == expand(axes, random_draws=4, seed=7) and drawn != expand(axes, random_draws=4, seed=8)
    assert expand(axes, random_draws=50) == points and point_count(axes, 50) == 6
    huge = parse_axes([f"seed={','.join(map(str, range(1000)))}", f"batch_size={','.join(map(str, range(1, 1001)))}"])
    assert point_count(huge) == 1_000_000 and len(expand(huge, random_draws=3, seed=0)) == 3  # never enumerated
    assert label({"lora.rank": 8, "lora.target_modules": ("q_proj", "v_proj")}) == "lora.rank=8 lora.target_modules=q_proj+v_proj"


def test_bad_axes_are_all_named_at_once():
    with pytest.raises(ConfigError) as caught:
        parse_axes(["lora.rnak=4,8", "lora.rank=four,8", "learning_rate=", "batch_size=2,2", "nonsense",
                    "schedule=sideways", "preset=huge"], render=["font_sise=12", "font_size=nan"])
    problems = dict(caught.value.problems)
    assert "did you mean lora.rank" in problems["lora.rnak"] and "valid fields: preset," in problems["lora.rnak"]
    assert "render.font_size" in problems["render.font_sise"]  # the valid list names render fields too
    assert problems["lora.rank"] == "'four' is not an integer"
    assert problems["learning_rate"] == "no values given"
    assert problems["batch_size"] == "value '2' given twice"
    assert "field=value1,value2" in problems["nonsense"]
    assert "'sideways' is not one of constant, linear, cosine" == problems["schedule"]
    assert "'huge' is not a preset" in problems["preset"]
    assert problems["render.font_size"] == "'nan' is not an integer"
    with pytest.raises(ConfigError, match="given twice"):
        parse_axes(["lora.rank=4", "lora.rank=8"])
    for not_an_axis in ("dataset", "sweep_id"):
        assert not_an_axis not in sweepable_fields()


def test_axis_values_follow_the_field_spec_as_flags_do():
    """One description of a setting: an axis value is parsed and bounded exactly as its flag is
    (`deepsynth.settings`), `auto` included where the setting takes it."""
    from deepsynth.configuration import ConfigError
    from deepsynth.sweeps.grid import parse_axes
    from deepsynth.training.cli import train_flags

    (warmup,) = parse_axes(["warmup_steps=auto,5"])
    assert warmup.values == ("auto", 5)
    flag = next(f for f in train_flags().flags if f.path == "warmup_steps")
    assert [flag.parser()(text) for text in ("auto", "5")] == list(warmup.values)
    with pytest.raises(ConfigError) as refused:
        parse_axes(["batch_size=4,1000000000000", "seed=auto"])
    messages = dict(refused.value.problems)
    assert "<= 65536" in messages["batch_size"] and "not an integer" in messages["seed"]
