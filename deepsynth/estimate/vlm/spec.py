"""What a native vision-language model is made of, as the estimator needs it (no torch).

A native VLM (transformers 5, `AutoModelForImageTextToText`) is a frozen vision tower, a
projector (merger / connector) into the language model's embedding space, and the language model.
One dataclass per tower family holds the numbers its parameter inventory and its forward pass need;
`VisionLanguage` ties a tower to its projector, its language model and its image processing.
Field defaults are never relied on: `config.py` fills every field from `config.json` or from the
transformers 5.23 config-class default (a test checks those defaults against transformers).
"""

from __future__ import annotations

from dataclasses import dataclass

from deepsynth.estimate.shapes import TransformerShape
from deepsynth.models.vlm.families import FAMILIES

VLM_FAMILIES: dict[str, str] = {model_type: facts.display_name for model_type, facts in FAMILIES.items()}
"""model_type -> the family name shown to users (read from the family table, `models/vlm/families.py`)."""


@dataclass(frozen=True)
class QwenVisionTower:
    """Qwen2-VL / Qwen2.5-VL vision transformer (`model.visual`), merger included."""

    width: int
    """Width of the tower's residual stream (Qwen2-VL `embed_dim`, Qwen2.5-VL `hidden_size`)."""
    depth: int
    """Number of vision blocks."""
    heads: int
    """Attention heads per block."""
    mlp_width: int
    """Hidden width of each block's MLP."""
    gated_mlp: bool
    """Qwen2.5-VL: gate/up/down MLP with biases and RMSNorm; Qwen2-VL: fc1 -> act -> fc2 with LayerNorm."""
    hidden_act: str
    """MLP activation (quick_gelu for Qwen2-VL, silu for Qwen2.5-VL)."""
    in_channels: int
    """Image channels."""
    patch_size: int
    """Spatial patch side in pixels."""
    temporal_patch_size: int
    """Frames per patch (an image is repeated to fill them)."""
    merge_size: int
    """The merger concatenates merge_size x merge_size patches into one language token."""
    out_width: int
    """Merger output width (the language model's hidden size)."""
    window_size: int = 0
    """Qwen2.5-VL: side of the attention windows in pixels (0: every block attends globally)."""
    full_attention_blocks: tuple[int, ...] = ()
    """Qwen2.5-VL: blocks that attend over the whole image."""


@dataclass(frozen=True)
class SiglipVisionTower:
    """SmolVLM / Idefics3 SigLIP-style vision transformer + pixel-shuffle connector."""

    width: int
    """Width of the tower's residual stream."""
    intermediate_size: int
    """Hidden width of each encoder layer's MLP."""
    layers: int
    """Encoder layers."""
    heads: int
    """Attention heads per layer."""
    channels: int
    """Image channels."""
    image_size: int
    """Side of one tile the tower was built for (the position table covers (image_size/patch)^2)."""
    patch_size: int
    """Patch side in pixels (a Conv2d with this kernel and stride)."""
    hidden_act: str
    """MLP activation."""
    scale_factor: int
    """Pixel shuffle: scale_factor^2 neighbouring patches become one language token."""
    out_width: int
    """Connector output width (the language model's hidden size)."""


@dataclass(frozen=True)
class SamEncoder:
    """DeepSeek-OCR-2's SAM ViT-B image encoder with its neck and 4x downsampling convolutions."""

    width: int
    """Width of the SAM residual stream."""
    layers: int
    """SAM blocks."""
    heads: int
    """Attention heads per block."""
    channels: int
    """Image channels."""
    image_size: int
    """Image side the absolute position table was trained for (it is interpolated for others)."""
    patch_size: int
    """Patch side in pixels."""
    mlp_dim: int
    """Hidden width of each block's MLP."""
    window_size: int
    """Side (in patches) of the attention windows of windowed blocks."""
    global_blocks: tuple[int, ...]
    """Blocks that attend over the whole image."""
    output_channels: int
    """Channels of the neck."""
    downsample_channels: tuple[int, int]
    """Channels after each of the two stride-2 convolutions."""
    qkv_bias: bool
    """Bias on the qkv projection."""
    use_abs_pos: bool
    """Learned absolute position table."""
    use_rel_pos: bool
    """Decomposed relative position tables in each attention."""
    hidden_act: str
    """MLP activation."""


@dataclass(frozen=True)
class DeepseekOcr2Tower:
    """DeepEncoder V2: SAM, then a causal Qwen2-style encoder over SAM tokens + learned queries."""

    sam: SamEncoder
    """The SAM image encoder."""
    encoder: TransformerShape
    """The query encoder (Qwen2-style layers, no embedding table, no head)."""
    out_width: int
    """Projector output width (the language model's hidden size)."""


