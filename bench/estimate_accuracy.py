"""How close `deepsynth.estimate` gets to measured peak training memory, next to the alternatives.

Each configuration runs one DeepSynth-style training step (embeddings [+ projected page features
in front], decoder, hidden states at the target positions only, LM head on those, cross-entropy,
backward, AdamW step) in a FRESH subprocess (argv list, no shell), so no allocator state carries over.

Measuring, CPU (the method, and why): RSS is not trustworthy here (glibc keeps and reuses freed
memory: 38-90% off in docs/MEASURING.md), so the step runs under
`torch.profiler.profile(profile_memory=True)`. Every CPU allocation and free inside the step is an
event; the running sum of their sizes peaks at the step's transient high-water mark above what was
already allocated. Added to it: the resident tensors before the step (every live tensor storage
found through `gc`: parameters, buffers, bitsandbytes quantization constants, AdamW state, the
batch). One warm-up step runs first so the AdamW state exists, as in every later step. `--validate`
checks the method: (1) known allocations under the profiler must come out exact; (2) the first
configuration is re-measured from the kernel's peak RSS with `MALLOC_MMAP_THRESHOLD_=65536` (large
blocks return to the OS on free, so RSS tracks tensors) after resetting VmHWM through
/proc/self/clear_refs; the two methods must agree within a few percent.
CUDA (`--device cuda`): bf16 model, `torch.cuda.reset_peak_memory_stats()` after the warm-up step,
then `torch.cuda.max_memory_allocated()` over the measured step (resident tensors included; the
CUDA context is not, so the estimate's `overhead` term is left out of the comparison).

Compared on the same configurations: ours (`estimate(...).memory.total` minus the CUDA-context
overhead), the original DeepSynth table (16 GB base, x0.25 for 4-bit, x0.5 for 8-bit, +0.5 GB per
batch item; trainable parameters bucketed 2/4/8/16M by rank) and the "4x weights" rule
(accelerate `estimate-memory`, training with Adam: 4 x the weights at their load precision).

Native vision-language models (`--set vlm`): the tiny model of each family that the tests train
(Qwen2-VL, Qwen2.5-VL, SmolVLM, Idefics3, DeepSeek-OCR-2, Florence-2: `build_tiny_vlm`, config, weights,
processor and tokenizer) trained by DeepSynth's own code, not a step rewritten here: the model built as
`deepsynth train` builds it, one blank rendered page (1024 x 1448) per document through its reader, the
batch from its collate and the step from `TrainingLoop.train_step` (cached tower features, the tower
live in every step, or the projector trained), measured the same way. Ours reads the folder and the
page size, and the batch's text and summary token counts.

    python bench/estimate_accuracy.py [--set all|text|vlm] [--only NAME ...] [--threads 2] [--validate]
                                      [--device cuda]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GIB = 2**30
TINY_LLAMA = {"model_type": "llama", "vocab_size": 8000, "hidden_size": 256, "intermediate_size": 688,
              "num_hidden_layers": 4, "num_attention_heads": 8, "num_key_value_heads": 4}
TINY_GPT2 = {"model_type": "gpt2", "vocab_size": 8000, "n_embd": 256, "n_layer": 4, "n_head": 8, "n_positions": 512}
TINY_MOE = {"model_type": "qwen2_moe", "vocab_size": 8000, "hidden_size": 256, "intermediate_size": 688,
            "moe_intermediate_size": 128, "shared_expert_intermediate_size": 512, "num_hidden_layers": 3,
            "num_attention_heads": 8, "num_key_value_heads": 4, "num_experts": 8, "num_experts_per_tok": 2}
# SmolLM2-135M-Instruct (the embedded default's decoder) from its GGUF metadata; random weights
# occupy exactly the memory trained ones do
SMOLLM2 = {"model_type": "llama", "vocab_size": 49152, "hidden_size": 576, "intermediate_size": 1536,
           "num_hidden_layers": 30, "num_attention_heads": 9, "num_key_value_heads": 3, "tie_word_embeddings": True}
ALL = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def _config(name, model, batch, text, targets, rank, modules, dropout=0.05, **extra):
    return {"name": name, "config": model, "batch": batch, "text": text, "targets": targets, "rank": rank,
            "modules": modules, "dropout": dropout, "image": extra.pop("image", 0), "feature_dim": 256,
            "gc": extra.pop("gc", False), "attention": extra.pop("attention", "sdpa"),
            "padded": extra.pop("padded", False), "quantization": extra.pop("quantization", "none")}


CONFIGS = [
    _config("llama-tiny q,v r8", TINY_LLAMA, 4, 256, 32, 8, ["q_proj", "v_proj"]),
    _config("llama-tiny all r4 b8", TINY_LLAMA, 8, 128, 64, 4, ALL, dropout=0.0),
    _config("llama-tiny eager r64", TINY_LLAMA, 2, 384, 16, 64, ["q_proj", "k_proj", "v_proj", "o_proj"],
            dropout=0.1, attention="eager"),
    _config("llama-tiny grad-ckpt", TINY_LLAMA, 8, 256, 32, 16, ["q_proj", "v_proj"], gc=True),
    _config("llama-tiny +160 image", TINY_LLAMA, 4, 96, 32, 16, ["q_proj", "v_proj"], image=160),
    _config("llama-tiny padded", TINY_LLAMA, 4, 200, 24, 8, ["q_proj", "k_proj", "v_proj", "o_proj"], padded=True),
    _config("gpt2-tiny c_attn", TINY_GPT2, 4, 256, 32, 8, ["c_attn"]),
    _config("qwen2-moe-tiny q,v", TINY_MOE, 4, 128, 32, 8, ["q_proj", "v_proj"]),
    _config("llama-tiny nf4", TINY_LLAMA, 4, 128, 32, 16, ["q_proj", "v_proj"], quantization="nf4"),
    _config("llama-tiny int8", TINY_LLAMA, 4, 128, 32, 16, ["q_proj", "v_proj"], quantization="int8"),
    _config("smollm2 standard", SMOLLM2, 2, 256, 48, 16, ["q_proj", "v_proj"]),
    _config("smollm2 all r8 ckpt", SMOLLM2, 4, 192, 48, 8, ALL, gc=True),
    _config("smollm2 +192 image", SMOLLM2, 2, 96, 48, 16, ["q_proj", "v_proj"], image=192),
]

# ---- native vision-language models: DeepSynth's own tiny folders and training step ----------------
# A tiny random model of each family with its own processor and tokenizer (`build_tiny_vlm`, the
# folders the tests train), trained by DeepSynth's own code: `build_document_model`, the reader on a
# blank page (DeepSynth's default 1024 x 1448), the model's collate, `TrainingLoop.train_step`.
# "cached": the worker's default (tower features read once, cached); "live": the tower runs in every
# step, as when the features cannot be cached; "+projector": the projector trains (live tower).
def _vlm(name, family, batch, cached, rank=8, dropout=0.05, train_projector=False):
    return {"name": name, "vlm": family, "batch": batch, "rank": rank, "dropout": dropout, "cached": cached,
            "train_projector": train_projector, "page": [1024, 1448], "quantization": "none"}


VLM_CONFIGS = [
    _vlm("qwen2-vl live", "qwen2_vl", 2, False),
    _vlm("qwen2-vl cached", "qwen2_vl", 2, True),
    _vlm("qwen2-vl +projector", "qwen2_vl", 2, False, train_projector=True),
    _vlm("qwen2.5-vl live", "qwen2_5_vl", 2, False),
    _vlm("qwen2.5-vl cached", "qwen2_5_vl", 2, True),
    _vlm("smolvlm live", "smolvlm", 2, False),
    _vlm("smolvlm cached", "smolvlm", 2, True),
    _vlm("smolvlm +projector", "smolvlm", 2, False, train_projector=True),
    _vlm("idefics3 live", "idefics3", 2, False),
    _vlm("idefics3 cached", "idefics3", 2, True),
    _vlm("deepseek-ocr-2 live", "deepseek_ocr2", 1, False),
    _vlm("deepseek-ocr-2 cached", "deepseek_ocr2", 1, True),
    _vlm("florence-2 live", "florence2", 2, False),
    _vlm("florence-2 cached", "florence2", 2, True),
]
SUMMARY = ("The committee approved the budget after a long debate about schools, roads and the new library; "
           "quarterly revenue rose nine percent while costs fell.")

# ---- the estimate side (no torch) ----------------------------------------------------------------
def ours(spec: dict, device: str, measured: dict) -> int:
    if "vlm" in spec:
        return ours_vlm(spec, device, measured)
    sys.path.insert(0, str(ROOT))
    from deepsynth.estimate import Architecture, Projector, Workload, estimate
    from deepsynth.estimate.architecture import shape_from_config
    from deepsynth.lora import LoraSettings

    shape = shape_from_config(spec["config"])
    projector = Projector(spec["feature_dim"], shape.hidden_size) if spec["image"] else None
    arch = Architecture(spec["name"], shape, projector=projector)
    quant = spec["quantization"]
    lora = LoraSettings(rank=spec["rank"], alpha=2 * spec["rank"], dropout=spec["dropout"],
                        target_modules=tuple(spec["modules"]), quantization=quant,
                        double_quantization=quant in ("nf4", "fp4"),
                        compute_dtype="float32" if device == "cpu" else "bfloat16")
    workload = Workload(batch_size=spec["batch"], seq_len=spec["text"], image_tokens=spec["image"],
                        target_tokens=spec["targets"], gradient_checkpointing=spec["gc"],
                        dtype="float32" if device == "cpu" else "bfloat16", device=device,
                        attention=spec["attention"], padded=spec["padded"])
    result = estimate(arch, lora, workload)
    return result.memory.total - result.memory.overhead.bytes, result.params


def ours_vlm(spec: dict, device: str, measured: dict):
    """The estimate from the model folder and the page size, for the batch the worker's step ran
    (its text and summary token counts, which the tokenizer and chat template decide)."""
    sys.path.insert(0, str(ROOT))
    from deepsynth.estimate import Workload, estimate, load_architecture
    from deepsynth.lora import LoraSettings

    arch = load_architecture(spec["folder"], train_projector=spec["train_projector"])
    lora = LoraSettings(rank=spec["rank"], alpha=2 * spec["rank"], dropout=spec["dropout"])
    workload = Workload(batch_size=spec["batch"], seq_len=measured["text_tokens"],
                        target_tokens=measured["target_tokens"], dtype="float32" if device == "cpu" else "bfloat16",
                        device=device, page_width=spec["page"][0], page_height=spec["page"][1],
                        vision_cached=spec["cached"])
    result = estimate(arch, lora, workload)
    return result.memory.total - result.memory.overhead.bytes, result.params


def write_vlm_folder(spec: dict, root: Path) -> str:
    """The family's tiny folder as the tests build it: config, weights, processor, tokenizer."""
    sys.path.insert(0, str(ROOT))
    from deepsynth.models.vlm.tiny import build_tiny_vlm

    return str(build_tiny_vlm(spec["vlm"], root / spec["vlm"]))


