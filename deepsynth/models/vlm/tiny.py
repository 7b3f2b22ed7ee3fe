"""Tiny random vision-language model folders, one per family, for tests, benches and estimates.

Each folder is what a user would bring (`config.json`, safetensors weights, processor files), so
the normal loading path runs on it: `AutoModelForImageTextToText` + `AutoProcessor`. The model is
built from the family's config with small text and vision parts (seeded, a few hundred thousand
parameters); the processor is the family's own class around the family's image processor at a
small size and a byte-level BPE trained in-process with `tokenizers`, carrying the family's special
tokens and a chat template with its image placeholder.

The recipe follows the family's tower design and its sizes come from the family table
(`families.FAMILIES[model_type].tiny`). Sizes agree by construction (the image tokens a processor
inserts == the features the tower yields):
- sam_query_encoder: the tower always yields 144 queries for an input whose SAM grid, after the /4
  neck, has <= 144 cells (the "768" queries), so the processor counts ceil(side / (patch_size *
  downsample_ratio))^2 = 144 per view: side 96 with patch_size 8 x downsample_ratio 1;
- siglip_pixel_shuffle: image_seq_len = (tile / patch)^2 / scale_factor^2 = (32 / 8)^2 / 4 = 4 (with the
  processor and image processor classes the table names, as the family's checkpoints ship);
- merger_vit / windowed_merger_vit: tokens = grid_h * grid_w / merge_size^2, as the processor computes them;
- davit_bart: image_seq_length = (side / 32)^2 + 1 (DaViT strides 4x2x2x2, plus the projector's pooled
  token): 10 for side 96.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

from deepsynth.models.vlm.families import FAMILIES, FamilyFacts

TINY_VLM_SEED = 4321
TINY_VLM_FAMILIES = tuple(FAMILIES)
"""The model_types a tiny folder can be built for (every family of `families.FAMILIES`)."""

_CORPUS = (
    "Summarize the document in one or two sentences. The quick brown fox jumps over the lazy dog. "
    "A cat sat on the mat. Rivers flow to the sea. The committee approved the budget after a long "
    "debate about schools, roads and the new library. Quarterly revenue rose nine percent while "
    "costs fell. It was warm. The history of the city began in the year 1200 when traders arrived."
)


def _byte_bpe(special_tokens: list[str], vocab_size: int = 384):
    """A byte-level BPE trained in-process on a few English sentences (no files, no download)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE(unk_token=None))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=special_tokens,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tokenizer.train_from_iterator([_CORPUS] * 4, trainer)
    return tokenizer


def _fast_tokenizer(special_tokens: list[str], **named: str):
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(tokenizer_object=_byte_bpe(special_tokens), **named)


# -- chat templates (user content: a list of {"type": "image"} / {"type": "text"} parts) ----------

def _chat_template(turn_open: str, turn_close: str, image: str, assistant_open: str,
                   role_names: dict[str, str]) -> str:
    roles = "{% set names = " + json.dumps(role_names) + " %}"
    return (
        roles + "{{ bos_token if bos_token else '' }}"
        "{% for message in messages %}"
        + turn_open.replace("ROLE", "{{ names[message['role']] }}") +
        "{% if message['content'] is string %}{{ message['content'] }}"
        "{% else %}{% for part in message['content'] %}"
        "{% if part['type'] == 'image' %}" + image + "{% elif part['type'] == 'text' %}{{ part['text'] }}{% endif %}"
        "{% endfor %}{% endif %}" + turn_close + "{% endfor %}"
        "{% if add_generation_prompt %}" + assistant_open + "{% endif %}"
    )


