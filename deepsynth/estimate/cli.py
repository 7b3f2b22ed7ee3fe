"""`deepsynth estimate`: what a fine-tuning configuration costs, before loading anything heavy."""

from __future__ import annotations

import argparse
import json

from deepsynth.configuration import ConfigError
from deepsynth.units import GIB, readable_duration

HELP = "Estimate parameters, peak memory per term, GPU fit, time and cost of a LoRA fine-tuning run."


def _csv(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",") if part.strip())


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from deepsynth.estimate.builtin import BUILTIN_MODELS
    from deepsynth.lora import QUANTIZATIONS, preset_names

    model = parser.add_argument_group("model and adapter")
    model.add_argument("--model", default="default",
                       help=f"{'|'.join(BUILTIN_MODELS)} or a Hugging Face config.json / model directory")
    model.add_argument("--vision-interface", choices=("ocr_text", "features"), default="ocr_text",
                       help="default model only: page text as tokens, or reader features through a projection")
    model.add_argument("--preset", choices=preset_names(), default="standard", help="LoRA preset (default: standard)")
    model.add_argument("--rank", type=int, help="override the preset's rank")
    model.add_argument("--alpha", type=float, help="override the preset's alpha")
    model.add_argument("--targets", type=_csv, help="comma-separated module names, e.g. q_proj,v_proj")
    model.add_argument("--quant", choices=QUANTIZATIONS, help="base weights: none, nf4, fp4 or int8")
    model.add_argument("--text-encoder", default="none", help="none|minilm|qwen3-embedding-8b or a config path")
    model.add_argument("--train-text-encoder", action="store_true", help="train the text encoder's weights too")
    work = parser.add_argument_group("workload")
    work.add_argument("--batch-size", type=int, default=1)
    work.add_argument("--seq-len", type=int, default=512, help="text tokens per sample")
    work.add_argument("--image-tokens", type=int, help="vision tokens per sample (default: the model's page size)")
    work.add_argument("--target-tokens", type=int, default=48, help="summary tokens the loss is computed on")
    work.add_argument("--grad-checkpointing", action="store_true")
    work.add_argument("--optimizer", choices=("adamw", "adamw8bit"), default="adamw")
    work.add_argument("--dtype", choices=("bfloat16", "float16", "float32"), default=None,
                      help="activation dtype (default: bfloat16 on cuda, float32 on cpu)")
    work.add_argument("--device", choices=("cuda", "cpu"), default="cuda")
    work.add_argument("--attention", choices=("sdpa", "eager"), default="sdpa")
    work.add_argument("--padded", action="store_true", help="batches are padded and carry an attention mask")
    cost = parser.add_argument_group("time and cost")
    cost.add_argument("--documents", type=int, default=1000, help="training documents")
    cost.add_argument("--epochs", type=int, default=1)
    cost.add_argument("--gpu", default="A100 80GB", help="GPU for the time/cost prediction")
    cost.add_argument("--utilization", type=float, default=None, help="fraction of peak FLOPs achieved (0.35)")
    cost.add_argument("--price-per-hour", type=float, default=None, help="USD per hour for --gpu")
    cost.add_argument("--local-device", default="none",
                      help="add your GPU to the fit table: NAME:GiB, 'auto' (asks torch), or none")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def build(args: argparse.Namespace):
    """(architecture, LoRA settings, workload) from parsed arguments; all problems raised together."""
    from deepsynth.estimate.builtin import load_architecture
    from deepsynth.estimate.workload import Workload
    from deepsynth.lora import preset

    arch = load_architecture(args.model, args.vision_interface)
    overrides = {"rank": args.rank, "alpha": args.alpha, "target_modules": args.targets, "quantization": args.quant}
    if args.quant in ("nf4", "fp4"):
        overrides["double_quantization"] = True
    lora = preset(args.preset, **overrides)
    image_tokens = args.image_tokens
    if image_tokens is None:
        uses_pages = arch.vision is not None and (arch.projector is not None or arch.vision.kind == "deepencoder")
        image_tokens = arch.vision.tokens_per_page if uses_pages else 0
    dtype = args.dtype or ("bfloat16" if args.device == "cuda" else "float32")
    workload = Workload(batch_size=args.batch_size, seq_len=args.seq_len, image_tokens=image_tokens,
                        target_tokens=args.target_tokens, gradient_checkpointing=args.grad_checkpointing,
                        optimizer=args.optimizer, dtype=dtype, device=args.device, attention=args.attention,
                        padded=args.padded, text_encoder=args.text_encoder,
                        train_text_encoder=args.train_text_encoder, num_documents=args.documents,
                        epochs=args.epochs)
    return arch, lora, workload


