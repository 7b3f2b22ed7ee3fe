"""`deepsynth train` LoRA flags: overrides on top of a preset, recorded as `custom`, and a
dashboard config with edited LoRA values survives the trip through job arguments."""

import dataclasses

import pytest

from deepsynth.configuration import ConfigError
from deepsynth.job_args import parse_train_args, train_args
from deepsynth.lora import preset
from deepsynth.models.config import ModelConfig
from deepsynth.training.config import TrainConfig


@pytest.fixture
def d(tmp_path):
    """A folder that passes TrainConfig's dataset check (these tests never read it)."""
    (tmp_path / "deepsynth_dataset.json").write_text("{}")
    return str(tmp_path)


def test_preset_alone_keeps_its_name(d):
    config = parse_train_args(["--dataset", d, "--preset", "minimal"])
    assert config.preset == "minimal" and config.lora == preset("minimal")


def test_overrides_change_lora_and_mark_custom(d):
    config = parse_train_args(["--dataset", d, "--preset", "standard", "--rank", "8", "--targets", "q_proj,k_proj",
                               "--quant", "nf4", "--double-quant", "on"])
    assert config.preset == "custom"
    assert (config.lora.rank, config.lora.alpha) == (8, preset("standard").alpha)
    assert config.lora.target_modules == ("q_proj", "k_proj")
    assert config.lora.quantization == "nf4" and config.lora.double_quantization


def test_override_equal_to_the_preset_is_not_custom(d):
    assert parse_train_args(["--dataset", d, "--preset", "minimal", "--rank", "4"]).preset == "minimal"


def test_bad_overrides_name_their_flags(d):
    with pytest.raises(ConfigError) as info:
        parse_train_args(["--dataset", d, "--preset", "standard", "--rank", "0", "--dropout", "1.5"])
    assert info.value.for_field("--rank") and info.value.for_field("--dropout")


@pytest.mark.parametrize("lora, name", [
    (preset("high_capacity"), "high_capacity"),
    (dataclasses.replace(preset("standard"), rank=24, alpha=12.5, target_modules=("q_proj", "o_proj")), "custom"),
    (preset("qlora_4bit"), "qlora_4bit"),
])
def test_job_arguments_rebuild_the_same_config(lora, name, d):
    config = TrainConfig(dataset=d, model=ModelConfig(name="tiny"), lora=lora, preset=name, max_steps=7)
    assert parse_train_args(train_args(config)) == config
