"""`deepsynth train` flags come from the dataclasses; a run's settings travel as one JSON file.

LoRA overrides on top of a preset are recorded as `custom`; `--print-config` prints a valid
`--config`; flags override a file's fields; a changed dataclass default is what the CLI uses;
every problem names the flag the user typed (or the field and the file it came from)."""

import dataclasses
import json

import pytest

from deepsynth.cli import main
from deepsynth.configuration import ConfigError
from deepsynth.lora import preset
from deepsynth.models.config import ModelConfig
from deepsynth.training.cli import parse_train_args
from deepsynth.training.config import TrainConfig, load_train_config, save_train_config


@pytest.fixture
def d(tmp_path):
    """A folder that passes TrainConfig's dataset check (these tests never read it)."""
    (tmp_path / "deepsynth_dataset.json").write_text("{}")
    return str(tmp_path)


def config_of(argv):
    return parse_train_args(argv)[0]


def test_preset_alone_keeps_its_name(d):
    config = config_of(["--dataset", d, "--preset", "minimal"])
    assert config.preset == "minimal" and config.lora == preset("minimal")


def test_no_preset_is_the_dataclass_default(d):
    assert config_of(["--dataset", d]) == TrainConfig(dataset=d)


def test_overrides_change_lora_and_mark_custom(d):
    config = config_of(["--dataset", d, "--preset", "standard", "--rank", "8", "--targets", "q_proj,k_proj",
                        "--quant", "nf4", "--double-quant", "on"])
    assert config.preset == "custom"
    assert (config.lora.rank, config.lora.alpha) == (8, preset("standard").alpha)
    assert config.lora.target_modules == ("q_proj", "k_proj")
    assert config.lora.quantization == "nf4" and config.lora.double_quantization


def test_override_equal_to_the_preset_is_not_custom(d):
    assert config_of(["--dataset", d, "--preset", "minimal", "--rank", "4"]).preset == "minimal"


def test_bad_overrides_name_their_flags(d):
    with pytest.raises(ConfigError) as info:
        config_of(["--dataset", d, "--preset", "standard", "--rank", "0", "--dropout", "1.5", "--lr", "-1"])
    assert info.value.for_field("--rank") and info.value.for_field("--dropout") and info.value.for_field("--lr")


def test_every_field_has_a_flag_including_those_earlier_versions_lacked(d):
    config = config_of(["--dataset", d, "--weight-decay", "0.01", "--keep-checkpoints", "3",
                        "--eval-batch-size", "4", "--no-eval-base", "--max-source-tokens", "64",
                        "--learning-rate", "1e-3"])
    assert (config.weight_decay, config.keep_checkpoints, config.eval_batch_size) == (0.01, 3, 4)
    assert config.eval_base is False and config.model.max_source_tokens == 64 and config.learning_rate == 1e-3


@pytest.mark.parametrize("lora, name", [
    (preset("high_capacity"), "high_capacity"),
    (dataclasses.replace(preset("standard"), rank=24, alpha=12.5, target_modules=("q_proj", "o_proj")), "custom"),
    (preset("qlora_4bit"), "qlora_4bit"),
])
def test_a_config_file_rebuilds_the_same_config(lora, name, d, tmp_path):
    config = TrainConfig(dataset=d, model=ModelConfig(name="tiny"), lora=lora, preset=name, max_steps=7,
                         weight_decay=0.05, eval_batch_size=3)
    path = save_train_config(config, tmp_path / "run.json")
    assert config_of(["--config", str(path)]) == config
    assert config.preset == name


def test_print_config_output_is_a_valid_config(d, tmp_path, capsys):
    assert main(["train", "--dataset", d, "--preset", "minimal", "--rank", "8", "--keep-checkpoints", "5",
                 "--print-config"]) == 0
    printed = capsys.readouterr().out
    (tmp_path / "printed.json").write_text(printed)
    config = load_train_config(tmp_path / "printed.json")
    assert config.lora.rank == 8 and config.keep_checkpoints == 5 and config.preset == "custom"
    assert config_of(["--config", str(tmp_path / "printed.json")]) == config


def test_flags_override_the_file_and_keep_the_rest(d, tmp_path):
    base = TrainConfig(dataset=d, batch_size=3, weight_decay=0.1, lora=preset("r32"), preset="r32")
    path = save_train_config(base, tmp_path / "base.json")
    config = config_of(["--config", str(path), "--batch-size", "5", "--alpha", "16"])
    assert (config.batch_size, config.weight_decay, config.lora.rank, config.lora.alpha) == (5, 0.1, 32, 16)
    assert config.preset == "custom"
    assert config_of(["--config", str(path), "--preset", "minimal"]).lora == preset("minimal")


def test_problems_in_a_file_name_field_and_file(d, tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"dataset": d, "lora": {"rank": 0, "rnk": 2}, "epochs": 1, "bogus": True}))
    with pytest.raises(ConfigError) as info:
        config_of(["--config", str(path), "--batch-size", "0"])
    named = {name for name, _ in info.value.problems}
    assert named == {f"lora.rank (in {path})", f"lora.rnk (in {path})", f"bogus (in {path})", "--batch-size"}


def test_a_missing_or_broken_config_file_names_it(d, tmp_path):
    with pytest.raises(ConfigError, match="no such file"):
        config_of(["--config", str(tmp_path / "absent.json")])
    (tmp_path / "broken.json").write_text("{\"dataset\": ")
    with pytest.raises(ConfigError, match="line 1"):
        config_of(["--config", str(tmp_path / "broken.json")])


def test_missing_dataset_names_the_flag():
    with pytest.raises(ConfigError) as info:
        config_of([])
    assert info.value.for_field("--dataset") == ["required"]


def test_a_changed_dataclass_default_is_what_the_cli_uses(d, monkeypatch):
    """The parser holds no defaults of its own: a new dataclass default is what the CLI builds."""
    with_defaults = [f.name for f in dataclasses.fields(TrainConfig)][1:]  # all but `dataset`
    defaults = list(TrainConfig.__init__.__defaults__)
    defaults[with_defaults.index("batch_size")] = 3
    monkeypatch.setattr(TrainConfig.__init__, "__defaults__", tuple(defaults))
    assert TrainConfig(dataset=d).batch_size == 3
    assert config_of(["--dataset", d]).batch_size == 3
    assert config_of(["--dataset", d, "--batch-size", "5"]).batch_size == 5


def test_resume_refuses_settings_flags(capsys):
    assert main(["train", "--resume", "abc", "--rank", "4", "--preset", "minimal"]) == 2
    assert "drop --rank, --preset" in capsys.readouterr().err


def test_jobs_start_takes_exactly_the_train_flags(d, monkeypatch, tmp_path):
    """The example in `deepsynth jobs start --help` works (it failed before with 'unrecognized
    arguments: --dataset')."""
    from deepsynth import jobs

    started = []
    monkeypatch.setattr(jobs, "start_job", lambda config, nproc=1: started.append((config, nproc)) or _FakeJob())
    assert main(["jobs", "start", "--dataset", d, "--preset", "minimal", "--weight-decay", "0.2"]) == 0
    config, nproc = started[0]
    assert config.lora == preset("minimal") and config.weight_decay == 0.2 and nproc == 1


class _FakeJob:
    job_id, pid, log_path = "job", 1, "log.txt"
