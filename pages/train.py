"""Train: choose a dataset and settings, start a background job, watch it live, cancel or resume.

The form keeps intent: its values live on disk per user (ui.form_memory: a reload or a page
switch finds them again), a choice handed over from the estimate page is applied once and
preselected, the dataset defaults to the last used or just built, and every `TrainConfig` field
is on the page (the advanced ones generated from the dataclass, ui.config_form)."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from deepsynth import jobs
from deepsynth.config_flags import config_json
from deepsynth.configuration import ConfigError
from deepsynth.errors import DeepSynthError
from deepsynth.estimate.steps import too_short_to_learn
from deepsynth.hub_offline import is_hub_id
from deepsynth.jobs.progress import state_text
from deepsynth.lora import LORA_FIELDS, preset, preset_description, preset_names
from deepsynth.evaluation.scorecard import shortfall_message
from deepsynth.training.config import EVAL_SPLITS, TRAIN_CONFIG_FILE, TrainConfig, resolve_eval_split
from deepsynth.training.step_plan import AUTOMATIC, planned_steps, resolved_plan
from ui import config_form, datasets, handoff, hub_downloads, live, machine, model_summary, settings, sweeps
from ui.form_memory import FormMemory, keep
from ui.login import signed_in_user
from ui.widgets import FieldErrors, show_error

SPAWN_KEY = "deepsynth.spawn"  # tests put a fake process starter here; the app uses subprocess.Popen
PREFIX = "train.cfg"
PRESET_SOURCE = "Preset"
DRAWN_BY_PAGE = ("dataset", "preset")
LABELS = {"model.name": "Model", "max_steps": "Max steps (0 = by epochs)", "time_budget_s": "Time budget (s, 0 = none)",
          "eval_docs": "Eval documents (0 = skip)", "tracking_uri": "Tracking URI (empty = the sidebar's)",
          "run_name": "Run name (empty = MLflow picks one)", "warmup_steps": "Warmup steps (empty = auto)",
          "checkpoint_every": "Checkpoint every (empty = auto)"}

config = settings.load()
spawn = {"spawn": st.session_state[SPAWN_KEY]} if SPAWN_KEY in st.session_state else {}
spawn["user"] = signed_in_user()  # who starts or resumes a job: job.json, MLflow tag deepsynth.user
state = st.session_state
memory = FormMemory("train")
FIELDS = config_form.form_fields(TrainConfig, skip=DRAWN_BY_PAGE)
BY_PATH = {f.path: f for f in FIELDS}
BASIC = [f.path for f in sorted((f for f in FIELDS if not f.advanced), key=lambda f: f.order)]  # the settings' metadata
STARTED_KEY = "train.just_started"  # the job the last click started, shown once after the rerun
FORM_OPEN = "train.form_open"  # the form's expander, open or closed as the user left it
KEYS = [FORM_OPEN, "train.dataset", "train.settings_source", "train.preset"] + [f"{PREFIX}.{f.path}" for f in FIELDS]
st.title("Train")


def key(path: str) -> str:
    return f"{PREFIX}.{path}"


def fill_lora(lora) -> None:
    """Put LoRA settings into their widgets (a preset or the estimate page's choice)."""
    for name in LORA_FIELDS:
        state[key(f"lora.{name}")] = config_form.widget_value(BY_PATH[f"lora.{name}"], getattr(lora, name))


def apply_choice(choice: handoff.TrainingChoice) -> None:
    state["train.settings_source"] = handoff.SOURCE
    fill_lora(choice.lora)
    state[key("model.name")] = choice.model
    state[key("model.vision_interface")] = choice.vision_interface
    if choice.batch_size:
        state[key("batch_size")] = choice.batch_size
    if choice.epochs:
        state[key("epochs")] = float(choice.epochs)


def on_preset() -> None:
    fill_lora(preset(state["train.preset"]))


def on_source() -> None:
    choice = handoff.load()
    if state["train.settings_source"] == handoff.SOURCE and choice is not None:
        apply_choice(choice)
    else:
        on_preset()


def base_preset(choice: handoff.TrainingChoice | None) -> str:
    """The preset the LoRA values started from (the label turns `custom` once they differ)."""
    if state.get("train.settings_source") == handoff.SOURCE and choice is not None:
        return choice.label if choice.label in preset_names() else "standard"
    return state.get("train.preset", "standard")


# -- the form's values: remembered ones, then a new hand-off from the estimate page ---------------
defaults = config_form.defaults(FIELDS, PREFIX)  # `auto` settings start empty (their placeholder says auto)
defaults.update({"train.settings_source": PRESET_SOURCE, "train.preset": "standard",
                 FORM_OPEN: not jobs.running_jobs()})
memory.restore(KEYS, defaults)
choice = handoff.load()
if choice is not None and choice.saved_at > float(memory.values().get("handoff_applied", 0.0)):
    apply_choice(choice)  # applied once: later edits on this page are kept
    state[FORM_OPEN] = True  # the settings just handed over are what the user came to see
    memory.remember("handoff_applied", choice.saved_at)
if choice is None and state.get("train.settings_source") == handoff.SOURCE:
    state["train.settings_source"] = PRESET_SOURCE
started = state.pop(STARTED_KEY, None)  # a job was just started: its run name is used up
if started is not None:
    state[key("run_name")] = ""


def grid(fields: list, container, columns: int = 4, plan: int | None = None, formats: dict | None = None) -> None:
    """Widgets for `fields`, `columns` to a row; `formats`: how the choices of a field read."""
    cells = container.columns(columns)
    for index, field in enumerate(fields):
        placeholder = None
        if field.path in AUTOMATIC and plan is not None:  # what `auto` resolves to (training.step_plan)
            placeholder = f"auto: {AUTOMATIC[field.path](plan)}"
        config_form.draw(field, key(field.path), cells[index % columns], label=LABELS.get(field.path),
                         placeholder=placeholder, format_choice=(formats or {}).get(field.path))
        if index % columns == columns - 1 and index + 1 < len(fields):
            cells = container.columns(columns)


def model_line(model: str, dataset_metadata: dict) -> bool:
    """Under the model field: a hub id the cache lacks is offered for download (or refused while
    downloads are off); a folder or cached hub id shows its family and vision tokens per page.
    Returns whether training can start on it (its files are here)."""
    hub = is_hub_id(model)
    if not model or not (hub or Path(model).expanduser().exists()):
        return True  # a built-in name, or a path the settings check names
    if hub and not hub_downloads.offer(model, "train.download", "before training on it"):
        return False
    try:
        st.caption(model_summary.describe(model, *model_summary.page_size(dataset_metadata)))
    except DeepSynthError as error:
        show_error(error)
        return not hub
    return True


def start_form() -> None:
    found = datasets.list_datasets(str(config.datasets))
    if not found:
        st.info(f"No datasets in `{config.datasets}`: build one on the **Dataset** page first.")
        return
    errors = FieldErrors()
    by_path = {entry.path: entry for entry in found}
    if state.get("train.dataset") not in by_path:  # never used, or deleted since: the newest
        state["train.dataset"] = next(iter(by_path))
    dataset = st.selectbox("Dataset", list(by_path), key="train.dataset", format_func=lambda p: by_path[p].label,
                           help="Defaults to the dataset you used or built last.")
    counts = by_path[dataset].metadata.get("counts", {})
    train_docs = int(counts.get("train", 0) or 0)
    st.caption(f"{train_docs} train · {counts.get('validation', 0)} validation · {counts.get('test', 0)} test documents")
    errors.slot("dataset")

    sources = [PRESET_SOURCE] + ([handoff.SOURCE] if choice else [])
    s1, s2 = st.columns([1, 2])
    s1.radio("LoRA settings", sources, horizontal=True, key="train.settings_source", on_change=on_source)
    if state["train.settings_source"] == PRESET_SOURCE:
        s2.selectbox("Preset", preset_names(), key="train.preset", on_change=on_preset,
                     help="Fills the LoRA settings (under **All settings**); editing them makes it `custom`. "
                          + "; ".join(f"{n}: {preset_description(n)}" for n in preset_names()))
    else:
        s2.markdown(f"From the estimate page: **{choice.label}** · model `{choice.model}`")
    label_slot = st.empty()
    basic = [BY_PATH[path] for path in BASIC]
    grid(basic[:4], st)
    model_ready = model_line(str(state.get(key("model.name")) or "").strip(), by_path[dataset].metadata)
    errors.slot("model.name", "model.vision_interface", "batch_size", "learning_rate", "model", "lora", "preset")
    grid(basic[4:8], st)
    errors.slot("max_steps", "epochs", "time_budget_s", "eval_docs")
    split_sizes = {"eval_split": lambda s: f"{s} ({counts.get(resolve_eval_split(s, counts), 0)} docs)"}
    grid(basic[8:], st, columns=3, formats=split_sizes)
    errors.slot("eval_split", "experiment", "run_name")

    values = {f.path: config_form.config_value(f, state.get(key(f.path))) for f in FIELDS}
    if isinstance(values.get("eval_docs"), int) and values.get("eval_split") in EVAL_SPLITS:
        split = resolve_eval_split(values["eval_split"], counts)
        shortfall = shortfall_message(values["eval_docs"], int(counts.get(split, 0) or 0), split)
        if shortfall:
            st.caption(f":material/rule: Evaluation {shortfall}.")
    try:
        plan = planned_steps(train_docs, int(values["batch_size"]), int(values["max_steps"]), float(values["epochs"]))
    except (TypeError, ValueError):
        plan = None
    rest = [f for f in FIELDS if f.path not in BASIC]
    with st.expander(f"All settings ({len(rest)} more: schedule, checkpoints, evaluation, LoRA, model, machine)"):
        groups = (("Training", [f for f in rest if "." not in f.path]),
                  ("LoRA adapter", [f for f in rest if f.path.startswith("lora.")]),
                  ("Model", [f for f in rest if f.path.startswith("model.")]))
        for title, fields in groups:
            st.markdown(f"**{title}**")
            grid(fields, st, plan=plan)
            errors.slot(*[f.path for f in fields])
    memory.save(KEYS)

    values["tracking_uri"] = values["tracking_uri"] or config.uri
    values["dataset"], values["preset"] = dataset, base_preset(choice)
    try:
        train = config_form.build(TrainConfig, values, allowed_uris=[config.uri])
    except ConfigError as error:
        errors.show(error)
        return
    started_from = base_preset(choice)
    if train.preset != started_from:
        changed = [name for name in LORA_FIELDS if getattr(train.lora, name) != getattr(preset(started_from), name)]
        label_slot.markdown(f"LoRA: **{train.preset}** (started from {started_from}; changed: {', '.join(changed)})")
    else:
        label_slot.markdown(f"LoRA: **{train.preset}** · rank {train.lora.rank} · alpha {train.lora.alpha:g} · "
                            f"{train.lora.quantization if train.lora.is_quantized else 'no quantization'}")
    here = machine.describe_run(train, counts, running=len(jobs.running_jobs()))
    resolved = resolved_plan(train, train_docs)  # `auto` as the run will resolve it
    steps = resolved["steps"]
    st.caption(f"Plan: **{steps} step{'s' if steps != 1 else ''}** · warmup {resolved['warmup_steps']} · "
               f"checkpoint every {resolved['checkpoint_every']} · {here.summary}")
    if here.phases:
        st.caption(f"Phases: {here.phases}.")
    short = too_short_to_learn(steps, train.learning_rate)
    if short:
        st.info(short, icon=":material/trending_flat:")
    for warning in here.warnings:
        st.warning(warning, icon=":material/speed:")
    for problem in here.problems:
        st.error(problem)
    if here.problems or not model_ready:  # a hub id whose files are not here yet: said under the model
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
        # the run name is this run's: empty the field (before its widget is drawn, on a rerun) so the
        # next start gets a run of its own instead of a second run under the same name
        state[STARTED_KEY] = {"job": job.job_id, "pid": job.pid, "run_name": train.run_name}
        st.rerun()
    if started is not None:
        named = f" as run “{started['run_name']}”; the run name field is empty again for the next one" \
            if started.get("run_name") else ""
        st.success(f"Started job {started['job']} (pid {started['pid']}){named}.")
    sweeps.queue_or_sweep(train)  # queue it instead, or sweep from these settings (dashboard/ui/sweeps.py)


with st.expander("Start a training job", key=FORM_OPEN, on_change="rerun"):
    start_form()

sweeps.queue_and_progress(config.uri)  # waiting jobs with their position, sweeps' progress
st.subheader("Jobs")
all_jobs = live.jobs_table(config.uri)
if not all_jobs:
    st.info("No jobs yet.")
    st.stop()
ids = [j.job_id for j in all_jobs]
keep(["train.job"])
if st.session_state.get("train.job") not in ids:
    st.session_state["train.job"] = ids[0]
words = {j.job_id: state_text(j.state, j.cancelled_by_user) for j in all_jobs}
job_id = st.selectbox("Job", ids, key="train.job", format_func=lambda i: f"{i} · {words[i]}")
live.panel(job_id, config.uri, spawn)
