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
from deepsynth.estimate.gpus import DEFAULT_PRICES
from deepsynth.estimate.model_folders import model_folders
from deepsynth.estimate.trainable import missing_to_train
from deepsynth.estimate.workload import checkpoints_activations
from deepsynth.estimate.vlm import model_family, page_layout_for
from deepsynth.paths import models_dir
from deepsynth.render.config import MODES, RenderConfig
from deepsynth.lora import CUSTOM_PRESET, LORA_FIELDS, LoraSettings, preset
from deepsynth.lora import preset_description, preset_for_documents, preset_max_documents, preset_names
from deepsynth.units import GIB, readable_duration
from ui import handoff, hub_downloads, machine
from ui.config_form import ConfigForm
from ui.form_memory import FormMemory
from ui.widgets import FieldErrors, human_bytes

state = st.session_state
here = machine.here()
st.title("Presets & estimate")
st.caption(f"This machine: {here.describe()}.")
errors = FieldErrors()
OTHER_MODEL = "another folder, config.json or hub id…"
FOUND = [str(path) for path in model_folders()]  # workspace/models/: one folder (or link) per model


lora_form = ConfigForm(LoraSettings, "estimate.lora", columns=4,
                       labels={"target_modules": "Target modules (empty = default)"},
                       on_change={"rank": lambda: rank_changed(), "alpha": lambda: alpha_changed(),
                                  "*": lambda: relabel()})
workload_form = ConfigForm(Workload, "estimate", columns=4, advanced_title="More workload settings",
                           skip=("text_encoder", "vision_cached", "pages", "page_width", "page_height"),
                           labels={"num_documents": "Training documents", "seq_len": "Sequence length (tokens)",
                                   "target_tokens": "Summary tokens", "image_tokens": "Vision tokens / sample",
                                   "dtype": "Precision"},
                           on_change={"device": lambda: device_changed()})


def lora_values(lora: LoraSettings) -> dict:
    return {name: getattr(lora, name) for name in LORA_FIELDS}


def load_preset() -> None:
    """Fill the LoRA fields from the chosen preset (they stay editable)."""
    if state["estimate.preset"] == CUSTOM_PRESET:
        return  # "custom" is what edited values are called, not values of its own
    chosen = preset(state["estimate.preset"])
    lora_form.set(chosen)
    state["estimate.alpha_ratio"] = chosen.alpha / chosen.rank  # alpha follows rank until edited


def current_lora() -> LoraSettings | None:
    try:
        return lora_form.build()
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


def gpu_changed() -> None:
    state["estimate.price"] = DEFAULT_PRICES.get(state["estimate.gpu"], 0.0)  # the new GPU's default price


def cost_words(cost: float, price: float) -> str:
    if price <= 0:
        return "no price given"
    return f"≈ {'under $0.01' if cost < 0.01 else f'${cost:,.2f}'} at ${price:,.2f} per hour"


def model_changed() -> None:
    state["estimate.image_tokens"] = default_image_tokens(state["estimate.model"])


PAGE_CHOSEN = {"estimate.model": "default", "estimate.vision_interface": "ocr_text", "estimate.text_encoder": "none",
               "estimate.model_path": "", "estimate.gpu": "A100 80GB", "estimate.price": DEFAULT_PRICES["A100 80GB"], "estimate.render_mode": "none",
               "estimate.pages": 1, "estimate.vision_cached": True, "estimate.train_projector": False}
KEYS = [*PAGE_CHOSEN, *workload_form.keys, *lora_form.keys, "estimate.preset", "estimate.alpha_ratio"]
STANDARD = preset("standard")
DEFAULTS = {**PAGE_CHOSEN, **workload_form.defaults({"device": here.device,  # this machine's device and precision
                                                     "dtype": "bfloat16" if here.device == "cuda" else "float32",
                                                     # as training runs here: a CPU run checkpoints activations
                                                     "gradient_checkpointing": checkpoints_activations(here.device)}),
            "estimate.preset": "standard", "estimate.alpha_ratio": STANDARD.alpha / STANDARD.rank,
            **lora_form.defaults(lora_values(STANDARD))}
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
                          "or any other folder or Hugging Face hub id: a native VLM (DeepSeek-OCR-2, Qwen2-VL/2.5-VL, "
                          "SmolVLM, Idefics3, Florence-2, ...) or a causal LM.")
