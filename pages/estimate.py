"""Presets & estimate: a model, a LoRA preset or custom settings, a workload -> parameters, memory
per term, time on this machine (its CPU when it has no GPU), GPU fit, before anything heavy loads
(the estimator never imports torch; the machine is probed with nvidia-smi)."""

from __future__ import annotations

import pandas as pd
import plotly.express as px
import streamlit as st

from deepsynth.configuration import ConfigError
from deepsynth.errors import DeepSynthError
from deepsynth.estimate import BUILTIN_MODELS, GPUS, TEXT_ENCODERS, Workload, default_image_tokens, estimate, load_architecture
from deepsynth.estimate.cpu_time import cpu_throughput
from deepsynth.estimate.model_folders import model_folders
from deepsynth.estimate.vlm import model_family, page_layout_for
from deepsynth.paths import models_dir
from deepsynth.render.config import MODES, RenderConfig
from deepsynth.lora import BIASES, COMPUTE_DTYPES, CUSTOM_PRESET, LORA_FIELDS, QUANTIZATIONS, LoraSettings, preset
from deepsynth.lora import preset_description, preset_names
from deepsynth.units import GIB, readable_duration
from ui import handoff, machine
from ui.form_memory import FormMemory
from ui.widgets import FieldErrors, human_bytes

state = st.session_state
here = machine.here()
st.title("Presets & estimate")
st.caption(f"This machine: {here.describe()}.")
errors = FieldErrors()
DEVICES = ["cpu", "cuda"]
OTHER_MODEL = "another folder or config.json…"
FOUND = [str(path) for path in model_folders()]  # workspace/models/: one folder (or link) per model


def lora_widgets(lora: LoraSettings) -> dict:
    """{widget key: value} of LoRA settings (targets as text; alpha and dropout as floats, the one
    numeric type their number inputs keep)."""
    return {f"estimate.lora.{name}": ", ".join(value) if name == "target_modules"
            else float(value) if name in ("alpha", "dropout") else value
            for name, value in ((name, getattr(lora, name)) for name in LORA_FIELDS)}


def load_preset() -> None:
    """Fill the LoRA fields from the chosen preset (they stay editable)."""
    if state["estimate.preset"] == CUSTOM_PRESET:
        return  # "custom" is what edited values are called, not values of its own
    chosen = preset(state["estimate.preset"])
    state.update(lora_widgets(chosen))
    state["estimate.alpha_ratio"] = chosen.alpha / chosen.rank  # alpha follows rank until edited


def current_lora() -> LoraSettings | None:
    try:
        return LoraSettings(
            rank=int(state["estimate.lora.rank"]), alpha=float(state["estimate.lora.alpha"]),
            dropout=float(state["estimate.lora.dropout"]), bias=state["estimate.lora.bias"],
            target_modules=tuple(t.strip() for t in state["estimate.lora.target_modules"].split(",") if t.strip()),
            quantization=state["estimate.lora.quantization"],
            double_quantization=state["estimate.lora.double_quantization"],
            compute_dtype=state["estimate.lora.compute_dtype"])
    except (ConfigError, ValueError, TypeError):
        return None


def relabel() -> None:
    """After a LoRA edit: the preset those values are exactly, else `custom`."""
    lora = current_lora()
    state["estimate.preset"] = next((name for name in preset_names() if lora is not None and preset(name) == lora),
                                    CUSTOM_PRESET)


def rank_changed() -> None:
    ratio = state.get("estimate.alpha_ratio")
    if ratio:  # alpha not edited by hand: keep the preset's alpha / rank scaling
        state["estimate.lora.alpha"] = float(ratio * int(state["estimate.lora.rank"]))
    relabel()


def alpha_changed() -> None:
    state["estimate.alpha_ratio"] = None  # edited by hand: it stays as typed
    relabel()


def device_changed() -> None:
    state["estimate.dtype"] = "bfloat16" if state["estimate.device"] == "cuda" else "float32"


def model_changed() -> None:
    state["estimate.image_tokens"] = default_image_tokens(state["estimate.model"])


