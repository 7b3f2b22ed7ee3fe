"""Adapters on disk: vanilla PEFT reload, several adapters side by side, the untouched base."""

from __future__ import annotations

import json

import torch

from deepsynth.models import ModelConfig, build_document_model
from deepsynth.adapter_format.files import read_model_card


def _train(model, batch, steps=3, lr=5e-2, seed=0):
    torch.manual_seed(seed)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr)
    for _ in range(steps):
        model(**batch).backward()
        optimizer.step()
        optimizer.zero_grad()


def _logits(decoder, ids):
    with torch.no_grad():
        return decoder(input_ids=ids).logits


def test_saved_adapter_reloads_with_vanilla_peft(lora, tiny_pages, tmp_path):
    from peft import PeftModel

    from deepsynth.models.builtin.tiny import tiny_decoder, tiny_tokenizer

    model = build_document_model(ModelConfig(name="tiny"), lora)
    batch = model.collate(model.read_documents(tiny_pages), None, ["A cat.", "Rivers."])
    _train(model, batch)
    folder = model.save_adapter(tmp_path / "adapter", extra={"render_config": {"font_size": 14}})
    names = sorted(p.name for p in folder.iterdir())
    assert names == ["adapter_config.json", "adapter_model.safetensors", "deepsynth_model.json"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging left behind
    card = read_model_card(folder)
    assert card["model_config"]["name"] == "tiny" and card["render_config"] == {"font_size": 14}

    base = tiny_decoder(len(tiny_tokenizer()))  # rebuilt from its seed, as another process would
    vanilla = PeftModel.from_pretrained(base, str(folder)).eval()
    ids = batch["input_ids"][:, -12:]
    tuned = _logits(model.decoder.eval(), ids)
    torch.testing.assert_close(_logits(vanilla, ids), tuned, rtol=0, atol=0)
    # and the adapter really changed the model
    assert not torch.allclose(_logits(tiny_decoder(len(tiny_tokenizer())), ids), tuned)


def test_save_replaces_existing_folder_atomically(lora, tmp_path):
    model = build_document_model(ModelConfig(name="tiny"), lora)
    folder = tmp_path / "adapter"
    folder.mkdir()
    (folder / "stale.txt").write_text("old")
    model.save_adapter(folder)
    assert not (folder / "stale.txt").exists()
    assert json.loads((folder / "adapter_config.json").read_text())["r"] == lora.rank


def test_multi_adapter_switching_and_base(lora, tiny_pages, tmp_path):
    first = build_document_model(ModelConfig(name="tiny"), lora)
    batch = first.collate(first.read_documents(tiny_pages), None, ["A cat.", "Rivers."])
    _train(first, batch, seed=1)
    first.save_adapter(tmp_path / "one")
    second = build_document_model(ModelConfig(name="tiny"), lora)
    other = second.collate(second.read_documents(tiny_pages), None, ["Nothing at all.", "Zzz."])
    _train(second, other, steps=4, seed=2)
    second.save_adapter(tmp_path / "two")

    viewer = build_document_model(ModelConfig(name="tiny"), lora)
    viewer.load_adapter(tmp_path / "one", "one")
    viewer.load_adapter(tmp_path / "two", "two")
    assert viewer.adapter_names() == ["default", "one", "two"]
    viewer.eval()
    with torch.no_grad():
        viewer.set_adapter("one")
        loss_one = viewer(**batch)
        viewer.set_adapter("two")
        loss_two = viewer(**batch)
        with viewer.disable_adapter():
            loss_base = viewer(**batch)
        first.eval(), second.eval()
        torch.testing.assert_close(loss_one, first(**batch))
        torch.testing.assert_close(loss_two, second(**batch))
        fresh = build_document_model(ModelConfig(name="tiny"), lora).eval()
        torch.testing.assert_close(loss_base, fresh(**batch))
    assert len({float(loss_one), float(loss_two), float(loss_base)}) == 3
    assert viewer.active_adapter == "two"
