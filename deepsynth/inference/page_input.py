"""What an adapter is asked and how it reads a page file: its dataset's task, default prompt and
page-file settings, and a PDF or image opened the way its training pages were.

Training writes its dataset's entry into the adapter's card (`deepsynth_model.json`, key
`CARD_KEY`, from `card_entry`): the task, the dataset's default prompt, and the page-file settings
(DPI, page cap, pixel cap, colour). An adapter saved before that (or by hand) has none: it is a
summarize adapter read at the page reader's defaults (`deepsynth.data.page_files.DEFAULT_DPI`).

A prompt is given to the model as text, as training gives each example's prompt
(`deepsynth.data.tasks`): an empty prompt means the task's default (`DEFAULT_PROMPTS`), and for
summarize that is "" = the model's own default instruction.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

from deepsynth.data.config import DatasetConfig
from deepsynth.data.tasks import DEFAULT_PROMPTS, TASKS

CARD_KEY = "dataset"
"""The adapter card's entry holding its dataset's task and page-file settings."""
_DATASET_DEFAULTS = {f.name: f.default for f in dataclasses.fields(DatasetConfig)
                     if f.default is not dataclasses.MISSING}
PAGE_SETTINGS = ("dpi", "max_document_pages", "max_page_pixels", "page_color")
"""The `DatasetConfig` page-file settings an adapter's card keeps (one definition: the dataset's)."""


@dataclass(frozen=True)
class PageFileSettings:
    """How a PDF or image becomes the pages an adapter reads (its dataset's settings)."""

    dpi: int = _DATASET_DEFAULTS["dpi"]
    """PDF rasterizing resolution."""
    max_document_pages: int = _DATASET_DEFAULTS["max_document_pages"]
    """Pages of one file read at most (the rest are left out, and the caller is told)."""
    max_page_pixels: int = _DATASET_DEFAULTS["max_page_pixels"]
    """Largest page raster (decompression bombs are refused)."""
    page_color: bool = _DATASET_DEFAULTS["page_color"]
    """Pages in colour (RGB) instead of greyscale."""


@dataclass(frozen=True)
class AdapterTask:
    """What an adapter was trained to do, from its card."""

    task: str = "summarize"
    """One of `deepsynth.data.tasks.TASKS`."""
    prompt: str = ""
    """Its dataset's default prompt, else the task's (summarize: "" = the model's default instruction)."""
    pages: PageFileSettings = PageFileSettings()
    """How its dataset read page files."""

    def prompt_for(self, typed: str) -> str:
        """The prompt the model gets: what the user typed, else this adapter's default."""
        return (typed or "").strip() or self.prompt


def card_entry(dataset_config: Any) -> dict[str, Any]:
    """The card entry training writes for a `DatasetConfig`: task, default prompt, page settings."""
    task = getattr(dataset_config, "task", "") or "summarize"
    prompt = (getattr(dataset_config, "prompt", "") or "").strip() or DEFAULT_PROMPTS.get(task, "")
    entry = {"task": task, "prompt": prompt}
    entry.update({name: getattr(dataset_config, name, _DATASET_DEFAULTS[name]) for name in PAGE_SETTINGS})
    return entry


def adapter_task(card: Mapping[str, Any]) -> AdapterTask:
    """The task and page settings an adapter's card records (defaults for a card without them)."""
    entry = card.get(CARD_KEY)
    if not isinstance(entry, Mapping):
        return AdapterTask()
    task = entry.get("task") if entry.get("task") in TASKS else "summarize"
    prompt = entry.get("prompt") if isinstance(entry.get("prompt"), str) else DEFAULT_PROMPTS[task]
    settings = {}
    for name in PAGE_SETTINGS:
        value, default = entry.get(name), _DATASET_DEFAULTS[name]
        if isinstance(default, bool):
            settings[name] = value if isinstance(value, bool) else default
        else:  # a card is read, never trusted: only positive whole numbers replace the defaults
            settings[name] = value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else default
    return AdapterTask(task, prompt, PageFileSettings(**settings))


@dataclass(frozen=True)
class PagesRead:
    """The pages of one page file, as an adapter reads them."""

    images: tuple[Any, ...]
    """PIL images, first page first ("L", or "RGB" with `page_color`)."""
    total: int
    """Pages in the file."""
    name: str
    """The file as the user named it."""

    @property
    def cut(self) -> bool:
        return len(self.images) < self.total


def read_page_file(path: str | Path, settings: PageFileSettings = PageFileSettings(),
                   name: str | None = None) -> PagesRead:
    """A PDF (rasterized at `settings.dpi`) or image (PNG, JPEG, TIFF, WebP) as page images, up
    to the page cap. Every problem is an `InputError` naming the file (`name`, else the path): a
    missing file, a file that is not a page file or whose content contradicts its name, a corrupt,
    truncated or encrypted PDF, an image over the pixel cap."""
    from deepsynth.data.page_files import PageFile

    where = name or str(path)
    with PageFile(Path(path).expanduser(), where, _DATASET_DEFAULTS["max_input_bytes"], settings.dpi,
                  settings.max_page_pixels, settings.page_color) as opened:
        count = min(opened.page_count, settings.max_document_pages)
        images = tuple(opened.page(index).image for index in range(count))
        return PagesRead(images, opened.page_count, where)


def check_page_file(path: str | Path, name: str | None = None) -> int:
    """Refuse a file that is not a readable page file before any model loads (the messages of
    `read_page_file`; the first page is rasterized as a check). Returns its page count."""
    return read_page_file(path, PageFileSettings(max_document_pages=1), name).total


def page_cap_note(name: str, total: int, tasks: Sequence[AdapterTask]) -> str:
    """One sentence when some adapter reads fewer pages than the file has (its dataset's page
    cap), else ""."""
    caps = sorted({task.pages.max_document_pages for task in tasks})
    if not caps or total <= caps[0]:
        return ""
    if len(caps) == 1:
        return (f"{name}: {total} pages; the first {caps[0]} are read (the page cap per document of the "
                "adapter's dataset)")
    return (f"{name}: {total} pages; each adapter reads up to its dataset's page cap per document "
            f"({', '.join(str(cap) for cap in caps)} pages)")