WORKLOAD = {"estimate.batch_size": 8, "estimate.num_documents": 1000, "estimate.epochs": 1, "estimate.seq_len": 256,
            "estimate.target_tokens": 48, "estimate.image_tokens": 0, "estimate.optimizer": "adamw",
            "estimate.gradient_checkpointing": False, "estimate.train_text_encoder": False,
            "estimate.model": "default", "estimate.vision_interface": "ocr_text", "estimate.text_encoder": "none",
            "estimate.model_path": "", "estimate.gpu": "A100 80GB", "estimate.render_mode": "none",
            "estimate.pages": 1, "estimate.vision_cached": True, "estimate.train_projector": False}
LORA_KEYS = [f"estimate.lora.{name}" for name in LORA_FIELDS]
KEYS = [*WORKLOAD, "estimate.preset", "estimate.device", "estimate.dtype", "estimate.alpha_ratio", *LORA_KEYS]
STANDARD = preset("standard")
DEFAULTS = {**WORKLOAD, "estimate.preset": "standard", "estimate.device": here.device,  # this machine's device
            "estimate.dtype": "bfloat16" if here.device == "cuda" else "float32",
            "estimate.alpha_ratio": STANDARD.alpha / STANDARD.rank, **lora_widgets(STANDARD)}
memory = FormMemory("estimate")  # the page as the user left it: a reload or a page switch keeps it
memory.restore(KEYS, DEFAULTS)

# -- model and LoRA -----------------------------------------------------------------------------------
m1, m2, m3 = st.columns(3)
choices = [*BUILTIN_MODELS, *FOUND, OTHER_MODEL]
if state.get("estimate.model") not in choices:  # a folder that has gone, or one typed before
    state["estimate.model_path"] = state.get("estimate.model") or ""
    state["estimate.model"] = OTHER_MODEL
model = m1.selectbox("Model", choices, key="estimate.model", on_change=model_changed,
                     format_func=lambda m: f"{m.rsplit('/', 1)[-1]} (workspace/models)" if m in FOUND else m,
                     help=f"Built-in models, the model folders in {models_dir()} (one folder or link per model), "
                          "or any other folder: a native VLM (DeepSeek-OCR-2, Qwen2-VL/2.5-VL, SmolVLM, Idefics3, "
                          "Florence-2) or a causal LM.")
if model == OTHER_MODEL:
    model = m1.text_input("Model folder or config.json", key="estimate.model_path").strip()
interface = m2.selectbox("Vision interface", ["ocr_text", "features"], key="estimate.vision_interface",
                         disabled=model != "default", help="default model only: OCR text tokens or projected features")
text_encoder = m3.selectbox("Text encoder (instruction)", TEXT_ENCODERS, key="estimate.text_encoder")
architecture, model_problem = None, None
try:
    if model:
        architecture = load_architecture(model, interface,
                                         train_projector=bool(state.get("estimate.train_projector")))
except DeepSynthError as error:
    model_problem = str(error)
native_vlm = architecture is not None and architecture.vlm is not None
if native_vlm:  # the model reads the page with its own vision tower: what one page costs it
    v1, v2, v3, v4 = st.columns(4)
    render_mode = v1.selectbox("Page render mode", list(MODES), key="estimate.render_mode",
                               help="The dataset's resolution mode: the page size the model's processor gets.")
    pages = v2.number_input("Pages per document", min_value=1, step=1, key="estimate.pages")
    v3.checkbox("Vision features cached", key="estimate.vision_cached",
                help="DeepSynth runs the frozen tower once per page and reuses its features (not with a "
                     "trained projector).")
    v4.checkbox("Train the projector too", key="estimate.train_projector")
    page_width, page_height = RenderConfig(mode=render_mode).output_size
    vision_tokens = page_layout_for(architecture, page_width, page_height).tokens
    st.caption(f"**{model_family(architecture)}**, a native vision-language model: {vision_tokens} vision "
               f"tokens per {page_width}x{page_height} page (from its processor config), "
               f"{vision_tokens * int(pages)} per document.")
errors.slot("model", "text_encoder")
p1, p2 = st.columns([1, 2])
preset_name = p1.selectbox("Preset", [*preset_names(), CUSTOM_PRESET], key="estimate.preset", on_change=load_preset,
                           help="Fills the LoRA fields below; editing any of them makes the settings `custom`.")
p2.caption(preset_description(preset_name) if preset_name != CUSTOM_PRESET
           else "Edited settings: no preset has exactly these values. Choose a preset to start again from it.")
