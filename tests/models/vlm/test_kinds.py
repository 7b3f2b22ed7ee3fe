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
    # a hub id is read as the kind its cached config.json says (tests/models/test_hub_ids.py), never
    # assumed a causal LM: offline and not cached it is refused
    with pytest.raises(DeepSynthError, match="holds no snapshot of 'someone/some-model'"):
        detect_kind("someone/some-model")


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


def test_each_kind_is_asked_not_compared(vlm_folder, tmp_path):
    """Export, merge and packaging ask the detected kind: a VLM gives a meta-device skeleton (no
    weights), its default targets are a pattern over the language model only, and its adapters
    record a kind whose package runs without DeepSynth; the built-in kind has none of those."""
    from deepsynth.export.package import is_vlm_card
    from deepsynth.models.kinds import KINDS, kind_named, kind_of_identity

    vlm = detect_kind(str(vlm_folder("qwen2_vl")))
    skeleton = vlm.kind.meta_skeleton(vlm.source)
    assert next(skeleton.parameters()).is_meta
    targets = vlm.kind.default_targets(skeleton)
    assert targets.startswith(r"model\.language_model\.") and "visual" not in targets
    builtin = detect_kind("tiny")
    assert builtin.kind.meta_skeleton(builtin.source) is None
    assert [kind.name for kind in KINDS] == ["builtin", "vision_encoder_decoder", "remote_code", "vlm", "causal_lm"]
    assert kind_named(IMAGE_TEXT_TO_TEXT.name) is IMAGE_TEXT_TO_TEXT and kind_named("nothing") is None
    assert kind_of_identity({"kind": "vlm"}) is IMAGE_TEXT_TO_TEXT and kind_of_identity({"name": "tiny"}) is None
    assert is_vlm_card({"base_model": {"kind": IMAGE_TEXT_TO_TEXT.name}})
    assert not is_vlm_card({"base_model": {"name": "tiny"}}) and not is_vlm_card({})


def test_the_estimator_describes_each_kind_from_its_source(vlm_folder):
    """The estimator (below nothing in models/) reads the kind's source; models/ never imports it."""
    from deepsynth.estimate.builtin import load_architecture

    vlm = detect_kind(str(vlm_folder("smolvlm")))
    arch = load_architecture(vlm.source.name, "ocr_text", train_projector=True)
    assert arch.vlm is not None and arch.vlm.train_projector
    builtin = detect_kind("default")
    assert load_architecture(builtin.source.name, "ocr_text").vlm is None


def test_the_vlm_model_runs_the_shared_constructor(vlm_folder, vlm_documents):
    """VlmDocumentModel and DocumentModel share DocumentModelBase (one __init__, the adapter API);
    the VLM model is no DocumentModel (the built-in batching, loss and decoding do not apply)."""
    from deepsynth.lora import LoraSettings
    from deepsynth.models import ModelConfig
    from deepsynth.models.builtin.document_model import DocumentModel
    from deepsynth.models.document_model_base import BASE_PARTS, DocumentModelBase

    config = ModelConfig(name=str(vlm_folder("deepseek_ocr2")))
    detected = detect_kind(config.name)
    model = detected.kind.build(config, LoraSettings(rank=2))
    assert isinstance(model, DocumentModelBase) and not isinstance(model, DocumentModel)
    assert list(model.parts) == ["default", BASE_PARTS] and model.adapter_names() == ["default"]
    assert model.identity["kind"] == IMAGE_TEXT_TO_TEXT.name
    model.train()
    assert model.training and not model.tower.training  # the frozen tower stays in eval mode
    reading = detected.kind.read_pages(model, vlm_documents[0])
    assert reading.features is not None and model.vision_tokens_read(reading) > 0