waiting = False
if model == OTHER_MODEL:
    model = m1.text_input("Model folder, config.json or hub id (ORG/NAME[@REVISION])", key="estimate.model_path",
                          help="A hub id is read from your Hugging Face cache; when it is not there and the hub can "
                               "be reached, download it here first (when an admin allows model downloads: sidebar → "
                               "Settings; the commit is pinned in the run).").strip()
    if not hub_downloads.offer(model, "estimate.download", "to see its family, vision tokens per page and the "
                                                           "estimate", button_area=m1):
        model, waiting = "", True  # said above: nothing to estimate until its files are here
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
native_vlm = architecture is not None and architecture.native_vlm
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
    try:
        vision_tokens = page_layout_for(architecture, page_width, page_height).tokens
        st.caption(f"**{model_family(architecture)}**, a native vision-language model: {vision_tokens} vision "
                   f"tokens per {page_width}x{page_height} page (from its processor), "
                   f"{vision_tokens * int(pages)} per document.")
    except DeepSynthError as error:  # a folder without processor files: no page count to show
        st.caption(f"**{model_family(architecture)}**, a native vision-language model: {error}")
errors.slot("model", "text_encoder")
p1, p2 = st.columns([1, 2])
preset_name = p1.selectbox("Preset", [*preset_names(), CUSTOM_PRESET], key="estimate.preset", on_change=load_preset,
                           help="Fills the LoRA fields below; editing any of them makes the settings `custom`.")
p2.caption(preset_description(preset_name) if preset_name != CUSTOM_PRESET
           else "Edited settings: no preset has exactly these values. Choose a preset to start again from it.")
lora_form.draw(st, errors=errors)
if state.get("estimate.alpha_ratio"):
    st.caption(f"Alpha follows rank (× {state['estimate.alpha_ratio']:g}) until you edit it: the update is "
               "scaled by alpha / rank.")

# -- workload -----------------------------------------------------------------------------------------
st.markdown("**Workload**")
workload_form.draw(st, errors=errors, skip_paths=("image_tokens",) if native_vlm else ())

memory.save(KEYS)

problems: list[tuple[str, str]] = []  # every settings problem at once, each under its field
try:
    lora = lora_form.build()
except ConfigError as error:
    problems += error.problems
    lora = None
try:
    workload = workload_form.build(extra={
        "text_encoder": text_encoder, **({"image_tokens": 0, "pages": int(pages), "page_width": page_width,
                                          "page_height": page_height,
                                          "vision_cached": bool(state["estimate.vision_cached"])} if native_vlm else {})})
except ConfigError as error:
    problems += error.problems
if not model and not waiting:
    problems.append(("model", "give the path of a config.json or a model folder"))
elif model_problem:
    problems.append(("model", model_problem))
gpu = state.get("estimate.gpu", "A100 80GB")
if state.get("estimate.price") is None:
    state["estimate.price"] = DEFAULT_PRICES.get(gpu, 0.0)
if not problems and not waiting:
    try:
        result = estimate(architecture, lora, workload, gpu=gpu, local_device=here.gpus[0] if here.gpus else None,
                          price_per_hour=float(state["estimate.price"]))
    except ConfigError as error:  # LoRA settings that do not fit this architecture
        problems += error.problems
    except DeepSynthError as error:
        problems.append(("model", str(error)))
if problems:
    errors.show(ConfigError(problems, "estimate settings"))
    st.stop()
if waiting:
    st.stop()

