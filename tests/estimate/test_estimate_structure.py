"""The estimator for image-text-to-text families no family description covers, from the model's own
structure (estimate/vlm/structure.py, processor_tokens.py, structural_step.py): parameters against
PEFT's count on DeepSynth's loaded model, vision tokens against the page reader's own reading, the
traced step's peak against the profiler-measured `TrainingLoop.train_step`, the CLI, and a real-size
config (Qwen2-VL-2B) built and traced in seconds with the same count as its family description."""

import json
import time
from pathlib import Path

import pytest

from deepsynth.lora import LoraSettings

LORA = LoraSettings(rank=4, alpha=8, dropout=0.0)
FAMILIES = ("gemma3", "llava")
"""Two families outside the family table (deepsynth/models/vlm/families.py), different towers
(SigLIP with pooling, CLIP) and language models (Gemma3 with sliding layers, Llama)."""


@pytest.fixture(scope="module")
def tiny_folders(tmp_path_factory) -> dict[str, Path]:
    from deepsynth.models.vlm.tiny_any import build_tiny_any

    folders = {}
    for family in FAMILIES:
        folders[family] = tmp_path_factory.mktemp(family) / "model"
        build_tiny_any(family, folders[family])
    return folders


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("DEEPSYNTH_CACHE", str(tmp_path / "cache"))


def _model(folder: Path):
    from deepsynth.models import ModelConfig, build_document_model

    return build_document_model(ModelConfig(name=str(folder), max_target_tokens=12), LORA)


def _documents():
    from PIL import Image, ImageDraw

    pages = []
    for text, size in (("A cat sat on the mat.", (200, 260)), ("Rivers flow to the sea.", (96, 96))):
        page = Image.new("L", size, 255)
        ImageDraw.Draw(page).text((10, 10), text, fill=0)
        pages.append([page])
    return pages


@pytest.mark.parametrize("family", FAMILIES)
def test_parameters_equal_pefts_count_on_the_loaded_model(tiny_folders, family):
    from deepsynth.estimate.builtin import load_architecture
    from deepsynth.estimate.params import count_parameters

    arch = load_architecture(str(tiny_folders[family]))
    assert arch.structure is not None and arch.vlm is None  # described from its structure, not a table
    counted = count_parameters(arch, LORA)
    peft = _model(tiny_folders[family]).decoder
    assert counted.total == sum(p.numel() for p in peft.parameters())
    assert counted.trainable == sum(p.numel() for p in peft.parameters() if p.requires_grad)
    # rank r adds r * (in + out) per adapted Linear, all under the language model
    assert counted.adapter == sum(4 * (m.in_features + m.out_features) for m in counted.match.adapted)
    assert all(m.name.startswith(arch.structure.language_root + ".") for m in counted.match.adapted)


def test_train_projector_adds_the_projectors_copy(tiny_folders):
    from deepsynth.estimate.builtin import load_architecture
    from deepsynth.estimate.params import count_parameters

    folder = str(tiny_folders["llava"])
    frozen = count_parameters(load_architecture(folder), LORA)
    trained = count_parameters(load_architecture(folder, train_projector=True), LORA)
    projector = frozen.by_group["projector"]
    assert projector > 0
    assert trained.total == frozen.total + projector
    assert trained.trainable == frozen.trainable + projector == trained.adapter + trained.modules_to_save


def test_vision_tokens_are_the_readers_count_and_cached(tiny_folders, monkeypatch):
    from PIL import Image

    from deepsynth.estimate.vlm import model_family, vision_tokens_per_page
    from deepsynth.estimate.vlm import processor_tokens

    folder = tiny_folders["gemma3"]
    model = _model(folder)
    read = {}
    for width, height in ((200, 260), (96, 96)):
        reading = model.reader.read_pages([Image.new("RGB", (width, height), "white")])
        read[width, height] = int((reading.prompt_ids == model.reader.image_token_id).sum())
        assert vision_tokens_per_page(str(folder), width, height) == read[width, height] > 0
    assert model_family(str(folder)) == "Gemma3"  # from config.json's architectures
    monkeypatch.setattr(processor_tokens, "_count", lambda *a: pytest.fail("the processor ran again"))
    for (width, height), count in read.items():  # kept per folder content and page size
        assert processor_tokens.processor_vision_tokens(folder, width, height) == count


