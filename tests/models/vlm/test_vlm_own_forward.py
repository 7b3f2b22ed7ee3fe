"""The model's own forward path (models/vlm/own_forward.py): tower outputs cached and replayed,
per-token processor tensors extended, and families that train only through it (tiny models from
`models/vlm/tiny_any.py`): the loss is finite, the cached-tower loss equals the live one, the tower
does not run when its outputs are cached, and a processor's answer marks reach the target."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from tests.models.vlm.conftest import page


def test_a_tower_output_survives_flattening_with_its_fields_tuples_and_nones():
    from transformers.modeling_outputs import BaseModelOutputWithPooling

    from deepsynth.models.vlm.own_forward import flatten_output, unflatten_output

    hidden = (torch.randn(1, 3, 4), torch.randn(1, 3, 4))
    output = BaseModelOutputWithPooling(last_hidden_state=torch.randn(1, 3, 4), pooler_output=None,
                                        hidden_states=hidden)
    flat: dict[str, torch.Tensor] = {}
    flatten_output(output, "0.0", flat)
    rebuilt = unflatten_output({key[3:]: value for key, value in flat.items()})
    assert torch.equal(rebuilt.last_hidden_state, output.last_hidden_state)
    assert rebuilt.pooler_output is None and isinstance(rebuilt.hidden_states, tuple)
    assert all(torch.equal(a, b) for a, b in zip(rebuilt.hidden_states, hidden))
    assert torch.equal(rebuilt[0], output[0]) and torch.equal(rebuilt[1][1], hidden[1])  # index access as the original


def test_per_token_tensors_are_extended_with_the_values_the_processor_gives_text_and_answers():
    from deepsynth.models.vlm.own_forward import extend_per_token, per_token_keys

    encoded = {"input_ids": torch.zeros(1, 4, dtype=torch.long), "attention_mask": torch.ones(1, 4),
               "token_type_ids": torch.tensor([[0, 1, 1, 0]]), "qformer_input_ids": torch.zeros(1, 4, dtype=torch.long),
               "qformer_attention_mask": torch.ones(1, 4), "image_attention_mask": torch.ones(1, 4, 2),
               "pixel_values": torch.zeros(1, 3, 8, 8)}
    assert per_token_keys(encoded) == ["token_type_ids", "image_attention_mask"]
    opening = torch.tensor([[0, 1, 1]])  # ends on an image token: the appended text is not an image
    extended = extend_per_token(opening, prompt_length=5, total=7, prompt_value=torch.tensor(0),
                                target_value=torch.tensor(2))
    assert extended.tolist() == [[0, 1, 1, 0, 0, 2, 2]]
    wide = extend_per_token(torch.ones(1, 2, 3), 3, 4, None, None)
    assert wide.shape == (1, 4, 3) and bool((wide == 1).all())


class _Tower(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(4, 4)
        self.calls = 0

    def forward(self, pixels):
        self.calls += 1
        return self.linear(pixels)


class _Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.vision_tower = _Tower()
        self.language_model = nn.Linear(4, 4)

    def forward(self, pixels, use_cache=False):
        return self.language_model(self.vision_tower(pixels) + self.vision_tower(2 * pixels))


def test_tower_outputs_are_captured_before_the_language_model_and_replayed_in_call_order():
    from deepsynth.models.vlm.own_forward import capture_tower_outputs, replayed_towers, tower_modules

    model = _Model()
    towers = tower_modules(model, "language_model")
    assert towers == ["vision_tower"]
    pixels = torch.randn(2, 4)
    live = model(pixels)
    calls = model.vision_tower.calls
    recorded = capture_tower_outputs(model, "language_model", towers, {"pixels": pixels})
    assert sorted(recorded) == ["0.0", "0.1"]  # both calls, in order
    model.vision_tower.calls = 0
    with replayed_towers(model, towers, recorded, torch.device("cpu")):
        replayed = model(torch.zeros(2, 4))  # the recorded outputs stand in, whatever the pixels
    assert model.vision_tower.calls == 0 and calls == 2
    assert torch.allclose(replayed, live)
    assert "forward" not in model.vision_tower.__dict__  # the tower runs again after the block
    model(pixels)
    assert model.vision_tower.calls == 2


def _tiny(family, tmp_path_factory):
    from deepsynth.lora import LoraSettings
    from deepsynth.models import ModelConfig, build_document_model
    from deepsynth.models.vlm.tiny_any import build_tiny_any

    folder = tmp_path_factory.mktemp(f"own-{family}") / "model"
    build_tiny_any(family, folder)
    return build_document_model(ModelConfig(name=str(folder), max_target_tokens=8),
                                LoraSettings(rank=4, alpha=8, dropout=0.0))


DOCUMENTS = [[page("A cat sat on the mat.")], [page("Rivers flow to the sea.", 96, 96)]]


@pytest.mark.parametrize("family", ["janus", "granite_docling"])
def test_a_family_trains_through_its_own_forward_with_cached_tower_outputs(family, tmp_path_factory):
    model = _tiny(family, tmp_path_factory)
    assert model.reader.own_forward and model.caches_features
    model.eval()
    cached = model.collate(model.read_documents(DOCUMENTS), ["", "Read."], ["A cat sat.", "Rivers."])
    assert all(document["tower"] for document in cached["documents"])
    model.reader.cache_features = False
    try:
        live = model.collate(model.read_documents(DOCUMENTS), ["", "Read."], ["A cat sat.", "Rivers."])
    finally:
        model.reader.cache_features = True
    towers = [model.decoder.get_base_model().get_submodule(path) for path in model.reader.towers]
    runs = []  # the towers' inner layers run only when the tower itself does (a replayed one returns at once)
    hooks = [layer.register_forward_hook(lambda *_: runs.append(1))
             for tower in towers for layer in tower.children()]
    try:
        with torch.no_grad():
            cached_loss = float(model(**cached))
        assert not runs  # the tower did not run: its outputs were replayed
        with torch.no_grad():
            live_loss = float(model(**live))
        assert runs
    finally:
        for hook in hooks:
            hook.remove()
    assert math.isfinite(cached_loss)
    assert math.isclose(cached_loss, live_loss, rel_tol=1e-5, abs_tol=1e-6)
    # One row: DeepSynth's loss is the model's own loss on the same inputs with the same labels.
    row = model.collate(model.read_documents(DOCUMENTS[:1]), ["Read."], ["A cat sat on the mat."])
    inputs = model._row_inputs(row["input_ids"][0], row["documents"][0])
    with torch.no_grad():
        own = float(model.decoder.get_base_model()(**inputs, labels=row["labels"]).loss)
        assert math.isclose(float(model(**row)), own, rel_tol=1e-5)
    model.train()
    loss = model(**cached)
    loss.backward()
    lora = [p for n, p in model.named_parameters() if "lora_B" in n]
    assert lora and any(p.grad is not None and p.grad.abs().sum() > 0 for p in lora)
    assert len(model.generate(model.collate(model.read_documents(DOCUMENTS[:1]), [""]), max_new_tokens=2)) == 1


def test_paligemma_marks_the_target_as_the_answer_and_the_instruction_as_prefix(tmp_path_factory):
    model = _tiny("paligemma", tmp_path_factory)
    assert model.reader.own_forward
    readings = model.read_documents(DOCUMENTS[:1])
    batch = model.collate(readings, ["Read."], ["A cat sat."])
    types = batch["documents"][0]["tokens"]["token_type_ids"][0]
    labels = batch["labels"][0]
    length = int(batch["attention_mask"][0].sum())
    target = labels[:length] != -100
    assert bool((types[:length][target] == 1).all())  # the processor's answer (suffix) mark
    assert bool((types[:length][~target] == 0).all())  # prefix: image, instruction, template
    assert math.isfinite(float(model(**batch)))


class _WholeModelDecoder(nn.Module):
    """GIT/IDEFICS-shaped: `get_decoder()` is a module that holds the vision tower too."""

    def __init__(self):
        super().__init__()
        self.model = nn.ModuleDict({
            "layers": nn.ModuleDict({"q_proj": nn.Linear(8, 8), "v_proj": nn.Linear(8, 8)}),
            "vision_model": nn.ModuleDict({"q_proj": nn.Linear(8, 8), "v_proj": nn.Linear(8, 8)})})
        from types import SimpleNamespace

        self.config = SimpleNamespace(get_text_config=lambda: SimpleNamespace(model_type="no_such_family"))

    def get_decoder(self):
        return self.model


def test_plain_target_names_skip_a_vision_tower_inside_the_language_models_path():
    import re

    from deepsynth.lora import LoraSettings
    from deepsynth.models.vlm.build import language_model_path, lora_targets

    model = _WholeModelDecoder()
    lm_path = language_model_path(model)
    for lora in (LoraSettings(rank=2, alpha=4, dropout=0.0),
                 LoraSettings(rank=2, alpha=4, dropout=0.0, target_modules=("q_proj", "v_proj"))):
        pattern = lora_targets(model, lora, lm_path)
        matched = sorted(name for name, _ in model.named_modules() if re.fullmatch(pattern, name))
        assert matched == ["model.layers.q_proj", "model.layers.v_proj"]
