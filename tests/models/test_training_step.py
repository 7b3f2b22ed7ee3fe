"""LoRA on the tiny model: what trains, what stays frozen, and which positions the loss sees."""

from __future__ import annotations

import torch

from deepsynth.models import ModelConfig, build_document_model
from deepsynth.models.builtin.document_model import IGNORE_INDEX


def _build(lora, **config):
    return build_document_model(ModelConfig(name="tiny", **config), lora)


def test_lora_changes_and_base_does_not(lora, tiny_pages):
    model = _build(lora)
    batch = model.collate(model.read_documents(tiny_pages), ["", "Summarize."], ["A cat.", "Rivers."])
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    trainable = [name for name, p in model.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in name for name in trainable)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    model(**batch).backward()
    optimizer.step()
    after = dict(model.named_parameters())
    lora_b = [name for name in trainable if "lora_B" in name]
    assert lora_b and all(not torch.equal(before[name], after[name]) for name in lora_b)
    frozen = [name for name in before if name not in trainable]
    assert len(frozen) > 10
    assert all(torch.equal(before[name], after[name]) for name in frozen)


def test_default_targets_are_the_llama_family_attention(lora):
    model = _build(lora)
    assert sorted(model.decoder.peft_config["default"].target_modules) == ["q_proj", "v_proj"]


def test_loss_is_cross_entropy_on_summary_tokens_only(lora, tiny_pages):
    model = _build(lora)
    readings = model.read_documents(tiny_pages)
    batch = model.collate(readings, ["", ""], ["A cat.", "Rivers flow."])
    head_rows = []
    head = model.decoder.get_base_model().get_output_embeddings()
    hook = head.register_forward_hook(lambda module, args, out: head_rows.append(args[0].shape[0]))
    loss = model(**batch)
    hook.remove()
    targets = batch["labels"][:, 1:] != IGNORE_INDEX
    # The LM head ran on the summary tokens (+ end token) only, not the whole sequence.
    assert head_rows == [int(targets.sum())]
    assert int(targets.sum()) == len(b"A cat.") + len(b"Rivers flow.") + 2
    # Reference: full logits over every position, cross-entropy at the summary positions.
    with torch.no_grad():
        mask = batch["attention_mask"]
        logits = model.decoder(inputs_embeds=model.embed(batch), attention_mask=mask,
                               position_ids=(mask.cumsum(-1) - 1).clamp(min=0)).logits
        reference = torch.nn.functional.cross_entropy(
            logits[:, :-1][targets], batch["labels"][:, 1:][targets])
    torch.testing.assert_close(loss.detach(), reference, rtol=1e-5, atol=1e-5)


def test_loss_ignores_prompt_labels_and_depends_on_summary(lora, tiny_pages):
    model = _build(lora)
    readings = model.read_documents(tiny_pages)
    batch = model.collate(readings, ["", ""], ["A cat.", "Rivers."])
    other = model.collate(readings, ["", ""], ["A dog.", "Rivers."])
    with torch.no_grad():
        assert not torch.equal(model(**batch), model(**other))


def test_generate_batched_equals_one_by_one(lora, tiny_pages):
    model = _build(lora)
    readings = model.read_documents(tiny_pages)
    together = model.generate(model.collate(readings, ["", "Say it short."]), max_new_tokens=6)
    alone = [model.generate(model.collate([r], [i]), max_new_tokens=6)[0]
             for r, i in zip(readings, ["", "Say it short."])]
    assert together == alone
    assert len(together) == 2


def test_generate_matches_greedy_argmax_of_forward(lora, tiny_pages):
    """First generated token = argmax of the model's next-token logits (positions from the mask)."""
    model = _build(lora)
    readings = model.read_documents(tiny_pages)
    batch = model.collate(readings, ["", ""])
    with torch.no_grad():
        mask = batch["attention_mask"]
        logits = model.decoder(inputs_embeds=model.embed(batch), attention_mask=mask,
                               position_ids=(mask.cumsum(-1) - 1).clamp(min=0)).logits[:, -1]
    first = logits.argmax(-1).tolist()
    texts = model.generate(batch, max_new_tokens=1)
    expected = [model.tokenizer.decode([token], skip_special_tokens=True).strip() for token in first]
    assert texts == expected


def test_training_state_roundtrip(lora, tiny_pages):
    model = _build(lora)
    state = model.trainable_state()
    assert state and all("lora_" in name for name in state)
    with torch.no_grad():
        for p in model.parameters():
            if p.requires_grad:
                p.add_(1.0)
    model.load_trainable_state(state)
    assert all(torch.equal(state[n], p) for n, p in model.named_parameters() if p.requires_grad)
