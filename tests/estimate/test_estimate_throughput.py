"""Speed, time and cost from FLOPs; the GPU fit table."""

import pytest

from deepsynth.estimate import Workload, estimate, load_architecture, local_device
from deepsynth.estimate.gpus import GPUS, fit_table, find_gpu
from deepsynth.estimate.model_inventory import architecture_inventory
from deepsynth.estimate.params import count_parameters
from deepsynth.estimate.throughput import active_weights_per_token, flops_per_step
from deepsynth.lora import LoraSettings

SMOL = load_architecture("smollm2-135m")


def flops(workload, lora=LoraSettings()):
    inventory = architecture_inventory(SMOL)
    return flops_per_step(SMOL, inventory, count_parameters(SMOL, lora, inventory), workload, lora.rank)


def test_frozen_weights_cost_4n_trainable_6n_and_checkpointing_2n_more():
    inventory = architecture_inventory(SMOL)
    frozen = active_weights_per_token(SMOL, inventory)
    # SmolLM2 layer: q,o 576x576, k,v 576x192, gate/up/down 576x1536; no embeddings, no LM head
    assert frozen == 30 * (2 * 576 * 576 + 2 * 576 * 192 + 3 * 576 * 1536)
    one = Workload(batch_size=1, seq_len=1, target_tokens=1)
    lora = LoraSettings(rank=8)
    adapters = count_parameters(SMOL, lora, inventory).adapter
    attention = 12 * 30 * 576 * 1
    head = 4 * 576 * 49152
    assert flops(one, lora) == pytest.approx(4 * frozen + 6 * adapters + attention + head)
    checkpointed = Workload(batch_size=1, seq_len=1, target_tokens=1, gradient_checkpointing=True)
    assert flops(checkpointed, lora) - flops(one, lora) == pytest.approx(2 * frozen)


def test_time_and_cost_follow_the_gpu_and_price():
    workload = Workload(batch_size=4, seq_len=512, num_documents=1000, epochs=2)
    a100 = estimate(SMOL, LoraSettings(), workload, gpu="A100 80GB").throughput
    h100 = estimate(SMOL, LoraSettings(), workload, gpu="H100 80GB", price_per_hour=10.0).throughput
    assert a100.steps == h100.steps == 500
    assert h100.step_seconds == pytest.approx(a100.step_seconds * 312 / 989)
    assert h100.cost == pytest.approx(h100.hours * 10.0)
    assert a100.tokens_per_second == pytest.approx(4 * 512 / a100.step_seconds)
    slower = estimate(SMOL, LoraSettings(), workload, utilization=0.175).throughput
    assert slower.hours == pytest.approx(2 * a100.hours)


def test_fit_table_with_a_local_device():
    table = fit_table(20 * 2**30, local_device("my card", 24 * 2**30))
    assert table["T4 16GB"] is False and table["A100 40GB"] is True and table["local: my card"] is True
    assert [g.name for g in GPUS][:2] == ["T4 16GB", "RTX 3090 24GB"]
    assert find_gpu("h100").name == "H100 80GB"
    big = estimate(load_architecture("deepseek-ocr"), LoraSettings(),
                   Workload(batch_size=16, seq_len=2048, image_tokens=256))
    assert big.gpu_fit["T4 16GB"] is False and big.memory.total > 16 * 2**30
