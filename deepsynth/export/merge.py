"""Merging an adapter into its base decoder for serving: W' = W + (alpha / r) * B @ A, in 16 bits.

Why 16-bit and dequantize first: the LoRA update is small next to W; added into 4-bit (NF4) blocks
it is mostly rounded away (the QLoRA paper, Dettmers et al. 2023, merges into a 16-bit copy, and
PEFT warns about rounding when merging into a bnb 4-bit layer). A QLoRA adapter was trained
against the *dequantized* 4-bit weights, so for QLoRA the base is loaded quantized exactly as in
training, dequantized (`model.dequantize()`), cast to 16 bits, and only then merged.

Default dtype float16: on SmolLM2-135M the float16 cast moved probe logits by 0.11 (scale 31.5),
bfloat16 by 1.16, about a random rank-8 adapter's whole effect; float16's narrower range is guarded
by the check below (an overflow gives a non-finite gap, which refuses the merge).

Every merge is checked before it is written, on a probe text, against the unmerged model in
float32 (the reference: how training ran on CPU): the merged 16-bit model may not be further from
it than twice the gap that casting the *unmerged* model to the same 16 bits already causes (plus
0.1% of the logit scale). Merging then adds no error beyond 16-bit storage itself, while a wrong
merge (a missed layer, a wrong scaling) is off by about the adapter's whole effect, which the
report gives for comparison.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from deepsynth.errors import DeepSynthError, InputError

MERGE_DTYPES = ("bfloat16", "float16", "float32")
PROBE_TEXT = "Summarize the page. The quarterly report shows revenue grew while costs fell."
NOISE_FACTOR = 2.0
"""Allowed merged-vs-reference gap, as a multiple of the 16-bit cast's own gap."""
SCALE_SLACK = 1e-3
"""Plus this fraction of the largest |logit| (covers a float32 merge, whose cast gap is ~0)."""


@dataclass(frozen=True)
class MergeReport:
    """How a merge was made and how close it is to the unmerged model."""

    dtype: str
    """dtype of the merged weights."""
    quantization: str
    """The base's quantization during training (`none`, `nf4`, `fp4`, `int8`)."""
    dequantized: bool
    """Whether the base was dequantized before merging (QLoRA)."""
    merged_gap: float
    """Max |merged - reference| logit on the probe (reference: unmerged model in float32)."""
    cast_gap: float
    """Max |unmerged in `dtype` - reference|: what 16-bit storage costs without any merge."""
    adapter_effect: float
    """Max |reference - base without adapter|: the size of error a wrong merge would show."""
    logit_scale: float
    """Max |logit| of the reference."""
    tolerance: float
    """Allowed merged_gap: NOISE_FACTOR x cast_gap + SCALE_SLACK x logit_scale."""
    note: str = ""
    """A warning for the model card, e.g. when 16-bit rounding hides most of the adapter's effect."""


def _probe_logits(model: Any, tokenizer: Any, page: dict[str, Any] | None = None) -> Any:
    """Logits on the probe text (both sides of an encoder-decoder: LoRA sits in encoder and
    decoder), or on `page` (`_page_probe`) for a model whose forward needs an image."""
    import inspect

    import torch

    if page is not None:
        inputs = {k: v.to(model.device, model.dtype) if v.is_floating_point() else v.to(model.device)
                  for k, v in page.items()}
    else:
        inputs = {"input_ids": _probe_ids(tokenizer).to(model.device)}
        inner = model.get_base_model() if hasattr(model, "get_base_model") else model
        if "bbox" in inspect.signature(inner.forward).parameters:  # UDOP: a (here empty) box per token
            inputs["bbox"] = torch.zeros((*inputs["input_ids"].shape, 4), device=model.device)
    if model.config.is_encoder_decoder:
        inputs["decoder_input_ids"] = inputs["input_ids"][:, :64]
    with torch.inference_mode():
        return model(**inputs).logits.float()


def _probe_ids(tokenizer: Any) -> Any:
    """(1, <= 64) token ids of the probe text (a words-and-boxes tokenizer such as UDOP's refuses
    plain text: its tokens then)."""
    import torch

    try:
        return tokenizer(PROBE_TEXT, return_tensors="pt")["input_ids"][:, :64]
    except ValueError:  # "Words must of type list[str]"
        return torch.tensor([tokenizer.convert_tokens_to_ids(tokenizer.tokenize(PROBE_TEXT))[:64]])


def _page_probe(processor: Any) -> dict[str, Any]:
    """The processor's tensors for one blank page and the probe text, for a VLM whose forward needs
    the image (BLIP, IDEFICS: their language model cross-attends to it); the page is given as the
    processor takes it (one list per prompt, a flat list, or a single image)."""
    import torch
    from PIL import Image

    from deepsynth.models.vlm.prompt import VlmPrompt, prepare_pages, processor_settings

    pages = prepare_pages([Image.new("RGB", (224, 224), "white")])
    text = VlmPrompt(processor).render(1, PROBE_TEXT[:200])
    for images in ([pages], pages, pages[0]):
        try:
            encoded = processor(text=[text], images=images, return_tensors="pt", **processor_settings(processor, pages))
        except (ValueError, TypeError, IndexError, KeyError):
            continue
        return {k: v for k, v in encoded.items() if torch.is_tensor(v)}
    raise DeepSynthError(f"the {type(processor).__name__} refused a blank page for the merge check")


