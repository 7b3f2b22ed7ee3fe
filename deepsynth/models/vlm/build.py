"""Loading a vision-language model folder for fine-tuning: weights, processor, what trains.

- `AutoModelForImageTextToText` + the folder's processor (the family's own classes; `vlm.processor`
  leaves out a video part whose backend is missing). Decoder-only VLMs become `VlmDocumentModel`s,
  encoder-decoder ones (Florence-2) `VlmSeq2SeqModel`s; the "language model" is what `get_decoder()`
  returns (Florence-2: the whole BART encoder-decoder, so LoRA reaches encoder and decoder).
- bf16 on CUDA, fp32 on CPU. QLoRA (nf4/fp4/int8) quantizes the language model only: the vision
  tower, the projector and the LM head stay in 16 bits (`llm_int8_skip_modules`).
- Frozen: everything but LoRA. LoRA goes on the language model's linear layers, chosen by module
  path (a suffix such as `q_proj` also names attention inside some vision towers): the family's
  default suffixes (`builtin.decoder.default_targets` on the text config), restricted to modules under
  the language model, as a regex. `lora.target_modules`, when given, means what the user typed
  (`vlm.targets`): a plain name reaches the language model only; the tower or the projector get LoRA
  only where named by module path. Either way PEFT gets (and `adapter_config.json` keeps) one regex
  that matches exactly the chosen modules.
- `train_projector`: the projector (multi-modal projector / connector / merger) trains in full,
  through PEFT's `modules_to_save` (saved in the adapter file, the PEFT way). Where the projector
  and the tower sit: the family table (`vlm.families`) for the families it lists, else a search by
  module name (`projector_and_tower`).
- An encoder that reads the page itself (Pix2Struct, UDOP: `vlm.image_encoder`); a processor that
  would run its own OCR on the page (`apply_ocr`) gets the words and boxes of DeepSynth's reader
  (`vlm.page_words`).
- Gradient checkpointing on CUDA only (it trades ~30% time for memory; CPU memory is ample).
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

from deepsynth.errors import DeepSynthError
from deepsynth.lora import LoraSettings
from deepsynth.models.config import ModelConfig

log = logging.getLogger(__name__)

PROJECTOR_NAMES = ("multi_modal_projector", "connector", "merger", "mm_projector", "aligner", "projector")
"""Module names transformers' VLMs give the map from vision features to the language model."""
QUERY_VALUE_NAMES = (("q_proj", "v_proj"), ("query", "value"), ("q", "v"), ("q_proj", "kv_b_proj"),
                     ("q_b_proj", "kv_b_proj"))
"""The attention query and value maps' leaf names, as language models in transformers spell them
(Llama-style, BERT/Pix2Struct-style, T5-style; multi-head latent attention, DeepSeek-V2/V3 style:
the query's (up-)projection and the key-value up-projection, DeepSynth's choice for deepseek_v2)."""
FUSED_ATTENTION_NAMES = ("query_key_value", "qkv_proj", "qkv", "Wqkv", "W_pack", "c_attn")
"""One linear layer that computes query, key and value together, as language models in transformers
spell it (Persimmon/Falcon/GPT-NeoX, Phi-3, ViT-style, MPT, Baichuan, GPT-2): the LoRA target where
a language model has no separate query and value maps."""
TOWER_NAMES = ("vision_tower", "visual", "vision_model", "vision_encoder", "image_encoder", "vqmodel")


def language_model_path(model: Any) -> str:
    """Dotted path of the language model (the text decoder) inside a VLM."""
    decoder = model.get_decoder()
    for name, module in model.named_modules():
        if module is decoder:
            return name
    raise DeepSynthError(f"cannot find the language model inside {type(model).__name__}")


def submodule_path(model: Any, names: tuple[str, ...], outside: str) -> str | None:
    """The shortest module path whose last part is one of `names`, not under `outside`."""
    found = [name for name, _ in model.named_modules()
             if name.rsplit(".", 1)[-1] in names and not name.startswith(outside + ".") and name != outside]
    return min(found, key=len) if found else None


