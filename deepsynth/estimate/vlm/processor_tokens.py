"""Vision tokens per page, from the model folder's own processor run on a blank page.

A family's processor decides how many image tokens a page becomes (tiles, dynamic resolution,
crops, a fixed budget). Rather than a formula per family, DeepSynth's page reader
(`models/vlm/reader.VlmPageReader.processor_inputs`: the prompt opening, the page layout the
processor takes, the page preparation) runs the folder's processor on one blank white page of the
rendered size, and the image-token ids it inserted are counted. A blank page gives the same count as
a written one: processors size by pixels, not content. The count is kept per folder content
(`models/folder_digest.py`: every file the processor reads) and page size in
`<cache>/vision-tokens/`, so it is computed once.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from deepsynth.errors import DeepSynthError, InputError

log = logging.getLogger(__name__)

PROCESSOR_FILES = ("processor_config.json", "preprocessor_config.json", "tokenizer_config.json",
                   "tokenizer.json", "tokenizer.model")
"""Files of which at least one must be in the folder for a processor to load."""


COUNT_VERSION = 2
"""The counting code's version, in the stored counts' key: a count made by older code (before an
encoder that reads the page was counted by its positions) is never served."""


def _store(digest: str) -> Path:
    from deepsynth.paths import cache_dir

    return cache_dir() / "vision-tokens" / f"{digest[:32]}-v{COUNT_VERSION}.json"


def has_processor_files(folder: Path) -> bool:
    return any((folder / name).is_file() for name in PROCESSOR_FILES)


def processor_vision_tokens(folder: str | Path, page_width: int, page_height: int) -> int:
    """Image tokens the folder's processor inserts for one blank page of `page_width` x
    `page_height` pixels (cached per folder content and size). An `InputError` names the folder
    when it has no processor files or its processor refuses the page."""
    from deepsynth.models.folder_digest import folder_digest

    folder = Path(folder)
    if not has_processor_files(folder):
        raise InputError(f"{folder}: no processor files ({', '.join(PROCESSOR_FILES[:2])}, a tokenizer), so the "
                         "vision tokens per page cannot be counted: set image_tokens (image tokens per sample)")
    digest = folder_digest(folder)
    store, size = _store(digest), f"{page_width}x{page_height}"
    try:
        counts = json.loads(store.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        counts = {}
    if isinstance(counts.get(size), int):
        return counts[size]
    count = _count(folder, page_width, page_height)
    counts[size] = count
    try:
        from deepsynth.atomic_files import write_bytes_atomic

        write_bytes_atomic(store, json.dumps(counts, sort_keys=True).encode("utf-8"))
    except OSError as error:  # a read-only cache only costs the processor call next time
        log.warning("cannot keep the vision-token count in %s: %s", store.parent, error)
    return count


def _encoded(folder: Path, page_width: int, page_height: int, pages: int = 1) -> tuple[Any, int]:
    """(the processor's output for a document of `pages` blank pages, the image token id), through
    DeepSynth's page reader (prompt, page layout, page preparation)."""
    from PIL import Image

    from deepsynth.estimate.vlm.structure import _skeleton
    from deepsynth.models.vlm.processor import load_processor
    from deepsynth.models.vlm.reader import VlmPageReader

    try:
        processor = load_processor(str(folder))
        reader = VlmPageReader(_skeleton(folder), processor, folder, cache_features=False)
        page = Image.new("RGB", (page_width, page_height), (255, 255, 255))
        return reader.processor_inputs([page] * pages), reader.image_token_id
    except (DeepSynthError, ImportError, OSError, ValueError, TypeError, AttributeError, KeyError) as error:
        raise InputError(f"{folder}: its processor could not read a {page_width}x{page_height} page "
                         f"({type(error).__name__}: {' '.join(str(error).split())[:300]})") from None


def _encoder_positions(folder: Path, page_width: int, page_height: int) -> int | None:
    """For an encoder-decoder whose encoder reads the page (Pix2Struct, UDOP): the encoder positions
    one page fills, read as DeepSynth reads it (`image_encoder.ImageEncoderReader`); else None."""
    from PIL import Image

    from deepsynth.estimate.vlm.structure import _skeleton
    from deepsynth.models.vlm.image_encoder import MASK_KEYS, ImageEncoderReader, reads_pages_in_encoder
    from deepsynth.models.vlm.page_words import runs_own_ocr
    from deepsynth.models.vlm.processor import load_processor

    skeleton = _skeleton(folder)
    if not reads_pages_in_encoder(skeleton):
        return None
    processor = load_processor(str(folder))
    if runs_own_ocr(processor):  # UDOP: the encoder joins the page's words and its image patches
        raise InputError(f"{folder}: its encoder reads the page's words and image patches together, which a "
                         "blank page does not show: set image_tokens (image tokens per sample)")
    try:
        reader = ImageEncoderReader(skeleton, processor, folder, cache_features=False)
        reading = reader.read_pages([Image.new("RGB", (page_width, page_height), (255, 255, 255))])
        mask = next((reading.pixels[key] for key in MASK_KEYS if key in reading.pixels), None)
        return int(mask.sum()) if mask is not None else 0
    except (DeepSynthError, ImportError, OSError, ValueError, TypeError, AttributeError, KeyError) as error:
        raise InputError(f"{folder}: its processor could not read a {page_width}x{page_height} page "
                         f"({type(error).__name__}: {' '.join(str(error).split())[:300]})") from None


def _count(folder: Path, page_width: int, page_height: int) -> int:
    positions = _encoder_positions(folder, page_width, page_height)
    if positions is not None:
        return positions
    encoded, image_token_id = _encoded(folder, page_width, page_height)
    if image_token_id is None:  # features prepended or cross-attended (BLIP, IDEFICS): no image tokens in the text
        return 0
    return int((encoded["input_ids"][0] == image_token_id).sum())


TOKEN_KEYS = ("input_ids", "attention_mask", "token_type_ids", "mm_token_type_ids")


def tower_inputs(folder: str | Path, page_width: int, page_height: int, pages: int) -> dict[str, Any]:
    """The tensors the processor gives the tower for one document of `pages` blank pages (pixels and
    their extras such as image grids), on the CPU."""
    import torch

    encoded, _ = _encoded(Path(folder), page_width, page_height, max(1, pages))
    return {key: value for key, value in encoded.items() if key not in TOKEN_KEYS and torch.is_tensor(value)}
