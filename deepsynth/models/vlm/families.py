"""Per-family facts about image-text-to-text models: the one table (no torch, no transformers).

A vision-language model tells most of what DeepSynth needs about itself: its language model is
what `get_decoder()` returns, its linear layers are in `named_modules()`, its image tokens are what
its processor inserts. This table keeps only what DeepSynth cannot read from a model or its files
today, one `FamilyFacts` per `model_type`, each with the `reason` it has to be written down. Three
readers share it:

- the target picker and the tower-feature cache (`models/vlm/build.py`): where the projector and
  the vision tower sit (the language model's path comes from the model);
- the estimator (`estimate/vlm/config.py`, no torch: it reads `config.json` and never builds the
  model): the family's display name, module paths, which tower description fits (`design`), the
  text model's type and whether rotary positions are per sample;
- the tiny test-model builder (`models/vlm/tiny.py`): the recipe and sizes (`tiny`).

Adding a family: one entry here (and a test in tests/models/vlm/test_families.py that its paths
match the built model). A fact the model can tell about itself does not belong here; when a
reader learns to ask the model (for instance the estimator building on the meta device), drop the
fact and its reason. No module outside this one names a family's model_type
(tests/models/test_family_names.py checks deepsynth/).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Mapping

DESIGNS = ("sam_query_encoder", "siglip_pixel_shuffle", "merger_vit", "windowed_merger_vit", "davit_bart")
"""Tower designs the estimator can describe and the tiny builder can build:
- `sam_query_encoder`: a SAM image encoder, then a causal encoder over SAM tokens + learned queries;
- `siglip_pixel_shuffle`: a SigLIP-style ViT over tiles, pixel-shuffle connector;
- `merger_vit`: a ViT (LayerNorm, fc1/fc2 MLP) whose merger joins merge_size^2 patches;
- `windowed_merger_vit`: the same with window attention, a gated MLP and RMSNorm;
- `davit_bart`: a DaViT backbone + projector in front of a BART encoder-decoder."""


@dataclass(frozen=True)
class TinyModel:
    """How the family's tiny random test model is built (`models/vlm/tiny.py`)."""

    image_size: int
    """The processor's view side in pixels (the tower's and the processor's token counts agree at it)."""
    settings: Mapping[str, Any] = field(default_factory=dict)
    """Recipe settings that differ between families of one design (processor and image processor
    class names, whether the processor can be built in full without torchvision)."""


@dataclass(frozen=True)
class FamilyFacts:
    """What DeepSynth cannot read from one family's model or files (see the module docstring)."""

    model_type: str
    """config.json's model_type (the table's key)."""
    display_name: str
    """The name shown to users ("Qwen2-VL")."""
    design: str
    """Which of `DESIGNS` the tower follows: picks the estimator's tower description and the tiny recipe."""
    language_model: str
    """Module path of the language model in the transformers model (what `get_decoder()` returns)."""
    projector: str
    """Module path of the projector / merger / connector (`train_projector` trains it in full)."""
    tower: str
    """Module path of the vision tower (frozen; its features are cached)."""
    tiny: TinyModel
    """How the tiny test model is built."""
    reason: str
    """Why these facts are written down rather than read from the model."""
    text_model_type: str = ""
    """The language model's model_type as transformers names it, when config.json's `text_config`
    does not say it ("": read text_config.model_type, else llama)."""
    per_sample_rope: bool = False
    """Rotary positions are 3-D (multimodal RoPE): the language model builds a position table per sample."""

    def __post_init__(self) -> None:
        if self.design not in DESIGNS:
            raise ValueError(f"{self.model_type}: design {self.design!r} is not one of {', '.join(DESIGNS)}")
        if not self.reason.strip():
            raise ValueError(f"{self.model_type}: every entry says why it is here (reason)")


_ESTIMATOR_READS_CONFIG_ONLY = (
    "the estimator reads config.json without torch and never builds the model, so it cannot ask the "
    "model where its parts sit or what its tower is; the display name is not in any file")

