"""`deepsynth jobs list|status|start|cancel|resume|wait|queue`: background training jobs from the shell.

`jobs queue add|list|cancel|move|limit|run`: jobs that start, in order, when a slot is free
(`deepsynth.jobs.queue`, `deepsynth.jobs.queue_runner`); `jobs list` shows them as QUEUED with
their position.
"""

from __future__ import annotations

import argparse
import time

from deepsynth.training.cli import add_config_arguments

HELP = "List, start, cancel and resume background training jobs."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    actions.add_parser("list", help="all jobs, newest first")
    status = actions.add_parser("status", help="one job in detail")
    status.add_argument("job_id", metavar="ID")
    start = actions.add_parser(
        "start", help="start a training run in the background (the flags of `deepsynth train`)",
        description="Takes exactly the flags of `deepsynth train`, e.g. "
                    "`deepsynth jobs start --dataset DIR --preset minimal` or `--config FILE.json`.")
    add_config_arguments(start)
    cancel = actions.add_parser("cancel", help="stop a job (SIGTERM, then kill after a timeout)")
    cancel.add_argument("job_id", metavar="ID")
    cancel.add_argument("--timeout", type=float, default=30.0, help="seconds before SIGKILL (30)")
    resume = actions.add_parser("resume", help="continue a stopped job from its last checkpoint")
    resume.add_argument("job_id", metavar="ID")
    wait = actions.add_parser("wait", help="block until a job stops")
    wait.add_argument("job_id", metavar="ID")
    wait.add_argument("--timeout", type=float, default=None)
    _add_queue_arguments(actions.add_parser(
        "queue", help="jobs that start in order when a slot is free (add, list, cancel, move, limit, run)",
        description="A queue on disk: queued jobs start in order when a slot is free (default: one at a "
                    "time on CPU, one per GPU on CUDA), with no dashboard open; a small runner process "
                    "is started when needed."))


def _max_concurrent(text: str) -> int | None:
    from deepsynth.errors import InputError
    from deepsynth.jobs.queue import parse_max_concurrent

    try:
        return parse_max_concurrent(text)
    except InputError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


MAX_CONCURRENT_HELP = "jobs running at once: a number, or auto (one per GPU on CUDA; two on a CPU with two cores or more, threads shared)"


def _add_queue_arguments(parser: argparse.ArgumentParser) -> None:
    verbs = parser.add_subparsers(dest="queue_action", metavar="VERB", required=True)
    add = verbs.add_parser("add", help="queue a training run (the flags of `deepsynth train`)",
                           description="Takes exactly the flags of `deepsynth train`; the job starts when a "
                                       "slot is free.")
    add_config_arguments(add)
    add.add_argument("--max-concurrent", type=_max_concurrent, default=argparse.SUPPRESS, metavar="N|auto",
                     help=MAX_CONCURRENT_HELP)
    verbs.add_parser("list", help="waiting jobs in the order they will start")
    cancel = verbs.add_parser("cancel", help="take a waiting job out of the queue")
    cancel.add_argument("job_id", metavar="ID")
    move = verbs.add_parser("move", help="change a waiting job's place (1 = next)")
    move.add_argument("job_id", metavar="ID")
    move.add_argument("position", type=int, metavar="POSITION")
    limit = verbs.add_parser("limit", help="set how many jobs run at once")
    limit.add_argument("max_concurrent", type=_max_concurrent, metavar="N|auto", help=MAX_CONCURRENT_HELP)
    run = verbs.add_parser("run", help="serve the queue in this terminal (normally started for you, detached)")
    run.add_argument("--idle-exit", type=float, default=None, metavar="SECONDS",
                     help="leave after the queue has been empty this long (default 30)")


def _line(job, names: dict[str, str]) -> str:
    step = "-" if job.step is None else str(job.step)
    name = names.get(job.run_id or "") or configured_run_name(job) or "-"
    return f"{job.job_id:<24} {job.state:<10} {job.pid:>7} {step:>6}  {name:<28} {job.run_id or '-'}"


def configured_run_name(job) -> str:
    """The run name the job was started with ("" if none: MLflow then names the run): from its
    `--run-name` flag or its config file."""
    import json

    from deepsynth.training.config import TRAIN_CONFIG_FILE

    args = list(job.train_args)
    for index, arg in enumerate(args):
        if arg == "--run-name" and index + 1 < len(args):
            return args[index + 1]
        if arg.startswith("--run-name="):
            return arg.split("=", 1)[1]
    try:
        return str(json.loads((job.job_dir / TRAIN_CONFIG_FILE).read_text(encoding="utf-8")).get("run_name") or "")
    except (OSError, ValueError, AttributeError):
        return ""


NAME_LOOKUP_TIMEOUT_S = "5"
"""An HTTP tracking server gets this long (and no retries) to name the jobs' runs: a server that is
down must not hold `jobs list` for mlflow's default two minutes of retries."""


