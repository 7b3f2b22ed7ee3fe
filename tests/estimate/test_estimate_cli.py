"""`deepsynth estimate` end to end, and the hook the training worker calls."""

import json
import subprocess
import sys
from types import SimpleNamespace

import pytest

from deepsynth.cli import main

KEYS = {"total_params", "trainable_params", "memory_bytes", "gpu_fit"}
TERMS = {"weights", "adapters", "gradients", "optimizer", "activations", "text_encoder", "overhead", "total"}
GPUS = {"T4 16GB", "RTX 3090 24GB", "RTX 4090 24GB", "L4 24GB", "A100 40GB", "A100 80GB", "H100 80GB"}


def run_json(capsys, *args):
    assert main(["estimate", *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_deepseek_ocr_standard_json(capsys):
    out = run_json(capsys, "--model", "deepseek-ocr", "--preset", "standard", "--device", "cuda")  # not this machine's
    assert set(out) == KEYS and set(out["memory_bytes"]) == TERMS and set(out["gpu_fit"]) == GPUS
    # exact: 3,336,106,240 base + r16 on q_proj and v_proj (1280 -> 1280) in 12 layers
    assert out["trainable_params"] == 16 * (1280 + 1280) * 2 * 12
    assert out["total_params"] == 3_336_106_240 + out["trainable_params"]
    memory = out["memory_bytes"]
    assert memory["weights"] == 2 * 3_336_106_240  # bf16
    assert memory["total"] == sum(v for k, v in memory.items() if k != "total")


def test_default_json_and_table(capsys):
    out = run_json(capsys, "--model", "default")
    assert out["total_params"] == 3_781_345 + 134_515_008 + out["trainable_params"]
    assert out["trainable_params"] == 16 * (576 + 576 + 576 + 192) * 30
    assert main(["estimate", "--model", "default", "--batch-size", "4"]) == 0
    table = capsys.readouterr().out
    for word in ("Parameters", "activations", "T4 16GB", "tokens/s"):
        assert word in table


def test_flags_change_the_answer(capsys, tmp_path):
    base = run_json(capsys, "--model", "smollm2-135m")
    bigger = run_json(capsys, "--model", "smollm2-135m", "--batch-size", "8", "--seq-len", "2048")
    assert bigger["memory_bytes"]["activations"] > 10 * base["memory_bytes"]["activations"]
    assert not bigger["gpu_fit"]["T4 16GB"] or bigger["memory_bytes"]["total"] <= 15360 * 2**20
    quantized = run_json(capsys, "--model", "smollm2-135m", "--quant", "nf4", "--rank", "8",
                         "--targets", "q_proj,k_proj,v_proj")
    assert quantized["memory_bytes"]["weights"] < base["memory_bytes"]["weights"]
    assert quantized["trainable_params"] == 8 * (576 + 576 + 2 * (576 + 192)) * 30
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "gpt2", "n_layer": 2, "n_embd": 64,
                                                      "n_head": 4, "vocab_size": 100}))
    gpt2 = run_json(capsys, "--model", str(tmp_path), "--seq-len", "64", "--local-device", "mine:0.001")
    assert gpt2["trainable_params"] == 16 * (64 + 192) * 2 and gpt2["gpu_fit"]["local: mine"] is False


def test_bad_settings_exit_2_naming_every_problem(capsys):
    assert main(["estimate", "--model", "default", "--targets", "q_proj,qkv", "--rank", "4096"]) == 2
    error = capsys.readouterr().err
    assert "target_modules: no module matches qkv" in error and "rank 4096 exceeds" in error
    assert main(["estimate", "--model", "default", "--gpu", "V100"]) == 2
    assert "unknown GPU" in capsys.readouterr().err


def test_estimator_imports_no_torch():
    code = ("import sys; from deepsynth.cli import main; main(['estimate', '--model', 'deepseek-ocr', '--json']); "
            "assert not {'torch', 'transformers', 'peft'} & set(sys.modules), 'heavy import'")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr


def test_estimate_for_training_reads_a_live_run():
    import torch
    from transformers import LlamaConfig

    from deepsynth.estimate import estimate_for_training
    from deepsynth.lora import preset
    from deepsynth.models.config import ModelConfig

    decoder_config = LlamaConfig(vocab_size=300, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                                 num_attention_heads=4, num_key_value_heads=2)
    base = SimpleNamespace(config=decoder_config)
    model = SimpleNamespace(decoder=SimpleNamespace(get_base_model=lambda: base), parts=None, device="cpu")
    config = SimpleNamespace(model=ModelConfig(name="tiny"), lora=preset("minimal"))
    labels = torch.full((2, 40), -100)
    labels[:, -10:] = 7
    mask = torch.ones(2, 40, dtype=torch.long)
    mask[1, :5] = 0
    batch = {"input_ids": torch.zeros(2, 40, dtype=torch.long), "attention_mask": mask, "labels": labels}
    result = estimate_for_training(config=config, model=model, batch=batch)
    assert result["total_bytes"] == result["memory_bytes"]["total"] - result["memory_bytes"]["overhead"]
    assert result["trainable_params"] == 4 * (64 + 64 + 64 + 32) * 2
    assert result["memory_terms"]["activations"]["bytes"] > 0


def test_invalid_workload_lists_fields():
    from deepsynth.configuration import ConfigError
    from deepsynth.estimate import Workload

    with pytest.raises(ConfigError) as error:
        Workload(batch_size=0, target_tokens=600, seq_len=512, optimizer="sgd")
    assert {field for field, _ in error.value.problems} == {"batch_size", "target_tokens", "optimizer"}


def test_a_native_vlm_folder_is_estimated_with_its_vision_tokens(capsys, tmp_path):
    """`deepsynth estimate --model <VLM folder>`: the page's vision tokens come from the model's own
    processor config and the rendered page size (the render mode changes them), targets read short."""
    from deepsynth.estimate import vision_tokens_per_page
    from deepsynth.models.vlm.tiny import build_tiny_vlm
    from deepsynth.render.config import RenderConfig

    folder = build_tiny_vlm("idefics3", tmp_path / "idefics3")
    assert main(["estimate", "--model", str(folder), "--device", "cpu", "--render-mode", "tiny"]) == 0
    table = capsys.readouterr().out
    expected = vision_tokens_per_page(folder, *RenderConfig(mode="tiny").output_size)
    assert expected > 0 and f"512 text + {expected} image) tokens" in table
    assert "targets=q_proj,v_proj in model" in table
    assert main(["estimate", "--model", str(folder), "--device", "cpu", "--page-width", "64", "--page-height", "2000"]) == 0
    tall = vision_tokens_per_page(folder, 64, 2000)
    assert tall != expected and f"512 text + {tall} image) tokens" in capsys.readouterr().out
