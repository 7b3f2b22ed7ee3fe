"""The structural estimate traces the step DeepSynth runs (estimate/vlm/model_step.py): families
trained through the model's own forward (BLIP: no image placeholder, features cross-attended;
Cosmos3-Edge: own forward because its fast path disagrees with its own loss, a processor that sizes
by pixels) and a fast path whose language model cannot be called apart (Gemma 4) run
`VlmDocumentModel.forward` on the meta-device model; the traced peak is held against the
profiler-measured `TrainingLoop.train_step`, the parameters against PEFT's count."""

from pathlib import Path

import pytest

from deepsynth.lora import LoraSettings

LORA = LoraSettings(rank=4, alpha=8, dropout=0.0)
FAMILIES = {"blip": "own forward", "cosmos3_edge": "own forward", "gemma4": "model forward"}
"""Family -> the path the trace takes (StepTrace.path)."""


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


def _documents():
    from PIL import Image, ImageDraw

    pages = []
    for text, size in (("A cat sat on the mat.", (200, 260)), ("Rivers flow to the sea.", (96, 96))):
        page = Image.new("L", size, 255)
        ImageDraw.Draw(page).text((10, 10), text, fill=0)
        pages.append([page])
    return pages


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_traced_step_is_deepsynths_and_within_10_percent_of_the_measured_step(tiny_folders, family):
    import torch

    from deepsynth.estimate.builtin import load_architecture
    from deepsynth.estimate.estimator import estimate
    from deepsynth.estimate.params import count_parameters
    from deepsynth.estimate.vlm.live import vlm_workload
    from deepsynth.estimate.vlm.structural_step import trace_step
    from deepsynth.models import ModelConfig, build_document_model
    from deepsynth.training.loop import TrainingLoop
    from deepsynth.training.memory import profile_step_peak_bytes

    torch.set_num_threads(1)
    folder = tiny_folders[family]
    model = build_document_model(ModelConfig(name=str(folder), max_target_tokens=12), LORA)
    batch = model.collate(model.read_documents(_documents()), ["", "Summarize briefly."],
                          ["A cat sat.", "Rivers flow to the sea."])
    assert ("documents" in batch) == (FAMILIES[family] == "own forward")  # the path DeepSynth took
    model.train()
    loop = TrainingLoop(model, learning_rate=1e-3, total_steps=3, schedule="constant")
    measured, _ = profile_step_peak_bytes(lambda: loop.train_step(batch))
    arch = load_architecture(str(folder))
    workload = vlm_workload(arch, model, batch, model.decoder.get_base_model().config.to_dict())
    assert workload.vision_cached
    assert trace_step(arch.structure, LORA, workload).path == FAMILIES[family]
    result = estimate(arch, LORA, workload)
    assert abs(result.step_peak / measured - 1) <= 0.10, (result.step_peak, measured)
    counted = count_parameters(arch, LORA)
    peft = model.decoder
    assert counted.total == sum(p.numel() for p in peft.parameters())
    assert counted.trainable == sum(p.numel() for p in peft.parameters() if p.requires_grad)


def test_cpu_and_meta_are_one_device_in_the_trace():
    import torch

    from deepsynth.estimate.live_bytes import LiveBytes
    from deepsynth.estimate.vlm.model_step import _OneDevice

    weights = torch.empty(10, 4, device="meta")
    ids = torch.tensor([[1, 2, 3, 3]])
    with LiveBytes() as tracker, _OneDevice():
        assert ids.to("meta") is ids  # values kept: no copy to the model's "device"
        assert weights.to("cpu") is weights  # no storage made
        mask = ids == 3
        picked = weights[mask[0]]  # a mask with values into a meta tensor: its true elements
        assert tuple(picked.shape) == (2, 4)
        assert weights.to("cpu", torch.float16).dtype == torch.float16
    assert tracker.peak >= 2 * 4 * 4  # the selected rows were counted


def test_own_forward_with_the_tower_running_in_the_step(tiny_folders):
    """Features not cached: the own forward runs the tower in the step (on meta, pixels with
    their values on the CPU) and the trace says so."""
    import torch

    from deepsynth.estimate.builtin import load_architecture
    from deepsynth.estimate.estimator import estimate
    from deepsynth.estimate.vlm.live import vlm_workload
    from deepsynth.models import ModelConfig, build_document_model
    from deepsynth.training.loop import TrainingLoop
    from deepsynth.training.memory import profile_step_peak_bytes

    torch.set_num_threads(1)
    folder = tiny_folders["blip"]
    model = build_document_model(ModelConfig(name=str(folder), max_target_tokens=12), LORA)
    model.reader.cache_features = False
    batch = model.collate(model.read_documents(_documents()), ["", "Summarize briefly."],
                          ["A cat sat.", "Rivers flow to the sea."])
    assert all(not document["tower"] for document in batch["documents"])
    model.train()
    loop = TrainingLoop(model, learning_rate=1e-3, total_steps=3, schedule="constant")
    measured, _ = profile_step_peak_bytes(lambda: loop.train_step(batch))
    arch = load_architecture(str(folder))
    workload = vlm_workload(arch, model, batch, model.decoder.get_base_model().config.to_dict())
    assert not workload.vision_cached and workload.own_forward
    result = estimate(arch, LORA, workload)
    assert any("runs in every step (traced" in note for note in result.notes)
    assert abs(result.step_peak / measured - 1) <= 0.10, (result.step_peak, measured)
    cached = estimate(arch, LORA, workload.__class__(**{**workload.__dict__, "vision_cached": True}))
    assert cached.step_peak < result.step_peak  # the tower's working set is the difference
