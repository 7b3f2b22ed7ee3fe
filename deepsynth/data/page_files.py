"""Page files (PDF, PNG, JPEG, TIFF, WebP) opened for rasterizing, checked before anything is built.

A file's type is read from its first bytes and must agree with its name (a `.pdf` that holds a PNG
is refused, naming both). PDFs are rasterized with pypdfium2 at a chosen DPI, one page at a time
(the document is opened from its path, so PDFium reads pages on demand, never the whole file into
Python); their text layer is kept beside each page. Images are decoded with Pillow after their
header's pixel count is checked against `max_page_pixels` (a decompression bomb is refused before
any pixel is decoded). Every problem is an `InputError` naming the file (and the page).
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image, ImageOps

from deepsynth.data.files import check_size, human_size
from deepsynth.errors import InputError

DEFAULT_DPI = 144
"""PDF rasterizing resolution. At 144 DPI typical 11-pt body text is 22 px high, the size the
renderer draws by default (`RenderConfig.font_size`) and the page reader was tuned on; a US Letter
page becomes 1224x1584 px, an A4 page 1191x1684, close to the renderer's 1024x1448 page."""
DEFAULT_MAX_PAGE_PIXELS = 40_000_000
"""Largest page raster (width x height): a US Letter page scanned at 600 DPI is 33.7 million
pixels. Pillow's own bomb warning starts at 89 million."""
PDF_KIND = "PDF"
IMAGE_KINDS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".tif": "TIFF", ".tiff": "TIFF", ".webp": "WEBP"}
PAGE_SUFFIXES = {".pdf": PDF_KIND, **IMAGE_KINDS}
"""File name suffix -> the type its content must have."""
BLANK_RANGE = 8
"""A page whose darkest and lightest grey levels are this close has no ink: it is counted as blank."""
_PDF_EOF_WINDOW = 1024  # readers accept %%EOF within the last 1024 bytes (PDF 1.7, Implementation note 18)