def projector_and_tower(model: Any, lm_path: str) -> tuple[str | None, str | None]:
    """Module paths of the projector and the vision tower: the family table's (`families`) for a
    family it lists, else the shortest module named like one (`PROJECTOR_NAMES`, `TOWER_NAMES`)
    outside the language model. A table path the model lacks is an error, not a guess."""
    from deepsynth.models.vlm.families import family_facts

    facts = family_facts(str(getattr(model.config, "model_type", "")))
    if facts is None:
        return submodule_path(model, PROJECTOR_NAMES, lm_path), submodule_path(model, TOWER_NAMES, lm_path)
    names = {name for name, _ in model.named_modules()}
    missing = [path for path in (facts.projector, facts.tower) if path not in names]
    if missing:
        raise DeepSynthError(f"{type(model).__name__} has no module {', '.join(missing)}, where the family table "
                             f"(deepsynth/models/vlm/families.py) says {facts.display_name} keeps it")
    return facts.projector, facts.tower


def lm_linear_leaves(model: Any, lm_path: str) -> list[str]:
    from deepsynth.models.builtin.decoder import _linear_dims
    from deepsynth.models.vlm.own_forward import towers_inside

    inside = towers_inside(model, lm_path)
    return sorted({name.rsplit(".", 1)[-1] for name, module in model.named_modules()
                   if name.startswith(lm_path + ".") and _linear_dims(module) is not None
                   and not any(name.startswith(tower + ".") for tower in inside)})


def lora_targets(model: Any, lora: LoraSettings, lm_path: str) -> str:
    """PEFT `target_modules` as one regex over full module names: the user's targets as they mean
    them (`vlm.targets`: a plain name reaches the language model only, a module path reaches where
    it points), else the family's default leaf names under the language model."""
    from deepsynth.configuration import Problems
    from deepsynth.models.builtin.decoder import _linear_dims
    from deepsynth.models.vlm.targets import default_pattern, resolve_targets

    if lora.target_modules:
        modules = list(model.named_modules())
        linear = [name for name, module in modules if name and _linear_dims(module) is not None]
        resolved = resolve_targets(lora.target_modules, linear, [name for name, _ in modules if name], lm_path)
        problems = Problems("LoRA settings")
        if resolved.unmatched:
            problems.add("target_modules", f"no linear layer matches {', '.join(resolved.unmatched)}; the language "
                         f"model's linear layers are {', '.join(lm_linear_leaves(model, lm_path))} (a plain name "
                         f"reaches the language model ({lm_path}) only; name a module path to reach the vision "
                         "tower or the projector)")
        problems.raise_if_any()
        from deepsynth.models.vlm.own_forward import towers_inside, without_towers

        inside = towers_inside(model, lm_path)
        if inside and not any("." in target for target in lora.target_modules):
            return without_towers(model, resolved.pattern, inside)  # plain names: the language model only
        if resolved.outside_language_model:
            shown = ", ".join(resolved.outside_language_model[:3])
            log.info("LoRA on %d layer(s) outside the language model, as named: %s%s",
                     len(resolved.outside_language_model), shown,
                     " ..." if len(resolved.outside_language_model) > 3 else "")
        return resolved.pattern

    from peft.utils.constants import TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING as PEFT_TABLE

    from deepsynth.models.builtin.decoder import FAMILY_TARGETS

    text_type = getattr(model.config.get_text_config(), "model_type", "")
    leaves = tuple(FAMILY_TARGETS.get(text_type) or PEFT_TABLE.get(text_type) or ())
    available = set(lm_linear_leaves(model, lm_path))
    # The family's choice where it has one, else the attention query/value maps (the LoRA paper's
    # choice, Hu et al. 2021, and the table's for llama/qwen2) under the names language models give
    # them, else the fused query-key-value map (PEFT's table's choice for GPT-NeoX, Falcon, Persimmon),
    # else every *_proj layer.
    leaves = tuple(leaf for leaf in leaves if leaf in available)
    pairs = [tuple(leaf for leaf in pair if leaf in available) for pair in QUERY_VALUE_NAMES]
    leaves = leaves or next((pair for pair in pairs if len(pair) == 2), None) or next((p for p in pairs if p), ())
    leaves = leaves or tuple(leaf for leaf in FUSED_ATTENTION_NAMES if leaf in available)[:1]
    leaves = leaves or tuple(leaf for leaf in sorted(available) if leaf.endswith("proj"))
    if not leaves:
        raise DeepSynthError(f"cannot choose LoRA targets in {lm_path}: set target_modules to some of "
                             f"{', '.join(sorted(available))}")
    from deepsynth.models.vlm.own_forward import towers_inside, without_towers

    inside = towers_inside(model, lm_path)
    return without_towers(model, default_pattern(lm_path, leaves), inside) if inside else default_pattern(lm_path, leaves)


