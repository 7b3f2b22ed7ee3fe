"""A tiny random model folder for any image-text-to-text `model_type` transformers maps to
`AutoModelForImageTextToText`: config, safetensors weights and processor files, as a user's folder.

The six families of the family table keep their hand-sized recipes (`models/vlm/tiny.py`). Every
other model_type takes the generic path:

- the config: the family's config class with its defaults (the flagship checkpoint's geometry:
  image size, patch size, image tokens per image stay as released, so the processor's defaults and
  the tower agree), every text and vision sub-config shrunk in width, depth, heads and experts
  (`shrink_config`), then the per-family overrides of `tiny_settings.TINY_SETTINGS`;
- the tokenizer: `tiny._byte_bpe` with every special token the family's processor code spells
  (string literals such as "<image>" or "[IMG]", the `*_token` defaults of its constructor) and
  each `tokenizer.<name>_token` attribute the processor reads, as a named extra special token;
  for an early-fusion family (Chameleon, Emu3) one token per VQ code, spelled as its vocabulary
  mapping reads them (`_CODE_TOKENS`), the config's `vocabulary_map` the tokenizer's vocabulary;
- the image processor: the family's PIL class (`AutoImageProcessor`'s "pil" backend); a family with
  only a torchvision one cannot be built here (torchvision has no CPU wheel for our torch pin);
- the processor: written part by part (tokenizer files, image processor, `processor_config.json`
  naming the class, chat template, and where the released folders have them an audio feature
  extractor's settings and `video_preprocessor_config.json`), the way `tiny._save_processor_files`
  does, then loaded with DeepSynth's own `load_processor`; the config's `*_token_id` /
  `*_token_index` fields take the ids of the tokens the loaded processor names (or, per
  `tiny_settings`' `token_ids`, of the token its expansion writes), so the model and the
  processor agree.
"""

from __future__ import annotations

import inspect
import json
import math
import re
from pathlib import Path
from typing import Any

from deepsynth.models.vlm.tiny import TINY_VLM_SEED, _byte_bpe, _chat_template

TEXT_WIDTH = 64
VISION_WIDTH = 32
HEAD_DIM = 16
LAYERS = 2

_WIDTH_KEYS = ("hidden_size", "d_model", "n_embd", "embed_dim", "dim", "hidden_dim", "width", "d_embed",
               "word_embed_proj_dim")  # (OPT, the BLIP-2 family's default language model, embeds at this width)
_FFN_KEYS = ("intermediate_size", "ffn_dim", "encoder_ffn_dim", "decoder_ffn_dim", "d_ff", "n_inner",
             "mlp_dim", "intermediate_dim")
_SMALL_FFN_KEYS = ("moe_intermediate_size", "shared_expert_intermediate_size", "expert_intermediate_size")
_OUT_KEYS = ("out_hidden_size", "text_hidden_size", "output_hidden_size", "projection_dim", "lm_hidden_size")
_LAYER_KEYS = ("num_hidden_layers", "num_layers", "n_layer", "n_layers", "depth", "encoder_layers",
               "decoder_layers", "num_decoder_layers", "num_encoder_layers",
               "layers")  # (KOSMOS-2's text config names its num_hidden_layers so)
_HEAD_KEYS = ("num_attention_heads", "n_head", "n_heads", "num_heads", "encoder_attention_heads",
              "decoder_attention_heads", "attention_heads")  # (KOSMOS-2's text config)
_KV_KEYS = ("num_key_value_heads", "n_kv_heads", "num_kv_heads")
_EXPERT_KEYS = ("num_experts", "n_routed_experts", "num_local_experts", "moe_num_experts")
_ROUTED_KEYS = ("num_experts_per_tok", "moe_k", "top_k", "num_experts_per_token")
_TOKEN_LITERAL = re.compile(r"""["'](<[^"'\s{}%]{1,48}>|\[[A-Z][A-Z_]{1,30}\])["']""")
_TOKENIZER_ATTRIBUTE = re.compile(r"tokenizer\.(\w+_token)\b")


