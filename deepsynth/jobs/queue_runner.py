"""The queue runner: a small detached process that starts queued jobs, in order, as slots free up.

Whoever queues a job (`queue_job`: the CLI, the dashboard, a sweep) calls `ensure_runner()`, which
starts `deepsynth jobs queue run` in its own session when no runner is alive, so queued jobs start
with nothing else open, and a dashboard restart or a closed terminal loses nothing. The runner is
found again like a job: pid + process start time in `queue/runner.json` (`deepsynth.processes`).
At most one serves: the live runner holds `queue/runner.lock` (`flock`, dropped by the kernel
when it dies, kill -9 included); a second one waits for it, then serves or leaves. The runner
leaves by itself once the queue is empty and the jobs it started have ended; the queue lock makes
"queue a job" and "the runner leaves" exclusive, so a job is never queued with no runner to come.

Slots: `max_concurrent` from the queue (`--max-concurrent`), else one per GPU on CUDA and, on a
CPU, two when the process may use two cores or more (`CPU_AUTO_SLOTS`) and the memory allows it
(`memory_wait`: a second CPU job starts only when the memory available covers the estimator's
figure for it plus what the running jobs have yet to grow to; the first always starts): each worker then takes its
share of the cores (`training.hardware`: threads divided among running jobs, never oversubscribed),
and a job's single-threaded phases (start-up, loading, MLflow, generation) overlap the other's
training. `bench/sweep.py` measured a 4-point sweep on 2 cores at 0.43-0.73x the wall time and
0.85-1.13x the CPU time of one slot. Every live job counts, those
started by hand (`jobs.start_job`) too. On CUDA a job starts on a GPU no other queued job holds,
and only when `check_gpu` finds the memory `estimated_need` predicts; it is pinned there with
`CUDA_VISIBLE_DEVICES`. The head of the queue waits for its turn: order is kept.

A job that fails, or cannot start (its dataset was deleted meanwhile), does not stop the queue.
When the last job of a sweep ends, the runner starts `deepsynth sweep --finish ID` (the sweep's
summary in its parent MLflow run) as a detached child.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import sys
import threading
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from deepsynth import paths
from deepsynth.atomic_files import write_json_atomic
from deepsynth.errors import DeepSynthError
from deepsynth.file_locks import try_lock
from deepsynth.gpu_probe import GpuUnavailable, Probe, nvidia_smi_probe
from deepsynth.names import check_sweep_id
from deepsynth.jobs import queue
from deepsynth.processes import is_our_process, process_start_time, track_child
from deepsynth.training.gpu_queue import check_gpu, estimated_need

RUNNER_FILE, RUNNER_LOG, RUNNER_LOCK = "runner.json", "runner.log", "runner.lock"
RUNNER_ARGS = ("-m", "deepsynth", "jobs", "queue", "run")
POLL_S = 2.0
"""How often the runner looks for a free slot and for ended jobs."""
IDLE_EXIT_S = 30.0
"""The runner leaves after the queue has been empty (and its jobs ended) this long."""
RUNNER_LOCK_WAIT_S = 30.0
"""A new runner waits this long for a leaving one to let go of runner.lock."""
Spawn = Callable[..., Any]


@dataclass(frozen=True)
class RunnerInfo:
    """The queue runner as recorded in runner.json."""

    pid: int
    """Its process id."""
    create_time: float
    """Its process start time (with the pid, its identity)."""

    @property
    def alive(self) -> bool:
        return is_our_process(self.pid, self.create_time)


def runner_info() -> RunnerInfo | None:
    try:
        data = json.loads((queue.queue_dir() / RUNNER_FILE).read_text(encoding="utf-8"))
        return RunnerInfo(int(data["pid"]), float(data["create_time"]))
    except (FileNotFoundError, json.JSONDecodeError, KeyError, TypeError, ValueError):
        return None


def _record_runner(pid: int, argv: list[str]) -> RunnerInfo:
    info = RunnerInfo(pid, process_start_time(pid) or 0.0)
    write_json_atomic(queue.queue_dir() / RUNNER_FILE, {"pid": info.pid, "create_time": info.create_time,
                                                        "started_at": time.time(), "argv": argv})
    return info


def ensure_runner(command: list[str] | None = None, spawn: Spawn = subprocess.Popen) -> RunnerInfo:
    """The live queue runner, started (detached, in its own session) when there is none.
    `command`: the runner's argv (tests run one with stand-in workers)."""
    with queue.locked():
        info = runner_info()
        if info is not None and info.alive:
            return info
        argv = list(command) if command else [sys.executable, *RUNNER_ARGS]
        folder = queue.queue_dir()
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / RUNNER_LOG, "ab") as log:
            child = spawn(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                          cwd=str(paths.home()), env=dict(os.environ, DEEPSYNTH_HOME=str(paths.home())),
                          start_new_session=True)
        track_child(child)  # reaped if it ends while we live (no zombie)
        return _record_runner(child.pid, argv)


