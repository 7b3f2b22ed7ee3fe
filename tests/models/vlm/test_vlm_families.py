"""Per family: DeepSynth's loss equals the vanilla transformers model's on the processor's own inputs
(rope positions from `image_grid_thw`, image tokens, Florence-2's encoder-decoder); processors load
without a video part whose backend is missing; Florence-2's prompt and page limit."""

from __future__ import annotations

import logging

import pytest
import torch

from deepsynth.models.vlm.tiny import TINY_VLM_FAMILIES

INSTRUCTIONS = ["", "Summarize briefly."]
SUMMARIES = ["A cat sat.", "Rivers flow to the sea."]


def build(folder, lora, **fields):
    from deepsynth.models import ModelConfig, build_document_model

    return build_document_model(ModelConfig(name=str(folder), max_target_tokens=12, **fields), lora)


def randomize_lora(model, seed=3):
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if "lora_B" in name:
                parameter.normal_(0, 0.1, generator=torch.Generator().manual_seed(seed))


def vanilla_inputs(model, pages, instruction, summary):
    """What a user of transformers would feed: the processor's output for the prompt text, the
    target appended (labels -100 on the prompt), for a decoder-only model; for an encoder-decoder,
    the processor's output and the target as `labels`."""
    from deepsynth.models.builtin.prompt import DEFAULT_INSTRUCTION
    from deepsynth.models.vlm.prompt import prepare_pages, processor_settings

    processor = model.processor
    text = model.prompts.render(len(pages), instruction or DEFAULT_INSTRUCTION)
    inputs = dict(processor(text=[text], images=[prepare_pages(pages)], return_tensors="pt",
                            **processor_settings(processor, pages)))
    if model.decoder.config.is_encoder_decoder:
        inputs["labels"] = torch.tensor([model.target_ids(summary)])
        return inputs
    target = torch.tensor([model.prompts.target_ids(summary, model.config.max_target_tokens)])
    length = inputs["input_ids"].shape[1]
    for key, value in list(inputs.items()):  # per-token tensors grow by the target (mask 1, types 0)
        if torch.is_tensor(value) and value.dim() == 2 and value.shape[1] == length and key != "pixel_values":
            tail = target if key == "input_ids" else torch.full_like(target, int(key == "attention_mask"))
            inputs[key] = torch.cat([value, tail], dim=1)
    inputs["labels"] = torch.cat([torch.full((1, length), -100), target], dim=1)
    return inputs


@pytest.mark.parametrize("family", TINY_VLM_FAMILIES)
def test_the_loss_equals_the_vanilla_models_on_the_processors_own_inputs(family, vlm_folder, vlm_lora,
                                                                          documents_for):
    model = build(vlm_folder(family), vlm_lora)
    randomize_lora(model)
    model.eval()
    for pages, instruction, summary in zip(documents_for(family), INSTRUCTIONS, SUMMARIES):
        batch = model.collate(model.read_documents([pages]), [instruction], [summary])
        assert "image_features" in batch  # ours from the cache, theirs from the pixels
        with torch.no_grad():
            ours = model(**batch)
            theirs = model.decoder(**vanilla_inputs(model, pages, instruction, summary)).loss
        torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("family", ["deepseek_ocr2", "idefics3"])
def test_the_template_renders_as_the_processors_own_apply_chat_template(family, vlm_folder):
    """DeepSynth renders through the tokenizer (SmolVLM's processor reads its video settings)."""
    from deepsynth.models.vlm.processor import load_processor
    from deepsynth.models.vlm.prompt import VlmPrompt

    processor = load_processor(str(vlm_folder(family)))
    prompt = VlmPrompt(processor)
    for pages in (1, 2):
        assert prompt.render(pages, "Summarize.") == processor.apply_chat_template(
            prompt.messages(pages, "Summarize."), tokenize=False, add_generation_prompt=True)


@pytest.fixture
def no_video_backend(monkeypatch):
    """AutoVideoProcessor fails as it does without torchvision (deterministic, with it or not)."""
    from transformers.models.auto.video_processing_auto import AutoVideoProcessor

    def missing(*args, **kwargs):
        raise ImportError("SomeVideoProcessor requires the Torchvision library but it was not found in your "
                          "environment. Check out the instructions on the installation page.")

    monkeypatch.setattr(AutoVideoProcessor, "from_pretrained", missing)


@pytest.mark.parametrize("family, processor_class", [("qwen2_vl", "Qwen2VLProcessor"),
                                                     ("qwen2_5_vl", "Qwen2_5_VLProcessor"),
                                                     ("smolvlm", "SmolVLMProcessor")])
