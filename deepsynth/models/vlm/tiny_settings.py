"""Per-family settings for the tiny random models of `models/vlm/tiny_any.py`, where the generic
path (the config class's defaults, shrunk) does not give a model and processor that agree.

Plain dicts per model_type, each with the reason it is needed. Keys:
- `config`: keyword arguments for the config class (before shrinking);
- `after_shrink`: dotted config attribute -> value, set after shrinking;
- `image_processor`: keyword arguments for the PIL image processor (`class`: another class name);
- `processor`: the processor class name, where the mapping names none;
- `processor_kwargs`: settings written into processor_config.json;
- `feature_extractor`: an audio feature extractor class whose settings join preprocessor_config.json;
- `video_processor`: the video processor class video_preprocessor_config.json names, as released;
- `tokens` / `named_tokens`: extra special tokens (plain / as tokenizer attributes);
- `drop_named_tokens`: tokenizer attributes the released tokenizers do not have;
- `code_tokens`: {"style", "count"}: an early-fusion family's VQ codes as tokens (tiny_any._CODE_TOKENS),
  and the config's vocabulary_map the tokenizer's vocabulary;
- `token_ids`: dotted config attribute -> the token (or list of tokens) whose id(s) it holds, where
  the token the model looks for is not the one the processor calls `image_token`;
- `chat_image`: the image placeholder the tiny chat template writes ("": none);
- `character_tokenizer`: the family's own SentencePiece tokenizer class, built character-level
  (`tiny_any._character_unigram`), where only that class gives the model what it reads (UDOP's
  `bbox` per token comes from `UdopTokenizer` alone);
- `random_weights`: parameter-name suffixes transformers initializes to zeros, drawn at random
  (`tiny_any.RANDOM_WEIGHT_STD`) where zeros would cut the page off the language model;
- `not_buildable`: why no tiny folder can be built here (a reason the coverage table shows).
The values come from the family's config, modeling and processing code at our transformers pin,
from what its released checkpoints ship (processor_config.json, video_preprocessor_config.json), and
from the transformers repository's model docs and conversion scripts where the code cannot tell
(PP-Chart2Table's and Cosmos3's usage, Ovis2's special-token order); each entry says which. Where a
released size only costs time (KOSMOS-2.5's 2048 latent queries), the value of the repository's own
model test (its ModelTester class) is taken, and named. A family whose every page fails inside
transformers itself (Fuyu) keeps its settings; tests/models/vlm/test_tiny_transformers_errors.py
reproduces the error.
"""

from __future__ import annotations

from typing import Any

_CLS_TOKEN = {"num_additional_image_tokens": 1}
"""LLaVA-style processors count one more feature per image for a CLIP tower's class token (what the
released checkpoints' processor_config.json say; the constructor's default is 0)."""

_GEMMA3 = {"named_tokens": {"boi_token": "<start_of_image>", "image_token": "<image_soft_token>",
                             "eoi_token": "<end_of_image>"}, "chat_image": "<start_of_image>",
           "after_shrink": {"mm_tokens_per_image": 16}, "processor_kwargs": {"image_seq_length": 16},
           "random_weights": ["mm_input_projection_weight"]}
"""Gemma 3's processor expands the begin-of-image token the chat template writes; the default tower
(224 px, patch 16: 14 x 14 patches) cannot pool to the released 256 tokens (16 x 16), so 16 (4 x 4).
Its projector's weight is initialized to zeros (`init.zeros_(module.mm_input_projection_weight)`,
modeling_gemma3.py; T5Gemma 2's likewise): every image feature would be 0, the page would not reach
the language model and cached features would trivially equal live ones."""

_GEMMA4 = {"config": {"text_config": {"num_hidden_layers": 2, "global_head_dim": 32, "head_dim": 16,
                                      "layer_types": ["sliding_attention", "full_attention"]},
                      "vision_config": {}},
           "named_tokens": {"audio_token": "<|audio|>", "boa_token": "<|audio>", "eoa_token": "<audio|>"}}
"""Gemma 4's text config derives a per-layer override (head_dim 512 on each full-attention layer)
from its 30 layer types, which no 2-layer cut keeps valid: two layers (sliding, full) from the
start, the full one at twice the tiny head size; a vision tower (the config class's default has
none). Its processor refuses any input when the tokenizer lacks the audio tokens the released one
has (`audio is not None and ... or self.boa_token is None or ...`, processing_gemma4.py)."""