def original_table(spec: dict) -> tuple[int, int]:
    """The original tool: memory from constants, trainable parameters from the rank bucket."""
    factor = {"none": 1.0, "nf4": 0.25, "fp4": 0.25, "int8": 0.5}[spec["quantization"]]
    memory = (16 * factor + 0.5 * spec["batch"]) * GIB
    bucket = 2e6 if spec["rank"] <= 8 else 4e6 if spec["rank"] <= 16 else 8e6 if spec["rank"] <= 32 else 16e6
    return int(memory), int(bucket)


def four_x_rule(total_params: int, spec: dict, device: str) -> int:
    per_param = {"none": 4 if device == "cpu" else 2, "nf4": 0.5, "fp4": 0.5, "int8": 1}[spec["quantization"]]
    return int(4 * total_params * per_param)


# ---- the measuring side (a fresh process per configuration) ------------------------------------
def live_tensor_bytes() -> int:
    import gc

    import torch

    seen, total = set(), 0
    for obj in gc.get_objects():
        try:
            if not torch.is_tensor(obj) or obj.device.type != "cpu":
                continue
            storage = obj.untyped_storage()
        except Exception:  # objects half torn down by gc
            continue
        key = storage.data_ptr()
        if key and key not in seen:
            seen.add(key)
            total += storage.nbytes()
    return total