def test_a_processor_loads_without_a_video_part_whose_backend_is_missing(family, processor_class, vlm_folder,
                                                                         no_video_backend, caplog, make_page):
    import transformers

    from deepsynth.models.vlm.processor import load_processor

    folder = vlm_folder(family)
    with pytest.raises(ImportError):
        transformers.AutoProcessor.from_pretrained(str(folder))
    with caplog.at_level(logging.WARNING, logger="deepsynth.vlm"):
        processor = load_processor(str(folder))
    assert isinstance(processor, getattr(transformers, processor_class))
    assert type(processor).__name__ == processor_class and not hasattr(processor, "video_processor")
    assert processor.chat_template and type(processor.image_processor).__name__.endswith("Pil")
    lines = [r.getMessage() for r in caplog.records if r.name == "deepsynth.vlm"]
    assert len(lines) == 1 and "video_processor left out" in lines[0] and "video input is unavailable" in lines[0]
    encoded = processor(text=[processor.image_token + "hello"], images=[[make_page("x")]], return_tensors="pt")
    assert int((encoded["input_ids"] == processor.image_token_id).sum()) > 0


def test_a_missing_image_processor_backend_is_still_an_error(vlm_folder, monkeypatch, vlm_lora):
    from transformers import AutoImageProcessor

    from deepsynth.errors import DeepSynthError

    def missing(*args, **kwargs):
        raise ImportError("Qwen2VLImageProcessor requires the Torchvision library")

    monkeypatch.setattr(AutoImageProcessor, "from_pretrained", missing)
    with pytest.raises(DeepSynthError, match="cannot load the processor or model of .*Qwen2VLImageProcessor requires"):
        build(vlm_folder("qwen2_vl"), vlm_lora)


def test_florence2_reads_the_instruction_as_its_processor_does_and_one_page_per_prompt(vlm_folder, vlm_lora,
                                                                                      make_page):
    from deepsynth.models.vlm.prompt import prepare_pages

    model = build(vlm_folder("florence2"), vlm_lora)
    assert model.prompts.places_images and model.prompts.render(1, "Summarize.") == "Summarize."
    reading = model.read_pages([make_page("one")])
    for instruction in ("Summarize the page.", "<OCR>"):  # a task token is expanded by the processor
        theirs = model.processor(text=[instruction], images=[prepare_pages([make_page("one")])],
                                 return_tensors="pt")["input_ids"][0]
        assert torch.equal(model.collate([reading], [instruction])["input_ids"][0], theirs)
    assert model.reader.page_layout == "single" and model.reader.max_pages == 1
    cut = model.read_pages([make_page("one"), make_page("two")])  # the family's page cap: its first page
    assert cut.pages == 1 and torch.equal(cut.prompt_ids, reading.prompt_ids) and model.reader.pages_cut == 1


def test_florence2_lora_reaches_encoder_and_decoder_never_the_tower(vlm_folder, vlm_lora):
    model = build(vlm_folder("florence2"), vlm_lora)
    lm, tower = model.identity["language_model"], model.identity["vision_tower"]
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert any(f".{lm}.encoder." in n for n in trainable) and any(f".{lm}.decoder." in n for n in trainable)
    assert any(".encoder_attn." in n for n in trainable)  # cross-attention too (q_proj/v_proj)
    assert not any(f".{tower}." in n or "multi_modal_projector" in n for n in trainable)


@pytest.mark.parametrize("family", TINY_VLM_FAMILIES)
def test_a_saved_adapter_loads_in_vanilla_peft_with_every_lora_weight(family, vlm_folder, vlm_lora, tmp_path,
                                                                     documents_for, recwarn):
    """PEFT renames some families' LoRA names on load (DeepSeek-OCR-2): the saved names must survive it."""
    from peft import PeftModel
    from transformers import AutoModelForImageTextToText

    model = build(vlm_folder(family), vlm_lora)
    randomize_lora(model)
    model.eval()
    saved = model.save_adapter(tmp_path / "adapter")
    vanilla = PeftModel.from_pretrained(AutoModelForImageTextToText.from_pretrained(str(vlm_folder(family))),
                                        str(saved)).eval()
    assert not [w for w in recwarn if "missing adapter keys" in str(w.message)]
    pages, instruction, summary = documents_for(family)[0], INSTRUCTIONS[0], SUMMARIES[0]
    inputs = vanilla_inputs(model, pages, instruction, summary)
    with torch.no_grad():
        ours = model(**model.collate(model.read_documents([pages]), [instruction], [summary]))
        theirs = vanilla(**inputs).loss
        with vanilla.disable_adapter():
            base = vanilla(**inputs).loss
    torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-4)
    assert abs(float(theirs - base)) > 1e-3  # the LoRA weights are there and matter
