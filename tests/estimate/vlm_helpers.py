"""Tiny native VLM configs (one per family) and a word-level tokenizer for the processors."""

import copy
import json
from pathlib import Path

QWEN_ROPE = {"rope_type": "default", "mrope_section": [2, 3, 3], "rope_theta": 10000.0}
LM = {"vocab_size": 300, "hidden_size": 64, "intermediate_size": 96, "num_hidden_layers": 2,
      "num_attention_heads": 4, "num_key_value_heads": 2}

TINY_VLMS = {
    "qwen2_vl": {"text_config": {**LM, "rope_parameters": QWEN_ROPE},
                 "vision_config": {"depth": 2, "embed_dim": 32, "hidden_size": 64, "num_heads": 4, "mlp_ratio": 2}},
    "qwen2_5_vl": {"text_config": {**LM, "rope_parameters": QWEN_ROPE},
                   "vision_config": {"depth": 2, "hidden_size": 32, "intermediate_size": 48, "out_hidden_size": 64,
                                     "num_heads": 4, "fullatt_block_indexes": [1], "window_size": 56}},
    "smolvlm": {"text_config": {"model_type": "llama", **LM},
                "vision_config": {"hidden_size": 32, "intermediate_size": 48, "num_hidden_layers": 2,
                                  "num_attention_heads": 4, "image_size": 64, "patch_size": 8},
                "scale_factor": 2},
    "idefics3": {"text_config": {"model_type": "llama", **LM, "tie_word_embeddings": True}, "tie_word_embeddings": True,
                 "vision_config": {"hidden_size": 32, "intermediate_size": 48, "num_hidden_layers": 2,
                                   "num_attention_heads": 4, "image_size": 64, "patch_size": 16},
                 "scale_factor": 2},
    "deepseek_ocr2": {"text_config": {**LM, "num_key_value_heads": 4, "n_routed_experts": 4, "num_experts_per_tok": 2,
                                      "n_shared_experts": 1, "moe_intermediate_size": 16,
                                      "mlp_layer_types": ["dense", "sparse"]},
                      "vision_config": {"sam_config": {"hidden_size": 32, "num_hidden_layers": 2,
                                                       "num_attention_heads": 2, "image_size": 128, "patch_size": 16,
                                                       "global_attn_indexes": [1], "window_size": 4,
                                                       "output_channels": 16, "downsample_channels": [24, 32]},
                                        "encoder_config": {"hidden_size": 32, "intermediate_size": 48,
                                                           "num_hidden_layers": 2, "num_attention_heads": 4,
                                                           "num_key_value_heads": 2}}},
    "florence2": {"text_config": {"model_type": "bart", "vocab_size": 300, "d_model": 64, "encoder_layers": 2,
                                  "decoder_layers": 1, "encoder_attention_heads": 4, "decoder_attention_heads": 4,
                                  "encoder_ffn_dim": 96, "decoder_ffn_dim": 80, "max_position_embeddings": 128},
                  "vision_config": {"depths": [1, 2], "patch_size": [7, 3], "patch_stride": [4, 2],
                                    "patch_padding": [3, 1], "patch_prenorm": [False, True], "embed_dim": [16, 32],
                                    "num_heads": [2, 4], "num_groups": [2, 4], "window_size": 4,
                                    "projection_dim": 64, "max_position_embeddings": 16}},
}


def vlm_config(family: str) -> dict:
    """config.json content of the tiny model of `family`."""
    return {"model_type": family, **copy.deepcopy(TINY_VLMS[family])}


def write_config(folder: Path, config: dict) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(config))
    return folder


def meta_model(config: dict):
    """The real model of a config.json dict, on the meta device (no memory, no weights)."""
    import torch
    from transformers import AutoConfig, AutoModelForImageTextToText

    values = copy.deepcopy(config)
    family = values.pop("model_type")
    with torch.device("meta"):
        return AutoModelForImageTextToText.from_config(AutoConfig.for_model(family, **values))


def word_tokenizer(special: list[str], **named: str):
    """A word-level tokenizer whose special tokens are single ids (enough for processors to expand
    and count image placeholders)."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    words = ["summarize", "the", "page", "\n", "[UNK]"]
    vocab = {word: index for index, word in enumerate(special + words)}
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, unk_token="[UNK]", **named)
    fast.add_special_tokens({"additional_special_tokens": special})
    return fast


def profiled_vlm_step(config: dict, documents: list[dict], image_tokens: int, text: int, targets: int,
                      rank: int = 4) -> int:
    """Transient peak (bytes above what was allocated before) of one training step of the real
    model, run as DeepSynth's VLM model runs it: LoRA on the language model's q/v projections, the
    tower in eval mode, `get_image_features` per document with grad enabled, `mm_encoder_outputs`,
    the LM head on the last `targets` positions. Measured with the profiler after a warm-up step."""
    import torch
    import torch.nn.functional as F
    from peft import LoraConfig, get_peft_model
    from torch.profiler import ProfilerActivity, profile
    from transformers import AutoConfig, AutoModelForImageTextToText
    from transformers.modeling_outputs import BaseModelOutputWithPooling

    torch.set_num_threads(1)
    torch.manual_seed(0)
    values = copy.deepcopy(config)
    family = values.pop("model_type")
    model = AutoModelForImageTextToText.from_config(AutoConfig.for_model(family, **values))
    decoder = model.get_decoder()
    root = next(name for name, module in model.named_modules() if module is decoder)
    model = get_peft_model(model, LoraConfig(r=rank, lora_alpha=2 * rank, lora_dropout=0.05,
                                             target_modules=rf"{root}\..*\.(q_proj|v_proj)"))
    model.train()
    base = model.get_base_model()
    for name in ("visual", "vision_model", "vision_tower"):
        if hasattr(base.model, name):
            getattr(base.model, name).eval()
    batch = len(documents)
    image_id = base.config.image_token_id
    ids = torch.randint(0, 200, (batch, text + image_tokens))
    ids[:, 2:2 + image_tokens] = image_id
    labels = torch.randint(0, 200, (batch * targets,))
    selected = torch.zeros(batch, ids.shape[1] - 1, dtype=torch.bool)
    selected[:, -targets:] = True
    extra = {}
    if "image_grid_thw" in documents[0]:
        extra = {"image_grid_thw": torch.cat([d["image_grid_thw"] for d in documents]),
                 "mm_token_type_ids": (ids == image_id).int()}
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)

    def forward():  # its locals (features, hidden states) are gone before backward, as in models/vlm/model.py
        rows = []
        for pixels in documents:
            pooled = base.model.get_image_features(**pixels).pooler_output
            if isinstance(pooled, (list, tuple)):
                pooled = torch.cat([p.reshape(-1, p.shape[-1]) for p in pooled])
            rows.append(pooled.reshape(-1, pooled.shape[-1]))
        outputs = {"image": BaseModelOutputWithPooling(pooler_output=[torch.cat(rows)])}
        states = base.model(input_ids=ids, mm_encoder_outputs=outputs, use_cache=False, **extra).last_hidden_state
        return F.cross_entropy(base.lm_head(states[:, :-1][selected]).float(), labels)

    def step():
        forward().backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    step()
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        step()
    running = peak = 0
    for event in sorted((e for e in prof.profiler.kineto_results.events() if e.name() == "[memory]"),
                        key=lambda e: e.start_ns()):
        running += event.nbytes()
        peak = max(peak, running)
    return peak