_ENTRIES = (
    FamilyFacts(
        model_type="deepseek_ocr2", display_name="DeepSeek-OCR-2", design="sam_query_encoder",
        language_model="model.language_model", projector="model.multi_modal_projector", tower="model.vision_tower",
        text_model_type="deepseek_ocr2_text",
        # 144 tokens per view: ceil(side / (patch 8 x downsample 1)) = 12 for side 89..96.
        tiny=TinyModel(image_size=96),
        reason=_ESTIMATOR_READS_CONFIG_ONLY + "; its text_config carries no model_type in DeepSeek's release"),
    FamilyFacts(
        model_type="idefics3", display_name="Idefics3", design="siglip_pixel_shuffle",
        language_model="model.text_model", projector="model.connector", tower="model.vision_model",
        tiny=TinyModel(image_size=32, settings=MappingProxyType({
            "image_processor": "Idefics3ImageProcessorPil", "processor": "Idefics3Processor", "processor_in_full": True})),
        reason=_ESTIMATOR_READS_CONFIG_ONLY),
    FamilyFacts(
        model_type="smolvlm", display_name="SmolVLM", design="siglip_pixel_shuffle",
        language_model="model.text_model", projector="model.connector", tower="model.vision_model",
        # SmolVLM2 checkpoints name SmolVLMProcessor, whose video part needs torchvision: files only.
        tiny=TinyModel(image_size=32, settings=MappingProxyType({
            "image_processor": "SmolVLMImageProcessorPil", "processor": "SmolVLMProcessor", "processor_in_full": False})),
        reason=_ESTIMATOR_READS_CONFIG_ONLY + "; its processor cannot be built here in full (its video part "
               "needs torchvision), so the tiny folder's processor files are written part by part"),
    FamilyFacts(
        model_type="qwen2_vl", display_name="Qwen2-VL", design="merger_vit",
        language_model="model.language_model", projector="model.visual.merger", tower="model.visual",
        text_model_type="qwen2_vl_text", per_sample_rope=True,
        tiny=TinyModel(image_size=56, settings=MappingProxyType({"processor": "Qwen2VLProcessor"})),
        reason=_ESTIMATOR_READS_CONFIG_ONLY + "; hub configs keep the text keys flat at the top level (no "
               "text_config.model_type); multimodal RoPE is in the model's code, not its config"),
    FamilyFacts(
        model_type="qwen2_5_vl", display_name="Qwen2.5-VL", design="windowed_merger_vit",
        language_model="model.language_model", projector="model.visual.merger", tower="model.visual",
        text_model_type="qwen2_5_vl_text", per_sample_rope=True,
        tiny=TinyModel(image_size=56, settings=MappingProxyType({"processor": "Qwen2_5_VLProcessor"})),
        reason=_ESTIMATOR_READS_CONFIG_ONLY + "; hub configs keep the text keys flat at the top level (no "
               "text_config.model_type); multimodal RoPE is in the model's code, not its config"),
    FamilyFacts(
        model_type="florence2", display_name="Florence-2", design="davit_bart",
        language_model="model.language_model", projector="model.multi_modal_projector", tower="model.vision_tower",
        text_model_type="bart",
        # image_seq_length = (side / 32)^2 + 1 (DaViT strides 4x2x2x2, plus the pooled token): 10 at 96.
        tiny=TinyModel(image_size=96),
        reason=_ESTIMATOR_READS_CONFIG_ONLY + "; its text_config may omit model_type (BART is implied)"),
)

FAMILIES: Mapping[str, FamilyFacts] = MappingProxyType({entry.model_type: entry for entry in _ENTRIES})
"""model_type -> its facts, in the order tests and benches list the families."""


def family_facts(model_type: str) -> FamilyFacts | None:
    """The facts of a `model_type`, or None for a family this table does not list."""
    return FAMILIES.get(model_type)


def display_name(model_type: str) -> str:
    """The name shown to users: the table's, else the model_type itself."""
    facts = FAMILIES.get(model_type)
    return facts.display_name if facts is not None else model_type