def only_these(targets: str) -> str:
    """PEFT `exclude_modules`: every module name `targets` does not fullmatch. PEFT rewrites a regex
    `target_modules` of a model whose MoE experts transformers v5 fused (Qwen3-Omni's thinker) into
    the leaf names it matched, which as suffixes reach the same leaf names in the audio tower too;
    this keeps LoRA on exactly the modules `targets` names (and is saved with it, for plain PEFT)."""
    return rf"(?!(?:{targets})\Z).*"


def peft_settings(lora: LoraSettings, targets: str, trained_projector: str | None) -> dict[str, Any]:
    """`LoraConfig` keyword arguments for LoRA on exactly the modules `targets` matches, and the
    projector at `trained_projector` (when it trains in full) through `modules_to_save`."""
    settings = {**lora.to_peft_kwargs(), "target_modules": targets, "exclude_modules": only_these(targets)}
    if trained_projector:
        settings["modules_to_save"] = [trained_projector.rsplit(".", 1)[-1]]
    return settings


def _check_rank(model: Any, targets: str, rank: int) -> None:
    from deepsynth.configuration import Problems
    from deepsynth.models.builtin.decoder import _linear_dims

    dims = []
    for name, module in model.named_modules():
        size = _linear_dims(module)
        if size is None:
            continue
        if re.fullmatch(targets, name) is not None:
            dims.extend(size)
    problems = Problems("LoRA settings")
    if dims and rank > min(dims):
        problems.add("rank", f"rank {rank} exceeds the smallest targeted dimension ({min(dims)})")
    problems.raise_if_any()


def load_vlm(path: Path, lora: LoraSettings, device: str) -> tuple[Any, Any]:
    """(model, processor) from a VLM folder, the language model quantized for QLoRA."""
    import torch
    from transformers import AutoConfig, AutoModelForImageTextToText

    from deepsynth.models.builtin.decoder import _weights_dtype, quantization_config
    from deepsynth.models.vlm.processor import load_processor

    kwargs: dict[str, Any] = {"dtype": _weights_dtype(device), "trust_remote_code": False}
    quant = quantization_config(lora)
    try:
        config = AutoConfig.from_pretrained(str(path), trust_remote_code=False)
        if quant is not None:
            with torch.device("meta"):
                skeleton = AutoModelForImageTextToText.from_config(config)
            lm_path = language_model_path(skeleton)
            prefix = skeleton.base_model_prefix
            keep = [name for name, _ in skeleton.named_children() if name != prefix]
            keep += [f"{prefix}.{name}" for name, _ in getattr(skeleton, prefix).named_children()
                     if f"{prefix}.{name}" != lm_path]
            # bitsandbytes skips these (and everything under them): tower, projector, LM head.
            quant.llm_int8_skip_modules = sorted(set(keep))
            kwargs.update(quantization_config=quant, device_map=str(device))
        model = AutoModelForImageTextToText.from_pretrained(str(path), **kwargs)
        processor = load_processor(str(path))
    except ImportError as error:
        raise DeepSynthError(f"cannot load the processor or model of {path}: {error}".strip()) from None
    except OSError as error:
        raise DeepSynthError(f"cannot load model {path}: {error}") from error
    if quant is None:
        model = model.to(device)
    tokenizer = processor.tokenizer
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model, processor


def meta_skeleton(folder: str):
    """The image-text-to-text model of `folder` built from its config.json on the meta device
    (every module and shape, no weights read)."""
    import torch
    from transformers import AutoConfig, AutoModelForImageTextToText

    config = AutoConfig.from_pretrained(folder, trust_remote_code=False)
    with torch.device("meta"):
        return AutoModelForImageTextToText.from_config(config)