def profiled_peak(run) -> int:
    import torch
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        run()
    events = sorted((e for e in prof.profiler.kineto_results.events()
                     if e.name() == "[memory]" and e.device_type() == torch.autograd.DeviceType.CPU),
                    key=lambda e: e.start_ns())
    running = peak = 0
    for event in events:
        running += event.nbytes()
        peak = max(peak, running)
    return peak


def build_model(spec: dict, device: str, workdir: str):
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    values = dict(spec["config"])
    family = values.pop("model_type")
    config = AutoConfig.for_model(family, **values)
    torch.manual_seed(0)
    dtype = torch.float32 if device == "cpu" else torch.bfloat16
    quant = spec["quantization"]
    if quant == "none":
        model = AutoModelForCausalLM.from_config(config, attn_implementation=spec["attention"], dtype=dtype)
        model.to(device)
        if spec["gc"]:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
            model.enable_input_require_grads()
        return model
    from peft import prepare_model_for_kbit_training
    from transformers import BitsAndBytesConfig

    AutoModelForCausalLM.from_config(config, dtype=dtype).save_pretrained(workdir)
    if quant == "int8":
        quantization = BitsAndBytesConfig(load_in_8bit=True)
    else:
        quantization = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type=quant, bnb_4bit_use_double_quant=True,
                                          bnb_4bit_compute_dtype=dtype)
    model = AutoModelForCausalLM.from_pretrained(workdir, quantization_config=quantization, dtype=dtype,
                                                 device_map=device, attn_implementation=spec["attention"],
                                                 trust_remote_code=False)
    return prepare_model_for_kbit_training(model, use_gradient_checkpointing=spec["gc"],
                                           gradient_checkpointing_kwargs={"use_reentrant": False})