l1, l2, l3, l4 = st.columns(4)
rank = l1.number_input("Rank", step=1, key="estimate.lora.rank", on_change=rank_changed)
alpha = l2.number_input("Alpha", step=1.0, key="estimate.lora.alpha", on_change=alpha_changed,
                        help="The update is scaled by alpha / rank. It follows rank (keeping the preset's ratio) "
                             "until you edit it.")
dropout = l3.number_input("Dropout", step=0.05, key="estimate.lora.dropout", on_change=relabel)
targets = l4.text_input("Target modules (empty = default)", key="estimate.lora.target_modules", on_change=relabel,
                        help="Comma-separated module names (q_proj, v_proj, ...); empty: the model family's default.")
if state.get("estimate.alpha_ratio"):
    l2.caption(f"follows rank (× {state['estimate.alpha_ratio']:g})")
errors.slot("rank", "alpha", "dropout", "target_modules")
q1, q2, q3, q4 = st.columns(4)
quantization = q1.selectbox("Base quantization", QUANTIZATIONS, key="estimate.lora.quantization", on_change=relabel)
double_quant = q2.checkbox("Double quantization", key="estimate.lora.double_quantization", on_change=relabel)
compute_dtype = q3.selectbox("Compute dtype", COMPUTE_DTYPES, key="estimate.lora.compute_dtype", on_change=relabel)
bias = q4.selectbox("Bias", BIASES, key="estimate.lora.bias", on_change=relabel)
errors.slot("quantization", "double_quantization", "compute_dtype", "bias")

# -- workload -----------------------------------------------------------------------------------------
with st.expander("Workload", expanded=True):
    w1, w2, w3, w4 = st.columns(4)
    device = w1.selectbox("Device", DEVICES, key="estimate.device", on_change=device_changed,
                          help=f"Defaults to this machine's ({here.device}).")
    batch_size = w2.number_input("Batch size", step=1, key="estimate.batch_size")
    documents = w3.number_input("Training documents", step=100, key="estimate.num_documents")
    epochs = w4.number_input("Epochs", step=1, key="estimate.epochs")
    errors.slot("device", "batch_size", "num_documents", "epochs")
    w5, w6, w7, w8 = st.columns(4)
    seq_len = w5.number_input("Sequence length (tokens)", step=64, key="estimate.seq_len")
    target_tokens = w6.number_input("Summary tokens", step=1, key="estimate.target_tokens")
    image_tokens = w7.number_input("Vision tokens / sample", step=64, key="estimate.image_tokens",
                                   disabled=native_vlm,
                                   help="deepseek-ocr: 256 per page (set when you choose it); a native VLM's "
                                        "come from its processor and the page size above")
    dtype = w8.selectbox("Precision", ["bfloat16", "float16", "float32"], key="estimate.dtype")
    errors.slot("seq_len", "target_tokens", "image_tokens", "dtype")
    w9, w10, w11, _ = st.columns(4)
    optimizer = w9.selectbox("Optimizer", ["adamw", "adamw8bit"], key="estimate.optimizer")
    checkpointing = w10.checkbox("Gradient checkpointing", key="estimate.gradient_checkpointing")
    train_encoder = w11.checkbox("Train the text encoder", key="estimate.train_text_encoder")
    errors.slot("optimizer", "gradient_checkpointing", "train_text_encoder")

memory.save(KEYS)

problems: list[tuple[str, str]] = []  # every settings problem at once, each under its field
try:
    lora = LoraSettings(rank=int(rank), alpha=float(alpha), dropout=float(dropout), bias=bias,
                        target_modules=tuple(t.strip() for t in targets.split(",") if t.strip()),
                        quantization=quantization, double_quantization=double_quant, compute_dtype=compute_dtype)
except ConfigError as error:
    problems += error.problems
    lora = None
try:
    workload = Workload(batch_size=int(batch_size), seq_len=int(seq_len), target_tokens=int(target_tokens),
                        image_tokens=0 if native_vlm else int(image_tokens), dtype=dtype, optimizer=optimizer,
                        gradient_checkpointing=checkpointing, text_encoder=text_encoder,
                        train_text_encoder=train_encoder, num_documents=int(documents), epochs=int(epochs),
                        device=device, **({"pages": int(pages), "page_width": page_width, "page_height": page_height,
                                           "vision_cached": bool(state["estimate.vision_cached"])}
                                          if native_vlm else {}))
except ConfigError as error:
    problems += error.problems
if not model:
    problems.append(("model", "give the path of a config.json or a model folder"))
elif model_problem:
    problems.append(("model", model_problem))
