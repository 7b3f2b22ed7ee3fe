"""The training worker: `train(config) -> run_id`, or `train(resume_run_id=...)` to continue a run.

One run, start to end: MLflow run (params, dataset input, config) -> model -> pages read once
through the frozen reader (cached) -> steps with periodic atomic checkpoints -> adapter artifact
-> ROUGE of the tuned model and the untouched base on held-out documents. Every way out closes the
MLflow run: FINISHED; KILLED on SIGTERM/Ctrl-C (after a checkpoint, so resume loses nothing);
FAILED with the error (NaN with its step, out of memory with advice, disk full). A job's
`report.json` (see `deepsynth.training.report`) follows along; both go through one `Recorder`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, Callable

from deepsynth.atomic_files import write_json_atomic
from deepsynth.configuration import flat_params, to_dict
from deepsynth.errors import DeepSynthError, InputError
from deepsynth.hub_models import PINNED_PARAM
from deepsynth.training import checkpoint
from deepsynth.training.cancel import CancelSignal, Cancelled
from deepsynth.training.config import (
    SWEEP_TAG, TRAIN_CONFIG_FILE, TrainConfig, load_train_config, save_train_config)
from deepsynth.training.data import SplitData, dataset_profile, read_split, without_unreadable
from deepsynth.training.distributed import Distributed
from deepsynth.training.phase_memory import PhaseMemory
from deepsynth.training.hardware import OOM_ADVICE, choose_device, choose_threads, is_out_of_memory
from deepsynth.training.recorder import Recorder
from deepsynth.training.report import FAILED, KILLED, concurrent_jobs_hint, job_dir_from_env, user_tags

OWNER_FILE = "worker.json"


class TrainingOutOfMemory(DeepSynthError):
    """Training ran out of (GPU or CPU) memory."""


class Progress:
    """tqdm on a terminal; a line every ~5% of the steps in a job's log file."""

    def __init__(self, total: int, start: int, enabled: bool) -> None:
        self.total, self.enabled = total, enabled
        self.every = max(1, total // 20)
        self.bar = None
        if enabled and sys.stderr.isatty():
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, initial=start, desc="training", unit="step")

    def update(self, step: int, loss: float, lr: float) -> None:
        if self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix(loss=f"{loss:.4f}", lr=f"{lr:.2e}", refresh=False)
        elif self.enabled and (step % self.every == 0 or step == self.total):
            print(f"step {step}/{self.total} loss {loss:.4f} lr {lr:.2e}", flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def load_resume(run_id: str, uri: str | None) -> tuple[TrainConfig, Path]:
    """The saved config and run folder of a run that can be resumed; `InputError` saying why not."""
    from deepsynth.tracking.store import FINISHED, RUN_DIR_TAG, run_status, run_tags

    try:
        tags = run_tags(run_id, uri)
    except Exception as error:  # mlflow raises its own not-found error type per store
        raise InputError(f"cannot resume run {run_id!r}: not found in the tracking store {uri or ''} ({error})") from None
    if RUN_DIR_TAG not in tags:
        raise InputError(f"run {run_id} was not created by `deepsynth train` (no {RUN_DIR_TAG} tag)")
    if run_status(run_id, uri) == FINISHED:
        raise InputError(f"run {run_id} already finished; start a new run instead")
    run_dir = Path(tags[RUN_DIR_TAG])
    config_path = run_dir / TRAIN_CONFIG_FILE
    if not config_path.is_file():
        raise InputError(f"cannot resume run {run_id}: {config_path} is missing")
    return load_train_config(config_path), run_dir


def _claim(run_dir: Path) -> None:
    """Record this process as the run folder's worker; refuse if another live process is one
    (resuming a run that is still training would interleave two writers)."""
    from deepsynth.processes import is_our_process, process_start_time

    owner_file = run_dir / OWNER_FILE
    if owner_file.is_file():
        owner = json.loads(owner_file.read_text())
        if owner.get("pid") != os.getpid() and is_our_process(int(owner["pid"]), float(owner["create_time"])):
            raise InputError(f"run folder {run_dir} is being trained by process {owner['pid']}; "
                             "cancel that job before resuming")
    write_json_atomic(owner_file, {"pid": os.getpid(), "create_time": process_start_time(os.getpid())})


def train(config: TrainConfig | None = None, resume_run_id: str | None = None,
          tracking_uri: str | None = None, job_dir: str | Path | None = None, progress: bool = True,
          on_run_started: Callable[[str], None] | None = None, trust_remote_code: bool = False) -> str:
    """Run (or resume) a training run; returns its MLflow run id. Raises `DeepSynthError`
    subclasses for the user's problems (the run is then FAILED or KILLED in MLflow).
    `trust_remote_code`: a resumed run may run its model's own code (the resuming user's flag;
    a saved file never turns it on)."""
    from deepsynth.tracking.store import RUN_DIR_TAG, RunLogger, resolve_tracking_uri

    if (config is None) == (resume_run_id is None):
        raise ValueError("give either a config or resume_run_id")
    from deepsynth.training.quiet import quiet_libraries

    quiet_libraries()  # before PEFT and transformers load: the log holds what the run says
    from deepsynth.training.step_plan import resolve_automatic

    if config is not None:  # `auto` warm-up and checkpoint intervals become this run's numbers
        config = resolve_automatic(config)
    distributed = Distributed.from_env()  # under `deepsynth train --nproc N`: only rank 0 records
    job_dir = job_dir or job_dir_from_env()
    cancel = CancelSignal().install()
    record: Recorder | None = None
    try:
        distributed.start()
        if not distributed.is_main:  # rank 0 creates or attaches the run, then says which
            run_id, run_dir = distributed.broadcast_text(None).split("\n", 1)
            run_dir = Path(run_dir)
            config = config if config is not None else load_train_config(run_dir / TRAIN_CONFIG_FILE)
            record, uri = Recorder.silent(run_id), None
        elif resume_run_id:
            config, run_dir = load_resume(resume_run_id, tracking_uri)
            config = resolve_automatic(config)
            if trust_remote_code:
                config = dataclasses.replace(config, model=dataclasses.replace(config.model, trust_remote_code=True))
            _claim(run_dir)  # before touching the run: it may belong to a live worker
            uri = resolve_tracking_uri(tracking_uri or config.tracking_uri)
            record = Recorder(RunLogger.attach(resume_run_id, uri), job_dir)
        else:
            uri = resolve_tracking_uri(tracking_uri or config.tracking_uri)
            record = Recorder(RunLogger.start(
                config.experiment, config.run_name, params=flat_params(config), uri=uri,
                tags={"deepsynth.preset": config.preset, "deepsynth.dataset": config.dataset,
                      "deepsynth.blank_pages": str(config.blank_pages), **user_tags(),
                      **({SWEEP_TAG: config.sweep_id} if config.sweep_id else {})}), job_dir)
            run_dir = config.run_root / record.run_id
            run_dir.mkdir(parents=True, exist_ok=True)
            _claim(run_dir)
            save_train_config(config, run_dir / TRAIN_CONFIG_FILE)
            record.tags({RUN_DIR_TAG: str(run_dir.resolve())})
            record.json_artifact(to_dict(config), f"config/{TRAIN_CONFIG_FILE}")
        if distributed.is_main:
            distributed.broadcast_text(f"{record.run_id}\n{run_dir}")
            if distributed.enabled:
                record.tags({"deepsynth.world_size": str(distributed.world_size)})
        record.started(uri, run_dir)
        record.report(warmup_steps=config.warmup_steps, checkpoint_every=config.checkpoint_every)
        if on_run_started is not None and distributed.is_main:
            on_run_started(record.run_id)
        _Session(config, record, run_dir, cancel, progress and distributed.is_main,
                 resumed=bool(resume_run_id), distributed=distributed).run()
        # The other ranks wait here while rank 0 saves and evaluates: a rank that tears down the
        # process group early aborts gloo's threads ("terminate called without an active
        # exception"), and torchrun then kills rank 0 mid-evaluation.
        distributed.barrier()
        record.finished()
        return record.run_id
    except BaseException as error:
        status, message, reraise = _classify(error)
        if record is not None:
            record.ended(status, message)
        if reraise is error:
            raise
        raise reraise from error
    finally:
        cancel.restore()
        distributed.stop()


def _classify(error: BaseException) -> tuple[str, str, BaseException]:
    """(MLflow status, message for the run, the exception to raise) for any way training ended."""
    if isinstance(error, (Cancelled, KeyboardInterrupt)):
        return KILLED, f"cancelled ({error})", error if isinstance(error, Cancelled) else Cancelled(str(error))
    if isinstance(error, checkpoint.DiskFullError):
        return FAILED, str(error), error
    if checkpoint.is_disk_full(error):
        wrapped = checkpoint.DiskFullError(
            f"disk full ({error}); earlier checkpoints and the MLflow store were left as they were. "
            "Free space, then resume.")
        return FAILED, str(wrapped), wrapped
    if is_out_of_memory(error):
        wrapped = TrainingOutOfMemory(f"out of memory: {error}. Advice: {OOM_ADVICE}")
        return FAILED, str(wrapped), wrapped
    if isinstance(error, DeepSynthError):
        return FAILED, str(error), error
    return "FAILED", f"{type(error).__name__}: {error}", error


class _Session:
    """The body of one run once its MLflow run exists."""

    def __init__(self, config: TrainConfig, record: Recorder, run_dir: Path, cancel: CancelSignal,
                 progress: bool, resumed: bool, distributed: Distributed = Distributed()) -> None:
        self.config, self.record, self.run_dir, self.cancel = config, record, run_dir, cancel
        self.progress, self.resumed = progress, resumed
        self.distributed = distributed
        self._cancel_agreed = False
        self._gpu_claim: Any = None
        self._first_batch: dict[str, Any] | None = None
        self._last_report = time.monotonic()
        self._reported_horizon: int | None = None  # the LR schedule's horizon as the job report has it

    def run(self) -> None:
        import torch

        from deepsynth.data import load_dataset_dir
        from deepsynth.models import build_document_model
        from deepsynth.training.loop import DataOrder, TrainingLoop
        from deepsynth.training.phase_clock import PhaseClock

        config = self.config
        clock = PhaseClock()  # seconds per phase, for the job panel's estimated vs actual
        device = choose_device(config.device)
        threads = choose_threads(config.threads, concurrent_jobs_hint() * self.distributed.world_size)
        torch.set_num_threads(threads)
        self.record.tags({"deepsynth.threads": str(threads), "deepsynth.device": device})
        if device == "cpu":
            torch.set_flush_denormal(True)  # denormals after softmax cost 1.6x per step on CPU
        if config.system_metrics:
            self.record.system_metrics(self.resumed)
        self.phases = PhaseMemory(self._phase_memory, cuda=device == "cuda")
        self.phases.begin("load")
        removed = checkpoint.clean_temporary(self.run_dir) if self.distributed.is_main else []
        if removed:
            print(f"removed {len(removed)} half-written checkpoint(s) left by an interrupted run", flush=True)

        clock.start("load")
        loaded = load_dataset_dir(config.dataset)
        if not self.resumed:
            digest, profile = dataset_profile(loaded)
            self.record.dataset(Path(config.dataset).name, config.dataset, digest, profile)
        if device == "cuda":  # a busy GPU: wait here (QUEUED) instead of running out of memory
            self._gpu_claim = self._queue_for_gpu()
        torch.manual_seed(config.seed)  # LoRA/projection initialisation
        model = build_document_model(config.model, config.lora, device)
        if model.config.name != config.model.name and not self.resumed:  # a hub id, pinned to its commit
            self.record.params({PINNED_PARAM: model.config.name})
        self._check_prompts(model, loaded)  # before any page is read or step taken
        from deepsynth.training.activations import enable_activation_checkpointing

        if enable_activation_checkpointing(model, device):  # same losses, a fraction of the step's memory
            self.record.tags({"deepsynth.activation_checkpointing": "on"})
        render = loaded.config.render
        self.phases.begin("read")  # peak memory per phase (training.phase_memory)
        clock.start("read")  # the pages once, before training (and the compression measure)
        if not self.distributed.is_main:
            self.distributed.barrier()  # rank 0 reads the pages first; the others then hit its cache
        train_data = read_split(model, loaded.dataset["train"], config.blank_pages, render,
                                "reading train pages", self.progress)
        if self.distributed.is_main:
            self.distributed.barrier()
        if self.distributed.is_main and not self.resumed and not config.blank_pages:  # what the decoder reads
            from deepsynth.training.compression import measure_compression

            self.record.compression(measure_compression(model, loaded.dataset["train"], train_data.readings),
                                    to_dict(render))
        train_data = self._readable(train_data)
        clock.stop()
        self.cancel.check()
        if not config.threads and device == "cpu":  # sample the load again: a moment's load at start
            threads = choose_threads(0, concurrent_jobs_hint() * self.distributed.world_size)
            torch.set_num_threads(threads)  # must not halve the whole run (hardware.choose_threads)
            self.record.tags({"deepsynth.threads": str(threads)})
        print(f"training with {threads} torch thread(s) on {device}", flush=True)
        self.record.report(threads=threads)

        order = DataOrder(len(train_data.readings), config.batch_size, config.seed)
        total = order.total_steps(config.max_steps, config.epochs)
        loop = TrainingLoop(model, config.learning_rate, total, config.warmup_steps, config.schedule,
                            config.weight_decay, config.max_grad_norm, config.nan_patience,
                            bf16_autocast=device == "cuda", distributed=self.distributed)
        self.phases.begin("train")
        with clock.phase("train"):
            self._restore(model, loop)
            model.train()
            self._fit(model, loop, order, train_data, total, device)
        if not self.distributed.is_main:
            return  # rank 0 saves the adapter and evaluates
        self.phases.begin("evaluate")  # the adapter saved, then the held-out documents scored
        adapter_dir = self.run_dir / "adapter"
        from deepsynth.inference.page_input import CARD_KEY, card_entry  # the dataset's task and page settings

        with clock.phase("save"):
            model.save_adapter(adapter_dir, extra={"render": to_dict(render), "run_id": self.record.run_id,
                                                   "preset": config.preset,
                                                   CARD_KEY: card_entry(loaded.config)})
            self.record.artifacts(adapter_dir, "adapter")
        clock.publish(self.record)
        if config.eval_docs:
            from deepsynth.training.evaluate import evaluate_run

            with clock.phase("evaluate"):
                evaluate_run(model, loaded, config, self.record, self._final_step(), self.progress)
            clock.publish(self.record)
        self.phases.end()

    def _phase_memory(self, phase: str, details: dict[str, Any]) -> None:
        """A phase's peak memory into the job report (`memory_peaks`) and MLflow (step 0)."""
        self.record.report(memory_peaks=self.phases.summary())
        self.record.metrics({f"memory/peak_rss_{phase}_bytes": float(details["peak_rss_bytes"]),
                             **({f"memory/peak_cuda_{phase}_bytes": float(details["peak_cuda_bytes"])}
                                if "peak_cuda_bytes" in details else {})}, 0)

    def _check_prompts(self, model: Any, loaded: Any) -> None:
        """Every prompt of the train split and of the documents evaluation will score fits the
        model's context (`data.check_prompt_lengths`), else the run fails now, naming the rows."""
        from deepsynth.training.config import resolve_eval_split
        from deepsynth.training.data import check_prompt_lengths

        config = self.config
        check_prompt_lengths(model, loaded.dataset["train"], "train", config.dataset)
        if config.eval_docs:
            name = resolve_eval_split(config.eval_split, {k: len(v) for k, v in loaded.dataset.items()})
            if name in loaded.dataset and name != "train":
                split = loaded.dataset[name]
                check_prompt_lengths(model, split.select(range(min(config.eval_docs, len(split)))), name,
                                     config.dataset)

    def _readable(self, data: SplitData) -> SplitData:
        """The training documents less those with pages the reader could not read: never trained
        on, counted (printed, MLflow `train/unreadable_*`, the job report)."""
        kept, unreadable = without_unreadable(data)
        if self.distributed.is_main:
            self.record.metrics(unreadable.metrics("train"), 0)
            if unreadable.documents:
                print(f"not trained on: {unreadable.sentence('training')}", flush=True)
                self.record.report(unreadable_documents=unreadable.documents, unreadable_pages=unreadable.pages)
                self.record.tags({"deepsynth.unreadable_train": unreadable.sentence("training")[:4000]})
        return kept

    def _queue_for_gpu(self) -> Any:
        """Wait for this process's GPU to have the memory the run needs (deepsynth.training.gpu_queue);
        the job shows QUEUED meanwhile, and a cancel still stops it."""
        from deepsynth import paths
        from deepsynth.training.gpu_queue import queue_for_gpu

        said: list[str] = []

        def queued(reason: str) -> None:
            if not said or said[-1] != reason:
                print(f"queued: {reason}", flush=True)
                self.record.queued(reason)
                said.append(reason)

        claim = queue_for_gpu(self.config, self.distributed.local_rank, paths.jobs_dir(), queued)
        if said:
            self.record.queued(None)
            self.record.tags({"deepsynth.gpu_queued_s": f"{claim.waited_s:.0f}"})
        return claim

    # -- steps -----------------------------------------------------------------------------------
    def _restore(self, model: Any, loop: Any) -> None:
        from deepsynth.training.loop import set_rng_state

        latest = checkpoint.latest(self.run_dir)
        if latest is None:
            import torch

            torch.manual_seed(self.config.seed + 1)  # dropout stream, same in every fresh run
            return
        trainable, state, _trainer_state = checkpoint.load(latest)
        model.load_trainable_state(trainable)
        loop.load_state_dict(state["loop"])
        set_rng_state(state["rng"])
        print(f"resuming run {self.record.run_id} from step {latest.step} ({latest.path})", flush=True)

    def _save_checkpoint(self, model: Any, loop: Any, order: Any) -> None:
        from deepsynth.training.loop import rng_state

        if not self.distributed.is_main:
            return

        self.record.flush()  # metrics up to this step are in the store before the checkpoint says so
        checkpoint.save(self.run_dir, loop.step, model.trainable_state(),
                        {"loop": loop.state_dict(), "rng": rng_state()},
                        {"run_id": self.record.run_id, "epoch": order.epoch(loop.step)},
                        keep=self.config.keep_checkpoints)
        self.record.checkpointed(loop.step)

    def _fit(self, model: Any, loop: Any, order: Any, data: SplitData, total: int, device: str) -> None:
        import torch

        config = self.config
        bar = Progress(total, loop.step, self.progress)
        self.record.plan(loop.step, total)
        started = time.monotonic()
        from deepsynth.training.step_plan import BudgetPlan

        self._budget = BudgetPlan(config.time_budget_s, total, started)  # where the LR schedule decays to 0
        # Profile the second step of this process on CPU (the optimizer state exists by then).
        measure_at = loop.step + 1 if config.measure_memory and device == "cpu" else -1
        if device == "cuda":
            torch.cuda.reset_peak_memory_stats()
        self._last_report = time.monotonic()
        # Data parallel: a signal is deferred for the whole loop and acted on only when every
        # process agreed on it (`_iteration`), else one would stop while the others wait for it.
        agreed = self.distributed.enabled
        try:
            with self.cancel.deferred() if agreed else contextlib.nullcontext():
                while loop.step < total:
                    # The whole iteration defers a cancel signal: it is acted on after the
                    # checkpoint below, so a cancelled run resumes exactly where it stopped.
                    with contextlib.nullcontext() if agreed else self.cancel.deferred():
                        out_of_time = self._iteration(model, loop, order, data, bar, measure_at, started)
                    if not agreed:
                        self.cancel.check()
                    elif self._cancel_agreed:
                        raise Cancelled(f"cancelled by {self.cancel.requested or 'SIGTERM to another worker'}")
                    if out_of_time:
                        break
        finally:
            bar.close()
        if checkpoint.latest(self.run_dir) is None or checkpoint.latest(self.run_dir).step != loop.step:
            self._save_checkpoint(model, loop, order)  # evaluation can be resumed without retraining
        if device == "cuda":
            self._log_memory(torch.cuda.max_memory_allocated(), model, self._first_batch)
        self.record.flush()

    def _iteration(self, model: Any, loop: Any, order: Any, data: SplitData, bar: Progress,
                   measure_at: int, started: float) -> bool:
        """One step, its metrics and (when due) a checkpoint; True when the time budget is spent."""
        from deepsynth.training.loop import collate_batch
        from deepsynth.training.memory import profile_step_peak_bytes, resident_bytes

        config = self.config
        everyone = order.batch(loop.step)
        mine = self.distributed.shard(everyone)  # all of it when training alone
        batch = collate_batch(model, data.readings, data.instructions, data.summaries, mine or everyone[:1])
        if self._first_batch is None:
            self._first_batch = batch  # what the estimate is computed for (shapes only)
        if loop.step == measure_at:
            resident = resident_bytes(model, loop.optimizer, batch)
            peak, result = profile_step_peak_bytes(lambda: loop.train_step(batch, counted=bool(mine)))
            self._log_memory(resident + peak, model, batch)
        else:
            result = loop.train_step(batch, counted=bool(mine))
        if self._gpu_claim is not None:  # this run's memory is allocated: the next job may look
            self._gpu_claim.release()
            self._gpu_claim = None
        metrics = {"train/loss": result.loss, "train/lr": result.lr, "train/grad_norm": result.grad_norm,
                   "train/epoch": order.epoch(result.step)}
        if result.step - 1 != measure_at:  # the profiled step is slower: not a throughput sample
            metrics["train/samples_per_s"] = result.samples / result.seconds
            metrics["train/tokens_per_s"] = result.tokens / result.seconds
        self.record.metrics(metrics, result.step)
        bar.update(result.step, result.loss, result.lr)
        now = time.monotonic()
        horizon = self._budget.step_done(result.step, now, sample=result.step - 1 != measure_at)
        out_of_time = bool(config.time_budget_s) and now - started >= config.time_budget_s
        stopping = self.cancel.requested
        if self.distributed.enabled:  # every process stops at the same step, once all agreed
            out_of_time = self.distributed.any(out_of_time)
            stopping = self._cancel_agreed = self.distributed.any(stopping is not None)
        self._plan_schedule(loop, result.step if out_of_time else horizon)  # a budget stop: the rate's floor
        # No periodic checkpoint right after a skipped (non-finite) step: resume then starts from
        # a state that was still training normally.
        due = result.step % config.checkpoint_every == 0 and result.applied
        if due or stopping or out_of_time:
            self._save_checkpoint(model, loop, order)
        elif time.monotonic() - self._last_report > 5:
            self.record.report(step=result.step)
            self._last_report = time.monotonic()
        if out_of_time:
            self.record.tags({"deepsynth.stopped_early": f"time budget {config.time_budget_s}s at step {result.step}"})
            self.record.report(stopped_early=f"its {config.time_budget_s:g} s time budget ran out")
            print(f"time budget reached at step {result.step}", flush=True)
        return out_of_time

    def _plan_schedule(self, loop: Any, horizon: int) -> None:
        """Decay the learning rate over `horizon` steps (the budget's end when it comes before the
        step cap, `step_plan.BudgetPlan`); every data-parallel process takes the same horizon."""
        if not self.config.time_budget_s:
            return
        if self.distributed.enabled:
            horizon = int(self.distributed.sum([float(horizon)])[0]) // self.distributed.world_size
        first = loop.schedule.horizon == loop.total_steps and horizon < loop.total_steps
        loop.plan_horizon(horizon)
        if first:
            print(f"time budget: the learning rate now decays over {loop.schedule.horizon} of "
                  f"{loop.total_steps} steps (re-planned as the pace is measured)", flush=True)
        if loop.schedule.horizon != (self._reported_horizon or loop.total_steps):
            self._reported_horizon = loop.schedule.horizon
            self.record.report(lr_horizon=loop.schedule.horizon)

    def _log_memory(self, measured: int, model: Any, batch: dict[str, Any]) -> None:
        from deepsynth.training.memory import estimated_bytes

        metrics = {"memory/measured_peak_bytes": float(measured)}
        try:
            estimate, details = estimated_bytes(self.config, model, batch)
        except Exception as error:  # a model the estimator cannot describe must not stop training
            estimate, details = None, None
            self.record.tags({"deepsynth.estimate_error": f"{type(error).__name__}: {error}"})
        if estimate is not None:
            metrics["memory/estimated_bytes"] = float(estimate)
            self.record.json_artifact(details, "estimate.json")
        self.record.metrics(metrics, 0, flush=True)

    def _final_step(self) -> int:
        latest = checkpoint.latest(self.run_dir)
        return latest.step if latest else 0
