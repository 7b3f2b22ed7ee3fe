"""A job's log holds what the run says (steps, losses, evaluation), not library chatter: no
bitsandbytes kernel message on a run without QLoRA, no torch-profiler USDT probes from the memory
measurement, no transformers FutureWarning about PEFT reading `is_gradient_checkpointing`, no
per-load progress bars (issue 22, item 12)."""

import re
import warnings

from deepsynth import jobs

NOISE = {
    "bitsandbytes kernel message": re.compile(r"gemm_4bit_forward|kernels-community"),
    "profiler probes": re.compile(r"USDT|profiler_start|profiler_stop"),
    "gradient checkpointing FutureWarning": re.compile(r"is_gradient_checkpointing|FutureWarning"),
    "transformers loading bar": re.compile(r"Loading weights"),
}


def test_a_short_jobs_log_carries_no_library_noise(tiny_config, tmp_path, monkeypatch):
    monkeypatch.setenv("DEEPSYNTH_HOME", str(tmp_path))
    # Two steps: the memory measurement profiles the second one (the profiler is what prints USDT).
    config = tiny_config(max_steps=2, eval_docs=2, eval_batch_size=2, measure_memory=True, device="cpu")
    job = jobs.wait(jobs.start_job(config).job_id, timeout_s=300)
    log = job.log_path.read_text()
    assert job.state == jobs.FINISHED, log[-3000:]
    assert "step 2/2" in log and "evaluated tuned model" in log  # what the user needs is still there
    found = {name: pattern.findall(log) for name, pattern in NOISE.items() if pattern.search(log)}
    assert not found, f"noise in the job log: {found}\n{log[-3000:]}"


def test_the_filters_drop_only_the_named_messages(capfd):
    """Other bitsandbytes records and other FutureWarnings still reach the user."""
    import logging

    from deepsynth.training.quiet import BITSANDBYTES_LOGGER, fd2_silenced, quiet_libraries

    quiet_libraries()
    logger = logging.getLogger(BITSANDBYTES_LOGGER)
    kept = [logger.filter(logging.LogRecord(BITSANDBYTES_LOGGER, logging.WARNING, "", 0, message, (), None))
            for message in ("Failed to load CPU gemm_4bit_forward from kernels-community: %s.",
                            "something else went wrong")]
    assert kept == [False, True]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        quiet_libraries()  # catch_warnings reset the filters: install again inside
        warnings.warn("`is_gradient_checkpointing` is deprecated and will be removed in v6.", FutureWarning)
        warnings.warn("another deprecation", FutureWarning)
    assert [str(w.message) for w in caught] == ["another deprecation"]

    import os

    with fd2_silenced():
        os.write(2, b"dropped\n")
    os.write(2, b"kept\n")
    assert capfd.readouterr().err == "kept\n"