gpu = state.get("estimate.gpu", "A100 80GB")
if not problems:
    try:
        result = estimate(architecture, lora, workload, gpu=gpu, local_device=here.gpus[0] if here.gpus else None)
    except ConfigError as error:  # LoRA settings that do not fit this architecture
        problems += error.problems
    except DeepSynthError as error:
        problems.append(("model", str(error)))
if problems:
    errors.show(ConfigError(problems, "estimate settings"))
    st.stop()

# -- the estimate -------------------------------------------------------------------------------------
st.divider()
memory = result.memory.as_bytes()
c1, c2, c3, c4 = st.columns(4)
c1.metric("Parameters", f"{result.total_params / 1e6:,.1f} M")
c2.metric("Trainable", f"{result.trainable_params / 1e6:,.2f} M",
          f"{100 * result.trainable_params / max(result.total_params, 1):.2f} % of all", delta_color="off", delta_arrow="off")
c3.metric("Peak memory", human_bytes(memory["total"]))
if device == "cpu":  # time for the machine the user is on, first
    speed = cpu_throughput(architecture, lora, workload, here.cpu_threads)
    c4.metric(f"Time on {speed.gpu}", readable_duration(speed.hours * 3600),
              f"{speed.steps:,} steps × {readable_duration(speed.step_seconds)}", delta_color="off", delta_arrow="off",
              help="An idle machine; other jobs on it share the cores. Measured rate: deepsynth/estimate/cpu_time.py.")
    if lora.is_quantized:
        st.warning(f"{lora.quantization} on a CPU: quantization saves GPU memory, not CPU time "
                   "(see the Train page's estimate before starting).", icon=":material/speed:")
elif here.has_gpu and result.throughput is not None:
    c4.metric(f"Time on {result.throughput.gpu}", readable_duration(result.throughput.hours * 3600),
              f"≈ ${result.throughput.cost:,.2f}", delta_color="off", delta_arrow="off")
else:
    c4.metric("Time here", "no GPU", "this machine has none: see “If you had a GPU”", delta_color="off",
              delta_arrow="off")

st.subheader("Memory per term")
terms = pd.DataFrame([{"term": name, "GiB": memory[name] / GIB, "bytes": human_bytes(memory[name]),
                       "formula": getattr(result.memory, name).formula}
                      for name in result.memory.TERMS if memory[name]])
figure = px.bar(terms, x="GiB", y=["peak"] * len(terms), color="term", orientation="h", hover_data=["bytes"])
figure.update_layout(height=170, margin=dict(l=10, r=10, t=10, b=10), yaxis_title=None, legend_title_text="",
                     legend=dict(orientation="h", y=-0.5))
st.plotly_chart(figure, key="estimate.memory_chart")
st.table(terms[["term", "bytes", "formula"]].set_index("term"))  # a table wraps long formulas

st.subheader("GPU fit" if here.has_gpu else "If you had a GPU")
if not here.has_gpu:
    st.caption("This machine has no GPU: what the same settings would need and take on one.")
g1, g2 = st.columns([1, 3])
g1.selectbox("GPU for time and cost", [g.name for g in GPUS], key="estimate.gpu")
if result.throughput is not None:
    speed = result.throughput
    g2.markdown(f"On **{speed.gpu}**: {readable_duration(speed.hours * 3600)} for {speed.steps:,} steps "
                f"(≈ ${speed.cost:,.2f} at the editable hourly price, {speed.utilization:.0%} of peak assumed).")
st.dataframe(pd.DataFrame([{"GPU": name, "memory": human_bytes(next((g.memory_bytes for g in (*GPUS, *here.gpus)
                                                                       if g.name == name), None)),
                            "fits": "yes" if fits else "no"} for name, fits in result.gpu_fit.items()]),
             hide_index=True, key="estimate.gpu_fit")
for note in result.notes:
    st.caption(note)

st.divider()
if st.button("Use these settings on the Train page", key="estimate.use"):
    saved = handoff.save(handoff.TrainingChoice(model, interface, preset_name if preset_name in preset_names()
                                                else CUSTOM_PRESET, lora, int(batch_size), float(epochs)))
    st.success(f"Saved: the Train page opens on “{handoff.SOURCE}” with these settings "
               f"({'custom' if preset_name == CUSTOM_PRESET else preset_name}, rank {lora.rank}, "
               f"batch {int(batch_size)}).")
