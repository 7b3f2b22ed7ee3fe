"""How one page becomes vision tokens: each family's image processor, mirrored without torch or Pillow.

`read_processing` reads `preprocessor_config.json` (and `processor_config.json`) from the model
folder, falling back to the transformers 5.23 class defaults (for Florence-2, which has no processor
defaults of its own, the published 768 x 768 input). `page_layout` mirrors what the processor does to
a page of a given size: the images the tower runs on and the image tokens the language model gets.
`tests/estimate/test_estimate_vlm_tokens.py` runs the real image processors on blank pages and
compares.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deepsynth.errors import InputError
from deepsynth.estimate.architecture import read_json_object
from deepsynth.estimate.vlm.spec import (
    DavitTower,
    DeepseekOcr2Tower,
    ImageProcessing,
    QwenVisionTower,
    SiglipVisionTower,
    Tower,
)

PROCESSOR_FILES = ("preprocessor_config.json", "processor_config.json")
SAM_QUERY_CALL_CROPS = (2, 6)
"""(min, max) crops of the DeepSeek-OCR-2 processor's call: its class defaults (`images_kwargs`:
crop_to_patches, min_patches 2, max_patches 6 in transformers 5.23) override what the image processor
saved (a folder whose preprocessor says max_patches 2 still gets up to 6 crops a page; found by
`bench/estimate_accuracy.py --set vlm` running DeepSynth's own reader)."""
TILE_PROCESSOR_MAX_IMAGE_SIZE = 4096  # MAX_IMAGE_SIZE of transformers' SmolVLM / Idefics3 image processors: a bound on a side


@dataclass(frozen=True)
class PageLayout:
    """What one page turns into."""

    tokens: int
    """Image placeholder tokens in the language model's sequence (what the vision features replace)."""
    images: tuple[tuple[int, int], ...]
    """(height, width) in pixels of every image the tower runs on for this page (tiles, crops, views)."""
    wrapper_tokens: int = 0
    """Text tokens the processor adds around the image tokens (tile tags, separators)."""


def _processor_settings(folder: Path | None) -> tuple[dict[str, Any], dict[str, Any], str]:
    image: dict[str, Any] = {}
    processor: dict[str, Any] = {}
    found = []
    if folder is not None:
        for name in PROCESSOR_FILES:
            file = folder / name
            if file.is_file():
                data = read_json_object(file)
                found.append(name)
                if name == "processor_config.json":
                    processor = data
                    image = {**data.get("image_processor", {}), **image}
                else:
                    image = {**image, **data}
    return image, processor, ", ".join(found) or "defaults"


def _size(settings: dict[str, Any], key: str, field: str, default: int) -> int:
    value = settings.get(key)
    if isinstance(value, dict):
        return int(value.get(field, default))
    return default


def read_processing(model_type: str, tower: Tower, folder: Path | None) -> ImageProcessing:
    """The image processing settings for a model folder (class defaults where a file says nothing)."""
    image, processor, source = _processor_settings(folder)
    if isinstance(tower, QwenVisionTower):
        size = image.get("size") or {}
        return ImageProcessing(
            kind="qwen", patch_size=int(image.get("patch_size", 14)), merge_size=int(image.get("merge_size", 2)),
            min_pixels=int(image.get("min_pixels") or size.get("shortest_edge") or size.get("min_pixels") or 56 * 56),
            max_pixels=int(image.get("max_pixels") or size.get("longest_edge") or size.get("max_pixels") or 28 * 28 * 1280),
            source=source)
    if isinstance(tower, SiglipVisionTower):
        per_tile = (tower.image_size // tower.patch_size) ** 2 // tower.scale_factor ** 2
        # class defaults (364 / 4 x 364) are Idefics3's tower size; a tile always matches the tower's
        tile = _size(image, "max_image_size", "longest_edge", tower.image_size)
        return ImageProcessing(
            kind="tiles", longest_edge=_size(image, "size", "longest_edge", 4 * tile), tile_size=tile,
            split=bool(image.get("do_image_splitting", True)),
            tokens_per_tile=int(processor.get("image_seq_len", per_tile)), source=source)
    if isinstance(tower, DeepseekOcr2Tower):
        return ImageProcessing(
            kind="deepseek", global_size=_size(image, "size", "height", 1024), tile_size=int(image.get("tile_size", 768)),
            split=True, min_crops=SAM_QUERY_CALL_CROPS[0], max_crops=SAM_QUERY_CALL_CROPS[1],
            patch_size=int(processor.get("patch_size", 16)),
            downsample_ratio=int(processor.get("downsample_ratio", 4)), source=source)
    if isinstance(tower, DavitTower):
        height = _size(image, "size", "height", 768)
        width = _size(image, "size", "width", 768)
        stride = math.prod(tower.patch_stride)
        tokens = int(image.get("image_seq_length", math.ceil(height / stride) * math.ceil(width / stride) + 1))
        return ImageProcessing(kind="fixed", global_size=height, global_width=width, tokens=tokens, source=source)
    raise ValueError(f"no image processing for {model_type}")


def page_layout(processing: ImageProcessing, width: int, height: int) -> PageLayout:
    """The tower inputs and language tokens of one page of `width` x `height` pixels."""
    if width < 1 or height < 1:
        raise InputError(f"page size {width}x{height}: both sides must be at least 1 pixel")
    kind = processing.kind
    if kind == "qwen":
        factor = processing.patch_size * processing.merge_size
        h, w = qwen_resize(height, width, factor, processing.min_pixels, processing.max_pixels)
        patches = (h // processing.patch_size) * (w // processing.patch_size)
        return PageLayout(patches // processing.merge_size ** 2, ((h, w),), wrapper_tokens=2)
    if kind == "tiles":
        return _tiles(processing, width, height)
    if kind == "deepseek":
        return _deepseek(processing, width, height)
    return PageLayout(processing.tokens, ((processing.global_size, processing.global_width),))


def qwen_resize(height: int, width: int, factor: int, min_pixels: int, max_pixels: int) -> tuple[int, int]:
    """Qwen2-VL `smart_resize`: sides multiples of `factor`, area within [min_pixels, max_pixels]."""
    if max(height, width) / min(height, width) > 200:
        raise InputError(f"page {width}x{height}: Qwen2-VL refuses aspect ratios above 200")
    h_bar = round(height / factor) * factor
    w_bar = round(width / factor) * factor
    if h_bar * w_bar > max_pixels:
        beta = math.sqrt((height * width) / max_pixels)
        h_bar = max(factor, math.floor(height / beta / factor) * factor)
        w_bar = max(factor, math.floor(width / beta / factor) * factor)
    elif h_bar * w_bar < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h_bar = math.ceil(height * beta / factor) * factor
        w_bar = math.ceil(width * beta / factor) * factor
    return h_bar, w_bar


def _rescale_to_max_len(height: int, width: int, max_len: int) -> tuple[int, int]:
    # the SmolVLM image processor's _resize_output_size_rescale_to_max_len (even sides, min 1)
    aspect = width / height
    if width >= height:
        width = max_len
        height = int(width / aspect)
        height += height % 2
    else:
        height = max_len
        width = int(height * aspect)
        width += width % 2
    return max(height, 1), max(width, 1)


def _below_upper_bound(height: int, width: int, max_len: int) -> tuple[int, int]:
    aspect = width / height
    if width >= height and width > max_len:
        width = max_len
        height = int(width / aspect)
    elif height > width and height > max_len:
        height = max_len
        width = int(height * aspect)
    return max(height, 1), max(width, 1)


def _tiles(processing: ImageProcessing, width: int, height: int) -> PageLayout:
    """SmolVLM/Idefics3: resize the longest side, round up to whole tiles, split, add a global tile."""
    tile, per_tile = processing.tile_size, processing.tokens_per_tile
    if not processing.split:
        return PageLayout(per_tile, ((tile, tile),), wrapper_tokens=3)
    height, width = _rescale_to_max_len(height, width, processing.longest_edge)
    height, width = _below_upper_bound(height, width, TILE_PROCESSOR_MAX_IMAGE_SIZE)
    aspect = width / height  # resize_for_vision_encoder
    if width >= height:
        width = math.ceil(width / tile) * tile
        height = math.ceil(int(width / aspect) / tile) * tile
    else:
        height = math.ceil(height / tile) * tile
        width = math.ceil(int(height * aspect) / tile) * tile
    if height <= tile and width <= tile:
        return PageLayout(per_tile, ((tile, tile),), wrapper_tokens=3)
    rows = (height - tile) // tile + 1
    cols = (width - tile) // tile + 1
    count = rows * cols + 1
    # per tile: <fake_token_around_image><row_r_col_c>; a newline per row; then \n<fake><global-img> ... <fake>
    return PageLayout(per_tile * count, ((tile, tile),) * count, wrapper_tokens=2 * rows * cols + rows + 4)


def _deepseek(processing: ImageProcessing, width: int, height: int) -> PageLayout:
    """DeepSeek-OCR-2: a padded global view + local crops on the best tile grid + a view separator."""
    tile = processing.tile_size
    step = processing.patch_size * processing.downsample_ratio
    global_tokens = math.ceil(processing.global_size / step) ** 2
    local_tokens = math.ceil(tile / step) ** 2
    crops = 0
    if processing.split and max(width, height) > tile:
        columns, rows = _best_grid(height, width, tile, processing.min_crops, processing.max_crops)
        crops = columns * rows
    side = processing.global_size if processing.split else tile
    images = ((side, side),) + ((tile, tile),) * crops
    return PageLayout(global_tokens + local_tokens * crops + 1, images)


def _best_grid(height: int, width: int, tile: int, low: int, high: int) -> tuple[int, int]:
    """get_optimal_tiled_canvas: the (columns, rows) grid whose aspect ratio is closest to the page's."""
    grids = sorted(((c, r) for c in range(1, high + 1) for r in range(1, high + 1) if low <= c * r <= high),
                   key=lambda grid: grid[0] * grid[1])
    aspect, area = width / height, width * height
    best, best_diff = (1, 1), float("inf")
    for grid in grids:
        diff = abs(aspect - grid[0] / grid[1])
        if diff < best_diff:
            best, best_diff = grid, diff
        elif diff == best_diff and area > 0.5 * tile * tile * grid[0] * grid[1]:
            best = grid
    return best