def _local_device(spec: str):
    from deepsynth.estimate.gpus import local_device

    if spec in ("", "none"):
        return None
    if spec == "auto":  # the CLI may look at the hardware; the estimator itself never does
        import torch

        if not torch.cuda.is_available():
            return None
        props = torch.cuda.get_device_properties(0)
        return local_device(props.name, props.total_memory)
    name, _, gib = spec.rpartition(":")
    try:
        return local_device(name or "device", int(float(gib) * GIB))
    except ValueError:
        raise ConfigError([("--local-device", f"expected NAME:GiB, 'auto' or none, got {spec!r}")]) from None


def run(args: argparse.Namespace) -> int:
    from deepsynth.estimate.estimator import estimate
    from deepsynth.estimate.throughput import DEFAULT_UTILIZATION

    arch, lora, workload = build(args)
    try:
        result = estimate(arch, lora, workload, gpu=args.gpu, local_device=_local_device(args.local_device),
                          utilization=args.utilization or DEFAULT_UTILIZATION, price_per_hour=args.price_per_hour)
    except KeyError:
        from deepsynth.estimate.gpus import GPUS

        raise ConfigError([("--gpu", f"unknown GPU {args.gpu!r}; one of {', '.join(g.name for g in GPUS)}")]) from None
    if args.json:
        print(json.dumps(result.to_json(), indent=2))
    else:
        print(render_table(result, lora, workload))
    return 0


def _gib(value: int) -> str:
    return f"{value / GIB:8.2f} GiB"


def render_table(result, lora, workload) -> str:
    targets = ",".join(result.params.match.target_modules + result.params.match.target_parameters)
    quant = lora.quantization + (" + double quant" if lora.double_quantization else "")
    lines = [
        f"DeepSynth estimate: {result.architecture}",
        f"  LoRA r={lora.rank} alpha={lora.alpha:g} dropout={lora.dropout:g} targets={targets} "
        f"({len(result.params.match.adapted)} modules), base weights: {quant}",
        f"  workload: batch {workload.batch_size} x ({workload.seq_len} text + {workload.image_tokens} image) tokens, "
        f"loss on {workload.target_tokens}, {workload.dtype} on {workload.device}, {workload.optimizer}"
        f"{', gradient checkpointing' if workload.gradient_checkpointing else ''}",
        "",
        f"Parameters: total {result.total_params:,}   trainable {result.trainable_params:,} "
        f"({100 * result.trainable_params / max(result.total_params, 1):.3f}%)",
        "",
        "Peak memory per term:",
    ]
    for name in result.memory.TERMS:
        term = getattr(result.memory, name)
        lines.append(f"  {name:<13}{_gib(term.bytes)}   {term.formula}")
    lines.append(f"  {'total':<13}{_gib(result.memory.total)}")
    lines += ["", "Fits on:"]
    lines += [f"  {'yes' if fits else 'no ':<4} {name}" for name, fits in result.gpu_fit.items()]
    speed = result.throughput
    if speed is not None:
        lines += ["", f"Speed on {speed.gpu} at {speed.utilization:.0%} utilisation (assumed): "
                      f"{speed.tokens_per_second:,.0f} tokens/s, {speed.step_seconds:.3f} s/step",
                  f"  {workload.num_documents:,} documents x {workload.epochs} epoch(s) = {speed.steps:,} steps: "
                  f"{readable_duration(speed.hours * 3600)}, ${speed.cost:.4g} at the editable hourly price"]
    if result.notes:
        lines += ["", "Notes: " + "; ".join(result.notes)]
    return "\n".join(lines)