def queue_job(config: Any, nproc: int = 1, job_id: str | None = None, start_runner: bool = True) -> queue.QueuedJob:
    """Queue a training job for the `TrainConfig` `config`: it starts when a slot is free, in
    order, with no dashboard open (a runner is started if none is alive)."""
    job = queue.add([queue.entry_for(config, nproc, job_id)])[0]
    if start_runner:
        ensure_runner()
    return job


def finish_sweep_in_background(sweep_id: str) -> None:
    """Start `deepsynth sweep --finish ID` detached (its output in the sweep's folder)."""
    folder = paths.sweeps_dir() / check_sweep_id(sweep_id)
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "finish.log", "ab") as log:
        child = subprocess.Popen([sys.executable, "-m", "deepsynth", "sweep", "--finish", sweep_id],
                                 stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                 cwd=str(paths.home()), start_new_session=True)
    track_child(child)


CPU_AUTO_SLOTS = 2
"""Jobs at once on a CPU machine when the queue's limit is `auto` (fewer when fewer cores)."""


def cpu_slots() -> int:
    from deepsynth.training.hardware import available_cores

    return max(1, min(CPU_AUTO_SLOTS, available_cores()))


def auto_limit_text() -> str:
    """What `auto` means here, for people: `auto (2 on this CPU as memory allows, 1 per GPU)`."""
    slots = cpu_slots()
    return f"auto ({slots} on this CPU{' as memory allows' if slots > 1 else ''}, 1 per GPU)"


