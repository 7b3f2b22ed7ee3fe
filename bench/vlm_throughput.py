"""VLM training throughput: DeepSynth (readings with cached vision features) vs HF Trainer + PEFT.

    .venv/bin/python bench/vlm_throughput.py [--family deepseek_ocr2] [--docs 8] [--batch-size 2]
        [--rounds 3] [--threads 1] [--width 512] [--image-size N]

One tiny VLM folder of `--family` (`deepsynth.models.vlm.tiny`; deepseek_ocr2: width `--width` for the
language model and the towers alike; `--image-size`: the processor's view side, the family's tiny
default otherwise), bundled wiki documents rendered to real 1024x1448 pages and fed through the
family's own processor (deepseek_ocr2: global view + tiles, 1000+ image tokens a page; qwen2_vl /
qwen2_5_vl: dynamic resolution up to `--image-size` squared pixels). Decoder-only families only (the HF
contender below concatenates prompt and summary). Both contenders train the same LoRA (q_proj/v_proj
in the language model, rank 8) on the same batches in the same order:

- DeepSynth: `read_dataset` (processor + frozen tower once per document; the features are cached
  on disk), then `TrainingLoop.train_step` on `model.collate(...)` batches (LM head on summary
  tokens only). Epoch 1 includes the reading; epoch 2 reads from the cache.
- HF Trainer: what a user would write: the processor's outputs (pixels included, computed once
  like a `datasets.map`, timed as part of epoch 1; "HF steps only" leaves it out, HF's best case)
  with labels -100 outside the summary, a collator that pads ids and
  concatenates pixel tensors, `Trainer` on the PEFT model (the tower runs at every step; the loss
  over the full vocabulary at every position). Timed from the first step's start to the last's end.

Rounds interleave the contenders (DeepSynth first on even rounds, HF first on odd ones), each with a
fresh model and, for DeepSynth, an empty readings cache; medians of samples/s are reported with
the ratio DeepSynth/HF per epoch (goal for epoch 2: >= 1.5).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def prepare(workdir: Path, docs: int, family: str, width: int, image_size: int | None):
    from deepsynth.data import DatasetConfig, build_dataset, load_dataset_dir
    from deepsynth.models.vlm.tiny import build_tiny_vlm

    dataset = build_dataset(DatasetConfig(source="wiki", limit=docs, max_text_chars=500, validation_fraction=0.0,
                                          test_fraction=0.0, workers=1), workdir / "data")
    split = load_dataset_dir(dataset).dataset["train"]
    extra = {"width": width} if family == "deepseek_ocr2" else {}
    folder = build_tiny_vlm(family, workdir / "vlm", image_size=image_size, **extra)
    return folder, split


def build(folder: Path):
    from deepsynth.lora import LoraSettings
    from deepsynth.models import ModelConfig, build_document_model

    lora = LoraSettings(rank=8, alpha=16, dropout=0.0)  # default targets: q_proj/v_proj of the language model
    return build_document_model(ModelConfig(name=str(folder), max_target_tokens=32), lora)


def batches(count: int, batch_size: int, epoch: int) -> list[list[int]]:
    from deepsynth.training.loop import DataOrder

    order = DataOrder(count, batch_size, seed=0)
    steps = order.steps_per_epoch
    return [order.batch(epoch * steps + step) for step in range(steps)]


def run_deepsynth(folder: Path, split, batch_size: int, cache: Path) -> tuple[float, float]:
    """(epoch-1 samples/s including reading, epoch-2 samples/s) for a fresh model and cache."""
    from deepsynth.models import read_dataset
    from deepsynth.training.loop import TrainingLoop

    model = build(folder)
    model.train()
    instructions, summaries = list(split["instruction"]), list(split["summary"])
    loop = TrainingLoop(model, 1e-3, 10**6, warmup_steps=0)
    rates = []
    for epoch in range(2):
        started = time.perf_counter()
        readings = read_dataset(model, split, cache_dir=cache, progress=False)
        for indices in batches(len(split), batch_size, epoch):
            loop.train_step(model.collate([readings[i] for i in indices], [instructions[i] for i in indices],
                                          [summaries[i] for i in indices]))
        rates.append(len(split) / (time.perf_counter() - started))
    return rates[0], rates[1]


def hf_examples(model, split) -> list[dict]:
    """The processor's full output per document (prompt + summary), labels on the summary only."""
    import torch

    from deepsynth.models.builtin.prompt import DEFAULT_INSTRUCTION
    from deepsynth.models.vlm.prompt import prepare_pages, processor_settings

    processor, examples = model.processor, []
    for row in split:
        pages = row["pages"]
        prompt = model.prompts.render(len(pages), row["instruction"] or DEFAULT_INSTRUCTION)
        encoded = processor(text=[prompt], images=[prepare_pages(pages)], return_tensors="pt",
                            **processor_settings(processor, pages))
        target = torch.tensor(model.prompts.target_ids(row["summary"], model.config.max_target_tokens))
        length = encoded["input_ids"].shape[1]
        ids = torch.cat([encoded["input_ids"][0], target])
        labels = torch.cat([torch.full_like(encoded["input_ids"][0], -100), target])
        example = {}
        for key, value in encoded.items():
            if key in ("input_ids", "attention_mask"):
                continue
            if value.dim() == 2 and value.shape[1] == length and key != "pixel_values":  # per token (Qwen's types)
                value = torch.cat([value[0], torch.zeros_like(target)])
            example[key] = value
        examples.append({**example, "input_ids": ids, "labels": labels})
    return examples


