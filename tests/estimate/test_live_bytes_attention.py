"""The fused-attention stand-in of the meta-device trace (estimate/live_bytes.device_attention)."""

import torch

from deepsynth.estimate.live_bytes import LiveBytes, device_attention


def test_values_narrower_than_queries_give_the_values_width():
    """MLA-style attention (Dots3: queries and keys 192 wide, values 128) returns the values' width,
    as SDPA does; the fused kernel's op needs one width, so the values are padded and the output cut."""
    q = torch.empty(1, 4, 75, 192, device="meta")
    k = torch.empty(1, 4, 75, 192, device="meta")
    v = torch.empty(1, 4, 75, 128, device="meta")
    with device_attention(), LiveBytes():
        out = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
    assert out.shape == (1, 4, 75, 128)
    with device_attention(), LiveBytes():
        same = torch.nn.functional.scaled_dot_product_attention(q, k, k, is_causal=True)
    assert same.shape == (1, 4, 75, 192)
