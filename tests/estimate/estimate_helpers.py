"""Tiny model configs of several families, shared by the estimator tests."""

TINY_CONFIGS = {
    "llama": {"model_type": "llama", "vocab_size": 101, "hidden_size": 32, "intermediate_size": 72,
              "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2},
    "llama_tied_bias": {"model_type": "llama", "vocab_size": 101, "hidden_size": 32, "intermediate_size": 48,
                        "num_hidden_layers": 2, "num_attention_heads": 4, "tie_word_embeddings": True,
                        "attention_bias": True, "mlp_bias": True},
    "mistral": {"model_type": "mistral", "vocab_size": 97, "hidden_size": 48, "intermediate_size": 80,
                "num_hidden_layers": 2, "num_attention_heads": 6, "num_key_value_heads": 2, "head_dim": 12},
    "qwen2": {"model_type": "qwen2", "vocab_size": 103, "hidden_size": 32, "intermediate_size": 64,
              "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2},
    "qwen3": {"model_type": "qwen3", "vocab_size": 103, "hidden_size": 32, "intermediate_size": 64,
              "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 16},
    "gpt2": {"model_type": "gpt2", "vocab_size": 107, "n_embd": 32, "n_layer": 2, "n_head": 4, "n_positions": 64},
    "bert": {"model_type": "bert", "architectures": ["BertModel"], "vocab_size": 109, "hidden_size": 32,
             "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
             "max_position_embeddings": 64},
    "qwen2_moe": {"model_type": "qwen2_moe", "vocab_size": 100, "hidden_size": 32, "intermediate_size": 64,
                  "moe_intermediate_size": 16, "shared_expert_intermediate_size": 48, "num_hidden_layers": 3,
                  "num_attention_heads": 4, "num_key_value_heads": 2, "num_experts": 4,
                  "num_experts_per_tok": 2, "mlp_only_layers": [1]},
    "deepseek_v2": {"model_type": "deepseek_v2", "vocab_size": 100, "hidden_size": 32, "intermediate_size": 64,
                    "moe_intermediate_size": 16, "num_hidden_layers": 2, "num_attention_heads": 4,
                    "num_key_value_heads": 4, "n_routed_experts": 4, "num_experts_per_tok": 2,
                    "n_shared_experts": 2, "first_k_dense_replace": 1, "q_lora_rank": 16, "kv_lora_rank": 8,
                    "qk_nope_head_dim": 8, "qk_rope_head_dim": 4, "v_head_dim": 8, "n_group": 1, "topk_group": 1},
}



def measured_step(config: dict, rank: int, targets: tuple, dropout: float, batch: int, seq: int, target_tokens: int,
                  attention: str = "sdpa", checkpointing: bool = False) -> tuple[int, int]:
    """(bytes autograd saves in the forward, transient peak of forward + backward) of one DeepSynth
    step (hidden states at the target positions only, LM head, cross-entropy) on a tiny model."""
    import torch
    import torch.nn.functional as F
    from peft import LoraConfig, get_peft_model
    from torch.profiler import ProfilerActivity, profile
    from transformers import AutoConfig, AutoModelForCausalLM

    torch.set_num_threads(1)
    values = dict(config)
    family = values.pop("model_type")
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(AutoConfig.for_model(family, **values), attn_implementation=attention)
    if checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.enable_input_require_grads()
    model = get_peft_model(model, LoraConfig(r=rank, lora_alpha=2 * rank, lora_dropout=dropout,
                                             target_modules=list(targets)))
    model.train()
    base = model.get_base_model()
    vocab = base.get_input_embeddings().weight.shape[0]
    ids = torch.randint(0, vocab, (batch, seq))
    labels = torch.randint(0, vocab, (batch * target_tokens,))
    selected = torch.zeros(batch, seq - 1, dtype=torch.bool)
    selected[:, -target_tokens:] = True
    params = {p.untyped_storage().data_ptr() for p in model.parameters()}
    params |= {b.untyped_storage().data_ptr() for b in model.buffers()}
    saved: dict[int, int] = {}

    def pack(tensor):
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in params:
            saved.setdefault(storage.data_ptr(), storage.nbytes())
        return tensor

    def forward():
        states = base.get_decoder()(input_ids=ids, use_cache=False).last_hidden_state
        return F.cross_entropy(base.get_output_embeddings()(states[:, :-1][selected]).float(), labels)

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        forward().backward()
    model.zero_grad(set_to_none=True)
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        forward().backward()
    events = sorted((e for e in prof.profiler.kineto_results.events() if e.name() == "[memory]"),
                    key=lambda e: e.start_ns())
    running = peak = 0
    for event in events:
        running += event.nbytes()
        peak = max(peak, running)
    return sum(saved.values()), peak
