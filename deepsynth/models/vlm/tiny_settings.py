"""Per-family settings for the tiny random models of `models/vlm/tiny_any.py`, where the generic
path (the config class's defaults, shrunk) does not give a model and processor that agree.

Plain dicts per model_type, each with the reason it is needed. Keys:
- `config`: keyword arguments for the config class (before shrinking);
- `after_shrink`: dotted config attribute -> value, set after shrinking;
- `image_processor`: keyword arguments for the PIL image processor (`class`: another class name);
- `processor`: the processor class name, where the mapping names none;
- `processor_kwargs`: settings written into processor_config.json;
- `tokens` / `named_tokens`: extra special tokens (plain / as tokenizer attributes);
- `chat_image`: the image placeholder the tiny chat template writes;
- `not_buildable`: why no tiny folder can be built here (a reason the coverage table shows).
Sizes follow the transformers repository's tests (tests/models/<name>/test_modeling_<name>.py,
each family's ModelTester) where they are given here.
"""

from __future__ import annotations

from typing import Any

_CLS_TOKEN = {"num_additional_image_tokens": 1}
"""LLaVA-style processors count one more feature per image for a CLIP tower's class token (what the
released checkpoints' processor_config.json say; the constructor's default is 0)."""

TINY_SETTINGS: dict[str, dict[str, Any]] = {
    "llava": {"processor_kwargs": _CLS_TOKEN},
    "llava_next": {"processor_kwargs": _CLS_TOKEN},
    "llava_next_video": {"processor_kwargs": _CLS_TOKEN},
    "llava_onevision": {"processor_kwargs": _CLS_TOKEN},
    "vipllava": {"processor_kwargs": _CLS_TOKEN},
    "video_llava": {"processor_kwargs": _CLS_TOKEN},
    # the mapping names no processor for these: the released checkpoints' processor classes
    # GLM-OCR: the mapping names no processor (the release's classes); mrope as for paddleocr_vl
    "glm_ocr": {"processor": "Glm46VProcessor", "image_processor": {"class": "Glm46VImageProcessorPil"}},
    "glm4v_moe": {"image_processor": {"class": "Glm4vImageProcessorPil"}},
    "fast_vlm": {"processor": "LlavaProcessor", "image_processor": {"class": "CLIPImageProcessorPil"},
                 "processor_kwargs": _CLS_TOKEN},
    # InternVL-style processors expand "<image>" into <img><IMG_CONTEXT>...</img> (image_token is the inner one)
    "qianfan_ocr": {"chat_image": "<image>"},
    "internvl": {"chat_image": "<image>"},
    "kosmos-2": {"processor": "Kosmos2Processor"},
    "kosmos-2.5": {"processor": "Kosmos2_5Processor"},
    # Gemma 3's processor expands the begin-of-image token the chat template writes.
    "gemma3": {"named_tokens": {"boi_token": "<start_of_image>", "image_token": "<image_soft_token>",
                                "eoi_token": "<end_of_image>"}, "chat_image": "<start_of_image>"},
}
"""model_type -> its tiny settings (see the module docstring)."""
