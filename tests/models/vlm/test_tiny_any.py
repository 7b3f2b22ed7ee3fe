"""Tiny random folders of families beyond the six (models/vlm/tiny_any.py + tiny_settings.py): the
processor and the model each builds agree -- the image tokens the processor writes for a page are
the ones the model fills with its tower's features -- and the helpers the per-family settings use."""

from __future__ import annotations

import pytest
import torch

from tests.models.vlm.conftest import page


def _page_inputs(folder):
    """The folder's own processor (DeepSynth's loader) on one page under its chat template."""
    from deepsynth.models.vlm.processor import load_processor

    processor = load_processor(str(folder))
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Read."}]}]
    # (a processor class that takes no chat template, Chameleon's, leaves it to the tokenizer)
    templated = processor if processor.chat_template else processor.tokenizer
    text = templated.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    return processor(text=[text], images=[page("A cat sat.").convert("RGB")], return_tensors="pt")


def _image_token_id(config):
    for name in ("image_token_id", "image_token_index"):
        value = getattr(config, name, None)
        if isinstance(value, int):
            return value
    return getattr(getattr(config, "vocabulary_map", None) or {}, "get", lambda _: None)("<image>")


@pytest.mark.parametrize("model_type", [
    "aya_vision",  # the model's image token is the processor's img_patch_token, not "<image>"
    "ovis2",  # "<image>" expands into <IMG_ATOM>s between visual indicator tokens
    "chameleon",  # early fusion: VQ codes are tokens of the tiny vocabulary
    "qwen2_5_omni_thinker",  # the omni processor (audio part loaded, video part left out)
    "blip-2",  # the processor's AddedToken names the image token; OPT's embedding width shrunk
    "deepseek_vl",  # the released 384 px SigLIP: 576 features for the processor's 576 tokens
])
def test_the_processor_writes_as_many_image_tokens_as_the_tower_yields_features(model_type, tmp_path):
    """Plain transformers' forward on the processor's output: each family checks that its image
    tokens and its tower's features match in number (and raises where they do not)."""
    from transformers import AutoModelForImageTextToText

    from deepsynth.models.vlm.tiny_any import build_tiny_any

    folder = build_tiny_any(model_type, tmp_path / model_type)
    inputs = _page_inputs(folder)
    model = AutoModelForImageTextToText.from_pretrained(str(folder), trust_remote_code=False).eval()
    image_tokens = int((inputs["input_ids"] == _image_token_id(model.config)).sum())
    assert image_tokens > 0
    with torch.no_grad():
        loss = model(**inputs, labels=inputs["input_ids"]).loss
    assert torch.isfinite(loss)


@pytest.mark.slow
@pytest.mark.parametrize("model_type", [
    "pp_chart2table", "aria", "gemma4", "qwen3_vl_moe", "llava_next_video", "hunyuan_vl", "glmga",
    "cosmos3_omni", "qwen3_omni_moe_thinker", "cohere_compass", "glm5_next", "dots3_note", "emu3",
    "granite4_vision", "diffusion_gemma", "llava_onevision", "vipllava", "mllama", "ernie4_5_vl_moe",
    "instructblip", "deepseek_vl_hybrid",
])
def test_every_fixed_family_builds_and_its_forward_takes_its_processors_page(model_type, tmp_path):
    from transformers import AutoModelForImageTextToText

    from deepsynth.models.vlm.tiny_any import build_tiny_any

    folder = build_tiny_any(model_type, tmp_path / model_type)
    inputs = _page_inputs(folder)
    model = AutoModelForImageTextToText.from_pretrained(str(folder), trust_remote_code=False).eval()
    assert int((inputs["input_ids"] == _image_token_id(model.config)).sum()) > 0
    with torch.no_grad():
        model(**inputs)


@pytest.mark.parametrize(("model_type", "reason"), [
    ("shieldgemma2", "not a reader of images into text"),
    ("mistral4", "not a reader of images into text"),
    ("instructblipvideo", "needs torchvision"),
])
def test_families_that_cannot_be_built_say_why(model_type, reason, tmp_path):
    from deepsynth.models.vlm.tiny_any import TinyBuildError, build_tiny_any

    with pytest.raises(TinyBuildError, match=reason):
        build_tiny_any(model_type, tmp_path / model_type)