def _sam_query_encoder(facts: FamilyFacts, folder: Path, image_size: int, width: int = 64) -> None:
    from transformers import AutoConfig, DeepseekOcr2ImageProcessorPil, DeepseekOcr2Processor

    tokens = ["<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>", "<｜▁pad▁｜>", "<image>", "<|User|>", "<|Assistant|>"]
    tokenizer = _fast_tokenizer(tokens, bos_token=tokens[0], eos_token=tokens[1], pad_token=tokens[2])
    tokenizer.chat_template = _chat_template(
        "ROLE", "{% if message['role'] == 'assistant' %}{{ eos_token }}{% endif %}", "<image>\n", "<|Assistant|>",
        {"user": "<|User|>", "assistant": "<|Assistant|>", "system": ""})
    image_processor = DeepseekOcr2ImageProcessorPil(size={"height": image_size, "width": image_size},
                                                    tile_size=image_size, min_patches=1, max_patches=2)
    # 144 tokens per view (see the module docstring): ceil(side / (8 * 1)) = 12 for side 89..96.
    processor = DeepseekOcr2Processor(image_processor=image_processor, tokenizer=tokenizer,
                                      chat_template=tokenizer.chat_template, patch_size=image_size // 12,
                                      downsample_ratio=1)
    config = AutoConfig.for_model(
        facts.model_type, image_token_id=tokenizer.convert_tokens_to_ids("<image>"),
        text_config=dict(vocab_size=len(tokenizer), hidden_size=width, intermediate_size=2 * width,
                         num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=4,
                         max_position_embeddings=4096,
                         n_routed_experts=4, n_shared_experts=1, mlp_layer_types=["dense", "sparse"],
                         moe_intermediate_size=width // 2, num_experts_per_tok=2, bos_token_id=tokenizer.bos_token_id,
                         eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
                         initializer_range=0.2),
        vision_config=dict(
            sam_config=dict(hidden_size=width // 2, output_channels=16, num_hidden_layers=2, num_attention_heads=2,
                            image_size=image_size, patch_size=4, window_size=4, global_attn_indexes=[1],
                            downsample_channels=[32, 3 * width // 4]),
            encoder_config=dict(hidden_size=3 * width // 4, intermediate_size=3 * width // 2, num_hidden_layers=1,
                                num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=512)))
    _save(folder, config, processor)


def _siglip_pixel_shuffle(facts: FamilyFacts, folder: Path, image_size: int) -> None:
    import transformers
    from transformers import AutoConfig

    rows = [f"<row_{r}_col_{c}>" for r in range(1, 7) for c in range(1, 7)]
    tokens = ["<|endoftext|>", "<|im_start|>", "<end_of_utterance>", "<fake_token_around_image>", "<image>",
              "<global-img>", *rows]
    tokenizer = _fast_tokenizer(tokens, bos_token="<|im_start|>", eos_token="<end_of_utterance>",
                                pad_token="<|endoftext|>")
    tokenizer.chat_template = _chat_template(
        "<|im_start|>ROLE:", "<end_of_utterance>\n", "<image>", "<|im_start|>Assistant:",
        {"user": "User", "assistant": "Assistant", "system": "System"})
    tile, patch, scale = image_size, 8, 2
    image_seq_len = (tile // patch) ** 2 // scale ** 2
    settings = facts.tiny.settings
    image_class = getattr(transformers, settings["image_processor"])
    image_processor = image_class(size={"longest_edge": 2 * tile}, max_image_size={"longest_edge": tile})
    config = AutoConfig.for_model(
        facts.model_type, image_token_id=tokenizer.convert_tokens_to_ids("<image>"), scale_factor=scale,
        text_config=dict(model_type="llama", vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128,
                         num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                         max_position_embeddings=2048, pad_token_id=tokenizer.pad_token_id,
                         bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                         initializer_range=0.2),
        vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                           image_size=tile, patch_size=patch))
    if settings["processor_in_full"]:
        processor_class = getattr(transformers, settings["processor"])
        _save(folder, config, processor_class(image_processor=image_processor, tokenizer=tokenizer,
                                              image_seq_len=image_seq_len, chat_template=tokenizer.chat_template))
    else:  # a processor whose video part needs torchvision: its files, part by part
        _save_processor_files(folder, config, tokenizer, image_processor, settings["processor"],
                              image_seq_len=image_seq_len)


def _merger_vit(facts: FamilyFacts, folder: Path, image_size: int) -> None:
    from transformers import AutoConfig, Qwen2VLImageProcessorPil

    tokens = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>",
              "<|image_pad|>", "<|video_pad|>"]
    tokenizer = _fast_tokenizer(tokens, eos_token="<|im_end|>", pad_token="<|endoftext|>")
    tokenizer.chat_template = _chat_template(
        "<|im_start|>ROLE\n", "<|im_end|>\n", "<|vision_start|><|image_pad|><|vision_end|>",
        "<|im_start|>assistant\n", {"user": "user", "assistant": "assistant", "system": "system"})
    patch, merge = 14, 2
    side = patch * merge
    image_processor = Qwen2VLImageProcessorPil(
        size={"shortest_edge": side * side, "longest_edge": side * side * max(1, image_size // side) ** 2},
        patch_size=patch, merge_size=merge, temporal_patch_size=2)
    ids = {name: tokenizer.convert_tokens_to_ids(token) for name, token in (
        ("image_token_id", "<|image_pad|>"), ("video_token_id", "<|video_pad|>"),
        ("vision_start_token_id", "<|vision_start|>"), ("vision_end_token_id", "<|vision_end|>"))}
    vision = dict(depth=1, num_heads=2, patch_size=patch, spatial_merge_size=merge, temporal_patch_size=2)
    if facts.design == "merger_vit":
        vision.update(embed_dim=32, hidden_size=64, mlp_ratio=2)
    else:
        vision.update(hidden_size=32, intermediate_size=64, out_hidden_size=64, fullatt_block_indexes=[0],
                      window_size=56)
    config = AutoConfig.for_model(
        facts.model_type, **ids, vision_config=vision,
        text_config=dict(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=4096,
                         initializer_range=0.2, eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=tokenizer.pad_token_id,
                         rope_parameters={"rope_type": "default", "rope_theta": 10000.0,
                                          "mrope_section": [2, 3, 3]}))
    _save_processor_files(folder, config, tokenizer, image_processor, facts.tiny.settings["processor"])


BART_INIT_STD = 0.15
"""The tiny Florence-2's BART weights' std. BART is post-LayerNorm (each sublayer's output is added
to the residual, then normalized): at 0.2, a 64-wide linear layer has a gain of 1.6 (0.2 x sqrt(64))
and the feed-forward block ~2.3, so every sublayer's random output outweighs the residual it joins,
the output is a chaotic function of the LoRA weights, and at the coverage bench's LoRA learning rate
(2e-2) the loss bounces near 3-4 instead of falling (training the whole language model stalls too;
at 5e-3 the same model learns). At 0.1 the residual dominates and the tied output embeddings make
the untrained model copy its input (the decoder start token, eos: it generates nothing); at 0.02
they are too small to reach a confident logit. 0.15 (gain 1.2): two examples overfit (the loss
halves in ~11 steps) and the untrained model generates text. Dropout 0: BART's 0.1 on 64 units is
noise a test model does not need (the decoder-only tiny models have none)."""


def _davit_bart(facts: FamilyFacts, folder: Path, image_size: int) -> None:
    from transformers import AutoConfig, CLIPImageProcessorPil, Florence2Processor

    tokens = ["<s>", "<pad>", "</s>", "<unk>", "<image>"]
    tokenizer = _fast_tokenizer(tokens, bos_token="<s>", eos_token="</s>", pad_token="<pad>", unk_token="<unk>",
                                extra_special_tokens={"image_token": "<image>"})
    # DaViT's four stages stride 4 x 2 x 2 x 2 = 32; the projector adds one pooled token.
    image_processor = CLIPImageProcessorPil(size={"height": image_size, "width": image_size}, do_center_crop=False,
                                            image_seq_length=(image_size // 32) ** 2 + 1)
    processor = Florence2Processor(image_processor=image_processor, tokenizer=tokenizer)
    ids = dict(bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
               pad_token_id=tokenizer.pad_token_id)
    config = AutoConfig.for_model(
        facts.model_type, image_token_id=tokenizer.image_token_id,
        text_config=dict(vocab_size=len(tokenizer), d_model=64, encoder_layers=2, decoder_layers=2,
                         encoder_attention_heads=4, decoder_attention_heads=4, encoder_ffn_dim=128, decoder_ffn_dim=128,
                         max_position_embeddings=256, decoder_start_token_id=tokenizer.eos_token_id,
                         forced_eos_token_id=tokenizer.eos_token_id, init_std=BART_INIT_STD, dropout=0.0, **ids),
        vision_config=dict(depths=[1, 1, 1, 1], embed_dim=[8, 16, 16, 32], num_heads=[1, 2, 2, 4],
                           num_groups=[1, 2, 2, 4], window_size=2, projection_dim=64, drop_path_rate=0.0,
                           max_position_embeddings=max(8, image_size // 32)), **ids)
    _save(folder, config, processor)


_RECIPES: dict[str, Callable[..., None]] = {
    "sam_query_encoder": _sam_query_encoder,
    "siglip_pixel_shuffle": _siglip_pixel_shuffle,
    "merger_vit": _merger_vit,
    "windowed_merger_vit": _merger_vit,
    "davit_bart": _davit_bart,
}
"""Tower design (`families.DESIGNS`) -> the recipe that builds a tiny model of it."""


def _save(folder: Path, config: Any, processor: Any) -> None:
    from transformers import AutoModelForImageTextToText

    from deepsynth.models.builtin.tiny import seeded

    with seeded(TINY_VLM_SEED):
        model = AutoModelForImageTextToText.from_config(config)
    model.save_pretrained(str(folder))
    if processor is not None:
        processor.save_pretrained(str(folder))


def _save_processor_files(folder: Path, config: Any, tokenizer: Any, image_processor: Any, processor_class: str,
                          **settings: Any) -> None:
    """The model, and its processor's files written part by part: in transformers 5.23 the
    processors of Qwen2-VL, Qwen2.5-VL and SmolVLM2 cannot be built in full without torchvision
    (their video processor needs it), but their folders are what a real checkpoint ships."""
    _save(folder, config, None)
    tokenizer.save_pretrained(str(folder))
    image_processor.save_pretrained(str(folder))
    (folder / "processor_config.json").write_text(json.dumps({"processor_class": processor_class, **settings},
                                                             indent=2))
    (folder / "chat_template.jinja").write_text(tokenizer.chat_template)


def build_tiny_vlm(family: str, folder: str | Path, image_size: int | None = None, width: int | None = None) -> Path:
    """Write a tiny random VLM of `family` (a model_type of TINY_VLM_FAMILIES) with its processor
    into `folder` (created); the same weights in every process. Returns the folder. `width`
    (the sam_query_encoder design only): the language model's hidden size (64), the towers scaled alike."""
    if family not in FAMILIES:
        raise ValueError(f"no tiny VLM for {family!r}; families: {', '.join(TINY_VLM_FAMILIES)}")
    facts = FAMILIES[family]
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if width is not None and facts.design != "sam_query_encoder":
        raise ValueError(f"width applies to the sam_query_encoder design only, not {family}'s {facts.design}")
    extra = {"width": width} if width is not None else {}
    _RECIPES[facts.design](facts, folder, image_size or facts.tiny.image_size, **extra)
    return folder
