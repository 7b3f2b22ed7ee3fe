"""A few QLoRA steps of a vision-language model on a CUDA GPU, with its peak memory.

    python bench/vlm_gpu.py [--model FOLDER] [--family deepseek_ocr2] [--steps 5] [--batch-size 2]
        [--quantization nf4] [--docs 8]

`--model`: a local VLM folder (real weights); without it a tiny random one of `--family` is built
(`deepsynth.models.vlm.tiny`). Pages: bundled wiki documents rendered at 1024x1448 and read through
the model's own processor. Training: bf16, QLoRA (`--quantization`, the vision tower in 16 bits),
gradient checkpointing, DeepSynth's `TrainingLoop` (bf16 autocast) on `model.collate` batches.
Prints the loss per step, samples/s, `torch.cuda.max_memory_allocated()` over the training steps
(the readings pass excluded, as in the worker) and, where the estimator supports the model,
`deepsynth.estimate.estimate_for_training`'s figure beside it.
Refuses to run without CUDA (bitsandbytes' 4-bit kernels and the memory figure need a GPU).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="a local VLM folder (default: a tiny random one)")
    parser.add_argument("--family", default="deepseek_ocr2", help="tiny model family when --model is not given")
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=2)
    parser.add_argument("--docs", type=int, default=8)
    parser.add_argument("--quantization", default="nf4", choices=("nf4", "fp4", "int8", "none"))
    args = parser.parse_args(argv)

    import torch

    if not torch.cuda.is_available():
        print("vlm_gpu.py needs a CUDA GPU (bf16 QLoRA and torch.cuda.max_memory_allocated); none found. "
              "Use bench/vlm_throughput.py on CPU.", file=sys.stderr)
        return 2

    from deepsynth.data import DatasetConfig, build_dataset, load_dataset_dir
    from deepsynth.lora import LoraSettings
    from deepsynth.models import ModelConfig, build_document_model, read_dataset
    from deepsynth.models.vlm.tiny import build_tiny_vlm
    from deepsynth.training.config import TrainConfig
    from deepsynth.training.loop import DataOrder, TrainingLoop

    with tempfile.TemporaryDirectory(prefix="vlm-gpu-") as work:
        workdir = Path(work)
        folder = Path(args.model) if args.model else build_tiny_vlm(args.family, workdir / args.family)
        dataset = build_dataset(DatasetConfig(source="wiki", limit=args.docs, max_text_chars=800,
                                              validation_fraction=0.0, test_fraction=0.0, workers=1),
                                workdir / "data")
        split = load_dataset_dir(dataset).dataset["train"]
        model_config = ModelConfig(name=str(folder), max_target_tokens=48)
        lora = LoraSettings(rank=16, alpha=32, dropout=0.05, quantization=args.quantization,
                            compute_dtype="bfloat16")
        model = build_document_model(model_config, lora, "cuda")
        started = time.perf_counter()
        readings = read_dataset(model, split, cache_dir=workdir / "cache", progress=False)
        print(f"read {len(readings)} documents in {time.perf_counter() - started:.1f} s "
              f"(features cached: {model.caches_features})")
        instructions, summaries = list(split["instruction"]), list(split["summary"])
        order = DataOrder(len(readings), args.batch_size, seed=0)
        loop = TrainingLoop(model, 2e-4, args.steps, warmup_steps=0, bf16_autocast=True)
        model.train()
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        first_batch = None
        samples, started = 0, time.perf_counter()
        for step in range(args.steps):
            indices = order.batch(step)
            batch = model.collate([readings[i] for i in indices], [instructions[i] for i in indices],
                                  [summaries[i] for i in indices])
            first_batch = first_batch or batch
            result = loop.train_step(batch)
            samples += result.samples
            print(f"step {result.step} loss {result.loss:.4f} ({result.seconds:.2f} s)", flush=True)
        torch.cuda.synchronize()
        elapsed = time.perf_counter() - started
        peak = torch.cuda.max_memory_allocated()
        print(f"samples/s: {samples / elapsed:.2f}")
        print(f"torch.cuda.max_memory_allocated: {peak / 2**30:.3f} GiB ({peak} bytes)")
        try:
            from deepsynth.estimate import estimate_for_training

            config = TrainConfig(dataset=str(dataset), model=model_config, lora=lora, preset="custom",
                                 batch_size=args.batch_size, max_steps=args.steps, device="cuda")
            estimate = estimate_for_training(config=config, model=model, batch=first_batch)
            total = estimate.get("total_bytes")
            print(f"estimator: {total / 2**30:.3f} GiB ({(total - peak) / peak:+.1%} vs measured)")
        except Exception as error:  # the estimator may not describe VLMs yet
            print(f"estimator: n/a ({type(error).__name__}: {error})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
