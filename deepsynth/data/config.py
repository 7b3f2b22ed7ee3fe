"""`DatasetConfig`: where documents come from, how they are filtered, split and rendered."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from deepsynth.configuration import Problems, choice
from deepsynth.data.bundled import WIKI_LANGUAGES
from deepsynth.data.files import DEFAULT_MAX_INPUT_BYTES, FORMATS_BY_SUFFIX
from deepsynth.data.page_files import DEFAULT_DPI, DEFAULT_MAX_PAGE_PIXELS, PAGE_SUFFIXES
from deepsynth.data.tasks import TASKS
from deepsynth.render import RenderConfig
from deepsynth.settings import setting

BUNDLED_SOURCES = ("wiki", "aclsum")
FIRST_BUILD_LIMIT = 200
"""The size the dashboard proposes for a first build (`limit` itself defaults to all documents)."""


def source_kind(source: str) -> str:
    """`wiki`, `aclsum`, `hf` (hf:NAME[:CONFIG][@SPLIT]) or `file` (a local path: a table, a page
    file, a folder of page files or a LLaVA JSON)."""
    if source in BUNDLED_SOURCES:
        return source
    if source.startswith("hf:"):
        return "hf"
    return "file"


@dataclass(frozen=True)
class DatasetConfig:
    """A training corpus: source, column mapping, filters, splits and page rendering."""

    source: str = "wiki"
    """`wiki` (bundled Wikipedia extracts), `aclsum` (bundled ACL papers), `hf:NAME[:CONFIG][@SPLIT]`
    (a Hugging Face dataset, or a local dataset folder), a path to a .csv/.tsv/.jsonl/.json/.parquet file,
    a PDF or image (.pdf .png .jpg .tif .webp), a folder of them (with manifest.csv / manifest.jsonl:
    file, target, id, pages, prompt), or a LLaVA/ShareGPT JSON (image(s) + conversations/messages)."""
    text_column: str = ""
    """Column holding the document; empty: the source's default or a common name (text, document, article...)."""
    summary_column: str = ""
    """Column holding the reference summary; empty: the source's default or a common name (summary, abstract...)."""
    id_column: str = ""
    """Column holding a document id; empty: an `id` column if present, else `<source>-<row number>`."""
    instruction: str = ""
    """Instruction prompt rendered as a header above every document and kept as text ("" for none)."""
    limit: int = setting(0, minimum=0, label="Keep at most (0 = all)", group="Filters and splits", order=1, advanced=True)
    """Keep at most this many documents (the first ones that pass the filters); 0 keeps all."""
    language: str = choice("en", WIKI_LANGUAGES)
    """Language of the bundled `wiki` source: en, fr or es."""
    validation_fraction: float = setting(0.1, group="Filters and splits", order=6, advanced=True)
    """Share of documents in the validation split."""
    test_fraction: float = setting(0.1, group="Filters and splits", order=7, advanced=True)
    """Share of documents in the test split."""
    seed: int = setting(0, label="Split seed", group="Filters and splits", order=8, advanced=True)
    """Seed of the shuffle that assigns documents to splits."""
    min_text_chars: int = setting(1, minimum=0, label="Min text chars", group="Filters and splits", order=2, advanced=True)
    """Drop documents whose text is shorter than this many characters (after trimming)."""
    max_text_chars: int = setting(0, minimum=0, label="Max text chars (0 = none)", group="Filters and splits", order=3, advanced=True)
    """Drop documents whose text is longer than this many characters; 0: no maximum (long
    documents are kept and cut at the renderer's page cap, with a warning)."""
    min_summary_chars: int = setting(1, minimum=0, label="Min summary chars", group="Filters and splits", order=4, advanced=True)
    """Drop documents whose summary is shorter than this many characters (after trimming)."""
    max_summary_chars: int = setting(0, minimum=0, label="Max summary chars (0 = none)", group="Filters and splits", order=5, advanced=True)
    """Drop documents whose summary is longer than this many characters; 0: no maximum."""
    render: RenderConfig = field(default_factory=RenderConfig)
    """How documents become page images."""
    workers: int = setting(0, minimum=0, label="Render processes (0 = one per core)", group="Filters and splits", order=9, advanced=True)
    """Rendering processes; 0: one per CPU core available to this process; 1: render in-process."""
    max_input_bytes: int = DEFAULT_MAX_INPUT_BYTES
    """Refuse local input files larger than this many bytes."""
    task: str = setting("summarize", choices=TASKS, group="Task", order=1)
    """What the model is asked: summarize, transcribe, qa, extract, translate or custom; sets the
    default prompt and, through deepsynth_dataset.json, the metric training and evaluation use."""
    prompt: str = setting("", label="Default prompt", group="Task", order=2)
    """Prompt for examples whose row has none, given to the model as text (never rendered); empty:
    the task's default (summarize: the model's default instruction)."""
    prompt_column: str = setting("", group="Task", order=3)
    """Column holding a per-example prompt or question; empty: a `prompt` column if present."""
    manifest: str = setting("", group="Page files (PDFs, images, manifests)", advanced=True)
    """Manifest of a page-file folder (.csv/.jsonl: file, target, id, pages, prompt); empty:
    manifest.csv or manifest.jsonl inside the --source folder."""
    dpi: int = setting(DEFAULT_DPI, minimum=36, maximum=1200, label="DPI (PDF pages)", group="Page files (PDFs, images, manifests)", advanced=True)
    """PDF rasterizing resolution (144: 11-pt text at the renderer's 22-px font size)."""
    max_document_pages: int = setting(16, minimum=1, maximum=10_000, group="Page files (PDFs, images, manifests)", advanced=True)
    """Page cap of one example from page files (a PDF or a manifest row); more is an error naming it."""
    max_page_pixels: int = setting(DEFAULT_MAX_PAGE_PIXELS, minimum=1, group="Page files (PDFs, images, manifests)", advanced=True)
    """Refuse page images (and PDF pages at --dpi) with more pixels than this (decompression bombs)."""
    page_color: bool = setting(False, group="Page files (PDFs, images, manifests)", advanced=True)
    """Keep PDF and image pages in colour (RGB); off: greyscale, like rendered pages (a third of the
    pixels, PNG encoding ~3x faster)."""

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        problems = Problems("dataset configuration")
        problems.check(isinstance(self.source, str) and bool(self.source.strip()), "source", "must not be empty")
        if isinstance(self.source, str) and source_kind(self.source) == "file" and self.source.strip():
            suffix = Path(self.source).suffix.lower()
            is_folder = Path(self.source).expanduser().is_dir()
            problems.check(is_folder or suffix in FORMATS_BY_SUFFIX or suffix in PAGE_SUFFIXES, "source",
                           f"{self.source!r} is not wiki, aclsum, hf:NAME, a folder or a file ending in "
                           f"{', '.join(sorted({*FORMATS_BY_SUFFIX, *PAGE_SUFFIXES}))}")
        problems.check(self.task in TASKS, "task", f"must be one of {', '.join(TASKS)}, got {self.task!r}")
        problems.check(self.language in WIKI_LANGUAGES, "language",
                       f"must be one of {', '.join(WIKI_LANGUAGES)}, got {self.language!r}")
        for name in ("limit", "min_text_chars", "max_text_chars", "min_summary_chars",
                     "max_summary_chars", "workers"):
            value = getattr(self, name)
            problems.check(isinstance(value, int) and not isinstance(value, bool) and value >= 0,
                           name, f"must be an integer >= 0, got {value!r}")
        for name in ("validation_fraction", "test_fraction"):
            value = getattr(self, name)
            problems.check(isinstance(value, (int, float)) and 0 <= value < 1, name,
                           f"must be in [0, 1), got {value!r}")
        fractions_ok = all(isinstance(getattr(self, n), (int, float)) and 0 <= getattr(self, n) < 1
                           for n in ("validation_fraction", "test_fraction"))
        if fractions_ok:
            problems.check(self.validation_fraction + self.test_fraction < 1, "test_fraction",
                           "validation_fraction + test_fraction must leave room for a train split (< 1)")
        for low, high in (("min_text_chars", "max_text_chars"), ("min_summary_chars", "max_summary_chars")):
            lo, hi = getattr(self, low), getattr(self, high)
            if isinstance(lo, int) and isinstance(hi, int) and hi:
                problems.check(hi >= lo, high, f"must be 0 (no maximum) or >= {low} ({lo}), got {hi}")
        problems.check(isinstance(self.seed, int), "seed", f"must be an integer, got {self.seed!r}")
        problems.check(isinstance(self.render, RenderConfig), "render", "must be a RenderConfig")
        problems.check(isinstance(self.max_input_bytes, int) and self.max_input_bytes >= 1,
                       "max_input_bytes", f"must be an integer >= 1, got {self.max_input_bytes!r}")
        problems.check(isinstance(self.page_color, bool), "page_color", "must be true or false")
        for name in ("dpi", "max_document_pages", "max_page_pixels"):
            value = getattr(self, name)
            problems.check(isinstance(value, int) and not isinstance(value, bool) and value >= 1,
                           name, f"must be an integer >= 1, got {value!r}")
        if isinstance(self.dpi, int):
            problems.check(self.dpi <= 1200, "dpi", f"must be at most 1200, got {self.dpi}")
        for name in ("text_column", "summary_column", "id_column", "instruction", "prompt",
                     "prompt_column", "manifest"):
            problems.check(isinstance(getattr(self, name), str), name, "must be a string")
        problems.raise_if_any()

    @property
    def source_kind(self) -> str:
        return source_kind(self.source)
