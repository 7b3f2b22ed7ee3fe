"""`build_document_model`: the model's kind builds it; `build_decoder_model`: the OCR reader + a causal
LM (+ LoRA / QLoRA via PEFT), instruction encoder, projections."""

from __future__ import annotations

from deepsynth.lora import LoraSettings
from deepsynth.models.config import ModelConfig


def build_reader(config: ModelConfig):
    """The frozen page reader: a tiny random CRNN for `tiny`, EasyOCR english_g2 otherwise (with
    the CRAFT line detector for pages DeepSynth did not render)."""
    from deepsynth.models.builtin.crnn import english_g2_weights_path, file_sha256, load_english_g2, tiny_crnn
    from deepsynth.models.builtin.page_reader import CrnnPageReader

    settings = {"with_features": config.vision_interface == "features",
                "feature_pool": config.feature_pool, "max_feature_tokens": config.max_source_tokens,
                "line_height": config.reader_line_height}
    if config.name == "tiny":  # float32: quantizing would cost more than the tiny reader saves
        # Random weights: its confidences say nothing, so no page of it counts as unreadable.
        return CrnnPageReader(tiny_crnn(), "tiny-crnn", "seed-0", min_confidence=None, **settings)
    from deepsynth.models.builtin.line_detection import load_line_detector

    path = english_g2_weights_path()
    # Pages DeepSynth did not render untouched (scans, PDFs, degraded copies) need the detector;
    # it loads on the first such page. The tiny reader reads every page by its layout.
    return CrnnPageReader(load_english_g2(path), "easyocr-english_g2", file_sha256(str(path)),
                          precision=config.reader_precision, line_detector=load_line_detector(), **settings)


def build_document_model(model_config: ModelConfig, lora: LoraSettings, device: str = "cpu"):
    """A DocumentModel-API model whose trainable part carries a fresh LoRA adapter named `default`.

    The kind of `model_config.name` is read from its config.json first (`kinds.detect_kind`), and the
    kind builds it: a vision-language model gets its own processor and tower (`vlm.build.build_vlm`),
    a VisionEncoderDecoder its own encoder; everything else the OCR reader + a causal LM
    (`build_decoder_model`).
    """
    from deepsynth.models.kinds import detect_kind

    model_config = pinned_config(model_config)
    return detect_kind(model_config.name, model_config.trust_remote_code).kind.build(model_config, lora, device)


def pinned_config(model_config: ModelConfig) -> ModelConfig:
    """`model_config` with a hub id pinned to the commit its cached files came from
    (`ORG/NAME@COMMIT`, `hub_models.pin`): the name the model records in its adapter's card."""
    from dataclasses import replace

    from deepsynth.hub_models import model_files, pin
    from deepsynth.hub_offline import is_hub_id

    if not is_hub_id(model_config.name):
        return model_config
    return replace(model_config, name=pin(model_config.name, model_files(model_config.name)))


def build_decoder_model(model_config: ModelConfig, lora: LoraSettings, device: str = "cpu"):
    """A `DocumentModel`: the OCR reader + a causal LM (built-in, local folder, hub id or remote code).

    Targets: `lora.target_modules`, or the family's defaults (`builtin.decoder.default_targets`).
    QLoRA (`lora.quantization` nf4/fp4/int8): the base loads quantized through bitsandbytes and
    `prepare_model_for_kbit_training` runs before LoRA is attached.
    """
    import torch
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training

    from deepsynth.models.builtin.decoder import check_lora_fit, default_targets, load_decoder
    from deepsynth.models.builtin.document_model import DocumentModel
    from deepsynth.models.builtin.projection import vision_projection
    from deepsynth.models.builtin.text_encoder import load_text_encoder

    loaded = load_decoder(model_config.name, lora, device, model_config.trust_remote_code)
    decoder, tokenizer = loaded.model, loaded.tokenizer
    reader = build_reader(model_config)
    targets = lora.target_modules or default_targets(decoder)
    check_lora_fit(decoder, targets, lora.rank)
    decoder.requires_grad_(False)
    if lora.is_quantized:
        # Gradient checkpointing saves GPU memory but costs ~30% time; on CPU memory is ample.
        decoder = prepare_model_for_kbit_training(
            decoder, use_gradient_checkpointing=str(device).startswith("cuda"))
    peft_config = LoraConfig(task_type="CAUSAL_LM", **{**lora.to_peft_kwargs(), "target_modules": list(targets)})
    decoder = get_peft_model(decoder, peft_config)

    width = decoder.get_base_model().get_input_embeddings().weight.shape[1]
    embeddings = decoder.get_base_model().get_input_embeddings().weight.detach().cpu()
    encoder = None
    if model_config.text_encoder != "none":
        encoder = load_text_encoder(model_config.text_encoder, model_config.train_text_encoder)

    def make_parts() -> torch.nn.ModuleDict:
        parts = torch.nn.ModuleDict()
        if model_config.vision_interface == "features":
            parts["vision"] = vision_projection(model_config.projection_init, reader.feature_size, width,
                                                reader=reader, tokenizer=tokenizer, embeddings=embeddings)
        if encoder is not None:
            parts["instruction"] = torch.nn.Linear(encoder.width, width)
        return parts

    identity = {"name": model_config.name, **loaded.identity}
    if loaded.path:
        identity["path"] = loaded.path
    return DocumentModel(model_config, decoder, tokenizer, reader, make_parts, encoder, identity, device)