def measure(spec: dict, device: str, threads: int) -> dict:
    import torch
    import torch.nn.functional as F
    from peft import LoraConfig, get_peft_model

    torch.set_num_threads(threads)
    with tempfile.TemporaryDirectory() as workdir:
        model = build_model(spec, device, workdir)
    model.config.use_cache = False
    model = get_peft_model(model, LoraConfig(r=spec["rank"], lora_alpha=2 * spec["rank"], lora_dropout=spec["dropout"],
                                             target_modules=spec["modules"]))
    model.train()
    base = model.get_base_model()
    backbone, head, embed = base.get_decoder(), base.get_output_embeddings(), base.get_input_embeddings()
    hidden = embed.weight.shape[1]
    trainable = [p for p in model.parameters() if p.requires_grad]
    projector = None
    if spec["image"]:
        projector = torch.nn.Linear(spec["feature_dim"], hidden).to(device)
        trainable += list(projector.parameters())
    optimizer = torch.optim.AdamW(trainable, lr=1e-4)
    b, text, image, targets = spec["batch"], spec["text"], spec["image"], spec["targets"]
    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(0, embed.weight.shape[0], (b, text), generator=generator).to(device)
    labels = torch.randint(0, embed.weight.shape[0], (b * targets,), generator=generator).to(device)
    features = torch.randn(b, image, spec["feature_dim"], generator=generator).to(device) if image else None
    seq = text + image
    selected = torch.zeros(b, seq - 1, dtype=torch.bool, device=device)
    selected[:, -targets:] = True  # hidden state t predicts token t + 1: the summary sits at the end
    mask = None
    if spec["padded"]:  # left padding, as DeepSynth collates
        mask = torch.ones(b, seq, dtype=torch.long, device=device)
        mask[0, : seq // 4] = 0

    def forward() -> torch.Tensor:  # as DocumentModel.forward: the logits die when it returns
        embeds = embed(ids)
        if projector is not None:
            embeds = torch.cat([projector(features).to(embeds.dtype), embeds], dim=1)
        states = backbone(inputs_embeds=embeds, attention_mask=mask, use_cache=False).last_hidden_state
        logits = head(states[:, :-1][selected])
        return F.cross_entropy(logits.float(), labels)

    def step() -> None:
        forward().backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    step()  # warm-up: the AdamW state now exists, as in every later step
    started = time.process_time()
    if device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        step()
        torch.cuda.synchronize()
        return {"measured": torch.cuda.max_memory_allocated(), "cpu_s": time.process_time() - started}
    resident = live_tensor_bytes()
    if os.environ.get("DEEPSYNTH_BENCH_RSS"):
        return {"measured": resident + rss_peak(step), "method": "rss"}
    peak = profiled_peak(step)
    return {"measured": resident + peak, "resident": resident, "step_peak": peak,
            "cpu_s": time.process_time() - started}


def measure_vlm(spec: dict, device: str, threads: int) -> dict:
    """One training step of DeepSynth's own VLM model, run by DeepSynth's own code: the model built
    as `deepsynth train` builds it, the pages read by its reader (features cached unless the spec
    says live or the projector trains), the batch from its collate, the step from `TrainingLoop`."""
    import torch
    from PIL import Image

    sys.path.insert(0, str(ROOT))
    from deepsynth.lora import LoraSettings
    from deepsynth.models import ModelConfig, build_document_model
    from deepsynth.training.loop import TrainingLoop

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = build_document_model(
        ModelConfig(name=spec["folder"], text_encoder="none", train_projector=spec["train_projector"],
                    max_target_tokens=64),
        LoraSettings(rank=spec["rank"], alpha=2 * spec["rank"], dropout=spec["dropout"]), device)
    if not spec["cached"]:
        model.reader.cache_features = False  # the tower runs in the step (the worker's live path)
    model.train()
    page = Image.new("RGB", tuple(spec["page"]), "white")
    readings = [model.reader.read_pages([page]) for _ in range(spec["batch"])]
    batch = model.collate(readings, [""] * spec["batch"], [SUMMARY] * spec["batch"])
    del readings
    image_tokens = int((batch["input_ids"][0] == model.reader.image_token_id).sum())
    targets = int((batch["labels"][0] != -100).sum())
    text_tokens = int(batch["input_ids"].shape[1]) - image_tokens
    if "decoder_input_ids" not in batch and batch["labels"].shape != batch["input_ids"].shape:
        text_tokens += int(batch["labels"].shape[1])  # encoder-decoder: the summary goes to the decoder
    loop = TrainingLoop(model, 1e-4, total_steps=10, max_grad_norm=1.0)
    loop.train_step(batch)  # warm-up: the AdamW state exists from here on, as in every later step
    started = time.process_time()
    if device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        loop.train_step(batch)
        torch.cuda.synchronize()
        measured = torch.cuda.max_memory_allocated()
    else:
        resident = live_tensor_bytes()
        measured = resident + profiled_peak(lambda: loop.train_step(batch))
    return {"measured": measured, "image_tokens": image_tokens, "text_tokens": text_tokens,
            "target_tokens": targets, "cpu_s": time.process_time() - started}


def rss_peak(run) -> int:
    """Kernel high-water mark of the step above the RSS before it (needs MALLOC_MMAP_THRESHOLD_)."""
    def status(field: str) -> int:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field):
                return int(line.split()[1]) * 1024
        raise RuntimeError(field)

    Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
    before = status("VmRSS:")
    run()
    return status("VmHWM:") - before