class QueueRunner:
    """Starts what fits (`tick`); `serve` calls it every `POLL_S`. `spawn` and `probe` are
    parameters so tests need neither real workers nor a GPU."""

    def __init__(self, spawn: Spawn = subprocess.Popen, probe: Probe = nvidia_smi_probe,
                 on_sweep_done: Callable[[str], None] | None = None,
                 available_memory: Callable[[], int] | None = None,
                 job_memory: Callable[[Any], tuple[int | None, int]] | None = None) -> None:
        self.spawn = spawn
        self.probe = probe
        self.available_memory = available_memory or _available_memory
        self.job_memory = job_memory or _job_memory
        self._memory_said: str | None = None
        self.on_sweep_done = on_sweep_done or finish_sweep_in_background
        self._gpus: list[int] | None = None

    def gpus(self) -> list[int]:
        """CUDA device indices (none on a CPU machine); asked once."""
        if self._gpus is None:
            try:
                self._gpus = sorted(gpu.index for gpu in self.probe())
            except GpuUnavailable:
                self._gpus = []
        return self._gpus

    def slots(self, state: queue.QueueState) -> int:
        return state.max_concurrent or len(self.gpus()) or cpu_slots()

    def tick(self) -> list[str]:
        """Forget ended jobs, start queued ones while slots are free; returns the started ids."""
        from deepsynth.jobs.lifecycle import running_jobs

        started_now: list[str] = []
        touched: set[str] = set()
        alive = {job.job_id for job in running_jobs()}  # outside the lock: it may close dead jobs' runs
        with queue.locked() as state:
            for record in state.started:
                if record["job_id"] not in alive and record.get("sweep_id"):
                    touched.add(record["sweep_id"])
            state.started[:] = [record for record in state.started if record["job_id"] in alive]
            while state.entries and len(alive) < self.slots(state):
                entry = state.entries[0]
                outcome = self._start(entry, state, alive)
                if outcome == "wait":
                    break
                state.entries.pop(0)
                if outcome == "started":
                    alive.add(entry["job_id"])
                    started_now.append(entry["job_id"])
                elif entry.get("sweep_id"):
                    touched.add(entry["sweep_id"])
            remaining = {e.get("sweep_id") for e in state.entries} | {r.get("sweep_id") for r in state.started}
        for sweep_id in sorted(touched - remaining):
            try:
                self.on_sweep_done(sweep_id)
            except Exception as error:  # a summary that cannot start must not stop the queue
                print(f"queue runner: could not finish sweep {sweep_id}: {error}", flush=True)
        return started_now

    def _start(self, entry: dict[str, Any], state: queue.QueueState, alive: set[str]) -> str:
        """'started', 'failed' (recorded in the queue) or 'wait' (no GPU has room yet)."""
        from deepsynth.jobs.lifecycle import JOB_FILE, start_job

        job_id, sweep_id = entry["job_id"], entry.get("sweep_id", "")
        job_dir = paths.jobs_dir() / job_id
        if (job_dir / JOB_FILE).is_file():  # a runner started it, then died before it said so
            state.started.append({"job_id": job_id, "sweep_id": sweep_id, "gpu": None, "started_at": time.time()})
            return "started"
        if job_dir.exists():
            state.fail(entry, f"a queue runner died while starting it: {job_dir} has no {JOB_FILE}")
            return "failed"
        try:
            config = queue.entry_config(entry)  # refuses what a queue entry may not carry (remote code)
        except DeepSynthError as error:
            state.fail(entry, f"its settings are no longer valid: {error}")
            return "failed"
        nproc = int(entry.get("nproc", 1))
        if alive and not state.max_concurrent and (not self.gpus() or config.device == "cpu"):
            reason = self.memory_wait(config, nproc, alive)
            if reason:
                if reason != self._memory_said:
                    print(f"queue runner: job {job_id} waits: {reason}", flush=True)
                    self._memory_said = reason
                return "wait"
        gpus = None
        if self.gpus() and config.device != "cpu":
            gpus = self._free_gpus(config, nproc, state, alive)
            if gpus is None:
                return "wait"
        try:
            together = min(self.slots(state), len(alive) + len(state.entries))  # the cores' sharers, this one included
            start_job(config, nproc=nproc, spawn=self._spawn_on(gpus), job_id=job_id, concurrent=together)
        except Exception as error:  # the queue goes on; the job says why it did not start
            state.fail(entry, f"{type(error).__name__}: {error}")
            return "failed"
        print(f"queue runner: started job {job_id}" + (f" on GPU {','.join(map(str, gpus))}" if gpus else ""), flush=True)
        state.started.append({"job_id": job_id, "sweep_id": sweep_id, "gpu": gpus, "started_at": time.time()})
        return "started"

    def memory_wait(self, config: Any, nproc: int, alive: set[str]) -> str | None:
        """Why a CPU job may not start beside the running ones yet (None: it may): the memory
        available must cover its estimated peak (`gpu_queue.estimated_need(config, "cpu")`, per
        process) plus what each running job still lacks of its own estimate (estimate - resident)."""
        from deepsynth.jobs.lifecycle import get_job
        from deepsynth.training.gpu_queue import estimated_need

        try:
            need = estimated_need(config, device="cpu")
        except Exception:  # an estimate that fails: the slot count alone decides, as before
            return None
        if not need:
            return None
        need *= max(1, nproc)
        growing = 0
        for job_id in alive:
            try:
                estimate, resident = self.job_memory(get_job(job_id))
            except Exception:  # a job folder that cannot be read: count nothing for it
                continue
            if estimate:
                growing += max(0, estimate - resident)
        available = self.available_memory()
        if available >= need + growing:
            self._memory_said = None
            return None
        gb = 1e9
        return (f"it needs about {need / gb:.1f} GB (the estimate) and the running job(s) about "
                f"{growing / gb:.1f} GB more; {available / gb:.1f} GB is available: it starts when one ends")

    def _free_gpus(self, config: Any, nproc: int, state: queue.QueueState, alive: set[str]) -> list[int] | None:
        """`nproc` GPUs that no live queued job holds and that have the memory the run needs."""
        held = {index for record in state.started if record["job_id"] in alive for index in (record.get("gpu") or [])}
        try:
            need = estimated_need(config)
        except Exception:  # an estimate that fails: ask for the fallback share of the GPU
            need = None
        free = []
        for index in self.gpus():
            if index in held:
                continue
            try:
                if check_gpu(need, self.probe, index).fits:
                    free.append(index)
            except GpuUnavailable:
                continue
            if len(free) == nproc:
                return free
        return None

    def _spawn_on(self, gpus: list[int] | None) -> Spawn:
        if gpus is None:
            return self.spawn

        def pinned(argv: list[str], **options: Any) -> Any:
            options["env"] = dict(options.get("env") or os.environ, CUDA_VISIBLE_DEVICES=",".join(map(str, gpus)))
            return self.spawn(argv, **options)

        return pinned


