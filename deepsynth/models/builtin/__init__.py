"""DeepSynth's built-in document model: a frozen OCR page reader (CRNN over text lines) + a
LoRA-adapted causal decoder (+ optional instruction encoder, vision projection)."""
