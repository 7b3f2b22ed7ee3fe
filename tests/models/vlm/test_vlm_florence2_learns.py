"""The tiny Florence-2 learns: two examples overfit at the coverage bench's LoRA settings (rank 16,
LR 2e-2), so the "learns" row tests DeepSynth's encoder-decoder path rather than a chaotic tiny model
(`tiny.BART_INIT_STD` says why its BART is initialized at 0.15)."""

from __future__ import annotations

SUMMARIES = ["A cat sat.", "Rivers flow to the sea."]
INSTRUCTIONS = ["", "Summarize briefly."]


def test_tiny_florence2_loss_halves_within_30_steps(vlm_folder, documents_for):
    from deepsynth.lora import LoraSettings
    from deepsynth.models import ModelConfig, build_document_model
    from deepsynth.training.loop import TrainingLoop

    model = build_document_model(ModelConfig(name=str(vlm_folder("florence2")), max_target_tokens=12),
                                 LoraSettings(rank=16, alpha=32, dropout=0.0))
    batch = model.collate(model.read_documents(documents_for("florence2")), INSTRUCTIONS, SUMMARIES)
    model.train()
    loop = TrainingLoop(model, learning_rate=2e-2, total_steps=30, schedule="constant")
    losses = [loop.train_step(batch).loss]
    while len(losses) < 30 and losses[-1] > losses[0] / 2:
        losses.append(loop.train_step(batch).loss)
    assert losses[-1] <= losses[0] / 2, [round(loss, 3) for loss in losses]