_CODE_TOKENS = {
    # Chameleon: "IMGIMG" + the code's decimal digits spelled A-J + "Z" (ChameleonImageVocabularyMapping)
    "chameleon": lambda code: "IMGIMG" + "".join(chr(ord("A") + int(d)) for d in str(code)) + "Z",
    # Emu3: "<|visual token 000123|>" (Emu3ImageVocabularyMapping reads the 6 digits)
    "emu3": lambda code: f"<|visual token {code:06d}|>",
}
"""Early-fusion families (a VQ tokenizer turns the page into codes the language model reads as
tokens): how the vocabulary spells code N, by the family's vocabulary-mapping class."""


class TinyBuildError(RuntimeError):
    """A tiny folder of this model_type cannot be built here (the message says why)."""


def _is_vision(name: str) -> bool:
    return any(part in name for part in ("vision", "visual", "image", "vit", "sam", "encoder_config", "perceiver"))


def _scale_list(values: list[Any], total: int) -> list[int]:
    """`values` (e.g. an mrope_section) scaled to sum to `total`, each at least 1."""
    scaled = [max(1, round(v * total / max(1, sum(values)))) for v in values]
    scaled[-1] += total - sum(scaled)
    return scaled


def shrink_config(config: Any, width: int, path: str = "") -> None:
    """Shrink `config` in place (width, depth, heads, experts, layer lists), recursing into every
    sub-config: vision-like ones (by name) to VISION_WIDTH, the rest to `width`."""
    from transformers import PretrainedConfig

    values = config.__dict__
    layers = None
    old_head = _head_size(values)
    for key in _WIDTH_KEYS:
        if isinstance(values.get(key), int) and values[key] > width:
            setattr(config, key, width)
    for key in _FFN_KEYS:
        if isinstance(values.get(key), int) and values[key] > 2 * width:
            setattr(config, key, 2 * width)
    for key in _SMALL_FFN_KEYS:
        if isinstance(values.get(key), int) and values[key] > width:
            setattr(config, key, width)
    old_layers = set()
    for key in _LAYER_KEYS:
        if isinstance(values.get(key), int) and values[key] > LAYERS:
            old_layers.add(values[key])
            setattr(config, key, LAYERS)
            layers = LAYERS
    for key in _OUT_KEYS:  # a vision config's output feeds the language model directly
        if isinstance(values.get(key), int) and values[key] > TEXT_WIDTH:
            setattr(config, key, TEXT_WIDTH)
    heads = max(1, width // HEAD_DIM)
    for key in _HEAD_KEYS:
        if isinstance(values.get(key), int) and values[key] > heads:
            setattr(config, key, heads)
    for key in _KV_KEYS:
        if isinstance(values.get(key), int) and values[key] > 1:
            setattr(config, key, max(1, heads // 2))
    for key in ("head_dim", "d_kv"):  # (d_kv: T5-style attention, Pix2Struct's)
        if isinstance(values.get(key), int):
            setattr(config, key, HEAD_DIM)
    _fit_attention_scale(config, old_head, _head_size(values))
    for key in _EXPERT_KEYS:
        if isinstance(values.get(key), int) and values[key] > 4:
            setattr(config, key, 4)
    for key in _ROUTED_KEYS:
        if isinstance(values.get(key), int) and values[key] > 2:
            setattr(config, key, 2)
    if layers is not None:
        for key, value in list(values.items()):
            if isinstance(value, list) and (key.endswith("layer_types") or len(value) in old_layers) \
                    and len(value) > layers:  # one entry per layer
                value = value[:layers]
                if key in _FFN_KEYS and all(isinstance(v, int) for v in value):
                    value = [min(v, 2 * width) for v in value]
                setattr(config, key, value)
            if key in ("mlp_layer_types", "global_attn_indexes", "fullatt_block_indexes") and isinstance(value, (list, tuple)):
                # (a tuple: SAM's config default; none within the tiny depth: the last layer, as
                # SAM's and Qwen2.5-VL's released lists end at their last layer)
                kept = [v for v in value if not isinstance(v, int) or v < layers][:layers]
                setattr(config, key, kept or ([layers - 1] if all(isinstance(v, int) for v in value) else list(value[:1])))
        for key in ("first_k_dense_replace", "num_dense_layers"):
            if isinstance(values.get(key), int) and values[key] > 1:
                setattr(config, key, 1)
    rope = values.get("rope_parameters")
    if isinstance(rope, dict) and isinstance(rope.get("mrope_section"), list):
        rope["mrope_section"] = _scale_list(rope["mrope_section"], HEAD_DIM // 2)
    for key, value in list(values.items()):
        if isinstance(value, PretrainedConfig):
            shrink_config(value, VISION_WIDTH if _is_vision(key) else width, f"{path}{key}.")
        elif isinstance(value, dict) and key.endswith("_config") and ("hidden_size" in value or "model_type" in value):
            sub = dict(value)
            _shrink_dict(sub, VISION_WIDTH if _is_vision(key) else width)
            setattr(config, key, sub)


def _head_size(values: dict[str, Any]) -> int | None:
    """The attention head size a config's values give (head_dim / d_kv, or width over heads)."""
    for key in ("head_dim", "d_kv"):
        if isinstance(values.get(key), int) and values[key] > 0:
            return values[key]
    width = next((values[k] for k in _WIDTH_KEYS if isinstance(values.get(k), int)), None)
    heads = next((values[k] for k in _HEAD_KEYS if isinstance(values.get(k), int) and values[k] > 0), None)
    return width // heads if width and heads else None


def _fit_attention_scale(config: Any, old_head: int | None, new_head: int | None) -> None:
    """An attention scale the config spells in head sizes follows the head size it was set for:
    Gemma's query_pre_attn_scalar (scores / sqrt(it); the released configs' 256 is their head_dim)
    and muP's attention_multiplier (1 / head size: Granite Docling's 0.015625 = 1 / 64, its 1024
    width over 16 heads). Left at the released value, the tiny 16-wide heads' scores are 4x smaller
    (the attention flatter) than the model's own rule gives."""
    if not old_head or not new_head or old_head == new_head:
        return
    values = config.__dict__
    if values.get("query_pre_attn_scalar") == old_head:
        config.query_pre_attn_scalar = new_head
    multiplier = values.get("attention_multiplier")
    if isinstance(multiplier, float) and math.isclose(multiplier, 1 / old_head):
        config.attention_multiplier = 1 / new_head


def _shrink_dict(values: dict[str, Any], width: int) -> None:
    """`shrink_config` for a sub-config kept as a plain dict."""
    class _Holder:
        pass

    holder = _Holder()
    holder.__dict__.update(values)
    shrink_config(holder, width)
    values.update(holder.__dict__)


def _processor_tokens(processor_class: Any) -> tuple[list[str], dict[str, str]]:
    """(plain special tokens, named extra special tokens) the processor code spells or reads."""
    module = inspect.getmodule(processor_class)
    source = inspect.getsource(module) if module is not None else ""
    literals = sorted(set(_TOKEN_LITERAL.findall(source)))
    named: dict[str, str] = {}
    for name, parameter in inspect.signature(processor_class.__init__).parameters.items():
        if name.endswith("_token") and isinstance(parameter.default, str) and parameter.default:
            named[name] = parameter.default
    for name in sorted(set(_TOKENIZER_ATTRIBUTE.findall(source))):
        if name in ("pad_token", "eos_token", "bos_token", "unk_token", "sep_token", "cls_token", "mask_token"):
            continue
        named.setdefault(name, named.get(name) or f"<|{name}|>")
    return literals, named


def _pil_image_processor(model_type: str, overrides: dict[str, Any]) -> Any:
    import transformers
    from transformers.models.auto.image_processing_auto import IMAGE_PROCESSOR_MAPPING_NAMES

    classes = IMAGE_PROCESSOR_MAPPING_NAMES.get(model_type) or {}
    name = overrides.pop("class", None) or classes.get("pil")
    if not name:
        if classes:
            raise TinyBuildError(f"needs torchvision: its only image processor ({', '.join(classes.values())}) "
                                 "is torchvision-backed")
        raise TinyBuildError("no image processor is mapped for this model_type")
    image_class = getattr(transformers, name)
    fitted = overrides.pop("fit_size", None)
    seq_length = overrides.pop("fit_seq_length", None)
    grid_settings = overrides.pop("fit_grid", None)
    processor = image_class(**overrides)
    size = getattr(processor, "size", None)
    if fitted and "size" not in overrides and size is not None:
        side = fitted["height"]
        extra: dict[str, Any] = {}
        if getattr(size, "height", None) and getattr(size, "width", None) and (size.height, size.width) != (side, side):
            extra["size"] = {"height": side, "width": side}
        elif getattr(size, "shortest_edge", None) and size.shortest_edge != side and not getattr(size, "longest_edge", None):
            extra["size"] = {"shortest_edge": side}
        if extra and getattr(processor, "crop_size", None) is not None and "crop_size" not in overrides:
            extra["crop_size"] = {"height": side, "width": side}
        if extra:
            processor = image_class(**overrides, **extra)
    grid = {key: value for key, value in (grid_settings or {}).items()
            if value is not None and getattr(processor, key, None) not in (None, value)}
    if grid:  # a patch-grid processor (Qwen2-VL's): its patches are the tower's
        processor = image_class(**overrides, **grid)
    if seq_length and getattr(processor, "image_seq_length", 0) is None:
        processor.image_seq_length = seq_length
    return processor


def _set_token_ids(config: Any, processor: Any, tokenizer: Any, named: dict[str, str]) -> None:
    """Every `X_token_id` / `X_token_index` of the config (and its text config) := the id of the
    token the processor names `X_token` (or the tokenizer's bos/eos/pad)."""
    ids: dict[str, int] = {}
    for source in (processor, tokenizer):  # the tokenizer's named tokens win (Gemma 3's processor
        # calls its begin-of-image token image_token; the model's image token is the tokenizer's)
        for name in dir(source):
            if not name.endswith("_token") or name.startswith("_"):
                continue
            try:
                value = getattr(source, name)
            except Exception:  # noqa: BLE001 - a property that needs state the tiny processor lacks
                continue
            value = getattr(value, "content", value)  # an AddedToken (BLIP-2's image_token) or a str
            if isinstance(value, str) and value:
                token_id = tokenizer.convert_tokens_to_ids(value)
                if isinstance(token_id, int) and token_id != tokenizer.unk_token_id:
                    ids[name[: -len("_token")]] = token_id
    for name in ("bos", "eos", "pad", "unk"):  # (special-token properties dir() does not list at
        # our pin: left out, T5Gemma 2 kept Gemma's 2/1/0, the tiny vocabulary's </s>, <s> and
        # <|endoftext|>)
        token_id = getattr(tokenizer, f"{name}_token_id", None)
        if isinstance(token_id, int):
            ids[name] = token_id
    for name, value in named.items():  # the tokenizer's named tokens (not all are listed by dir())
        token_id = tokenizer.convert_tokens_to_ids(value)
        if isinstance(token_id, int) and token_id != tokenizer.unk_token_id:
            ids[name[: -len("_token")]] = token_id
    from transformers import PretrainedConfig

    def visit(node: Any) -> None:
        # a decoder that starts from the pad token (T5's convention: Pix2Struct, T5Gemma 2) still does
        if node.__dict__.get("decoder_start_token_id") is not None \
                and node.__dict__.get("decoder_start_token_id") == node.__dict__.get("pad_token_id") and "pad" in ids:
            node.decoder_start_token_id = ids["pad"]
        for key, value in list(node.__dict__.items()):
            if isinstance(value, PretrainedConfig):
                visit(value)
                continue
            match = re.fullmatch(r"(\w+?)_token_(?:id|index)", key)
            if match and (isinstance(value, int) or value is None) and match.group(1) in ids:
                setattr(node, key, ids[match.group(1)])
            elif match and isinstance(value, int) and value >= len(tokenizer):
                setattr(node, key, tokenizer.pad_token_id)

    visit(config)


def _set_named_token_ids(config: Any, tokenizer: Any, token_ids: dict[str, Any]) -> None:
    """`tiny_settings`' `token_ids`: dotted config attribute -> the token (or list of tokens) whose
    id(s) it holds, where the processor's own names do not say which token the model looks for."""
    def token_id(token: str) -> int:
        found = tokenizer.convert_tokens_to_ids(token)
        if not isinstance(found, int) or found == tokenizer.unk_token_id:
            raise TinyBuildError(f"tiny_settings names token {token!r}, which the tiny tokenizer lacks")
        return found

    for dotted, tokens in token_ids.items():
        node = config
        *parents, leaf = dotted.split(".")
        for part in parents:
            node = getattr(node, part)
        setattr(node, leaf, [token_id(t) for t in tokens] if isinstance(tokens, list) else token_id(tokens))


def _config_value(config: Any, name: str) -> Any:
    """`name` from the config or the first sub-config that has it (None if none does)."""
    from transformers import PretrainedConfig

    if name in config.__dict__ and config.__dict__[name] is not None:
        return config.__dict__[name]
    for value in config.__dict__.values():
        if isinstance(value, PretrainedConfig):
            found = _config_value(value, name)
            if found is not None:
                return found
    return None


def _image_size_of(config: Any) -> dict[str, Any]:
    """Image processor settings matching the vision config's fixed input side, if it has one."""
    grid = {"patch_size": _config_value(config, "patch_size"),
            "merge_size": _config_value(config, "spatial_merge_size"),
            "temporal_patch_size": _config_value(config, "temporal_patch_size")}
    grid = {key: value for key, value in grid.items() if isinstance(value, int)}
    side = _config_value(config, "image_size")
    if isinstance(side, (list, tuple)):
        side = side[0]
    if not isinstance(side, int):
        return {"fit_grid": grid}
    patch = _config_value(config, "patch_size")
    tokens = _config_value(config, "num_image_tokens") or (
        (side // patch) ** 2 if isinstance(patch, int) and patch > 0 else None)
    return {"fit_size": {"height": side, "width": side}, "fit_seq_length": tokens, "fit_grid": grid}


def _processor_settings_from(processor_class: Any, config: Any) -> dict[str, Any]:
    """The processor's constructor settings left None by default, read from the model's config
    where it has a field of the same name (patch_size, vision_feature_select_strategy ...)."""
    found = {}
    for name, parameter in inspect.signature(processor_class.__init__).parameters.items():
        if name in ("self", "image_processor", "tokenizer", "video_processor", "chat_template") or parameter.default is not None:
            continue
        value = _config_value(config, name)
        if isinstance(value, (int, float, str)):
            found[name] = value
    return found


def _fit_mrope(config: Any, model_type: str) -> None:
    """A language model whose code reads `rope_parameters["mrope_section"]` with a full-size default
    ([16, 24, 24] for head_dim 128) gets one for the tiny head size (sum HEAD_DIM / 2)."""
    import sys

    from transformers import PretrainedConfig
    from transformers.models.auto.modeling_auto import MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES

    import transformers

    from transformers.models.auto.modeling_auto import MODEL_MAPPING_NAMES

    def reads_mrope(class_name: str | None) -> bool:
        model_class = getattr(transformers, class_name, None) if class_name else None
        module = sys.modules.get(getattr(model_class, "__module__", ""), None)
        return module is not None and "mrope_section" in inspect.getsource(module)

    top = reads_mrope(MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES[model_type])
    for node in [config, *[v for v in config.__dict__.values() if isinstance(v, PretrainedConfig)]]:
        rope = node.__dict__.get("rope_parameters")
        per_layer_type = isinstance(rope, dict) and any(isinstance(v, dict) for v in rope.values())
        if isinstance(rope, dict) and not per_layer_type and "mrope_section" not in rope and "vocab_size" in node.__dict__ and (
                top or reads_mrope(MODEL_MAPPING_NAMES.get(getattr(node, "model_type", "")))):
            rotary = rope.get("partial_rotary_factor") or getattr(node, "partial_rotary_factor", None) or 1.0
            rope["mrope_section"] = _scale_list([16, 24, 24], int(HEAD_DIM * rotary) // 2)


def _set_vocab(config: Any, size: int) -> None:
    """Every text (sub-)config's vocab_size := the tiny tokenizer's, at any depth (T5Gemma 2's sits
    in encoder.text_config and decoder)."""
    from transformers import PretrainedConfig

    if isinstance(config.__dict__.get("vocab_size"), int) and not _is_vision(type(config).__name__.lower()):
        config.vocab_size = size
    for value in config.__dict__.values():
        if isinstance(value, PretrainedConfig) and not _is_vision(type(value).__name__.lower()):
            _set_vocab(value, size)


RANDOM_WEIGHT_STD = 0.2
"""The std of `tiny_settings`' `random_weights` (the initializer range the builder gives text configs)."""


def _randomize(model: Any, suffixes: Any) -> None:
    """`tiny_settings`' `random_weights`: parameters transformers initializes to zeros (a trained
    model's are not) drawn at random, so a tiny model's output depends on what they carry."""
    import torch

    if not suffixes:
        return
    found = [(name, parameter) for name, parameter in model.named_parameters() if name.endswith(tuple(suffixes))]
    if not found:
        raise TinyBuildError(f"tiny_settings' random_weights {list(suffixes)} match no parameter of the model")
    with torch.no_grad():
        for _, parameter in found:
            parameter.normal_(0.0, RANDOM_WEIGHT_STD)


def _character_unigram(tokenizer_class: Any) -> Any:
    """A character-level SentencePiece (Unigram) tokenizer of `tokenizer_class`: pad 0, eos 1, unk 2,
    the word-start mark, then every printable ASCII character alone and after the mark (192 pieces)."""
    import string

    characters = string.ascii_letters + string.digits + string.punctuation
    pieces = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("\u2581", -2.0)]
    pieces += [(c, -3.0) for c in characters] + [("\u2581" + c, -2.5) for c in characters]
    return tokenizer_class(vocab=pieces)


def build_tiny_any(model_type: str, folder: str | Path) -> Path:
    """Write a tiny random model + processor of `model_type` into `folder` (see the module
    docstring). Raises TinyBuildError where it cannot be built here."""
    from deepsynth.models.vlm.families import FAMILIES

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if model_type in FAMILIES:
        from deepsynth.models.vlm.tiny import build_tiny_vlm

        return build_tiny_vlm(model_type, folder)
    import transformers
    from transformers import AutoModelForImageTextToText, PreTrainedTokenizerFast
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING
    from transformers.models.auto.processing_auto import PROCESSOR_MAPPING_NAMES

    from deepsynth.models.builtin.tiny import seeded
    from deepsynth.models.vlm.processor import load_processor
    from deepsynth.models.vlm.tiny_settings import TINY_SETTINGS

    settings = TINY_SETTINGS.get(model_type, {})
    if settings.get("not_buildable"):
        raise TinyBuildError(settings["not_buildable"])
    processor_name = settings.get("processor") or PROCESSOR_MAPPING_NAMES.get(model_type)
    if not processor_name:
        raise TinyBuildError("no processor class is mapped for this model_type")
    try:
        processor_class = getattr(transformers, processor_name)
        literals, named = _processor_tokens(processor_class)
    except ImportError as error:
        raise TinyBuildError(f"needs torchvision: {processor_name}: {str(error).strip().splitlines()[0]}") from None
    config_class = CONFIG_MAPPING[model_type]
    config = config_class(**settings.get("config", {}))
    shrink_config(config, TEXT_WIDTH)
    for dotted, value in settings.get("after_shrink", {}).items():
        node = config
        *parents, leaf = dotted.split(".")
        for part in parents:
            node = getattr(node, part)
        setattr(node, leaf, value)
    image_processor = _pil_image_processor(model_type, {**_image_size_of(config),
                                                        **settings.get("image_processor", {})})
    base = ["<|endoftext|>", "<s>", "</s>", "<pad>", "<unk>", "<|im_start|>", "<|im_end|>"]
    named.update(settings.get("named_tokens", {}))
    for name in settings.get("drop_named_tokens", ()):
        named.pop(name, None)
    codes = settings.get("code_tokens")  # {"style": a _CODE_TOKENS key, "count": the VQ codebook size}
    code_tokens = [_CODE_TOKENS[codes["style"]](code) for code in range(codes["count"])] if codes else []
    specials = list(dict.fromkeys(base + literals + list(named.values()) + settings.get("tokens", []) + code_tokens))
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=_byte_bpe(specials, vocab_size=max(384, len(specials) + 300)),
                                        bos_token="<s>", eos_token="</s>", pad_token="<pad>", unk_token="<unk>",
                                        extra_special_tokens=named)
    if settings.get("character_tokenizer"):
        tokenizer = _character_unigram(getattr(transformers, settings["character_tokenizer"]))
    tokenizer.save_pretrained(str(folder))
    image_processor.save_pretrained(str(folder))
    if settings.get("feature_extractor"):  # an audio part: its settings join the image processor's file,
        # as in the released folders (one preprocessor_config.json, both types named)
        path = folder / "preprocessor_config.json"
        merged = json.loads(path.read_text(encoding="utf-8"))
        extractor = getattr(transformers, settings["feature_extractor"])()
        for key, value in json.loads(extractor.to_json_string()).items():
            merged.setdefault(key, value)
        path.write_text(json.dumps(merged, indent=2), encoding="utf-8")
    if settings.get("video_processor"):  # named as the released folders name it (video_preprocessor_config.json)
        (folder / "video_preprocessor_config.json").write_text(json.dumps(
            {"video_processor_type": settings["video_processor"]}, indent=2))
    processor_kwargs = {**_processor_settings_from(processor_class, config), **settings.get("processor_kwargs", {})}
    (folder / "processor_config.json").write_text(json.dumps({"processor_class": processor_name, **processor_kwargs},
                                                             indent=2))
    _set_vocab(config, len(tokenizer))
    if codes:  # the model maps its codes to token ids (and finds its image token) through the vocabulary
        config.vocabulary_map = dict(tokenizer.get_vocab())
    _fit_mrope(config, model_type)
    config.save_pretrained(str(folder))  # some processors (a video part) read the model_type from it
    processor = load_processor(str(folder))
    # the chat template's image placeholder: the token the processor expands into image tokens
    image_token = getattr(processor, "image_token", None)
    image_token = getattr(image_token, "content", image_token)  # an AddedToken (BLIP-2's) or a str
    image_part = settings["chat_image"] if "chat_image" in settings else image_token or named.get(
        "image_token") or next((t for t in literals if "image" in t.lower()), "<image>")
    (folder / "chat_template.jinja").write_text(_chat_template(
        "<|im_start|>ROLE\n", "<|im_end|>\n", image_part, "<|im_start|>assistant\n",
        {"user": "user", "assistant": "assistant", "system": "system"}))
    _set_token_ids(config, processor, processor.tokenizer, named)
    _set_named_token_ids(config, processor.tokenizer, settings.get("token_ids", {}))
    # through its dict and back, as from_pretrained will: values the config class derives at init
    # (a cross-attention width from the vision config's ...) are derived from the shrunk ones
    config = type(config).from_dict(config.to_dict())
    for node in [config, getattr(config, "text_config", None)]:
        if node is not None and hasattr(node, "initializer_range"):
            node.initializer_range = 0.2
        if node is not None and isinstance(getattr(node, "init_std", None), float):
            # (the same std under BART's name: KOSMOS-2's text model initializes from it; at its
            # 0.02 the tiny tied output embeddings reach no confident logit and two pages are not
            # learnt: 5.95 -> 5.78 in the coverage bench's 30 steps)
            node.init_std = 0.2
    with seeded(TINY_VLM_SEED):
        model = AutoModelForImageTextToText.from_config(config)
        _randomize(model, settings.get("random_weights", ()))
    model.save_pretrained(str(folder))
    return folder