@dataclass(frozen=True)
class DavitTower:
    """Florence-2's DaViT backbone (convolutional stages of spatial-window + channel-group blocks)."""

    depths: tuple[int, ...]
    """Blocks per stage."""
    patch_size: tuple[int, ...]
    """Convolution kernel of each stage's embedding."""
    patch_stride: tuple[int, ...]
    """Convolution stride of each stage's embedding."""
    patch_padding: tuple[int, ...]
    """Convolution padding of each stage's embedding."""
    patch_prenorm: tuple[bool, ...]
    """LayerNorm before (True) or after (False) each stage's embedding convolution."""
    embed_dim: tuple[int, ...]
    """Channels of each stage."""
    num_heads: tuple[int, ...]
    """Spatial attention heads per stage."""
    num_groups: tuple[int, ...]
    """Channel attention groups per stage."""
    window_size: int
    """Side of the spatial attention windows (in tokens)."""
    mlp_ratio: float
    """MLP width as a multiple of the stage's channels."""
    qkv_bias: bool
    """Bias on the qkv projections."""
    hidden_act: str
    """MLP activation."""
    in_channels: int
    """Image channels."""
    projection_dim: int
    """Projector output width (the language model's d_model)."""
    max_position_embeddings: int
    """Rows of the projector's learned row and column position tables."""
    max_temporal_embeddings: int
    """Rows of the projector's fixed sinusoidal temporal table (a buffer)."""
    drop_path_rate: float
    """Stochastic depth in training (transient only: the tower is frozen)."""


@dataclass(frozen=True)
class BartShape:
    """Florence-2's language model: a BART encoder-decoder (`BartModel`) + the LM head."""

    d_model: int
    """Width of both stacks."""
    encoder_layers: int
    """Encoder layers."""
    decoder_layers: int
    """Decoder layers."""
    encoder_heads: int
    """Encoder attention heads."""
    decoder_heads: int
    """Decoder attention heads (self and cross attention)."""
    encoder_ffn: int
    """Encoder MLP width."""
    decoder_ffn: int
    """Decoder MLP width."""
    vocab_size: int
    """Shared token embedding rows and LM-head columns."""
    max_positions: int
    """Learned positions (each table has max_positions + 2 rows, BART's offset)."""
    hidden_act: str
    """MLP activation."""
    dropout: float
    """Dropout on residual branches and after the embeddings."""
    attention_dropout: float
    """Dropout on attention probabilities."""
    activation_dropout: float
    """Dropout after the MLP activation."""
    tie_encoder_decoder_embeddings: bool
    """BartModel ties encoder/decoder token embeddings to `shared` (text_config.tie_word_embeddings)."""


@dataclass(frozen=True)
class ImageProcessing:
    """The image processor settings that decide how many tokens and which tiles a page becomes."""

    kind: str
    """qwen (dynamic resolution), tiles (SmolVLM/Idefics3 splitting), deepseek (global + crops), fixed."""
    patch_size: int = 0
    """qwen: patch side; deepseek: the processor's patch size (16)."""
    merge_size: int = 0
    """qwen: merge side."""
    min_pixels: int = 0
    """qwen: smallest resized area."""
    max_pixels: int = 0
    """qwen: largest resized area."""
    longest_edge: int = 0
    """tiles: the page's longest side after the first resize (`size.longest_edge`)."""
    tile_size: int = 0
    """tiles: side of one tile (`max_image_size.longest_edge`); deepseek: local crop side."""
    split: bool = True
    """tiles: `do_image_splitting`; deepseek: `crop_to_patches`."""
    tokens_per_tile: int = 0
    """tiles: language tokens per tile (the processor's image_seq_len)."""
    global_size: int = 0
    """deepseek: side of the global view (`size.height`); fixed: image height."""
    global_width: int = 0
    """fixed: image width."""
    min_crops: int = 0
    """deepseek: fewest local crops when cropping."""
    max_crops: int = 0
    """deepseek: most local crops."""
    downsample_ratio: int = 0
    """deepseek: the processor's downsample ratio (4)."""
    tokens: int = 0
    """fixed: tokens per image (Florence-2's image_seq_length)."""
    source: str = ""
    """Files the settings were read from, or "defaults"."""


Tower = QwenVisionTower | SiglipVisionTower | DeepseekOcr2Tower | DavitTower


@dataclass(frozen=True)
class VisionLanguage:
    """The parts of a native VLM around its language model."""

    model_type: str
    """config.json model_type (a key of VLM_FAMILIES)."""
    tower: Tower
    """The frozen vision tower."""
    processing: ImageProcessing
    """How pages become tower inputs and language tokens."""
    language_root: str
    """Module path of the language model (`model.language_model`, `model.text_model`)."""
    tower_root: str
    """Module path of the vision tower (`model.visual`, `model.vision_model`, `model.vision_tower`)."""
    projector: str
    """Module path of the projector/merger/connector (what `modules_to_save` names)."""
    train_projector: bool = False
    """The projector trains in full (PEFT `modules_to_save`: a trainable copy beside the original)."""
    bart: BartShape | None = None
    """Florence-2's encoder-decoder language model (None for decoder-only families)."""
    text_model_type: str = ""
    """The language model's model_type (`config.get_text_config().model_type`), which picks the
    default LoRA target suffixes."""
    per_sample_rope: bool = False
    """Multimodal (3-D) rotary positions: the language model builds a position table per sample."""

    @property
    def family(self) -> str:
        return VLM_FAMILIES[self.model_type]

    @property
    def projector_leaf(self) -> str:
        """The name to pass as PEFT `modules_to_save` (matched with `key.endswith(name)`)."""
        return self.projector.rsplit(".", 1)[-1]
