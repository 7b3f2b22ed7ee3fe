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


def test_cpu_attention_with_dropout_is_the_math_kernel():
    """PyTorch's CPU flash kernel takes no dropout: a model training with attention dropout (Kosmos-2)
    runs the math kernel there, which holds the (s x s) attention matrix; CUDA's flash kernel does not."""
    q = torch.empty(1, 4, 256, 8, device="meta", requires_grad=True)
    matrix = 4 * 256 * 256 * 4  # one fp32 attention matrix
    peaks = {}
    for device in ("cpu", "cuda"):
        tracker = LiveBytes()
        with device_attention(device), tracker:
            torch.nn.functional.scaled_dot_product_attention(q, q, q, dropout_p=0.1, is_causal=True).sum().backward()
        peaks[device] = tracker.peak
    assert peaks["cpu"] >= matrix > peaks["cuda"]