def _probe(model: Any, tokenizer: Any, saver: Any) -> tuple[Any, dict[str, Any] | None]:
    """(reference logits, the page probe or None): the text probe where the forward takes text
    alone, else, for a VLM (`saver` holds its folder), the page probe (`_page_probe`)."""
    try:
        return _probe_logits(model, tokenizer), None
    except (TypeError, ValueError):  # "missing pixel_values", "Exactly 1 of pixel_values ..."
        if getattr(saver, "folder", None) is None:
            raise
        from deepsynth.models.vlm.processor import load_processor

        page = _page_probe(load_processor(str(saver.folder)))
        return _probe_logits(model, tokenizer, page), page


def merge_adapter(adapter_dir: str | Path, quantization: str = "none", dtype: str = "float16",
                  device: str = "cpu", trust_remote_code: bool = False,
                  allow_download: bool = False) -> tuple[Any, Any, MergeReport]:
    """(merged model, its tokenizer or processor (saved beside it), report) for `adapter_dir`.
    `trust_remote_code` comes from the local user only (`deepsynth export --trust-remote-code`),
    never from the adapter's card, which someone else may have written; so does `allow_download`
    (`--allow-download`: a hub-id base the cache lacks may be fetched)."""
    import torch
    from peft import PeftModel

    from deepsynth.configuration import from_dict
    from deepsynth.lora import QUANTIZATIONS, LoraSettings
    from deepsynth.adapter_format.files import read_model_card
    from deepsynth.export.card_check import check_loaded_card
    from deepsynth.hub_offline import base_loading
    from deepsynth.models.config import ModelConfig

    if dtype not in MERGE_DTYPES:
        raise InputError(f"merge dtype must be one of {', '.join(MERGE_DTYPES)}, got {dtype!r}")
    if quantization not in QUANTIZATIONS:
        raise InputError(f"quantization must be one of {', '.join(QUANTIZATIONS)}, got {quantization!r}")
    card = read_model_card(adapter_dir)
    check_loaded_card(card, str(adapter_dir))  # the rules of any adapter loaded where it is
    config = from_dict(ModelConfig, {**card["model_config"], "trust_remote_code": trust_remote_code})
    lora = LoraSettings(quantization=quantization, compute_dtype="float32")
    with base_loading(config, str(adapter_dir), allow_download):  # a hub id from the local cache, unless allowed
        base, tokenizer, saver = _load_base(config, lora, device)
    if quantization != "none":
        base = base.dequantize()  # bnb blocks -> dense weights, exactly what training saw
    model = PeftModel.from_pretrained(base.float().eval(), str(adapter_dir), is_trainable=False)
    reference, page = _probe(model, tokenizer, saver)
    with model.disable_adapter():
        effect = (_probe_logits(model, tokenizer, page) - reference).abs().max().item()
    model = model.to(getattr(torch, dtype))  # one copy of the weights at a time
    cast_gap = (_probe_logits(model, tokenizer, page) - reference).abs().max().item()
    merged = model.merge_and_unload()
    gap = (_probe_logits(merged, tokenizer, page) - reference).abs().max().item()
    scale = reference.abs().max().item()
    tolerance = NOISE_FACTOR * cast_gap + SCALE_SLACK * max(scale, 1.0)
    note = ""
    if cast_gap > 0.5 * effect:
        note = (f"{dtype} rounding moves logits by {cast_gap:.3g}, comparable to the adapter's whole effect "
                f"({effect:.3g}): prefer --merge-dtype float32 or the unmerged adapter for this one")
    report = MergeReport(dtype, quantization, quantization != "none", gap, cast_gap, effect, scale, tolerance, note)
    finite = math.isfinite(gap) and math.isfinite(cast_gap)
    if not (finite and gap <= tolerance):
        hint = "" if finite else f" ({dtype} overflowed: try --merge-dtype bfloat16)"
        raise DeepSynthError(f"merge check failed: merged logits are {gap:.4g} from the unmerged model's "
                             f"(16-bit cast alone: {cast_gap:.4g}; tolerance {tolerance:.4g}){hint}; nothing written")
    if hasattr(merged.config, "quantization_config"):
        del merged.config.quantization_config
    return merged, saver, report


def _load_base(config: Any, lora: Any, device: str) -> tuple[Any, Any, Any]:
    """(base model, tokenizer for the probe, what to save beside the merged weights), as the base's
    kind loads it: a causal LM and its tokenizer, or a vision-language model and its processor files
    (probed on text alone: the adapter's LoRA sits in its language model)."""
    from deepsynth.models.kinds import detect_kind

    base = detect_kind(config.name, config.trust_remote_code).kind.load_base(config, lora, device)
    return base.model, base.tokenizer, base.files


def write_merged(adapter_dir: str | Path, out_dir: str | Path, quantization: str = "none",
                 dtype: str = "float16", trust_remote_code: bool = False, allow_download: bool = False) -> dict[str, Any]:
    """Merge and save the decoder (safetensors + config + tokenizer, or a VLM's processor) into `out_dir` (created);
    returns the report as a dict. Projections/readers are not part of it: the package root keeps
    `projection.safetensors` and `deepsynth_model.json`."""
    merged, tokenizer, report = merge_adapter(adapter_dir, quantization, dtype,
                                              trust_remote_code=trust_remote_code, allow_download=allow_download)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=False)
    merged.save_pretrained(str(out), safe_serialization=True)
    tokenizer.save_pretrained(str(out))
    pickles = sorted(p.name for p in out.iterdir() if p.suffix in (".bin", ".pt", ".pkl"))
    if pickles:  # save_pretrained must not have fallen back to pickle
        raise DeepSynthError(f"merged model written with pickle files {pickles}")
    summary = asdict(report)
    (out / "merge_report.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    return summary