def run_names(jobs_listed) -> dict[str, str]:
    """run id -> run name of the jobs' runs, one query per tracking store; a store that cannot be
    read now leaves its runs unnamed (listing jobs must still work)."""
    import os

    from deepsynth.tracking.run_lookup import run_names as names_in

    by_store: dict[str, list[str]] = {}
    for job in jobs_listed:
        if job.run_id:
            by_store.setdefault(job.tracking_uri or "", []).append(job.run_id)
    names: dict[str, str] = {}
    quick = {"MLFLOW_HTTP_REQUEST_TIMEOUT": NAME_LOOKUP_TIMEOUT_S, "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0"}
    saved = {key: os.environ.get(key) for key in quick}
    os.environ.update({key: value for key, value in quick.items() if saved[key] is None})
    try:
        for uri, run_ids in by_store.items():
            try:
                names.update(names_in(run_ids, uri or None))
            except Exception as error:  # an unreachable server: the ids are still shown
                print(f"(run names from {uri or 'the default store'} not read: {str(error)[:200]})")
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
    return names


def _queued_line(job) -> str:
    sweep = f" · sweep {job.sweep_id}" if job.sweep_id else ""
    return f"{job.job_id:<24} {'QUEUED':<10} {'-':>7} {'-':>6}  position {job.position}{sweep}"


def _failed_line(record) -> str:
    return f"{record['job_id']:<24} {'FAILED':<10} {'-':>7} {'-':>6}  could not start: {record['error']}"


def _queue_run(args: argparse.Namespace) -> int:
    from deepsynth.jobs import queue, queue_runner

    action = args.queue_action
    if action == "add":
        from deepsynth.training.cli import checked_nproc, config_from_args

        config = config_from_args(args)
        if hasattr(args, "max_concurrent"):  # given (auto is None)
            queue.set_max_concurrent(args.max_concurrent)
        job = queue_runner.queue_job(config, nproc=checked_nproc(args.nproc))
        print(f"queued job {job.job_id} at position {job.position}; runner log: {queue_runner.runner_log()}")
        return 0
    if action == "list":
        state = queue.snapshot()
        runner = queue_runner.runner_info()
        alive = runner is not None and runner.alive
        limit = state.max_concurrent or queue_runner.auto_limit_text()
        print(f"runner: {'pid ' + str(runner.pid) if alive else 'not running'} · max concurrent: {limit}")
        print(f"{'POS':>4}  {'JOB':<24} {'SWEEP':<28} RUN NAME / DATASET")
        for job in queue.list_queued():
            print(f"{job.position:>4}  {job.job_id:<24} {job.sweep_id or '-':<28} {job.label}")
        return 0
    if action == "cancel":
        if not queue.cancel_queued(args.job_id):
            from deepsynth.errors import InputError

            raise InputError(f"job {args.job_id!r} is not waiting in the queue (a started job: `deepsynth jobs cancel`)")
        print(f"removed job {args.job_id} from the queue")
        return 0
    if action == "move":
        for job in queue.move(args.job_id, args.position):
            print(f"{job.position:>4}  {job.job_id}")
        return 0
    if action == "limit":
        queue.set_max_concurrent(args.max_concurrent)
        print(f"max concurrent jobs: {args.max_concurrent or 'auto'}")
        return 0
    if action == "run":
        idle = queue_runner.IDLE_EXIT_S if args.idle_exit is None else args.idle_exit
        return queue_runner.serve(idle_exit_s=idle)
    raise AssertionError(action)


def _detail(job) -> str:
    started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(job.create_time)) if job.create_time else "-"
    lines = [f"job       {job.job_id}", f"state     {job.state}", f"pid       {job.pid} (started {started})",
             f"attempt   {job.attempt}", f"run       {job.run_id or '-'}", f"step      {job.step}",
             f"tracking  {job.tracking_uri or '-'}", f"log       {job.log_path}",
             f"args      {' '.join(job.train_args)}"]
    if job.memory_peaks:
        from deepsynth.jobs.progress import memory_text

        lines.append(f"memory    peak {memory_text(job.memory_peaks)}")
    if job.error:
        lines.append(f"error     {job.error}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from deepsynth import jobs

    if args.action == "queue":
        return _queue_run(args)
    if args.action == "list":
        from deepsynth.jobs import queue

        state = queue.snapshot()
        listed = jobs.list_jobs()
        names = run_names(listed)
        print(f"{'JOB':<24} {'STATE':<10} {'PID':>7} {'STEP':>6}  {'RUN NAME':<28} RUN ID")
        for job in queue.list_queued():
            print(_queued_line(job))
        for job in listed:
            print(_line(job, names))
        for record in reversed(state.failed[-10:]):
            print(_failed_line(record))
        return 0
    if args.action == "start":
        from deepsynth.training.cli import checked_nproc, config_from_args

        job = jobs.start_job(config_from_args(args), nproc=checked_nproc(args.nproc))
        print(f"started job {job.job_id} (pid {job.pid}); log: {job.log_path}")
        return 0
    if args.action == "status":
        print(_detail(jobs.get_job(args.job_id)))
        return 0
    if args.action == "cancel":
        if jobs.cancel_queued(args.job_id):  # still waiting: it never started
            print(f"removed job {args.job_id} from the queue")
            return 0
        job = jobs.cancel(args.job_id, timeout_s=args.timeout)
        print(_detail(job))
        return 0
    if args.action == "resume":
        job = jobs.resume(args.job_id)
        print(f"resumed job {job.job_id} (attempt {job.attempt}, pid {job.pid}); log: {job.log_path}")
        return 0
    if args.action == "wait":
        job = jobs.wait(args.job_id, timeout_s=args.timeout)
        print(_detail(job))
        return 0 if job.state == jobs.FINISHED else 1
    raise AssertionError(args.action)