# -- the estimate -------------------------------------------------------------------------------------
bound = preset_max_documents(preset_name) if preset_name in preset_names() else None
if bound is not None and workload.num_documents > bound:  # the preset's own range, from presets.json
    st.caption(f":material/info: {workload.num_documents:,} training documents: more than **{preset_name}** is meant "
               f"for (up to {bound:,}); **{preset_for_documents(workload.num_documents)}** covers that many.")
st.divider()
memory = result.memory.as_bytes()
c1, c2, c3, c4 = st.columns(4)
c1.metric("Parameters", f"{result.total_params / 1e6:,.1f} M")
c2.metric("Trainable", f"{result.trainable_params / 1e6:,.2f} M",
          f"{100 * result.trainable_params / max(result.total_params, 1):.2f} % of all", delta_color="off", delta_arrow="off")
c3.metric("Peak memory", human_bytes(memory["total"]))
if workload.device == "cpu":  # time for the machine the user is on, first
    speed = cpu_throughput(architecture, lora, workload, here.cpu_threads)
    c4.metric(f"Time on {speed.gpu}", readable_duration(speed.hours * 3600),
              f"{speed.steps:,} steps × {readable_duration(speed.step_seconds)}", delta_color="off", delta_arrow="off",
              help="An idle machine; other jobs on it share the cores. Measured rate: deepsynth/estimate/cpu_time.py.")
    if lora.is_quantized:
        st.warning(f"{lora.quantization} on a CPU: quantization saves GPU memory, not CPU time "
                   "(see the Train page's estimate before starting).", icon=":material/speed:")
elif here.has_gpu and result.throughput is not None:
    c4.metric(f"Time on {result.throughput.gpu}", readable_duration(result.throughput.hours * 3600),
              cost_words(result.throughput.cost, result.throughput.price_per_hour), delta_color="off", delta_arrow="off")
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
g1, g2, g3 = st.columns([1, 1, 3])
g1.selectbox("GPU for time and cost", [g.name for g in GPUS], key="estimate.gpu", on_change=gpu_changed)
g2.number_input("Price per hour (USD)", min_value=0.0, step=0.05, format="%.2f", key="estimate.price",
                help="A typical on-demand cloud rate for the chosen GPU; type your own.")
if result.throughput is not None:
    speed = result.throughput
    g3.markdown(f"On **{speed.gpu}**: {readable_duration(speed.hours * 3600)} for {speed.steps:,} steps "
                f"({cost_words(speed.cost, speed.price_per_hour)}; {speed.utilization:.0%} of its "
                f"{workload.dtype} peak of {speed.peak_tflops:g} TFLOPS assumed).")
st.dataframe(pd.DataFrame([{"GPU": name, "memory": human_bytes(next((g.memory_bytes for g in (*GPUS, *here.gpus)
                                                                       if g.name == name), None)),
                            "fits": "yes" if fits else "no"} for name, fits in result.gpu_fit.items()]),
             hide_index=True, key="estimate.gpu_fit")
for note in result.notes:
    st.caption(note)

st.divider()
cannot_train = missing_to_train(model)  # the estimate still helps plan for another machine
if cannot_train:
    st.info(f"Estimate only: `{model}` cannot be trained on this machine: {cannot_train}.",
            icon=":material/block:")
if st.button("Use these settings on the Train page", key="estimate.use", disabled=bool(cannot_train),
             help="Only a model this machine can load is handed to the Train page." if cannot_train else None):
    saved = handoff.save(handoff.TrainingChoice(model, interface, preset_name if preset_name in preset_names()
                                                else CUSTOM_PRESET, lora, workload.batch_size, float(workload.epochs)))
    st.success(f"Saved: the Train page opens on “{handoff.SOURCE}” with these settings "
               f"({'custom' if preset_name == CUSTOM_PRESET else preset_name}, rank {lora.rank}, "
               f"batch {workload.batch_size}).")
