"""Training throughput: DeepSynth's worker loop vs a bare PyTorch+PEFT loop vs HF Trainer+PEFT.

    .venv/bin/python bench/train_throughput.py [--model tiny|default] [--batch-size 8]
        [--steps 100] [--rounds 6] [--threads 1]

One model (built by `deepsynth.models.build_document_model`), one dataset (bundled wiki pages read
once by the frozen reader), the same batches in the same order (`DataOrder`), collated on the fly
by the model's `collate` in all three. Rounds are interleaved (A B C, B C A, C A B, ...) so load
from other processes hits all three alike; each round times `--steps` steps per contender in wall
and CPU time (`time.process_time`, steadier on a shared machine). Reported: medians over rounds,
samples/s, and the ratios DeepSynth/bare and DeepSynth/Trainer (goals: >= 0.95 and >= 1.0).

- DeepSynth: the worker's own per-step code (`_Session._iteration`): TrainingLoop step (AdamW,
  cosine schedule, clipping, NaN guard), metrics to a real sqlite MLflow run (buffered), progress,
  checkpoint check. Checkpoints are off (every 10**9 steps) as in the other two.
- bare: forward, backward, AdamW step, zero_grad.
- Trainer: `transformers.Trainer` with the model wrapped to return `{"loss": ...}`, clipping 1.0,
  AdamW, no logging/saving; timed by a callback from the first step's start to the last step's
  end (its per-`train()` setup is left out, as the other two have none).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def prepare(model_name: str, docs: int, workdir: Path):
    from deepsynth.data import DatasetConfig, build_dataset, load_dataset_dir
    from deepsynth.lora import preset
    from deepsynth.models import build_document_model, read_dataset
    from deepsynth.models.config import ModelConfig

    dataset = build_dataset(DatasetConfig(source="wiki", limit=docs, max_text_chars=500, validation_fraction=0.0,
                                          test_fraction=0.0, workers=1), workdir / "data")
    model_config = ModelConfig(name=model_name, max_source_tokens=128, max_target_tokens=32)
    lora = preset("minimal", rank=8, alpha=16, target_modules=("q_proj", "v_proj"))
    model = build_document_model(model_config, lora, "cpu")
    split = load_dataset_dir(dataset).dataset["train"]
    readings = read_dataset(model, split, progress=False)
    return dataset, model_config, lora, model, readings, list(split["instruction"]), list(split["summary"])


class DeepSynthContender:
    name = "deepsynth"

    def __init__(self, model, data, dataset, model_config, lora, batch_size, lr, workdir: Path):
        from deepsynth.tracking.store import RunLogger
        from deepsynth.training.cancel import CancelSignal
        from deepsynth.training.config import TrainConfig
        from deepsynth.training.loop import DataOrder, TrainingLoop
        from deepsynth.training.recorder import Recorder
        from deepsynth.training.worker import Progress, _Session

        config = TrainConfig(dataset=str(dataset), model=model_config, lora=lora, preset="custom",
                             max_steps=10**6, batch_size=batch_size, learning_rate=lr, warmup_steps=0,
                             checkpoint_every=10**9, measure_memory=False, system_metrics=False)
        logger = RunLogger.start("bench-throughput", "deepsynth-loop", uri=f"sqlite:///{workdir / 'mlflow.db'}")
        self.session = _Session(config, Recorder(logger, None), workdir / "run", CancelSignal(), progress=False,
                                resumed=False)
        self.session._last_report = time.monotonic()
        self.loop = TrainingLoop(model, lr, 10**6, max_grad_norm=1.0, schedule="cosine")
        self.progress = Progress(10**6, 0, enabled=False)
        self.model, self.data, self.order = model, data, DataOrder(len(data.readings), batch_size, seed=0)

    def run(self, start: int, steps: int) -> None:
        self.loop.step = start  # the same batches as the others
        for _ in range(steps):
            self.session._iteration(self.model, self.loop, self.order, self.data, self.progress, -1,
                                    time.monotonic())


class BareContender:
    name = "bare"

    def __init__(self, model, data, batch_size, lr):
        import torch

        from deepsynth.training.loop import DataOrder

        self.model, self.data = model, data
        self.optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr)
        self.order = DataOrder(len(data.readings), batch_size, seed=0)

    def run(self, start: int, steps: int) -> None:
        from deepsynth.training.loop import collate_batch

        data = self.data
        for step in range(start, start + steps):
            batch = collate_batch(self.model, data.readings, data.instructions, data.summaries, self.order.batch(step))
            loss = self.model(**batch)
            loss.backward()
            self.optimizer.step()
            self.optimizer.zero_grad(set_to_none=True)


class TrainerContender:
    name = "hf_trainer"

    def __init__(self, model, data, batch_size, lr, workdir: Path):
        import torch
        from transformers import TrainerCallback

        from deepsynth.training.loop import DataOrder, collate_batch

        class Wrapped(torch.nn.Module):
            def __init__(self, inner):
                super().__init__()
                self.inner = inner

            def forward(self, **batch):
                return {"loss": self.inner(**batch)}

        class Clock(TrainerCallback):
            def __init__(self):
                self.began = self.ended = None

            def on_step_begin(self, args, state, control, **kwargs):
                if self.began is None:
                    self.began = (time.perf_counter(), time.process_time())

            def on_step_end(self, args, state, control, **kwargs):
                self.ended = (time.perf_counter(), time.process_time())

        self.wrapped, self.data, self.lr, self.workdir = Wrapped(model), data, lr, workdir
        self.order = DataOrder(len(data.readings), batch_size, seed=0)
        self.clock_type = Clock
        self.collate = lambda items: collate_batch(model, data.readings, data.instructions, data.summaries, items[0])

    def run(self, start: int, steps: int) -> tuple[float, float]:
        from transformers import PrinterCallback, Trainer, TrainingArguments

        batches = [self.order.batch(step) for step in range(start, start + steps)]
        args = TrainingArguments(
            output_dir=str(self.workdir / "trainer"), per_device_train_batch_size=1, max_steps=steps,
            learning_rate=self.lr, lr_scheduler_type="cosine", warmup_steps=0, max_grad_norm=1.0,
            optim="adamw_torch", report_to=[], save_strategy="no", logging_strategy="no",
            disable_tqdm=True, use_cpu=True, dataloader_num_workers=0, remove_unused_columns=False, seed=0)
        clock = self.clock_type()
        trainer = Trainer(model=self.wrapped, args=args, train_dataset=batches, data_collator=self.collate,
                          callbacks=[clock])
        trainer.remove_callback(PrinterCallback)  # its end-of-train summary line is noise here
        trainer.train()
        return clock.ended[0] - clock.began[0], clock.ended[1] - clock.began[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="tiny", help="tiny (default) or default (SmolLM2 decoder)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--steps", type=int, default=100, help="steps per contender per round (100; tiny steps take ~20 ms)")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--docs", type=int, default=64)
    parser.add_argument("--results", default="", metavar="FILE.json",
                        help="also write the table to this results file (docs/results/NAME.json, shown in the README)")
    args = parser.parse_args()

    from deepsynth.results_file import Table, start_measuring, write_results

    measuring = start_measuring()

    import torch

    from deepsynth.training.data import SplitData

    torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)
    workdir = Path(tempfile.mkdtemp(prefix="deepsynth-bench-"))
    dataset, model_config, lora, model, readings, instructions, summaries = prepare(args.model, args.docs, workdir)
    data = SplitData([str(i) for i in range(len(readings))], readings, instructions, summaries)
    model.train()
    lr = 1e-4
    contenders = [DeepSynthContender(model, data, dataset, model_config, lora, args.batch_size, lr, workdir),
                  BareContender(model, data, args.batch_size, lr),
                  TrainerContender(model, data, args.batch_size, lr, workdir)]
    for contender in contenders:  # warm-up: first-call allocations, Trainer imports
        contender.run(0, 2)

    times: dict[str, list[tuple[float, float]]] = {c.name: [] for c in contenders}
    for round_index in range(args.rounds):
        start = (round_index + 1) * args.steps
        rotation = contenders[round_index % 3:] + contenders[:round_index % 3]
        for contender in rotation:
            began = (time.perf_counter(), time.process_time())
            measured = contender.run(start, args.steps)
            if measured is None:
                measured = (time.perf_counter() - began[0], time.process_time() - began[1])
            times[contender.name].append(measured)
        print(f"round {round_index + 1}/{args.rounds}: " + ", ".join(
            f"{name} {values[-1][0]:.2f}s" for name, values in times.items()), file=sys.stderr, flush=True)

    samples = args.steps * args.batch_size
    rows = {}
    for name, values in times.items():
        wall = statistics.median(v[0] for v in values)
        cpu = statistics.median(v[1] for v in values)
        rows[name] = (samples / wall, samples / cpu, wall, cpu)
    print(f"\nmodel {args.model}, batch {args.batch_size}, {args.steps} steps x {args.rounds} interleaved rounds, "
          f"{args.threads} thread(s); medians over rounds")
    print(f"{'loop':<12} {'samples/s (wall)':>17} {'samples/CPU-s':>14} {'wall s/round':>13} {'CPU s/round':>12}")
    for name, (per_wall, per_cpu, wall, cpu) in rows.items():
        print(f"{name:<12} {per_wall:>17.2f} {per_cpu:>14.2f} {wall:>13.2f} {cpu:>12.2f}")
    ours = rows["deepsynth"]
    ratios = []
    for other, goal in (("bare", 0.95), ("hf_trainer", 1.0)):
        wall_ratio, cpu_ratio = ours[0] / rows[other][0], ours[1] / rows[other][1]
        print(f"deepsynth / {other:<10}: wall {wall_ratio:.3f}x, CPU {cpu_ratio:.3f}x  (goal >= {goal})")
        ratios.append([f"DeepSynth / {other}", f"{wall_ratio:.3f}", f"{cpu_ratio:.3f}", f"≥ {goal}"])
    if args.results:
        loops = Table(["loop", "samples/s (wall)", "samples/CPU-s", "wall s/round", "CPU s/round"],
                      [[name, f"{a:.2f}", f"{b:.2f}", f"{c:.2f}", f"{d:.2f}"] for name, (a, b, c, d) in rows.items()])
        note = (f"Model {args.model}, batch {args.batch_size}, {args.steps} steps × {args.rounds} interleaved rounds, "
                f"{args.threads} thread(s); same model, data and batches; medians over rounds.")
        print("results file:", write_results(args.results, Path(args.results).stem, measuring,
                                             tables={"ratios": Table(["", "wall", "CPU", "goal"], ratios),
                                                     "loops": loops}, notes=[note]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
