"""Costs of a fine-tuning configuration before anything heavy loads (no torch imported here).

    from deepsynth.estimate import estimate, load_architecture, Workload
    from deepsynth.lora import preset
    result = estimate(load_architecture("default"), preset("standard"), Workload(batch_size=4))
    result.to_json()   # {"total_params", "trainable_params", "memory_bytes": {...}, "gpu_fit": {...}}
"""

from deepsynth.estimate.architecture import Architecture, Projector, TransformerShape, VisionTower
from deepsynth.estimate.builtin import (BUILTIN_MODELS, TEXT_ENCODERS, architecture_from_config, deepseek_ocr,
                                       default_image_tokens, default_model, load_architecture)
from deepsynth.estimate.estimator import Estimate, estimate
from deepsynth.estimate.gpus import GPUS, Gpu, local_device
from deepsynth.estimate.params import ParameterCount, TargetMatch, count_parameters, match_targets, validate_lora_for
from deepsynth.estimate.training import estimate_for_training
from deepsynth.estimate.vlm import VLM_FAMILIES, PageLayout, model_family, page_layout_for, vision_tokens_per_page
from deepsynth.estimate.workload import Workload

__all__ = [
    "Architecture", "Projector", "TransformerShape", "VisionTower", "architecture_from_config",
    "BUILTIN_MODELS", "TEXT_ENCODERS", "deepseek_ocr", "default_image_tokens", "default_model", "load_architecture",
    "Estimate", "estimate", "GPUS", "Gpu", "local_device",
    "ParameterCount", "TargetMatch", "count_parameters", "match_targets", "validate_lora_for", "Workload", "estimate_for_training",
    "VLM_FAMILIES", "PageLayout", "model_family", "page_layout_for", "vision_tokens_per_page",
]
