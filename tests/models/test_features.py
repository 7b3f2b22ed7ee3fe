"""The `features` interface (vision tokens through a trainable projection) and the text encoder."""

from __future__ import annotations

import torch

from deepsynth.models import ModelConfig, build_document_model


def _overfit(model, batch, steps, lr):
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr)
    losses = []
    for _ in range(steps):
        loss = model(**batch)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(float(loss))
    return losses


def test_features_interface_trains_projection_and_lora(lora, tiny_pages):
    model = build_document_model(ModelConfig(name="tiny", vision_interface="features"), lora)
    readings = model.read_documents(tiny_pages)
    assert all(r.features is not None and r.features.shape[1] == model.reader.feature_size for r in readings)
    batch = model.collate(readings, None, ["A cat.", "Rivers."])
    assert int(batch["vision_slots"].sum()) == int(batch["vision_mask"].sum()) > 0
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert any(n.startswith("parts.default.vision") for n in trainable)
    assert not any(n.startswith("parts.__base__") for n in trainable)
    projection_before = model.parts["default"].state_dict()
    projection_before = {k: v.clone() for k, v in projection_before.items()}
    losses = _overfit(model, batch, steps=25, lr=3e-2)
    assert losses[-1] < 0.6 * losses[0]
    after = model.parts["default"].state_dict()
    assert any(not torch.equal(projection_before[k], after[k]) for k in after)


def test_vision_tokens_change_the_loss(lora, tiny_pages):
    model = build_document_model(ModelConfig(name="tiny", vision_interface="features",
                                             projection_init="random"), lora)
    batch = model.collate(model.read_documents(tiny_pages), None, ["A cat.", "Rivers."])
    blank = dict(batch, vision_features=torch.zeros_like(batch["vision_features"]))
    with torch.no_grad():
        assert not torch.allclose(model(**batch), model(**blank))


def test_projection_saved_and_reloaded(lora, tiny_pages, tmp_path):
    model = build_document_model(ModelConfig(name="tiny", vision_interface="features"), lora)
    batch = model.collate(model.read_documents(tiny_pages), None, ["A cat.", "Rivers."])
    _overfit(model, batch, steps=3, lr=3e-2)
    folder = model.save_adapter(tmp_path / "adapter")
    assert (folder / "projection.safetensors").is_file()
    viewer = build_document_model(ModelConfig(name="tiny", vision_interface="features"), lora)
    viewer.load_adapter(folder, "tuned")
    viewer.set_adapter("tuned")
    model.eval(), viewer.eval()
    with torch.no_grad():
        torch.testing.assert_close(viewer(**batch), model(**batch))
        with viewer.disable_adapter():
            untouched = viewer(**batch)
        fresh = build_document_model(ModelConfig(name="tiny", vision_interface="features"), lora).eval()
        torch.testing.assert_close(untouched, fresh(**batch))


def test_text_encoder_projection_width_from_configs_and_trains(lora, tiny_pages):
    model = build_document_model(ModelConfig(name="tiny", text_encoder="tiny"), lora)
    projection = model.parts["default"]["instruction"]
    assert projection.in_features == model.instruction_encoder.encoder.config.hidden_size == 32
    assert projection.out_features == model.decoder.get_base_model().config.hidden_size == 64
    assert not any(p.requires_grad for p in model.instruction_encoder.parameters())
    batch = model.collate(model.read_documents(tiny_pages), ["Summarize.", "Be brief."], ["A cat.", "Rivers."])
    assert int(batch["instruction_slots"].sum()) == int(batch["instruction_mask"].sum())
    before = projection.weight.detach().clone()
    losses = _overfit(model, batch, steps=15, lr=3e-2)
    assert losses[-1] < losses[0]
    assert not torch.equal(before, projection.weight)


def test_parameter_groups_give_projections_a_scaled_learning_rate(lora):
    model = build_document_model(ModelConfig(name="tiny", vision_interface="features",
                                             projection_lr_scale=0.5), lora)
    groups = {group["name"]: group for group in model.parameter_groups(1e-3)}
    assert groups["adapter"]["lr"] == 1e-3 and groups["projection"]["lr"] == 5e-4
    grouped = {id(p) for group in groups.values() for p in group["params"]}
    assert grouped == {id(p) for p in model.parameters() if p.requires_grad}
    text_only = build_document_model(ModelConfig(name="tiny"), lora)
    assert [group["name"] for group in text_only.parameter_groups(1e-3)] == ["adapter"]