def build_vlm(config: ModelConfig, lora: LoraSettings, device: str = "cpu"):
    """A `VlmDocumentModel` with a fresh LoRA adapter `default` on the language model."""
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training

    from deepsynth.models.kinds import IMAGE_TEXT_TO_TEXT
    from deepsynth.models.vlm.model import VlmDocumentModel
    from deepsynth.models.vlm.seq2seq import VlmSeq2SeqModel
    from deepsynth.models.vlm.families import family_facts
    from deepsynth.models.vlm.image_encoder import ImageEncoderReader, VlmImageEncoderModel, reads_pages_in_encoder
    from deepsynth.models.vlm.own_forward import tower_modules
    from deepsynth.models.vlm.reader import VlmPageReader, accepts_precomputed

    if config.text_encoder != "none":
        raise DeepSynthError("a vision-language model reads the instruction itself: set text_encoder=none")
    from deepsynth.hub_models import commit_of, model_files

    path = model_files(config.name)  # a local folder, or a hub id's snapshot in the HF cache
    model, processor = load_vlm(path, lora, device)
    lm_path = language_model_path(model)
    targets = lora_targets(model, lora, lm_path)
    _check_rank(model, targets, lora.rank)
    projector, tower_path = projector_and_tower(model, lm_path)
    if config.train_projector and projector is None:
        raise DeepSynthError(f"train_projector: no projector ({', '.join(PROJECTOR_NAMES)}) in {path}")
    model.requires_grad_(False)
    cuda = str(device).startswith("cuda")
    if lora.is_quantized:
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=cuda)
    elif cuda:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    trained_projector = projector if config.train_projector else None
    peft_model = get_peft_model(model, LoraConfig(**peft_settings(lora, targets, trained_projector)))
    base = peft_model.get_base_model()
    # The fast path (cached get_image_features output as mm_encoder_outputs) where the model has it;
    # else the model's own forward (`vlm.own_forward`), caching the tower modules' outputs.
    # Encoder-decoder VLMs: `vlm.seq2seq`, or `vlm.image_encoder` when the encoder reads the page (Pix2Struct).
    encoder_reads_pages = reads_pages_in_encoder(base)
    decoder_only = not base.config.is_encoder_decoder
    fast = (accepts_precomputed(base) and (not decoder_only or hasattr(base, "get_image_features"))) or encoder_reads_pages
    own_forward = decoder_only and not fast
    towers = tower_modules(base, lm_path) if decoder_only else []
    # Cached features are the tower (+ projector's) output: valid only while nothing there trains.
    outside = sorted({name.split(".lora_")[0] for name, p in peft_model.named_parameters()
                      if p.requires_grad and f".{lm_path}." not in name})
    cache_features = not outside and (fast or (own_forward and bool(towers)))
    if not cache_features:
        reason = (f"{', '.join(outside[:3])}{' ...' if len(outside) > 3 else ''} outside the language model "
                  "train" if outside else f"{type(base).__name__}'s forward does not take precomputed image "
                  "features" if not own_forward else f"no vision tower module found in {type(base).__name__}")
        log.warning("vision features are not cached (%s): the vision tower runs at every step", reason)
    if encoder_reads_pages:
        from deepsynth.models.vlm.page_words import default_word_reader, runs_own_ocr

        # A processor that would run its own OCR (UDOP's Tesseract) is given DeepSynth's words instead.
        word_reader = default_word_reader(config) if runs_own_ocr(processor) else None
        reader = ImageEncoderReader(base, processor, path, cache_features, word_reader)
    else:
        reader = VlmPageReader(base, processor, path, cache_features, own_forward=own_forward, lm_path=lm_path,
                               towers=towers)
    tower = base.get_submodule(tower_path) if tower_path else None
    identity = {"name": config.name, "decoder": str(path), "path": str(path), "kind": IMAGE_TEXT_TO_TEXT.name,
                "model_type": model.config.model_type, "language_model": lm_path,
                "projector": projector, "vision_tower": tower_path}
    if commit_of(path):
        identity["revision"] = commit_of(path)
    if encoder_reads_pages:
        return VlmImageEncoderModel(config, peft_model, processor, reader, identity, tower)
    if base.config.is_encoder_decoder:
        return VlmSeq2SeqModel(config, peft_model, processor, reader, identity, tower)
    document = VlmDocumentModel(config, peft_model, processor, reader, identity, tower)
    if fast and family_facts(model.config.model_type) is None and not document.fast_path_agrees():
        # A family outside the table takes the fast path only where it gives the own forward's loss.
        reader.use_own_forward(not outside and bool(towers))
        log.info("%s: the fast path does not give the model's own forward's loss: own forward used",
                 model.config.model_type)
    return document