def sniff(head: bytes) -> str | None:
    """The page-file type its first bytes say (PDF, PNG, JPEG, TIFF, WEBP), or None."""
    if b"%PDF-" in head[:1024]:
        return PDF_KIND
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if head.startswith((b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")):  # TIFF, BigTIFF
        return "TIFF"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    return None


def is_page_file(path: str | os.PathLike[str]) -> bool:
    return Path(path).suffix.lower() in PAGE_SUFFIXES


@dataclass(frozen=True)
class Page:
    """One rasterized page and where it came from."""

    image: Image.Image
    """"L" pixels, or "RGB" when the file is opened with `color=True`."""
    text: str
    """The PDF's text layer on this page ("" for images, or a PDF page without one)."""
    number: int
    """1-based page number in its file."""
    dpi: int
    """Rasterizing DPI for PDF pages; the file's own DPI for images (0 when it states none)."""

    @property
    def blank(self) -> bool:
        gray = self.image if self.image.mode == "L" else self.image.convert("L")
        low, high = gray.getextrema()
        return high - low <= BLANK_RANGE


class PageFile:
    """An open PDF or image: `page_count`, `page(index)`; close it (or use `with`).

    `path` is a file whose suffix must agree with its content; or `data` holds the bytes (an image
    cell of a table), whose type is read from the bytes alone."""

    def __init__(self, path: Path | None, name: str, max_bytes: int, dpi: int = DEFAULT_DPI,
                 max_page_pixels: int = DEFAULT_MAX_PAGE_PIXELS, color: bool = False,
                 data: bytes | None = None) -> None:
        self.path, self.name, self.dpi, self.max_page_pixels = path, name, dpi, max_page_pixels
        self.color = color
        self._document: Any = None
        self._image: Image.Image | None = None
        if data is not None:
            check_size(len(data), max_bytes, name, "max_input_bytes / --max-input-mb")
            self.kind = sniff(data[:1024])
            if self.kind is None:
                raise InputError(f"{name}: not a PDF or image DeepSynth reads (its first bytes: {data[:8]!r})")
            tail, source = data[-_PDF_EOF_WINDOW:], data
        else:
            self.kind = _checked_kind(path, name, max_bytes)
            tail, source = None, path
        if self.kind == PDF_KIND:
            self._document = _open_pdf(source, name, tail)
            self.page_count = len(self._document)
        else:
            self._image = _open_image(io.BytesIO(data) if data is not None else path, name, max_page_pixels)
            self.page_count = getattr(self._image, "n_frames", 1)
        if self.page_count == 0:
            self.close()
            raise InputError(f"{name}: the document has no pages")

    def page(self, index: int) -> Page:
        """Page `index` (0-based), rasterized."""
        if not 0 <= index < self.page_count:
            raise InputError(f"{self.name}: no page {index + 1} (the file has {self.page_count})")
        if self._document is not None:
            return self._pdf_page(index)
        return self._image_page(index)

    def _pdf_page(self, index: int) -> Page:
        import pypdfium2

        page = self._document[index]
        try:
            width, height = page.get_size()  # PDF points (1/72 inch)
            scale = self.dpi / 72
            pixels = round(width * scale) * round(height * scale)
            if pixels > self.max_page_pixels:
                raise InputError(
                    f"{self.name}: page {index + 1} is {width / 72:.1f} x {height / 72:.1f} in; at {self.dpi} DPI "
                    f"that is {pixels / 1e6:.0f} million pixels, over the {self.max_page_pixels / 1e6:g} "
                    "million limit (max_page_pixels); lower --dpi")
            try:
                # Greyscale straight from PDFium: ~15x faster than its BGR->RGB colour path here.
                image = page.render(scale=scale, grayscale=not self.color).to_pil()
                wanted = "RGB" if self.color else "L"
                if image.mode != wanted:
                    image = image.convert(wanted)
                text_page = page.get_textpage()
                try:
                    text = text_page.get_text_bounded()
                finally:
                    text_page.close()
            except pypdfium2.PdfiumError as error:
                raise InputError(f"{self.name}: page {index + 1} cannot be rasterized: {error}") from None
        finally:
            page.close()
        text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "").strip()
        return Page(image=image, text=text, number=index + 1, dpi=self.dpi)

    def _image_page(self, index: int) -> Page:
        image = self._image
        try:
            image.seek(index)
            width, height = image.size
            if width * height > self.max_page_pixels:  # each frame of a TIFF has its own size
                raise InputError(f"{self.name}: page {index + 1} is {width} x {height} = {width * height / 1e6:.0f} "
                                 f"million pixels, over the {self.max_page_pixels / 1e6:g} million limit "
                                 "(max_page_pixels): refused as a possible decompression bomb")
            image.load()
            frame = ImageOps.exif_transpose(image)
        except (OSError, EOFError, ValueError, SyntaxError) as error:
            raise InputError(f"{self.name}: page {index + 1}: unreadable {self.kind} image data ({error}); "
                             "the file may be truncated") from None
        if frame.mode in ("RGBA", "LA", "PA") or "transparency" in frame.info:
            rgba = frame.convert("RGBA")  # transparent areas become white paper
            flattened = Image.new("RGB", frame.size, "white")
            flattened.paste(rgba, mask=rgba.getchannel("A"))
            frame = flattened
        wanted = "RGB" if self.color else "L"
        if frame.mode != wanted:
            frame = frame.convert(wanted)
        stated = image.info.get("dpi")
        dpi = round(float(stated[0])) if isinstance(stated, tuple) and stated and stated[0] else 0
        return Page(image=frame, text="", number=index + 1, dpi=dpi)

    def close(self) -> None:
        if self._document is not None:
            self._document.close()
            self._document = None
        if self._image is not None:
            self._image.close()
            self._image = None

    def __enter__(self) -> "PageFile":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _checked_kind(path: Path, name: str, max_bytes: int) -> str:
    if not path.exists():
        raise InputError(f"{name}: no such file")
    if not path.is_file():
        raise InputError(f"{name}: not a regular file")
    check_size(path.stat().st_size, max_bytes, name, "max_input_bytes / --max-input-mb")
    expected = PAGE_SUFFIXES.get(path.suffix.lower())
    if expected is None:
        raise InputError(f"{name}: not a page file; use one of {', '.join(sorted(PAGE_SUFFIXES))}")
    with path.open("rb") as stream:
        head = stream.read(1024)
    actual = sniff(head)
    if actual != expected:
        said = f"a {actual} file" if actual else "not a PDF or image file DeepSynth reads"
        raise InputError(f"{name}: the name says {expected} but the content is {said} "
                         f"(its first bytes: {head[:8]!r}); rename or re-save it")
    return actual


def _open_pdf(source: Path | bytes, name: str, tail: bytes | None) -> Any:
    import pypdfium2

    if isinstance(source, Path):
        size = source.stat().st_size
        with source.open("rb") as stream:
            stream.seek(max(0, size - _PDF_EOF_WINDOW))
            tail = stream.read()
    else:
        size = len(source)
    if b"%%EOF" not in tail:
        raise InputError(f"{name}: the PDF is truncated (no %%EOF marker at its end, {human_size(size)} "
                         "read); download or copy it again")
    try:
        return pypdfium2.PdfDocument(str(source) if isinstance(source, Path) else source)
    except pypdfium2.PdfiumError as error:
        if getattr(error, "err_code", None) == 4:  # FPDF_ERR_PASSWORD
            raise InputError(f"{name}: the PDF is encrypted (password-protected); save an unprotected copy") from None
        raise InputError(f"{name}: not a readable PDF (corrupt): {error}") from None


def _open_image(path: Path | io.BytesIO, name: str, max_page_pixels: int) -> Image.Image:
    import warnings

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(path)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise InputError(f"{name}: refused as a decompression bomb: {error}") from None
    except (OSError, SyntaxError, ValueError) as error:
        raise InputError(f"{name}: unreadable image: {error}") from None
    width, height = image.size
    if width * height > max_page_pixels:
        image.close()
        raise InputError(f"{name}: {width} x {height} = {width * height / 1e6:.0f} million pixels, over the "
                         f"{max_page_pixels / 1e6:g} million limit (max_page_pixels): refused as a "
                         "possible decompression bomb; downscale the image")
    return image
