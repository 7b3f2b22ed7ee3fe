"""A VLM folder as a DocumentModel, per family: what trains, the loss mask, cached features vs the
tower, the prompt vs the processor's own, generation, saving."""

from __future__ import annotations

import pytest
import torch

from deepsynth.models.vlm.tiny import TINY_VLM_FAMILIES

INSTRUCTIONS = ["", "Summarize briefly."]
SUMMARIES = ["A cat sat.", "Rivers flow to the sea."]


def build(folder, lora, **fields):
    from deepsynth.models import ModelConfig, build_document_model

    return build_document_model(ModelConfig(name=str(folder), max_target_tokens=12, **fields), lora)


@pytest.mark.parametrize("family", TINY_VLM_FAMILIES)
def test_one_step_trains_lora_in_the_language_model_only(family, vlm_folder, vlm_lora, documents_for):
    vlm_documents = documents_for(family)
    model = build(vlm_folder(family), vlm_lora)
    lm_path = model.identity["language_model"]
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all(".lora_" in n and f".{lm_path}." in n for n in trainable)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    readings = model.read_documents(vlm_documents)
    batch = model.collate(readings, INSTRUCTIONS, SUMMARIES)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    model.train()
    for _ in range(2):  # LoRA B starts at 0: the second step moves A too
        model(**batch).backward()
        optimizer.step()
        optimizer.zero_grad()
    changed = {n for n, p in model.named_parameters() if not torch.equal(p, before[n])}
    assert changed == trainable
    tower = model.identity["vision_tower"]
    assert tower and not any(f".{tower}." in n for n in changed)
    assert not model.tower.training  # the frozen tower never runs with dropout


@pytest.mark.parametrize("family", TINY_VLM_FAMILIES)
def test_loss_only_on_summary_tokens_and_prompt_equals_the_processors(family, vlm_folder, vlm_lora, documents_for):
    from deepsynth.models.builtin.prompt import DEFAULT_INSTRUCTION
    from deepsynth.models.vlm.prompt import prepare_pages, processor_settings

    vlm_documents = documents_for(family)
    model = build(vlm_folder(family), vlm_lora)
    readings = model.read_documents(vlm_documents)
    batch = model.collate(readings, INSTRUCTIONS, SUMMARIES)
    tokenizer = model.tokenizer
    for row, summary in enumerate(SUMMARIES):
        labels = batch["labels"][row]
        kept = labels[labels != -100].tolist()
        assert kept[-1] == tokenizer.eos_token_id
        assert tokenizer.decode(kept, skip_special_tokens=True).strip() == summary
        length = int(batch["attention_mask"][row].sum())
        if model.decoder.config.is_encoder_decoder:
            # the decoder's targets (bos + summary + eos); the encoder reads the prompt alone
            assert kept[0] == tokenizer.bos_token_id and labels.tolist()[:len(kept)] == kept
            assert length == len(model.collate([readings[row]], [INSTRUCTIONS[row]])["input_ids"][0])
        else:  # the labelled tokens are the last real tokens of the row (right padding)
            assert batch["input_ids"][row, length - len(kept):length].tolist() == kept
    processor = model.processor
    for row, pages in enumerate(vlm_documents):
        text = model.prompts.render(len(pages), INSTRUCTIONS[row] or DEFAULT_INSTRUCTION)
        theirs = processor(text=[text], images=[prepare_pages(pages)], return_tensors="pt",
                           **processor_settings(processor, pages))["input_ids"][0]
        ours = model.collate([readings[row]], [INSTRUCTIONS[row]])["input_ids"][0]
        assert torch.equal(ours, theirs)


