"""Int8 inference for the frozen CRNN reader: the OCR pass is most of the demo's reading time.

Measured on this 2-vCPU EPYC (AVX-512 VNNI), one thread, 64-px lines, 24 rendered wiki documents:
float32 0.102 s/line, CER 0.57%; int8 convolutions (static, FX graph mode, x86 backend) + int8
dynamic LSTM/linear 0.027 s/line, CER 0.56%. Convolution activations are calibrated once, at load,
on two fixed lines drawn with Pillow's bundled font (so the scales are reproducible: the reader's
identity records the Pillow version). Falls back to float32 where the x86 int8 engine is missing.
"""

from __future__ import annotations

import copy
import warnings

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from deepsynth.models.builtin.crnn import Crnn
from deepsynth.models.builtin.lines import line_tensor

CALIBRATION_TEXTS = (
    "The quick brown fox jumps over the lazy dog 0123456789.",
    "PACK MY BOX WITH FIVE DOZEN LIQUOR JUGS! (a, b; c: d?) [x] {y} 'z' \"q\" #1 $2 %3 &4 *5 +6 =7 @8",
)
CALIBRATION_VERSION = 1


def int8_available() -> bool:
    return "x86" in torch.backends.quantized.supported_engines


def calibration_batch(line_height: int) -> torch.Tensor:
    """(2, 1, line_height, W) lines drawn with Pillow's bundled font, preprocessed like real lines."""
    font = ImageFont.load_default(size=22)
    lines = []
    for text in CALIBRATION_TEXTS:
        image = Image.new("L", (1000, 32), 255)
        ImageDraw.Draw(image).text((8, 3), text, font=font, fill=0)
        lines.append(line_tensor(image, line_height))
    width = min(line.shape[1] for line in lines)
    return torch.from_numpy(np.stack([line[:, :width] for line in lines])).unsqueeze(1)


def quantize_crnn(model: Crnn, line_height: int) -> Crnn:
    """A copy of `model` with int8 convolutions (calibrated) and an int8 dynamic BiLSTM stack."""
    from torch.ao.quantization import get_default_qconfig_mapping, quantize_dynamic
    from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx

    torch.backends.quantized.engine = "x86"
    quantized = copy.deepcopy(model).eval()
    with warnings.catch_warnings():
        # torch.ao.quantization announces its move to torchao; the API still works in this torch.
        warnings.simplefilter("ignore")
        example = (torch.zeros(1, 1, line_height, 200),)
        prepared = prepare_fx(quantized.FeatureExtraction, get_default_qconfig_mapping("x86"), example)
        with torch.inference_mode():
            prepared(calibration_batch(line_height))
        quantized.FeatureExtraction = convert_fx(prepared)
        quantized.SequenceModeling = quantize_dynamic(
            quantized.SequenceModeling, {torch.nn.LSTM, torch.nn.Linear}, dtype=torch.qint8)
    return quantized.requires_grad_(False)