_OMNI_THINKER = {"feature_extractor": "WhisperFeatureExtractor", "image_processor": {"class": "Qwen2VLImageProcessorPil"},
                 "chat_image": "<|vision_bos_token|><|image_token|><|vision_eos_token|>",
                 "token_ids": {"vision_start_token_id": "<|vision_bos_token|>"}}
"""The Qwen omni models' "thinker" (their text-generating part, mapped alone) with the whole model's
processor, which the mapping does not name for the thinker model_types."""

_BLIP = {"drop_named_tokens": ["image_token"], "chat_image": ""}
"""BLIP-2-style processors add their own "<image>" when the tokenizer names no image_token, as the
released tokenizers do not; given one, they fail at our pin (`self.image_token.content` on a str).
They also put the image's query tokens before the text themselves: the chat template writes no
image placeholder (one more "<image>" would be one token more than the Q-Former's queries)."""

TINY_SETTINGS: dict[str, dict[str, Any]] = {
    "blip-2": _BLIP,
    "instructblip": _BLIP,
    "gemma3": _GEMMA3,
    # (T5Gemma 2's encoder is Gemma 3's: its tokens per image live in the encoder config; its
    # query_pre_attn_scalar follows the tiny head size in shrink_config, as Gemma 3's does)
    # (the generic builder sets the top-level and decoder vocabularies; its config refuses an
    # encoder text vocabulary of another size, so the tiny tokenizer's here too; and the sub-models'
    # initializer range the one the builder gives a top-level text config: T5Gemma 2 has none)
    "t5gemma2": {**_GEMMA3, "after_shrink": {"encoder.mm_tokens_per_image": 16, "encoder.text_config.vocab_size": 384,
                                             "decoder.initializer_range": 0.2,
                                             "encoder.text_config.initializer_range": 0.2}},
    # its attention is num_heads x d_kv wide but maps back with a hidden -> hidden layer (released:
    # 12 x 64 = 768; d_kv follows the tiny head size in shrink_config), and its decoder's
    # cross-attention reads encoder states of the text width (768 both as released): the tower at
    # the text width, 4 heads of 16
    "pix2struct": {"after_shrink": {"vision_config.hidden_size": 64, "vision_config.num_attention_heads": 4}},
    # the default vision config (384 px, patch 14) leaves 27 patches a side, which the 2 x 2 pixel
    # shuffle cannot join; the release uses 364 px (26 patches)
    # (its processor expands "<image>", as InternVL-style ones do below)
    # the model's image token is the processor's img_patch_token ("<image>" is only the placeholder the
    # processor expands; processor.image_token_id is the patch token's id)
    # (one 364 px tile per page, not up to 12 and a thumbnail: 169 image tokens, not 2197, on CPU)
    "aya_vision": {"after_shrink": {"vision_config.image_size": 364}, "chat_image": "<image>",
                   "token_ids": {"image_token_index": "<|IMG_PATCH|>"}, "image_processor": {"max_patches": 1}},
    # the processor expands "<image>" into <IMG_START><IMG_ATOM>*256<IMG_GRID>...<IMG_END>; the model's
    # image token is <IMG_ATOM> and its five visual indicators are the others, in the order the
    # conversion script (convert_ovis2_weights_to_hf.py) adds them to the released tokenizer
    "ovis2": {"tokens": ["<IMG_ATOM>", "<IMG_START>", "<IMG_GRID>", "<IMG_COL>", "<IMG_ROW>", "<IMG_END>"],
              "named_tokens": {"image_token": "<IMG_ATOM>"}, "chat_image": "<image>",
              "token_ids": {"image_token_id": "<IMG_ATOM>",
                            "visual_indicator_token_ids": ["<IMG_START>", "<IMG_GRID>", "<IMG_COL>", "<IMG_ROW>",
                                                           "<IMG_END>"]}},
    # the processor inserts no image tokens: the released chat template writes them (GOT-OCR 2's
    # <img><imgpad>*256</img>, one <imgpad> per feature of the 1024 px page)
    "pp_chart2table": {"tokens": ["<img>", "</img>", "<imgpad>"],
                       "chat_image": "<img>" + "<imgpad>" * 256 + "</img>",
                       "token_ids": {"image_token_index": "<imgpad>"}},
    # the projector pools 1225 patches (490 px) to 128 queries or 4900 (980 px) to 256: the released
    # tower's patch 14 at 980 px (the config class's default tower is Idefics3's, patch 32; the
    # processor's own default, 980 px, overrides the image processor's max_image_size)
    "aria": {"after_shrink": {"vision_config.patch_size": 14, "vision_config.image_size": 980}},
    # ShieldGemma 2 classifies an image against safety policies: its processor drops the text it is
    # given and writes one yes/no prompt per image and policy (3 by default), so pages cannot be read
    "shieldgemma2": {"not_buildable": "not a reader of images into text: an image-safety classifier (its "
                                      "processor discards the prompt and asks a yes/no question per policy)"},
    "llava": {"processor_kwargs": _CLS_TOKEN},
    "llava_next": {"processor_kwargs": _CLS_TOKEN},
    # without a video_preprocessor_config.json, AutoVideoProcessor infers "LlavaNextVideoProcessor"
    # from the image processor's name -- the processor class itself, which loads its video part
    # again, without end (RecursionError); the released folders name the video processor
    "llava_next_video": {"processor_kwargs": _CLS_TOKEN, "video_processor": "LlavaNextVideoVideoProcessor"},
    "instructblipvideo": {"not_buildable": "needs torchvision: its processor reads images through its video "
                                           "processor (InstructBlipVideoVideoProcessor), which is torchvision-backed"},
    # its processor counts features from num_image_tokens (the released processor_config.json: 729,
    # the SigLIP tower's 384 px / patch 14 = 27 x 27; no class token), which the constructor leaves None
    "llava_onevision": {"processor_kwargs": {"num_image_tokens": 729}},
    # its projector concatenates five tower layers' outputs (-2, -5, -8, -11, 6 of 24 as released):
    # five of the tiny tower's three hidden states
    # (its model always drops the class token: the processor's "default" strategy)
    "vipllava": {"processor_kwargs": {**_CLS_TOKEN, "vision_feature_select_strategy": "default"}, "after_shrink": {"vision_feature_layers": [-3, -2, -1, 0, 1]}},
    # the tower's intermediate outputs and its global layers, and the language model's
    # cross-attention layers, are layer indices of the released depths: within the tiny two
    "mllama": {"after_shrink": {"vision_config.num_global_layers": 2, "vision_config.intermediate_layers_indices": [0, 1],
                                "text_config.cross_attention_layers": [1],
                                # (the projector takes the last and the 2 intermediate outputs, 32 wide each)
                                "vision_config.vision_output_dim": 96}},
    "video_llava": {"processor_kwargs": _CLS_TOKEN},
    # the mapping names no processor (or image processor) for these: the released checkpoints' classes
    "glm_ocr": {"processor": "Glm46VProcessor", "image_processor": {"class": "Glm46VImageProcessorPil"}},
    "glm4v_moe": {"image_processor": {"class": "Glm4vImageProcessorPil"}},
    "fast_vlm": {"processor": "LlavaProcessor", "image_processor": {"class": "CLIPImageProcessorPil"},
                 "processor_kwargs": _CLS_TOKEN},
    # InternVL-style processors expand "<image>" into <img><IMG_CONTEXT>...</img> (image_token is the inner one)
    "qianfan_ocr": {"chat_image": "<image>"},
    "internvl": {"chat_image": "<image>"},
    # the image-processor mapping has no qwen3_vl_moe entry: it is Qwen3-VL's (the mapping's qwen3_vl)
    "qwen3_vl_moe": {"image_processor": {"class": "Qwen2VLImageProcessorPil"}},
    # Fuyu's processor looks its image and row tokens up in the vocabulary by these names; it puts
    # the image (|SPEAKER|) before the prompt itself, so the chat template writes no placeholder
    "fuyu": {"tokens": ["|SPEAKER|", "|NEWLINE|"], "chat_image": ""},
    "gemma4": _GEMMA4,
    # its attention reads config.head_dim, which the text config class leaves None (released: set)
    # (its processor checks each image token sits between its start and end tokens)
    "hunyuan_vl": {"after_shrink": {"text_config.head_dim": 16},
                   "chat_image": "<|image_start_token|><|image_token|><|image_end_token|>"},
    # the config class leaves the projector's Window Q-Former unset (downsample rate, which tower
    # layer feeds which language-model layer); values within the tiny depths. The rate halves the
    # side, as its four spatial-offset projectors do (they take every other patch); its Q-Former
    # takes vision width // 64 heads: the tower at 64 wide
    "granite4_vision": {"config": {"downsample_rate": "4/8", "deepstack_layer_map": [[-2, 0]],
                                   "spatial_target_layers": [0, 0, 1, 1]},
                        "after_shrink": {"vision_config.hidden_size": 64, "vision_config.image_size": 336,
                                         "vision_config.patch_size": 14},
                        # the released tower: 336 px tiles (the grid pinpoints' unit), patch 14 -> 24 a
                        # side, which the 8-patch windows divide; its class token counted as LLaVA's
                        "processor_kwargs": _CLS_TOKEN},
    # GLM-GA is Glm46V's model (the mapping's class) with its own image processor; no processor is
    # mapped: Glm46V's, as for glm_ocr
    "glmga": {"processor": "Glm46VProcessor", "image_processor": {"class": "GlmgaImageProcessorPil"}},
    # Cosmos3's Reasoner tower is Qwen3-VL (docs: "a thin subclass of Qwen3VLForConditionalGeneration");
    # its processor is Qwen3-VL's (no processor is mapped for cosmos3_omni)
    "cosmos3_omni": {"processor": "Qwen3VLProcessor"},
    # the omni "thinker" sub-models take their whole model's processor (text, image, video, audio)
    # (the released preprocessor_config.json also holds the audio part's Whisper settings; the chat
    # template wraps the image token in the vision begin/end tokens, whose begin token the model's
    # multimodal RoPE looks for as config.vision_start_token_id -- a field Qwen2.5-Omni's thinker
    # config class lacks and its released config.json sets)
    "qwen2_5_omni_thinker": {**_OMNI_THINKER, "processor": "Qwen2_5OmniProcessor",
                             "config": {"vision_start_token_id": 0}},
    "qwen3_omni_moe_thinker": {**_OMNI_THINKER, "processor": "Qwen3OmniMoeProcessor"},
    # Gemma 4's processor (mapped) and image processor (not mapped for diffusion_gemma); its text
    # config derives Gemma 4's per-layer override (see gemma4)
    # (every text layer has a mixture of experts, whose sizes the config class leaves None)
    "diffusion_gemma": {**_GEMMA4, "image_processor": {"class": "Gemma4ImageProcessorPil"},
                        "config": {"text_config": {**_GEMMA4["config"]["text_config"], "num_experts": 4,
                                                   "top_k_experts": 2, "moe_intermediate_size": 64},
                                   "vision_config": {}},
                        "feature_extractor": "Gemma4AudioFeatureExtractor"},
    "mistral4": {"not_buildable": "not a reader of images into text: Mistral4ForCausalLM, the class the mapping "
                                  "names, is a text-only language model (no vision input in its code)"},
    # its rotary embedding reads rope_parameters[layer_type] (with an mrope_section), which the text
    # config class leaves empty; the tiny head (16) splits 2 + 3 + 3
    "cohere_compass": {"config": {"text_config": {"rope_parameters": {"full_attention": {
        "rope_type": "default", "rope_theta": 10000.0, "mrope_section": [2, 3, 3]}}}}},
    # its validator wants as many key/value heads as query heads; two layers from the start, one of
    # each attention kind and MLP kind (a cut of the 45 keeps only linear attention, which the cache
    # cannot measure)
    "glm5_next": {"config": {"text_config": {"num_hidden_layers": 2,
                                             "layer_types": ["linear_attention", "indexed_attention"],
                                             "mlp_layer_types": ["dense", "sparse"],
                                             # (its attention widths are not the shrinker's keys:
                                             # low-rank, index and linear-attention heads at tiny sizes)
                                             "q_lora_rank": 32, "kv_lora_rank": 32, "qk_nope_head_dim": 16,
                                             "v_head_dim": 16, "index_head_dim": 16, "index_n_heads": 2,
                                             "linear_head_dim": 16, "linear_num_heads": 4}},
                  "after_shrink": {"text_config.num_key_value_heads": 4}},
    # the tower's adapter feeds the language model (and the audio one too): their widths follow the
    # tiny ones. Two text layers from the start (both indexed attention, as its first two are): a
    # cut of the 46 keeps a per-layer override for the sliding layers it no longer has
    # (its tower likewise: a dense layer, then one with 4 experts, as its "pyramid" starts)
    "dots3_note": {"config": {"text_config": {"num_hidden_layers": 2},
                              "vision_config": {"num_hidden_layers": 2, "pyramid_num_routed": [-1, 4]}},
                   "after_shrink": {"text_config.num_key_value_heads": 4,
                                    "vision_config.adapter_in_dim": 32, "vision_config.adapter_out_dim": 64,
                                    "audio_config.adapter_input_size": 64, "audio_config.adapter_out_dim": 64},
                   # its tower embeds one frame per patch (the Qwen2-VL image processor's default is 2)
                   "image_processor": {"temporal_patch_size": 1}},
    # early fusion: a VQ-GAN turns the page into codes the language model reads as tokens. A small
    # VQ-GAN (32 channels: its group norms take 32 groups),
    # codebook (32 codes, each a token) and a 64 px page: 4 downsamplings -> 4 x 4 = 16 codes
    "chameleon": {"config": {"vq_config": {"num_embeddings": 32, "embed_dim": 16, "base_channels": 32,
                                           "latent_channels": 32, "resolution": 64, "num_res_blocks": 1}},
                  "code_tokens": {"style": "chameleon", "count": 32}, "tokens": ["<racm3:break>", "<eoss>"],
                  "image_processor": {"size": {"shortest_edge": 64}, "crop_size": {"height": 64, "width": 64}},
                  "processor_kwargs": {"image_seq_length": 16}},
    # (Emu3's processor writes "<|image start|>H*W<|image token|>" + "<image>" per code and row end
    # + "<|extra_201|><|image end|>", downsampling by 8; pages at most 64 x 64 px)
    "emu3": {"config": {"vq_config": {"codebook_size": 32, "embed_dim": 4, "base_channels": 32,
                                      "latent_channels": 4, "num_res_blocks": 1}},
             # (its attention blocks run at the deepest width: 32 channels x 4)
             "after_shrink": {"vq_config.hidden_size": 128},
             "code_tokens": {"style": "emu3", "count": 32}, "tokens": ["<|extra_200|>"],
             "named_tokens": {"image_token": "<image>", "boi_token": "<|image start|>", "eoi_token": "<|image end|>",
                              "image_wrapper_token": "<|image token|>", "eof_token": "<|extra_201|>"},
             "image_processor": {"max_pixels": 64 * 64, "min_pixels": 16 * 16}},
    # its rotary embedding interleaves height and width frequencies, so their sections must be equal
    # (released [22, 22, 20]; the default left for a tiny head, [2, 3, 3], is not)
    "ernie4_5_vl_moe": {"config": {"text_config": {"rope_parameters": {
        "rope_type": "default", "rope_theta": 500000.0, "mrope_section": [3, 3, 2]}}}},
    # Granite's muP output multiplier: logits / logits_scaling. The config class's 4.0 is the
    # released checkpoint's, a multiplier that grows with the model's width (muP). The tiny output
    # embeddings are tied, frozen under LoRA, 0.2 x sqrt(64) = 1.6 long, after a unit-RMS norm
    # (length 8): the largest logit any hidden state reaches is 8 x 1.6 / 4 = 3.2 against 383
    # others of std 0.4, a loss floor of ~2.9 where halving the first step's 6.05 needs 3.0 -- no
    # LoRA on the language model can learn two pages (measured: 6.05 -> 4.7 in 30 steps). 1.0 is
    # the Granite config class's default (GraniteConfig; transformers' own GraniteModelTester keeps
    # it): the reach is 12.8 and the loss halves by step ~10.
    # (its attention_multiplier, muP's 1 / head size, follows the tiny head in shrink_config)
    "granite_docling": {"after_shrink": {"text_config.logits_scaling": 1.0}},
    # its processor writes 576 image tokens (num_image_tokens' default) for the image processor's
    # 384 px side (its default): 24 x 24 patches of the config's 16 px; the config class's default
    # SigLIP tower is 224 px (196 features)
    "deepseek_vl": {"after_shrink": {"vision_config.image_size": 384}},
    # the same low-resolution tower and tokens; its high-resolution SAM tower (1024 px as released,
    # the image processor's high_res_size) keeps its side; its neck resizes SAM's map to the
    # low-resolution 24 x 24 grid
    "deepseek_vl_hybrid": {"after_shrink": {"vision_config.image_size": 384}},
    "kosmos-2": {"processor": "Kosmos2Processor"},  # (no processor in the mapping)
    # its image-to-text resampler's 2048 latent queries (the released count) make every row 2048+
    # tokens long (one tiny forward ~15 s on CPU): transformers' own KOSMOS-2.5 model test uses 3
    # (Kosmos2_5ModelTester's latent_query_num); the processor writes as many image tokens
    "kosmos-2.5": {"processor": "Kosmos2_5Processor", "config": {"latent_query_num": 3},
                   "processor_kwargs": {"num_image_tokens": 3}},
    # UdopConfig declares no decoder_start_token_id, though its _shift_right (and DeepSynth's
    # decoder prefix) read it; the released config.json (microsoft/udop-large) sets 0 (pad, as T5).
    # Only UdopTokenizer turns the page's words and boxes into the `bbox` its encoder reads.
    "udop": {"config": {"decoder_start_token_id": 0}, "character_tokenizer": "UdopTokenizer"},
}
"""model_type -> its tiny settings (see the module docstring)."""
