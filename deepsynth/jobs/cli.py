"""`deepsynth jobs list|status|start|cancel|resume|wait`: background training jobs from the shell."""

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


def _line(job) -> str:
    step = "-" if job.step is None else str(job.step)
    return f"{job.job_id:<24} {job.state:<10} {job.pid:>7} {step:>6}  {job.run_id or '-'}"


def _detail(job) -> str:
    started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(job.create_time)) if job.create_time else "-"
    lines = [f"job       {job.job_id}", f"state     {job.state}", f"pid       {job.pid} (started {started})",
             f"attempt   {job.attempt}", f"run       {job.run_id or '-'}", f"step      {job.step}",
             f"tracking  {job.tracking_uri or '-'}", f"log       {job.log_path}",
             f"args      {' '.join(job.train_args)}"]
    if job.error:
        lines.append(f"error     {job.error}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from deepsynth import jobs

    if args.action == "list":
        print(f"{'JOB':<24} {'STATE':<10} {'PID':>7} {'STEP':>6}  RUN")
        for job in jobs.list_jobs():
            print(_line(job))
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