def validate_profiler() -> None:
    import torch

    torch.set_num_threads(1)
    keep = torch.zeros(1000)  # allocated before: must not count
    sizes = (4_000_000, 8_000_000)

    def run() -> None:
        a = torch.empty(sizes[0] // 4)
        b = torch.empty(sizes[1] // 4)
        del a
        c = torch.empty(sizes[0] // 4)
        del b, c

    peak = profiled_peak(run)
    assert peak == sum(sizes), (peak, sum(sizes))
    print(f"profiler check: allocations of 4 MB + 8 MB (then free, 4 MB) -> peak {peak:,} B (exact); "
          f"{keep.numel()} pre-existing floats ignored")


def run_worker(spec: dict, device: str, threads: int, env_extra: dict | None = None) -> dict:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", **(env_extra or {})}
    argv = [sys.executable, str(Path(__file__).resolve()), "--worker", json.dumps(spec), "--device", device,
            "--threads", str(threads)]
    done = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=str(ROOT), check=False)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        return {"error": " | ".join(tail)}
    return json.loads(lines[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--threads", type=int, default=max(1, min(2, os.cpu_count() or 1)))
    parser.add_argument("--only", nargs="*", help="substrings of configuration names to run")
    parser.add_argument("--validate", action="store_true", help="check the measuring method first")
    parser.add_argument("--set", choices=("all", "text", "vlm"), default="all",
                        help="text models, native vision-language models, or both")
    parser.add_argument("--results", default="", metavar="FILE.json",
                        help="also write the table to this results file (docs/results/NAME.json, shown in the README)")
    args = parser.parse_args(argv)
    if args.worker:
        spec = json.loads(args.worker)
        print(json.dumps((measure_vlm if "vlm" in spec else measure)(spec, args.device, args.threads)))
        return 0
    from deepsynth.results_file import Table, start_measuring, write_results

    measuring = start_measuring()
    rows, notes = [], []
    chosen = {"all": CONFIGS + VLM_CONFIGS, "text": CONFIGS, "vlm": VLM_CONFIGS}[args.set]
    configs = [c for c in chosen if not args.only or any(part in c["name"] for part in args.only)]
    folders = tempfile.TemporaryDirectory()
    for spec in configs:
        if "vlm" in spec:
            spec["folder"] = write_vlm_folder(spec, Path(folders.name))
    if args.validate:
        validate_profiler()
        first = configs[0]
        profiled = run_worker(first, args.device, args.threads)
        rss = run_worker(first, args.device, args.threads, {"MALLOC_MMAP_THRESHOLD_": "65536", "DEEPSYNTH_BENCH_RSS": "1"})
        if "error" not in profiled and "error" not in rss:
            print(f"cross-check on '{first['name']}': profiler {profiled['measured'] / 2**20:.1f} MiB, "
                  f"RSS high-water {rss['measured'] / 2**20:.1f} MiB "
                  f"({100 * (rss['measured'] / profiled['measured'] - 1):+.1f}%)")
    header = (f"{'configuration':<24}{'measured':>11}{'ours':>11}{'err':>8}{'original':>11}{'err':>9}"
              f"{'4x rule':>11}{'err':>9}{'trainable':>11}{'orig.':>8}")
    print(header + "\n" + "-" * len(header))
    ours_errors, orig_errors, rule_errors = [], [], []
    for spec in configs:
        measured = run_worker(spec, args.device, args.threads)
        predicted, params = ours(spec, args.device, measured) if "error" not in measured else (0, None)
        if "error" in measured:
            print(f"{spec['name']:<24} not measured here: {measured['error'][:150]}")
            notes.append(f"{spec['name']}: not measured here ({measured['error'][:150]}).")
            continue
        m = measured["measured"]
        if "vlm" in spec:  # the processor's image tokens must be what the estimator derived from the page
            sys.path.insert(0, str(ROOT))
            from deepsynth.estimate import vision_tokens_per_page

            tokens = vision_tokens_per_page(spec["folder"], *spec["page"])
            if tokens != measured["image_tokens"]:
                print(f"{spec['name']:<24} image tokens: processor {measured['image_tokens']}, ours {tokens}")
                notes.append(f"{spec['name']}: image tokens differ (processor {measured['image_tokens']}, ours {tokens}).")
        original, bucket = original_table(spec)
        rule = four_x_rule(params.base, spec, args.device)
        errors = [100 * (value / m - 1) for value in (predicted, original, rule)]
        ours_errors.append(abs(errors[0]))
        orig_errors.append(abs(errors[1]))
        rule_errors.append(abs(errors[2]))
        print(f"{spec['name']:<24}{m / 2**20:>9.1f}Mi{predicted / 2**20:>9.1f}Mi{errors[0]:>+7.1f}%"
              f"{original / 2**20:>9.0f}Mi{errors[1]:>+8.0f}%{rule / 2**20:>9.1f}Mi{errors[2]:>+8.1f}%"
              f"{params.trainable:>11,}{bucket / 1e6:>7.0f}M", flush=True)
        rows.append([spec["name"], f"{m / 2**20:.1f} MiB", f"{predicted / 2**20:.1f} MiB", f"{errors[0]:+.1f}%",
                     f"{errors[1]:+.0f}%", f"{errors[2]:+.1f}%"])
    if ours_errors:
        print(f"\n|error| median / max: ours {statistics.median(ours_errors):.1f}% / {max(ours_errors):.1f}%;  "
              f"original {statistics.median(orig_errors):.0f}% / {max(orig_errors):.0f}%;  "
              f"4x rule {statistics.median(rule_errors):.1f}% / {max(rule_errors):.1f}%  "
              f"({len(ours_errors)} configurations, {args.device})")
        goal = statistics.median(ours_errors) <= 10 and max(ours_errors) <= 20
        print("goal (median <= 10%, max <= 20%):", "met" if goal else "NOT met")
        notes.insert(0, f"|error| median / max over {len(ours_errors)} configurations ({args.device}): ours "
                        f"{statistics.median(ours_errors):.1f}% / {max(ours_errors):.1f}%; the original tool's table "
                        f"{statistics.median(orig_errors):.0f}% / {max(orig_errors):.0f}%; accelerate's 4× weights rule "
                        f"{statistics.median(rule_errors):.1f}% / {max(rule_errors):.1f}%. Peak measured with the "
                        "torch profiler over one training step in a fresh subprocess.")
    if args.results:
        table = Table(["configuration", "measured peak", "our estimate", "our error", "original table's error",
                       "4× rule's error"], rows)
        print("results file:", write_results(args.results, Path(args.results).stem, measuring,
                                             tables={"configurations": table}, notes=notes))
    return 0


if __name__ == "__main__":
    sys.exit(main())
