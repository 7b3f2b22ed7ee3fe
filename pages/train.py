"""Train: choose a dataset and settings, start a background job, watch it live, cancel or resume."""

from __future__ import annotations

import time

import streamlit as st

from deepsynth import jobs
from deepsynth.config_flags import config_json
from deepsynth.configuration import ConfigError, default_of, field_docs
from deepsynth.errors import DeepSynthError
from deepsynth.lora import preset, preset_description, preset_names
from deepsynth.models.config import VISION_INTERFACES, ModelConfig
from deepsynth.training.config import EVAL_SPLITS, TRAIN_CONFIG_FILE, TrainConfig, resolve_eval_split
from ui import datasets, handoff, live, settings, sweeps
from ui.login import signed_in_user
from ui.widgets import FieldErrors, show_error

SPAWN_KEY = "deepsynth.spawn"  # tests put a fake process starter here; the app uses subprocess.Popen
config = settings.load()
spawn = {"spawn": st.session_state[SPAWN_KEY]} if SPAWN_KEY in st.session_state else {}
spawn["user"] = signed_in_user()  # who starts or resumes a job: job.json, MLflow tag deepsynth.user
st.title("Train")


def start_form() -> None:
    found = datasets.list_datasets(str(config.datasets))
    if not found:
        st.info(f"No datasets in `{config.datasets}`: build one on the **Dataset** page first.")
        return
    errors = FieldErrors()
    by_path = {entry.path: entry for entry in found}
    dataset = st.selectbox("Dataset", list(by_path), key="train.dataset", format_func=lambda p: by_path[p].label)
    errors.slot("dataset")
    choice = handoff.load()
    sources = ["Preset"] + (["From the estimate page"] if choice else [])
    source = st.radio("LoRA settings", sources, horizontal=True, key="train.settings_source")
    c1, c2, c3 = st.columns(3)
    if source == "Preset":
        names = preset_names()
        name = c1.selectbox("Preset", names, index=names.index("standard") if "standard" in names else 0,
                            key="train.preset", help="; ".join(f"{n}: {preset_description(n)}" for n in names))
        lora, model_name, interface = preset(name), None, None
    else:
        name, lora = choice.preset, choice.lora
        c1.markdown(f"**{choice.preset}** · rank {lora.rank} · alpha {lora.alpha:g} · {lora.quantization}")
        model_name, interface = choice.model, choice.vision_interface
    model_name = c2.text_input("Model", value=model_name or default_of(ModelConfig, "name"), key=f"train.model.{source}",
                               help="default (offline SmolLM2 + EasyOCR reader), tiny (tests), or a model folder")
    interfaces = list(VISION_INTERFACES)
    interface = c3.selectbox("Vision interface", interfaces,
                             index=interfaces.index(interface or default_of(ModelConfig, "vision_interface")),
                             key=f"train.vision_interface.{source}")
    errors.slot("preset", "lora", "name", "vision_interface", "model")
    d1, d2, d3, d4 = st.columns(4)
    max_steps = d1.number_input("Max steps (0 = by epochs)", value=default_of(TrainConfig, "max_steps"),
                                key="train.max_steps")
    epochs = d2.number_input("Epochs", value=float(default_of(TrainConfig, "epochs")), step=0.5, key="train.epochs")
    batch_size = d3.number_input("Batch size", value=default_of(TrainConfig, "batch_size"), key="train.batch_size")
    learning_rate = d4.number_input("Learning rate", value=default_of(TrainConfig, "learning_rate"), format="%.1e",
                                    step=1e-4, key="train.learning_rate")
    errors.slot("max_steps", "epochs", "batch_size", "learning_rate")
    e1, e2, e2s, e3, e4 = st.columns([4, 3, 3, 4, 4])
    time_budget = e1.number_input("Time budget (s, 0 = none)", value=float(default_of(TrainConfig, "time_budget_s")),
                                  key="train.time_budget_s")
    eval_docs = e2.number_input("Eval documents", value=default_of(TrainConfig, "eval_docs"), key="train.eval_docs")
    counts = by_path[dataset].metadata.get("counts", {})  # split sizes: a shortfall shows before training
    eval_split = e2s.selectbox("Eval split", EVAL_SPLITS, key="train.eval_split",
                               help=field_docs(TrainConfig)["eval_split"],
                               format_func=lambda s: f"{s} ({counts.get(resolve_eval_split(s, counts), '?')} docs)")
    experiment = e3.text_input("Experiment", value=default_of(TrainConfig, "experiment"), key="train.experiment")
    run_name = e4.text_input("Run name", value=default_of(TrainConfig, "run_name"), key="train.run_name",
                             placeholder="MLflow picks one")
    errors.slot("time_budget_s", "eval_docs", "eval_split", "experiment", "run_name")
    problems: list[tuple[str, str]] = []  # model and run settings checked together: every problem at once
    try:
        model = ModelConfig(name=model_name.strip(), vision_interface=interface)
    except ConfigError as error:
        problems += error.problems
        model = ModelConfig()
    try:
        train = TrainConfig(dataset=dataset, model=model, lora=lora, preset=name, max_steps=int(max_steps),
                            epochs=float(epochs), batch_size=int(batch_size), learning_rate=float(learning_rate),
                            time_budget_s=float(time_budget), eval_docs=int(eval_docs), eval_split=eval_split,
                            experiment=experiment.strip(),
                            run_name=run_name.strip(), tracking_uri=config.uri)
    except ConfigError as error:
        problems += error.problems
    if problems:
        errors.show(ConfigError(problems, "training settings"))
        return
    left, right = st.columns([3, 1])
    left.caption(f"Runs as `deepsynth train --config {TRAIN_CONFIG_FILE}` (preset **{train.preset}**); "
                 "the same file runs from a shell.")
    right.download_button(f"Download {TRAIN_CONFIG_FILE}", config_json(train), file_name=TRAIN_CONFIG_FILE,
                          mime="application/json", key="train.download_config")
    if st.button("Start training", type="primary", key="train.start"):
        try:
            job = jobs.start_job(train, **spawn)
        except DeepSynthError as error:
            show_error(error)
            return
        st.session_state["train.job"] = job.job_id
        st.success(f"Started job {job.job_id} (pid {job.pid}).")
    sweeps.queue_or_sweep(train)  # queue it instead, or sweep from these settings (dashboard/ui/sweeps.py)


with st.expander("Start a training job", expanded=not jobs.running_jobs()):
    start_form()

sweeps.queue_and_progress(config.uri)  # waiting jobs with their position, sweeps' progress
st.subheader("Jobs")
all_jobs = jobs.list_jobs()  # read from disk: survives a dashboard restart
if not all_jobs:
    st.info("No jobs yet.")
    st.stop()
st.dataframe([{"job": j.job_id, "state": j.state, "step": j.step, "user": j.user or "",
               "attempt": j.attempt, "run": j.run_id or "",
               "started": time.strftime("%Y-%m-%d %H:%M", time.localtime(j.create_time)) if j.create_time else ""}
              for j in all_jobs], hide_index=True, key="train.jobs_table")
ids = [j.job_id for j in all_jobs]
if st.session_state.get("train.job") not in ids:
    st.session_state["train.job"] = ids[0]
job_id = st.selectbox("Job", ids, key="train.job")
live.panel(job_id, config.uri, spawn)
