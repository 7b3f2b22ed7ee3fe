"""Model-kind detection from config.json, and the errors for folders DeepSynth cannot fine-tune."""

from __future__ import annotations

import json
import shutil

import pytest

from deepsynth.errors import DeepSynthError
from deepsynth.models.vlm.tiny import TINY_VLM_FAMILIES
from deepsynth.models.kinds import (
    BUILTIN, CAUSAL_LM, IMAGE_TEXT_TO_TEXT, REMOTE_CODE, VISION_ENCODER_DECODER, detect_kind)


def config_folder(tmp_path, name, **config):
    folder = tmp_path / name
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(config))
    return folder


@pytest.mark.parametrize("family", TINY_VLM_FAMILIES)
def test_vlm_folders_are_detected_before_any_auto_class(family, vlm_folder):
    kind = detect_kind(str(vlm_folder(family)))
    assert (kind.kind, kind.model_type) == (IMAGE_TEXT_TO_TEXT, family)


def test_other_kinds(tmp_path):
    assert detect_kind("tiny").kind is BUILTIN and detect_kind("default").kind is BUILTIN
    assert detect_kind(str(config_folder(tmp_path, "llama", model_type="llama"))).kind is CAUSAL_LM
    assert detect_kind(str(config_folder(tmp_path, "ved", model_type="vision-encoder-decoder"))).kind is \
        VISION_ENCODER_DECODER
    remote = config_folder(tmp_path, "ocr1", model_type="deepseek_vl_v2", auto_map={"AutoModel": "x.Model"})
    assert detect_kind(str(remote), trust_remote_code=True).kind is REMOTE_CODE
    assert detect_kind("someone/some-model").kind is CAUSAL_LM  # a hub id


def test_errors_name_what_was_found(tmp_path):
    with pytest.raises(DeepSynthError, match=r"model_type 'vit' is not a kind DeepSynth can fine-tune\. "
                                             r"Supported: causal_lm: .*; vlm: .*; remote_code"):
        detect_kind(str(config_folder(tmp_path, "vit", model_type="vit")))
    remote = config_folder(tmp_path, "ocr1", model_type="deepseek_vl_v2", auto_map={"AutoModel": "x.Model"})
    with pytest.raises(DeepSynthError, match="runs its own Python code .* only with --trust-remote-code"):
        detect_kind(str(remote))
    with pytest.raises(DeepSynthError, match="no config.json"):
        detect_kind(str(tmp_path))
    with pytest.raises(DeepSynthError, match="no such folder"):
        detect_kind(str(tmp_path / "missing"))


def test_a_vlm_without_processor_files_names_them(vlm_folder, tmp_path):
    from deepsynth.lora import LoraSettings
    from deepsynth.models import ModelConfig, build_document_model

    bare = tmp_path / "bare"
    bare.mkdir()
    for name in ("config.json", "model.safetensors"):
        shutil.copy(vlm_folder("idefics3") / name, bare / name)
    with pytest.raises(DeepSynthError, match=r"vision-language model \(model_type 'idefics3'\) but its processor "
                                             r"files are missing: preprocessor_config.json or processor_config.json; "
                                             r"tokenizer.json or tokenizer_config.json"):
        build_document_model(ModelConfig(name=str(bare)), LoraSettings(rank=2))


def test_training_a_vlm_never_touches_the_ocr_reader(vlm_folder, vlm_documents, monkeypatch):
    """No english_g2, no SmolLM2: the VLM reads the pixels itself."""
    import deepsynth.models.builtin.conversion as conversion
    import deepsynth.models.builtin.crnn as crnn
    from deepsynth.lora import LoraSettings
    from deepsynth.models import ModelConfig, build_document_model

    def forbidden(*args, **kwargs):
        raise AssertionError("the OCR path was used")

    monkeypatch.setattr(crnn, "english_g2_weights_path", forbidden)
    monkeypatch.setattr(conversion, "converted_smollm2", forbidden)
    model = build_document_model(ModelConfig(name=str(vlm_folder("deepseek_ocr2"))), LoraSettings(rank=2))
    readings = model.read_documents(vlm_documents)
    assert all(reading.text == "" and reading.features is not None for reading in readings)
