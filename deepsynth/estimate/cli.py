"""`deepsynth estimate`: what a fine-tuning configuration costs, before loading anything heavy."""

from __future__ import annotations

import argparse
import functools
import json

from deepsynth.configuration import ConfigError, default_of
from deepsynth.models.config import VISION_INTERFACES, ModelConfig
from deepsynth.render.config import MODES, RenderConfig
from deepsynth.units import GIB, readable_duration

HELP = "Estimate parameters, peak memory per term, GPU fit, time and cost of a LoRA fine-tuning run."


@functools.lru_cache(maxsize=1)
def lora_flags():
    from deepsynth.config_flags import ConfigFlags
    from deepsynth.lora import LoraSettings

    return ConfigFlags(LoraSettings, renames={"target_modules": "--targets", "quantization": "--quant",
                                              "double_quantization": "--double-quant"})


@functools.lru_cache(maxsize=1)
def workload_flags():
    from deepsynth.config_flags import ConfigFlags
    from deepsynth.estimate.workload import Workload

    return ConfigFlags(Workload, renames={"gradient_checkpointing": "--grad-checkpointing",
                                          "num_documents": "--documents"},
                       skip=("vision_images", "own_forward", "own_rows"))  # measured from a live batch, never typed


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from deepsynth.estimate.builtin import BUILTIN_MODELS
    from deepsynth.lora import preset_names

    model = parser.add_argument_group("model and adapter")
    model.add_argument("--model", default="default",
                       help=f"{'|'.join(BUILTIN_MODELS)} or a Hugging Face config.json / model directory")
    model.add_argument("--vision-interface", choices=VISION_INTERFACES, default=default_of(ModelConfig, "vision_interface"),
                       help="default model only: page text as tokens, or reader features through a projection")
    model.add_argument("--preset", choices=preset_names(), default="standard",
                       help="LoRA preset the flags below start from (default: standard)")
    model.add_argument("--train-projector", action="store_true",
                       help="native VLMs: the projector between tower and language model trains in full too")
    model.add_argument("--render-mode", choices=list(MODES), default=None,
                       help="native VLMs: the page size as DeepSynth renders it in this mode "
                            "(instead of --page-width/--page-height)")
    lora_flags().add_to(model)
    work = parser.add_argument_group("workload (--image-tokens: default the model's page size; --device: default "
                                     "this machine's, cuda when nvidia-smi lists a GPU, else cpu; --dtype: "
                                     "default bfloat16 on cuda, float32 on cpu)")
    workload_flags().add_to(work)
    cost = parser.add_argument_group("time and cost")
    cost.add_argument("--gpu", default="A100 80GB", help="GPU for the time/cost prediction")
    cost.add_argument("--utilization", type=float, default=None, help="fraction of peak FLOPs achieved (0.35)")
    cost.add_argument("--price-per-hour", type=float, default=None, help="USD per hour for --gpu")
    cost.add_argument("--local-device", default="none",
                      help="add your GPU to the fit table: NAME:GiB, 'auto' (asks torch), or none")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def build(args: argparse.Namespace):
    """(architecture, LoRA settings, workload) from parsed arguments; all problems raised together,
    each named by its flag."""
    from deepsynth.configuration import to_dict
    from deepsynth.estimate.builtin import load_architecture, workload_image_tokens
    from deepsynth.lora import preset

    from deepsynth.model_folder_check import check_model_folders

    check_model_folders({"name": args.model})  # a clear message, not a traceback from transformers
    arch = load_architecture(args.model, args.vision_interface, train_projector=args.train_projector)
    lora_values = lora_flags().typed(args)
    if lora_values.get("quantization") in ("nf4", "fp4"):
        lora_values.setdefault("double_quantization", True)  # QLoRA as the paper and the presets do it
    work_values = workload_flags().typed(args)
    if args.render_mode is not None:  # the rendered page size in that mode, unless typed
        width, height = RenderConfig(mode=args.render_mode).output_size
        work_values.setdefault("page_width", width)
        work_values.setdefault("page_height", height)
    if "image_tokens" not in work_values and not arch.native_vlm:  # a VLM's come from its processor (estimate)
        work_values["image_tokens"] = workload_image_tokens(arch)
    if "device" not in work_values:
        from deepsynth.estimate.this_machine import this_machine

        work_values["device"] = this_machine().device
    if "dtype" not in work_values:
        work_values["dtype"] = "bfloat16" if work_values.get("device", "cuda") == "cuda" else "float32"
    problems: list[tuple[str, str]] = []
    lora = workload = None
    try:
        lora = lora_flags().build(lora_values, base=to_dict(preset(args.preset)), what="estimate options")
    except ConfigError as error:
        problems += error.problems
    try:
        workload = workload_flags().build(work_values, what="estimate options")
    except ConfigError as error:
        problems += error.problems
    if problems:
        raise ConfigError(problems, "estimate options")
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
    workload = result.workload or workload  # as estimated: a VLM's image tokens filled in
    targets = result.params.match.summary
    quant = lora.quantization + (" + double quant" if lora.double_quantization else "")
    lines = [
        f"DeepSynth estimate: {result.architecture}",
        f"  LoRA r={lora.rank} alpha={lora.alpha:g} dropout={lora.dropout:g} targets={targets}, "
        f"base weights: {quant}",
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
        lines += ["", f"Speed on {speed.gpu} at {speed.utilization:.0%} utilisation (assumed) of its "
                      f"{workload.dtype} peak ({speed.peak_tflops:g} TFLOPS): "
                      f"{speed.tokens_per_second:,.0f} tokens/s, {speed.step_seconds:.3f} s/step",
                  f"  {workload.num_documents:,} documents x {workload.epochs} epoch(s) = {speed.steps:,} steps: "
                  f"{readable_duration(speed.hours * 3600)}, ${speed.cost:.4g} at ${speed.price_per_hour:g}/hour "
                  "(--price-per-hour)"]
    if result.notes:
        lines += ["", "Notes: " + "; ".join(result.notes)]
    return "\n".join(lines)
