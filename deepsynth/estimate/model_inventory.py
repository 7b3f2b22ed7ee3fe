"""Every parameter and adaptable module of a whole model, for parameter counts and target matching:
the built-in reader + projection + decoder (`inventory`), or a native VLM's tower, projector and
language model (`vlm.inventory`)."""

from __future__ import annotations

from deepsynth.estimate.architecture import Architecture
from deepsynth.estimate.inventory import Inventory, _Builder, decoder_inventory, merge, vision_inventory
from deepsynth.estimate.vlm.inventory import vlm_inventory


def architecture_inventory(arch: Architecture) -> Inventory:
    """The composite model: reader (frozen) + projection + decoder, or a native VLM's parts."""
    if arch.vlm is not None:
        return vlm_inventory(arch)
    parts = []
    if arch.vision is not None:
        parts.append(vision_inventory(arch.vision))
    if arch.projector is not None:
        b = _Builder("projector", quantize=False)
        for name, in_f, out_f, bias in arch.projector.layers():
            b.linear(name, in_f, out_f, bias)
        parts.append(b.build())
    parts.append(decoder_inventory(arch.decoder, arch.decoder_prefix))
    return merge(*parts)