def _available_memory() -> int:
    import psutil

    return int(psutil.virtual_memory().available)


def _job_memory(job: Any) -> tuple[int | None, int]:
    """(estimated peak bytes, resident bytes now) of a running job's worker process tree."""
    import psutil

    from deepsynth.training.config import TRAIN_CONFIG_FILE, load_train_config
    from deepsynth.training.gpu_queue import estimated_need

    estimate = estimated_need(load_train_config(job.job_dir / TRAIN_CONFIG_FILE), device="cpu")
    try:
        process = psutil.Process(job.pid)
        resident = sum(p.memory_info().rss for p in [process, *process.children(recursive=True)])
    except psutil.Error:
        resident = 0
    return estimate, resident


def _take_runner_lock(wait_s: float) -> Any | None:
    return try_lock(queue.queue_dir() / RUNNER_LOCK, wait_s, poll_s=0.2)


def _forget_runner_file() -> None:
    """Remove runner.json if it names this process (never a successor's)."""
    info = runner_info()
    if info is not None and info.pid == os.getpid():
        (queue.queue_dir() / RUNNER_FILE).unlink(missing_ok=True)


def serve(runner: QueueRunner | None = None, poll_s: float = POLL_S, idle_exit_s: float = IDLE_EXIT_S,
          lock_wait_s: float = RUNNER_LOCK_WAIT_S) -> int:
    """Run the queue in this process until it has been idle `idle_exit_s` or SIGTERM arrives."""
    runner = runner or QueueRunner()
    handle = _take_runner_lock(lock_wait_s)
    if handle is None:
        print("queue runner: another runner is serving this queue; leaving", flush=True)
        return 0
    stop = threading.Event()
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        with queue.locked():
            _record_runner(os.getpid(), sys.argv)
        print(f"queue runner: serving {queue.queue_dir()} (pid {os.getpid()})", flush=True)
        idle_since: float | None = None
        while not stop.is_set():
            try:
                runner.tick()
            except Exception:  # keep serving: the next poll tries again
                traceback.print_exc()
            with queue.locked() as state:
                if state.entries or state.started:
                    idle_since = None
                elif idle_since is None:
                    idle_since = time.monotonic()
                elif time.monotonic() - idle_since >= idle_exit_s:
                    _forget_runner_file()  # under the queue lock: a queuer now starts a new runner
                    print("queue runner: queue empty; leaving", flush=True)
                    return 0
            stop.wait(poll_s)
        print("queue runner: stopped (SIGTERM); queued jobs stay queued", flush=True)
        return 0
    finally:
        with queue.locked():
            _forget_runner_file()
        fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()


def runner_log() -> Path:
    return queue.queue_dir() / RUNNER_LOG