def test_named_token_ids_set_ids_and_lists_and_refuse_a_token_the_tokenizer_lacks():
    from types import SimpleNamespace

    from deepsynth.models.vlm.tiny_any import TinyBuildError, _set_named_token_ids

    vocabulary = {"<unk>": 0, "<a>": 5, "<b>": 6, "<c>": 7}
    tokenizer = SimpleNamespace(unk_token_id=0, convert_tokens_to_ids=lambda t: vocabulary.get(t, 0))
    config = SimpleNamespace(image_token_id=1, text_config=SimpleNamespace(ids=[]))
    _set_named_token_ids(config, tokenizer, {"image_token_id": "<a>", "text_config.ids": ["<b>", "<c>"]})
    assert config.image_token_id == 5 and config.text_config.ids == [6, 7]
    with pytest.raises(TinyBuildError, match="<missing>"):
        _set_named_token_ids(config, tokenizer, {"image_token_id": "<missing>"})


@pytest.mark.parametrize("style", ["chameleon", "emu3"])
def test_code_tokens_are_spelled_as_the_familys_vocabulary_mapping_reads_them(style):
    """Code N's token, read back by transformers' own mapping class, is code N."""
    from transformers.models.chameleon.modeling_chameleon import ChameleonImageVocabularyMapping
    from transformers.models.emu3.modeling_emu3 import Emu3ImageVocabularyMapping

    from deepsynth.models.vlm.tiny_any import _CODE_TOKENS

    vocabulary = {"<image>": 1, **{_CODE_TOKENS[style](code): 100 + code for code in range(123)}}
    mapping = {"chameleon": ChameleonImageVocabularyMapping, "emu3": Emu3ImageVocabularyMapping}[style](vocabulary)
    assert {token: mapping.bpe2img[token] for token in (100, 107, 210, 222)} == {100: 0, 107: 7, 210: 110, 222: 122}


def test_vocab_size_is_set_in_nested_text_configs_but_not_in_towers():
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING

    from deepsynth.models.vlm.tiny_any import _set_vocab

    config = CONFIG_MAPPING["t5gemma2"]()
    _set_vocab(config, 400)
    assert config.encoder.text_config.vocab_size == 400 and config.decoder.vocab_size == 400


def test_a_processor_whose_missing_video_part_comes_first_loads_without_it(tmp_path):
    """LLaVA-NeXT-Video lists its video processor (torchvision-backed) before the image processor:
    DeepSynth's loader leaves it out and the page still gets its image tokens."""
    from deepsynth.models.vlm.tiny_any import build_tiny_any

    folder = build_tiny_any("llava_next_video", tmp_path / "llava_next_video")
    from deepsynth.models.vlm.processor import load_processor

    processor = load_processor(str(folder))
    inputs = _page_inputs(folder)
    assert not hasattr(processor, "video_processor") and processor.image_processor is not None
    image_token = processor.tokenizer.convert_tokens_to_ids(processor.image_token)
    assert int((inputs["input_ids"] == image_token).sum()) > 100


def test_attention_scales_follow_the_tiny_head_size():
    """Gemma's query_pre_attn_scalar (its head size as released) and muP's attention_multiplier
    (1 / head size: Granite Docling's 1 / 64) are set for the tiny 16-wide heads; T5-style d_kv too."""
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING

    from deepsynth.models.vlm.tiny_any import HEAD_DIM, TEXT_WIDTH, shrink_config

    gemma = CONFIG_MAPPING["gemma3"]()
    assert gemma.text_config.query_pre_attn_scalar == gemma.text_config.head_dim != HEAD_DIM
    shrink_config(gemma, TEXT_WIDTH)
    assert gemma.text_config.query_pre_attn_scalar == gemma.text_config.head_dim == HEAD_DIM
    granite = CONFIG_MAPPING["granite_docling"]()
    shrink_config(granite, TEXT_WIDTH)
    text = granite.text_config
    assert text.hidden_size // text.num_attention_heads == HEAD_DIM and text.attention_multiplier == 1 / HEAD_DIM
    pix2struct = CONFIG_MAPPING["pix2struct"]()
    shrink_config(pix2struct, TEXT_WIDTH)
    assert pix2struct.text_config.d_kv == pix2struct.vision_config.d_kv == HEAD_DIM


def test_a_scale_the_release_did_not_tie_to_the_head_size_is_kept():
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING

    from deepsynth.models.vlm.tiny_any import TEXT_WIDTH, shrink_config

    config = CONFIG_MAPPING["granite_docling"](text_config={"attention_multiplier": 0.5})
    shrink_config(config, TEXT_WIDTH)
    assert config.text_config.attention_multiplier == 0.5