def test_traced_step_peak_within_10_percent_of_the_measured_training_step(tiny_folders):
    import torch

    from deepsynth.estimate.builtin import load_architecture
    from deepsynth.estimate.estimator import estimate
    from deepsynth.estimate.vlm.live import vlm_workload
    from deepsynth.training.loop import TrainingLoop
    from deepsynth.training.memory import profile_step_peak_bytes

    torch.set_num_threads(1)
    folder = tiny_folders["llava"]
    model = _model(folder)
    readings = model.read_documents(_documents())
    batch = model.collate(readings, ["", "Summarize briefly."], ["A cat sat.", "Rivers flow to the sea."])
    assert "image_features" in batch  # the tower is cached: the step is the language model's
    model.train()
    loop = TrainingLoop(model, learning_rate=1e-3, total_steps=3, schedule="constant")
    measured, _ = profile_step_peak_bytes(lambda: loop.train_step(batch))
    arch = load_architecture(str(folder))
    workload = vlm_workload(arch, model, batch, model.decoder.get_base_model().config.to_dict())
    result = estimate(arch, LORA, workload)
    assert result.step_peak is not None
    assert abs(result.step_peak / measured - 1) <= 0.10, (result.step_peak, measured)
    # the breakdown holds the same step: activations (with the batch) + gradients + optimizer bound it
    memory = result.memory
    assert memory.activations.bytes + memory.gradients.bytes + memory.optimizer.bytes >= result.step_peak
    # more targets, more tokens: more memory
    from dataclasses import replace

    longer = estimate(arch, LORA, replace(workload, seq_len=workload.seq_len * 4, target_tokens=workload.target_tokens * 4))
    assert longer.step_peak > result.step_peak


def test_traced_step_with_the_tower_running_in_the_step(tiny_folders):
    """Features not cached: the tower runs per document in the step, traced on what the processor
    makes of a blank page of the documents' page size."""
    from dataclasses import replace

    import torch
    from PIL import Image

    from deepsynth.estimate.builtin import load_architecture
    from deepsynth.estimate.estimator import estimate
    from deepsynth.estimate.vlm.live import vlm_workload
    from deepsynth.training.loop import TrainingLoop
    from deepsynth.training.memory import profile_step_peak_bytes

    torch.set_num_threads(1)
    folder = tiny_folders["gemma3"]
    model = _model(folder)
    model.reader.cache_features = False
    documents = [[Image.new("L", (200, 260), 255)], [Image.new("L", (200, 260), 255)]]
    batch = model.collate(model.read_documents(documents), ["", ""], ["A cat sat.", "Rivers flow to the sea."])
    # the tower's input, not its output, in the batch: pixels for the fast path, or the processor's
    # inputs with no recorded tower outputs for the own forward (Gemma 3 takes it: its image tokens
    # attend both ways through token_type_ids)
    assert "image_features" not in batch
    assert "pixel_inputs" in batch or all(not row["tower"] for row in batch["documents"])
    model.train()
    loop = TrainingLoop(model, learning_rate=1e-3, total_steps=3, schedule="constant")
    measured, _ = profile_step_peak_bytes(lambda: loop.train_step(batch))
    arch = load_architecture(str(folder))
    workload = vlm_workload(arch, model, batch, model.decoder.get_base_model().config.to_dict())
    result = estimate(arch, LORA, replace(workload, page_width=200, page_height=260))
    assert not result.workload.vision_cached
    assert any("traced, one document at a time" in note for note in result.notes)
    assert abs(result.step_peak / measured - 1) <= 0.10, (result.step_peak, measured)


