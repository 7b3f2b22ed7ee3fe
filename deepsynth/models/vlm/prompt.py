"""The prompt of a vision-language model, built with the model's own chat template and processor.

The user turn holds every page as an image part, then the instruction as a text part; the summary is
the assistant turn. The template is rendered once per page count with a marker where the
instruction goes and cut there: the part before (turn opening + image placeholders) goes through
the processor with the pages (it expands each placeholder into the model's image tokens, once per
document, cached with the reading); the instruction and the part after (up to the assistant turn)
are tokenized per batch. The concatenation equals what `processor(text=apply_chat_template(...),
images=pages)` gives in one call (a test checks it per family), so training sees exactly the input
vanilla inference builds. A folder without a chat template gets "<image placeholders>\\n<instruction>",
unless its processor places the image tokens itself (`places_image_tokens`; Florence-2's reads
`<image tokens><s>TEXT</s>` for a text TEXT): then the prompt text is the instruction alone, the
reading is the processor's output up to the text, and the instruction is tokenized by the processor
itself (it expands task tokens such as "<OCR>") and cut out of its output.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from typing import Any, Sequence

from deepsynth.models.builtin.prompt import DEFAULT_INSTRUCTION

log = logging.getLogger(__name__)

_INSTRUCTION_MARK = "\u0001INSTRUCTION\u0001"
MAX_PAGE_SIDE = 4096
"""Pages with a longer side are downscaled (aspect kept, with a warning) before the processor:
every processor resizes pages to its own resolution anyway, far below this."""

SMALL_MODE_SIDE = 640
"""Render modes tiny (512) and small (640) give square pages of at most this side."""
RESOLUTION_RULE = 1
"""Version of `processor_settings` (part of the reader's identity: readings depend on it)."""


def processor_settings(processor: Any, pages: Sequence[Any]) -> dict[str, Any]:
    """Processor-call settings that follow the render `mode` the pages were drawn with (DeepSeek-OCR's
    resolution names). DeepSeek-OCR-2 reads a 1024 global view plus 768 tiles by default (render
    modes none/base/large) and one 768 view for tiny/small pages (square, <= 640 px: tiles would only
    upscale them; its tower has queries for 768 and 1024 views only). Other processors: none."""
    image_processor = getattr(processor, "image_processor", None)
    if not hasattr(image_processor, "crop_to_patches"):
        return {}
    small = all(page.size[0] == page.size[1] <= SMALL_MODE_SIDE for page in pages)
    return {"crop_to_patches": False} if small else {}


def prepare_pages(pages: Sequence[Any]) -> list[Any]:
    """RGB pages, each downscaled to at most MAX_PAGE_SIDE on its longer side (with a warning)."""
    prepared = []
    for page in pages:
        width, height = page.size
        if max(width, height) > MAX_PAGE_SIDE:
            scale = MAX_PAGE_SIDE / max(width, height)
            log.warning("page of %dx%d pixels downscaled to fit %d px before the processor", width, height,
                        MAX_PAGE_SIDE)
            page = page.resize((max(1, round(width * scale)), max(1, round(height * scale))))
        prepared.append(page.convert("RGB") if page.mode != "RGB" else page)
    return prepared


def places_image_tokens(processor: Any) -> bool:
    """Whether `processor` has no chat template and puts the image tokens into the prompt itself
    (given a text without image placeholder and one image, its ids hold image tokens). Self-contained:
    the standalone inference.py of a VLM package carries its source."""
    from PIL import Image

    tokenizer = processor.tokenizer
    if getattr(processor, "chat_template", None) or getattr(tokenizer, "chat_template", None):
        return False
    image_token_id = getattr(processor, "image_token_id", None)
    if image_token_id is None:
        image_token_id = tokenizer.convert_tokens_to_ids(getattr(processor, "image_token", None) or "<image>")
    try:
        ids = processor(text=["x"], images=[[Image.new("RGB", (64, 64), (255, 255, 255))]])["input_ids"][0]
    except (ValueError, TypeError):  # it wants a placeholder in the text
        return False
    return image_token_id in list(ids)


class VlmPrompt:
    """Pieces of a VLM prompt for one processor (see the module docstring)."""

    def __init__(self, processor: Any) -> None:
        self.processor = processor
        self.tokenizer = processor.tokenizer
        self.template = getattr(processor, "chat_template", None) or getattr(self.tokenizer, "chat_template", None)
        self.image_token = getattr(processor, "image_token", None) or "<image>"
        self.encode_cached = lru_cache(maxsize=256)(self.encode)
        self.places_images = places_image_tokens(processor)
        self._wrapped_cached = lru_cache(maxsize=256)(self._wrapped)
        # (tokens before the text, tokens after it) the processor adds around a text: (0, 0) unless
        # it places the image tokens itself (found by comparing an empty text with a short one).
        self.wrap = (0, 0)
        if self.places_images:
            empty, text = self._wrapped(""), self._wrapped("x")
            before = next(i for i, (a, b) in enumerate(zip(empty, text)) if a != b)
            self.wrap = (before, len(empty) - before)

    def _wrapped(self, text: str) -> tuple[int, ...]:
        """The processor's ids for `text` with one blank page."""
        from PIL import Image

        blank = Image.new("RGB", (64, 64), (255, 255, 255))
        return tuple(self.processor(text=[text], images=[[blank]])["input_ids"][0])

    def opening(self, processor_ids: Any) -> Any:
        """The reading's prompt ids from the processor's output for the prompt opening: all of it,
        less what a processor that places the image tokens puts after the text."""
        return processor_ids[:len(processor_ids) - self.wrap[1]]

    def messages(self, pages: int, instruction: str) -> list[dict[str, Any]]:
        content = [{"type": "image"} for _ in range(pages)] + [{"type": "text", "text": instruction}]
        return [{"role": "user", "content": content}]

    def render(self, pages: int, instruction: str) -> str:
        """The full prompt text (image placeholders not yet expanded), ending where the answer starts."""
        if self.places_images:
            return instruction
        if not self.template:
            return self.image_token * pages + "\n" + instruction
        # The tokenizer renders the processor's template exactly as the processor's own
        # apply_chat_template does (same special tokens), without reading its video settings
        # (SmolVLM's does, and its video processor may be left out: `vlm.processor`).
        return self.tokenizer.apply_chat_template(self.messages(pages, instruction), chat_template=self.template,
                                                  tokenize=False, add_generation_prompt=True)

    @lru_cache(maxsize=32)
    def split(self, pages: int) -> tuple[str, str]:
        """(text before the instruction, text after it) for a document of `pages` pages."""
        if self.places_images:
            return "", ""
        before, after = self.render(pages, _INSTRUCTION_MARK).split(_INSTRUCTION_MARK)
        return before, after

    def encode(self, text: str) -> tuple[int, ...]:
        if not text:
            return ()
        return tuple(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def instruction_ids(self, instruction: str) -> tuple[int, ...]:
        instruction = instruction.strip() or DEFAULT_INSTRUCTION
        if self.places_images:
            ids = self._wrapped_cached(instruction)
            return ids[self.wrap[0]:len(ids) - self.wrap[1]]
        return self.encode_cached(instruction)

    def after_ids(self, pages: int) -> tuple[int, ...]:
        if self.places_images:
            return self._wrapped_cached("")[self.wrap[0]:]
        return self.encode_cached(self.split(pages)[1])

    def target_ids(self, summary: str, limit: int) -> tuple[int, ...]:
        """Summary tokens (at most `limit`) followed by the end-of-turn (eos) token."""
        return self.encode(summary.strip())[:limit] + (self.tokenizer.eos_token_id,)
