"""Presets & estimate: a model, a LoRA preset or custom settings, a workload -> parameters, memory
per term, GPU fit, time and cost, before anything heavy loads (the estimator never imports torch)."""

from __future__ import annotations

import pandas as pd
import plotly.express as px
import streamlit as st

from deepsynth.configuration import ConfigError
from deepsynth.errors import DeepSynthError
from deepsynth.estimate import BUILTIN_MODELS, GPUS, TEXT_ENCODERS, Workload, estimate, load_architecture
from deepsynth.lora import BIASES, COMPUTE_DTYPES, LORA_FIELDS, QUANTIZATIONS, LoraSettings, preset
from deepsynth.lora import preset_description, preset_names
from deepsynth.units import GIB, readable_duration
from ui import handoff
from ui.widgets import FieldErrors, human_bytes


state = st.session_state
st.title("Presets & estimate")
errors = FieldErrors()


def load_preset() -> None:
    """Fill the LoRA fields from the chosen preset (they stay editable)."""
    chosen = preset(state["estimate.preset"])
    for name in LORA_FIELDS:
        value = getattr(chosen, name)
        if name == "target_modules":
            value = ", ".join(value)
        elif name in ("alpha", "dropout"):
            value = float(value)  # number inputs keep one numeric type
        state[f"estimate.lora.{name}"] = value


if "estimate.lora.rank" not in state:  # first visit: the standard preset
    state["estimate.preset"] = "standard"
    load_preset()

# -- model and LoRA -----------------------------------------------------------------------------------
m1, m2, m3 = st.columns(3)
model = m1.selectbox("Model", [*BUILTIN_MODELS, "config.json path"], index=BUILTIN_MODELS.index("default"),
                     key="estimate.model")
if model == "config.json path":
    model = m1.text_input("config.json or model folder", key="estimate.model_path").strip()
interface = m2.selectbox("Vision interface", ["ocr_text", "features"], key="estimate.vision_interface",
                         disabled=model != "default", help="default model only: OCR text tokens or projected features")
text_encoder = m3.selectbox("Text encoder (instruction)", TEXT_ENCODERS, key="estimate.text_encoder")
errors.slot("model", "text_encoder")
p1, p2 = st.columns([1, 2])
preset_name = p1.selectbox("Preset", preset_names(), key="estimate.preset", on_change=load_preset)
p2.caption(preset_description(preset_name))
l1, l2, l3, l4 = st.columns(4)
rank = l1.number_input("Rank", step=1, key="estimate.lora.rank")
alpha = l2.number_input("Alpha", step=1.0, key="estimate.lora.alpha")
dropout = l3.number_input("Dropout", step=0.05, key="estimate.lora.dropout")
targets = l4.text_input("Target modules", key="estimate.lora.target_modules", placeholder="family default")
errors.slot("rank", "alpha", "dropout", "target_modules")
q1, q2, q3, q4 = st.columns(4)
quantization = q1.selectbox("Base quantization", QUANTIZATIONS, key="estimate.lora.quantization")
double_quant = q2.checkbox("Double quantization", key="estimate.lora.double_quantization")
compute_dtype = q3.selectbox("Compute dtype", COMPUTE_DTYPES, key="estimate.lora.compute_dtype")
bias = q4.selectbox("Bias", BIASES, key="estimate.lora.bias")
errors.slot("quantization", "double_quantization", "compute_dtype", "bias")

# -- workload -----------------------------------------------------------------------------------------
with st.expander("Workload", expanded=True):
    w1, w2, w3, w4 = st.columns(4)
    batch_size = w1.number_input("Batch size", value=8, key="estimate.batch_size")
    seq_len = w2.number_input("Sequence length (tokens)", value=256, step=64, key="estimate.seq_len")
    target_tokens = w3.number_input("Summary tokens", value=48, key="estimate.target_tokens")
    image_tokens = w4.number_input("Vision tokens / sample", value=256 if model == "deepseek-ocr" else 0,
                                   key=f"estimate.image_tokens.{model == 'deepseek-ocr'}")
    errors.slot("batch_size", "seq_len", "target_tokens", "image_tokens")
    w5, w6, w7, w8 = st.columns(4)
    dtype = w5.selectbox("Precision", ["bfloat16", "float16", "float32"], key="estimate.dtype")
    optimizer = w6.selectbox("Optimizer", ["adamw", "adamw8bit"], key="estimate.optimizer")
    checkpointing = w7.checkbox("Gradient checkpointing", key="estimate.gradient_checkpointing")
    train_encoder = w8.checkbox("Train the text encoder", key="estimate.train_text_encoder")
    errors.slot("dtype", "optimizer", "gradient_checkpointing", "train_text_encoder")
    w9, w10, w11, w12 = st.columns(4)
    documents = w9.number_input("Training documents", value=1000, step=100, key="estimate.num_documents")
    epochs = w10.number_input("Epochs", value=1, key="estimate.epochs")
    device = w11.selectbox("Device", ["cuda", "cpu"], key="estimate.device")
    gpu = w12.selectbox("GPU for time and cost", [g.name for g in GPUS], index=5, key="estimate.gpu")
    errors.slot("num_documents", "epochs", "device")

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
                        image_tokens=int(image_tokens), dtype=dtype, optimizer=optimizer,
                        gradient_checkpointing=checkpointing, text_encoder=text_encoder,
                        train_text_encoder=train_encoder, num_documents=int(documents), epochs=int(epochs),
                        device=device)
except ConfigError as error:
    problems += error.problems
try:
    architecture = load_architecture(model, interface) if model else None
    if architecture is None:
        problems.append(("model", "give the path of a config.json or a model folder"))
except DeepSynthError as error:
    problems.append(("model", str(error)))
if not problems:
    try:
        result = estimate(architecture, lora, workload, gpu=gpu)
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
if result.throughput is not None:
    took = readable_duration(result.throughput.hours * 3600)
    c4.metric(f"Time on {result.throughput.gpu}", took, f"≈ ${result.throughput.cost:,.2f}", delta_color="off", delta_arrow="off")

st.subheader("Memory per term")
terms = pd.DataFrame([{"term": name, "GiB": memory[name] / GIB, "bytes": human_bytes(memory[name]),
                       "formula": getattr(result.memory, name).formula}
                      for name in result.memory.TERMS if memory[name]])
figure = px.bar(terms, x="GiB", y=["peak"] * len(terms), color="term", orientation="h", hover_data=["bytes"])
figure.update_layout(height=170, margin=dict(l=10, r=10, t=10, b=10), yaxis_title=None, legend_title_text="",
                     legend=dict(orientation="h", y=-0.5))
st.plotly_chart(figure, key="estimate.memory_chart")
st.dataframe(terms[["term", "bytes", "formula"]], hide_index=True, key="estimate.terms")

st.subheader("GPU fit")
st.dataframe(pd.DataFrame([{"GPU": g.name, "memory": human_bytes(g.memory_bytes),
                            "fits": "yes" if result.gpu_fit.get(g.name) else "no",
                            "headroom": human_bytes(g.memory_bytes - memory["total"])} for g in GPUS]),
             hide_index=True, key="estimate.gpu_fit")
for note in result.notes:
    st.caption(note)

st.divider()
if st.button("Use these settings on the Train page", key="estimate.use"):
    saved = handoff.save(handoff.TrainingChoice(model, interface, preset_name, lora))
    st.success(f"Saved to `{saved}`: the Train page offers them under “From the estimate page”.")