def test_cli_estimates_a_family_without_a_description(tiny_folders, capsys):
    from deepsynth.cli import main

    folder = str(tiny_folders["gemma3"])
    assert main(["estimate", "--model", folder, "--device", "cpu", "--rank", "4", "--alpha", "8",
                 "--page-width", "200", "--page-height", "260", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    peft = _model(tiny_folders["gemma3"]).decoder
    assert printed["trainable_params"] == sum(p.numel() for p in peft.parameters() if p.requires_grad)
    assert printed["memory_bytes"]["activations"] > 0
    assert main(["estimate", "--model", folder, "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "described from its structure" in out
    assert "cannot tell" in out  # the fast path is traced; the note says training may take the own forward


QWEN2_VL_2B = {  # Qwen/Qwen2-VL-2B-Instruct config.json (hub values)
    "architectures": ["Qwen2VLForConditionalGeneration"], "model_type": "qwen2_vl", "image_token_id": 151655,
    "video_token_id": 151656, "vision_start_token_id": 151652, "vision_end_token_id": 151653,
    "hidden_act": "silu", "hidden_size": 1536, "intermediate_size": 8960, "max_position_embeddings": 32768,
    "num_attention_heads": 12, "num_hidden_layers": 28, "num_key_value_heads": 2, "rms_norm_eps": 1e-06,
    "rope_theta": 1000000.0, "tie_word_embeddings": True, "vocab_size": 151936,
    "rope_scaling": {"type": "mrope", "mrope_section": [16, 24, 24]},
    "vision_config": {"depth": 32, "embed_dim": 1280, "mlp_ratio": 4, "num_heads": 16, "in_chans": 3,
                      "hidden_size": 1536, "patch_size": 14, "spatial_merge_size": 2, "temporal_patch_size": 2}}


def test_real_size_config_builds_and_traces_in_seconds_and_counts_as_its_description(tmp_path):
    from deepsynth.estimate.builtin import load_architecture
    from deepsynth.estimate.params import count_parameters
    from deepsynth.estimate.vlm.structural_step import trace_step
    from deepsynth.estimate.vlm.structure import describe, structural_parameters
    from deepsynth.estimate.workload import Workload

    (tmp_path / "config.json").write_text(json.dumps(QWEN2_VL_2B))
    lora = LoraSettings()
    started = time.process_time()
    structure = describe(tmp_path, QWEN2_VL_2B)
    counted = structural_parameters(structure, lora)
    workload = Workload(batch_size=2, seq_len=512, image_tokens=1024, target_tokens=128, dtype="bfloat16",
                        device="cuda", vision_cached=True)
    traced = trace_step(structure, lora, workload)
    assert time.process_time() - started < 60  # a few seconds on a quiet core: no weights, no download
    described = count_parameters(load_architecture(str(tmp_path)), lora)  # the family description (Qwen2-VL)
    assert (counted.total, counted.trainable) == (described.total, described.trainable)
    # bf16 activations of 28 layers x 2 x 1536 tokens x 1536 wide: gigabytes, not bytes or terabytes
    assert 2**30 < traced.activations < 2**40
    assert traced.gradients == counted.trainable * 4


@pytest.mark.parametrize("model_type", ("chameleon", "emu3", "udop", "t5gemma2"))
def test_image_text_to_text_configs_without_a_vision_config_are_vision_language(model_type):
    """Every model_type transformers maps to AutoModelForImageTextToText goes to the structural path,
    also those whose image parts sit under keys other than vision_config (they were read as text models
    and refused: "model_type 'chameleon' is not supported")."""
    from transformers import AutoConfig

    from deepsynth.estimate.vlm.config import is_vision_language

    config = AutoConfig.for_model(model_type).to_dict()
    assert not any(key in config for key in ("vision_config", "vision_tower", "mm_vision_tower", "visual"))
    assert is_vision_language(config)
    assert not is_vision_language({"model_type": "llama", "hidden_size": 8})


def test_vision_tokens_of_an_encoder_that_reads_the_page(tmp_path):
    """Pix2Struct: the encoder positions one page fills (its real patches, as DeepSynth reads the
    page); UDOP: its encoder joins words and patches, which a blank page does not show, so the
    estimate asks for image_tokens instead of running Tesseract (the processor's own OCR)."""
    from deepsynth.errors import InputError
    from deepsynth.estimate.vlm.processor_tokens import processor_vision_tokens
    from deepsynth.models.vlm.tiny_any import build_tiny_any

    pix2struct = build_tiny_any("pix2struct", tmp_path / "pix2struct")
    small, large = processor_vision_tokens(pix2struct, 200, 260), processor_vision_tokens(pix2struct, 1024, 1448)
    assert 0 < small <= large
    udop = build_tiny_any("udop", tmp_path / "udop")
    with pytest.raises(InputError, match="words and image patches together.*image_tokens"):
        processor_vision_tokens(udop, 1024, 1448)