@pytest.mark.parametrize("family", TINY_VLM_FAMILIES)
def test_cached_features_give_the_towers_loss(family, vlm_folder, vlm_lora, documents_for):
    vlm_documents = documents_for(family)
    model = build(vlm_folder(family), vlm_lora)
    assert model.caches_features and model.precomputed
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if "lora_B" in name:
                parameter.normal_(0, 0.1, generator=torch.Generator().manual_seed(3))
    model.eval()
    cached = model.collate(model.read_documents(vlm_documents), INSTRUCTIONS, SUMMARIES)
    assert "image_features" in cached and "pixel_inputs" not in cached
    model.reader.cache_features = False  # the same model, the tower at every step
    live = model.collate(model.read_documents(vlm_documents), INSTRUCTIONS, SUMMARIES)
    assert "pixel_inputs" in live and "image_features" not in live
    with torch.no_grad():
        torch.testing.assert_close(model(**cached), model(**live), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("family", TINY_VLM_FAMILIES)
def test_generation_batched_equals_one_by_one(family, vlm_folder, vlm_lora, documents_for):
    model = build(vlm_folder(family), vlm_lora)
    readings = model.read_documents(documents_for(family))
    together = model.generate(model.collate(readings, INSTRUCTIONS), max_new_tokens=5)
    alone = [model.generate(model.collate([r], [i]), max_new_tokens=5)[0] for r, i in zip(readings, INSTRUCTIONS)]
    assert together == alone and all(isinstance(text, str) and text for text in together)


def test_projector_trains_through_modules_to_save_and_the_adapter_reloads_in_vanilla_peft(
        vlm_folder, vlm_documents, vlm_lora, tmp_path):
    from peft import PeftModel
    from transformers import AutoModelForImageTextToText

    folder = vlm_folder("idefics3")
    model = build(folder, vlm_lora, train_projector=True)
    assert not model.caches_features  # the projector's output would be stale
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert any("connector" in n and "modules_to_save" in n for n in trainable)
    batch = model.collate(model.read_documents(vlm_documents), INSTRUCTIONS, SUMMARIES)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    for _ in range(2):
        model(**batch).backward()
        optimizer.step()
        optimizer.zero_grad()
    saved = model.save_adapter(tmp_path / "adapter", extra={"note": "x"})
    from safetensors import safe_open

    with safe_open(str(saved / "adapter_model.safetensors"), "pt") as handle:
        assert any("connector" in key for key in handle.keys())
    vanilla = PeftModel.from_pretrained(AutoModelForImageTextToText.from_pretrained(str(folder)), str(saved)).eval()
    model.eval()
    with torch.no_grad():
        ids = torch.tensor([[5, 6, 7, 8]])
        ours = model.decoder(input_ids=ids).logits
        theirs = vanilla(input_ids=ids).logits
    torch.testing.assert_close(ours, theirs)
    pixels = batch["pixel_inputs"][0]
    with torch.no_grad():
        torch.testing.assert_close(model.reader.image_features(pixels),
                                   vanilla.get_base_model().get_image_features(**pixels).pooler_output[0])


def test_unmatched_targets_list_the_language_models_linear_layers(vlm_folder, vlm_lora):
    from deepsynth.configuration import ConfigError

    with pytest.raises(ConfigError, match=r"no linear layer matches nope_proj; the language model's linear "
                                          r"layers are .*q_proj"):
        build(vlm_folder("idefics3"), vlm_lora.with_targets(("nope_proj",)))


def test_readings_are_cached_and_the_tower_does_not_run_again(vlm_folder, vlm_lora, tmp_path, monkeypatch, make_page):
    from datasets import Dataset, Features, Image as ImageFeature, Sequence, Value

    from deepsynth.models import read_dataset

    page = make_page

    model = build(vlm_folder("deepseek_ocr2"), vlm_lora)
    split = Dataset.from_dict({"id": ["a", "b"], "pages": [[page("one")], [page("two"), page("three")]]},
                              features=Features({"id": Value("string"), "pages": Sequence(ImageFeature())}))
    first = read_dataset(model, split, cache_dir=tmp_path, progress=False)

    def no_tower(*args, **kwargs):
        raise AssertionError("the tower ran again")

    monkeypatch.setattr(model.decoder.get_base_model(), "get_image_features", no_tower)
    again = read_dataset(model, split, cache_dir=tmp_path, progress=False)
    for a, b in zip(first, again):
        assert torch.equal(a.prompt_ids, b.prompt_ids) and torch.equal(a.features, b.features)
        assert a.extras.keys() == b.extras.keys()
    with torch.no_grad():
        assert float(model(**model.collate(first, None, ["x", "y"]))) == float(model(**model.collate(again, None, ["x", "y"])))


@pytest.mark.parametrize("family", TINY_VLM_FAMILIES)
def test_qlora_quantizes_the_language_model_and_keeps_the_tower(family, vlm_folder, documents_for):
    from deepsynth.lora import LoraSettings

    vlm_documents = documents_for(family)
    model = build(vlm_folder(family), LoraSettings(rank=4, alpha=8, dropout=0.0, quantization="nf4",
                                                        compute_dtype="float32"))
    kinds = {name: type(module).__name__ for name, module in model.decoder.get_base_model().named_modules()}
    lm, tower = model.identity["language_model"], model.identity["vision_tower"]
    assert any(k == "Linear4bit" for n, k in kinds.items() if n.startswith(lm + ".") and n.endswith("k_proj"))
    assert not any(k == "Linear4bit" for n, k in kinds.items() if n.startswith(tower + "."))
    assert all(p.dtype == torch.float32 for p in model.tower.parameters())
    loss = model(**model.collate(model.read_documents(vlm_documents), INSTRUCTIONS, SUMMARIES))
    loss.backward()
    assert torch.isfinite(loss)


def test_targets_that_reach_the_tower_switch_the_feature_cache_off(vlm_folder, vlm_documents, vlm_lora):
    """Attention in DeepSeek-OCR-2's vision encoder, named by path: the tower trains and its output
    cannot be cached (the tower runs at every step)."""
    model = build(vlm_folder("deepseek_ocr2"), vlm_lora.with_targets(("q_proj", "model.vision_tower.q_proj")))
    tower = model.identity["vision_tower"]
    assert any(f".{tower}." in n for n, p in model.named_parameters() if p.requires_grad)
    assert not model.caches_features
    batch = model.collate(model.read_documents(vlm_documents), INSTRUCTIONS, SUMMARIES)
    assert "pixel_inputs" in batch
    model(**batch).backward()