def test_kosmos2_text_depth_and_sam_global_layers_are_shrunk():
    """KOSMOS-2's text config names its depth `layers` (24 left there gave NaN gradients); SAM's
    global-attention layers are a tuple whose every index lies beyond two layers."""
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING

    from deepsynth.models.vlm.tiny_any import LAYERS, TEXT_WIDTH, shrink_config

    kosmos = CONFIG_MAPPING["kosmos-2"]()
    shrink_config(kosmos, TEXT_WIDTH)
    assert kosmos.text_config.layers == LAYERS and kosmos.text_config.attention_heads == TEXT_WIDTH // 16
    hybrid = CONFIG_MAPPING["deepseek_vl_hybrid"]()
    shrink_config(hybrid, TEXT_WIDTH)
    assert hybrid.high_res_vision_config.num_hidden_layers == LAYERS
    assert list(hybrid.high_res_vision_config.global_attn_indexes) == [LAYERS - 1]


def test_special_token_ids_are_the_tokenizers_and_the_decoder_starts_from_its_pad(tmp_path):
    """bos/eos/pad of every (sub-)config are the tiny tokenizer's (T5Gemma 2 kept Gemma's 2/1/0, the
    tiny vocabulary's </s>, <s> and <|endoftext|>); Pix2Struct's decoder starts from the pad token."""
    from transformers import AutoConfig, AutoTokenizer

    from deepsynth.models.vlm.tiny_any import build_tiny_any

    folder = build_tiny_any("pix2struct", tmp_path / "pix2struct")
    config, tokenizer = AutoConfig.from_pretrained(str(folder)), AutoTokenizer.from_pretrained(str(folder))
    for node in (config, config.text_config):
        assert (node.pad_token_id, node.eos_token_id) == (tokenizer.pad_token_id, tokenizer.eos_token_id)
        assert node.decoder_start_token_id == tokenizer.pad_token_id


def _halves_within_30_steps(folder):
    """The coverage bench's learning check: LoRA (rank 16) on the language model, two one-page
    documents, learning rate 2e-2: the loss halves within 30 steps."""
    from deepsynth.lora import LoraSettings
    from deepsynth.models import ModelConfig, build_document_model
    from deepsynth.training.loop import TrainingLoop

    model = build_document_model(ModelConfig(name=str(folder), max_target_tokens=12),
                                 LoraSettings(rank=16, alpha=32, dropout=0.0))
    documents = [[page("A cat sat on the mat.")], [page("Rivers flow to the sea.", 96, 96)]]
    batch = model.collate(model.read_documents(documents), ["", "Summarize briefly."],
                          ["A cat sat.", "Rivers flow to the sea."])
    model.train()
    loop = TrainingLoop(model, learning_rate=2e-2, total_steps=30, schedule="constant")
    losses = [loop.train_step(batch).loss]
    while len(losses) < 30 and losses[-1] > losses[0] / 2:
        losses.append(loop.train_step(batch).loss)
    return losses


@pytest.mark.slow
@pytest.mark.parametrize("model_type", [
    "granite_docling",  # logits_scaling 4.0 capped every logit at 3.2: 6.05 -> 4.7
    "kosmos-2",  # its text init_std (0.02) left the tied output embeddings too short: 5.95 -> 5.78
])
def test_document_families_learn_two_pages(model_type, tmp_path):
    from deepsynth.models.vlm.tiny_any import build_tiny_any

    losses = _halves_within_30_steps(build_tiny_any(model_type, tmp_path / model_type))
    assert losses[-1] <= losses[0] / 2, losses


def test_a_projector_transformers_initializes_to_zeros_lets_the_page_through(tmp_path):
    """Gemma 3's mm_input_projection_weight starts at zeros in transformers (every image feature 0):
    the tiny one is random, so two different pages give the language model different losses."""
    from transformers import AutoModelForImageTextToText

    from deepsynth.models.vlm.processor import load_processor
    from deepsynth.models.vlm.tiny_any import build_tiny_any

    folder = build_tiny_any("gemma3", tmp_path / "gemma3")
    processor = load_processor(str(folder))
    model = AutoModelForImageTextToText.from_pretrained(str(folder), trust_remote_code=False).eval()
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Read."}]}]
    text = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    losses = []
    for words in ("A cat sat.", "Rivers flow to the sea, always."):
        inputs = processor(text=[text], images=[page(words).convert("RGB")], return_tensors="pt")
        with torch.no_grad():
            losses.append(float(model(**inputs, labels=inputs["input_ids"]).loss))
    assert losses[0] != pytest.approx(losses[1], rel=1e-6, abs=1e-7)


def test_random_weights_naming_no_parameter_is_refused():
    from deepsynth.models.vlm.tiny_any import TinyBuildError, _randomize

    with pytest.raises(TinyBuildError, match="no_such_weight"):
        _randomize(torch.nn.Linear(2, 2), ["no_such_weight"])
