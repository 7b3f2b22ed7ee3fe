"""The traced step keeps exactly the tensors autograd keeps, and peaks where the step peaks.

Ground truth: `saved_tensors_hooks` (what autograd saves) and the profiler's allocation events
(the method of bench/estimate_accuracy.py), on tiny models of each block type.
"""

import pytest
from estimate_helpers import measured_step

from deepsynth.estimate.architecture import Architecture, shape_from_config
from deepsynth.estimate.ops import Ops
from deepsynth.estimate.model_inventory import architecture_inventory
from deepsynth.estimate.memory import trace_settings
from deepsynth.estimate.params import count_parameters
from deepsynth.estimate.blocks import decoder_step
from deepsynth.estimate.trace import Trace
from deepsynth.estimate.workload import Workload
from deepsynth.lora import LoraSettings

LLAMA = {"model_type": "llama", "vocab_size": 500, "hidden_size": 64, "intermediate_size": 176,
         "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2}
GPT2 = {"model_type": "gpt2", "vocab_size": 500, "n_embd": 64, "n_layer": 2, "n_head": 4, "n_positions": 128}
QWEN3 = {"model_type": "qwen3", "vocab_size": 500, "hidden_size": 64, "intermediate_size": 160,
         "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 16}
MOE = {"model_type": "qwen2_moe", "vocab_size": 500, "hidden_size": 64, "intermediate_size": 128,
       "moe_intermediate_size": 32, "shared_expert_intermediate_size": 96, "num_hidden_layers": 2,
       "num_attention_heads": 4, "num_key_value_heads": 2, "num_experts": 4, "num_experts_per_tok": 2}

CASES = [  # config, rank, targets, dropout, batch, seq, targets per sample, attention, checkpointing
    (LLAMA, 8, ("q_proj", "v_proj"), 0.05, 2, 96, 4, "sdpa", False),
    (LLAMA, 4, ("o_proj", "gate_proj", "down_proj"), 0.0, 3, 64, 16, "sdpa", False),
    (LLAMA, 8, ("q_proj", "k_proj"), 0.1, 2, 80, 8, "eager", False),
    (LLAMA, 8, ("q_proj", "v_proj"), 0.05, 2, 96, 8, "sdpa", True),
    (GPT2, 8, ("c_attn", "c_fc"), 0.05, 2, 64, 8, "sdpa", False),
    (QWEN3, 8, ("o_proj", "up_proj"), 0.0, 2, 64, 8, "sdpa", False),
    (MOE, 8, ("q_proj", "v_proj"), 0.05, 2, 64, 8, "sdpa", False),
]


@pytest.mark.parametrize("config,rank,targets,dropout,batch,seq,target_tokens,attention,checkpointing", CASES)
def test_trace_matches_autograd(config, rank, targets, dropout, batch, seq, target_tokens, attention, checkpointing):
    arch = Architecture("tiny", shape_from_config(config))
    lora = LoraSettings(rank=rank, alpha=2 * rank, dropout=dropout, target_modules=targets)
    workload = Workload(batch_size=batch, seq_len=seq, target_tokens=target_tokens, dtype="float32", device="cpu",
                        attention=attention, gradient_checkpointing=checkpointing)
    inventory = architecture_inventory(arch)
    trace = Trace()
    ops = Ops(trace, trace_settings(arch, lora, count_parameters(arch, lora, inventory), inventory, workload))
    loss = decoder_step(ops, arch.decoder, batch, seq, target_tokens, checkpointing=checkpointing)
    predicted = trace.peak(loss)
    saved, peak = measured_step(config, rank, targets, dropout, batch, seq, target_tokens, attention, checkpointing)
    assert predicted.saved == pytest.approx(saved, rel=0.01)
    # the measured peak also holds the LoRA gradients, which the estimate counts as their own term
    assert predicted.peak == pytest.approx(peak, rel=0.03)
