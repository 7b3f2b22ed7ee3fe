"""The live workload of a VLM run read from DeepSynth's collated batch (estimate/vlm/live.vlm_workload):
what the step runs on, per path."""

from types import SimpleNamespace

import torch

from deepsynth.estimate.vlm.live import IGNORE_INDEX, vlm_workload

IMAGE = 7


def _model(encoder_decoder: bool = False):
    config = SimpleNamespace(is_encoder_decoder=encoder_decoder)
    base = SimpleNamespace(config=config, is_activation_checkpointing=False)
    return SimpleNamespace(reader=SimpleNamespace(image_token_id=IMAGE), device="cpu",
                           decoder=SimpleNamespace(get_base_model=lambda: base))


def _batch(lengths: list[int], images: list[int], targets: int) -> dict:
    width = max(lengths)
    ids = torch.ones(len(lengths), width, dtype=torch.long)
    mask = torch.zeros_like(ids)
    labels = torch.full_like(ids, IGNORE_INDEX)
    for row, (length, image) in enumerate(zip(lengths, images)):
        ids[row, 1:1 + image] = IMAGE
        mask[row, :length] = 1
        labels[row, length - targets:length] = 3
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def test_own_forward_rows_count_their_real_tokens_only():
    """The own forward runs each row on its real tokens (`_own_forward_loss` cuts the padding): the
    workload's text is the rows' mean real length less the image tokens, not the padded width's."""
    batch = _batch([92, 48], [48, 9], 10)
    fast = vlm_workload(None, _model(), batch, {})
    own = vlm_workload(None, _model(), {**batch, "documents": [{"tower": {"a": 1}}, {"tower": {"a": 1}}]}, {})
    assert (fast.image_tokens, own.image_tokens) == (28, 28)  # round(57 / 2)
    assert fast.seq_len == 92 - 28  # padded rows: the fast path runs the full width
    assert own.seq_len == 70 - 28  # mean real length (92 + 48) / 2
    assert own.own_forward and own.vision_cached and not fast.own_forward
    assert own.own_rows == ((92, 48), (48, 9)) and fast.own_rows == ()  # each row as the own forward runs it


def test_encoder_decoder_targets_are_the_decoders_length():
    """An encoder-decoder's decoder runs on every label position (padded on the right), not only the
    non-ignored ones after the first."""
    batch = _batch([20, 16], [4, 4], 5)
    labels = torch.full((2, 12), IGNORE_INDEX)
    labels[0, :12] = 3
    labels[1, :6] = 3
    traced = SimpleNamespace(structure=object())  # described from its structure: the traced step
    workload = vlm_workload(traced, _model(encoder_decoder=True), {**batch, "labels": labels}, {})
    assert workload.target_tokens == 12
    assert workload.seq_len == 20 - 4 + 12  # the encoder's text + the summary