def collate_hf(features: list[dict]) -> dict:
    import torch

    width = max(len(f["input_ids"]) for f in features)
    ids = torch.zeros((len(features), width), dtype=torch.long)
    labels = torch.full((len(features), width), -100, dtype=torch.long)
    mask = torch.zeros((len(features), width), dtype=torch.long)
    for row, f in enumerate(features):
        ids[row, :len(f["input_ids"])] = f["input_ids"]
        labels[row, :len(f["labels"])] = f["labels"]
        mask[row, :len(f["input_ids"])] = 1
    batch = {"input_ids": ids, "labels": labels, "attention_mask": mask}
    for key in features[0]:
        if key in batch:
            continue
        if features[0][key].dim() == 1 and len(features[0][key]) == len(features[0]["input_ids"]):  # per token
            batch[key] = torch.zeros((len(features), width), dtype=features[0][key].dtype)
            for row, f in enumerate(features):
                batch[key][row, :len(f[key])] = f[key]
        else:
            batch[key] = torch.cat([f[key] for f in features])
    return batch


def run_hf(folder: Path, split, batch_size: int, workdir: Path) -> tuple[float, float, float]:
    """(epoch-1 samples/s including the processor pass, epoch-1 samples/s of the steps alone,
    epoch-2 samples/s)."""
    import torch
    from transformers import Trainer, TrainerCallback, TrainingArguments

    model = build(folder)
    prepared = time.perf_counter()
    examples = hf_examples(model, split)  # once, like a datasets.map before training
    prepare_s = time.perf_counter() - prepared
    order = [i for epoch in range(2) for batch in batches(len(split), batch_size, epoch) for i in batch]
    stream = [examples[i] for i in order]  # the same batches as DeepSynth, in the same order
    peft_model = model.decoder
    times: list[float] = []

    class Timer(TrainerCallback):
        def on_step_begin(self, args, state, control, **kwargs):
            if state.global_step in (0, len(stream) // (2 * batch_size)):
                times.append(time.perf_counter())

        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step in (len(stream) // (2 * batch_size), len(stream) // batch_size):
                times.append(time.perf_counter())

    class InOrder(torch.utils.data.Dataset):
        def __len__(self):
            return len(stream)

        def __getitem__(self, index):
            return stream[index]

    args = TrainingArguments(output_dir=str(workdir / "hf"), per_device_train_batch_size=batch_size,
                             num_train_epochs=1, learning_rate=1e-3, max_grad_norm=1.0, logging_strategy="no",
                             save_strategy="no", report_to=[], use_cpu=True, dataloader_num_workers=0,
                             remove_unused_columns=False, disable_tqdm=True)
    trainer = Trainer(model=peft_model, args=args, train_dataset=InOrder(), data_collator=collate_hf,
                      callbacks=[Timer()])
    trainer._get_train_sampler = lambda *a, **k: torch.utils.data.SequentialSampler(range(len(stream)))
    trainer.train()
    epoch = len(split)
    return epoch / (prepare_s + times[1] - times[0]), epoch / (times[1] - times[0]), epoch / (times[3] - times[2])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    from deepsynth.models.vlm.tiny import TINY_VLM_FAMILIES

    parser.add_argument("--family", default="deepseek_ocr2",
                        choices=[f for f in TINY_VLM_FAMILIES if f != "florence2"])
    parser.add_argument("--image-size", type=int, default=None)
    parser.add_argument("--docs", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--width", type=int, default=512)
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="vlm-bench-") as work:
        workdir = Path(work)
        folder, split = prepare(workdir, args.docs, args.family, args.width, args.image_size)
        params = sum(p.numel() for p in build(folder).decoder.get_base_model().parameters())
        print(f"model: tiny {args.family}, {params / 1e6:.2f}M parameters; {len(split)} documents of "
              f"1024x1448 pages, batch {args.batch_size}, {args.threads} thread(s)")
        results: dict[str, list[tuple[float, float]]] = {"deepsynth": [], "hf_trainer": [], "hf_steps_only": []}
        for round_index in range(args.rounds):
            order = ["deepsynth", "hf_trainer"] if round_index % 2 == 0 else ["hf_trainer", "deepsynth"]
            for name in order:
                if name == "deepsynth":
                    rates = run_deepsynth(folder, split, args.batch_size, workdir / f"cache-{round_index}")
                else:
                    with_prep, steps_only, second = run_hf(folder, split, args.batch_size, workdir)
                    results["hf_steps_only"].append((steps_only, second))
                    rates = (with_prep, second)
                results[name].append(rates)
                print(f"round {round_index + 1} {name:10s} epoch1 {rates[0]:.3f} samples/s  "
                      f"epoch2 {rates[1]:.3f} samples/s", flush=True)
    print("\nmedian samples/s     epoch 1 (tower runs)   epoch 2 (cached features)")
    medians = {name: (statistics.median(r[0] for r in rows), statistics.median(r[1] for r in rows))
               for name, rows in results.items()}
    labels = {"deepsynth": "DeepSynth", "hf_trainer": "HF Trainer", "hf_steps_only": "HF steps only"}
    for name, (first, second) in medians.items():
        print(f"{labels[name]:18s} {first:12.3f} {second:24.3f}")
    ds, hf, steps = medians["deepsynth"], medians["hf_trainer"], medians["hf_steps_only"]
    print(f"{'DeepSynth / HF':18s} {ds[0] / hf[0]:11.2f}x {ds[1] / hf[1]:23.2f}x   (goal: parity on epoch 1, >= 1.5x on epoch 2)")
    print(f"{'vs HF steps only':18s} {ds[0] / steps[0]:11.2f}x {'':>24}   (HF's processor pass not counted: its best case)")
    print("Epoch 1 counts each contender's whole first pass: DeepSynth's reading (processor + tower, cached) and "
          "HF's processor pass (its datasets.map) before its steps.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
