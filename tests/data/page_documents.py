"""PDFs and page images made inside tests (no binary fixtures are committed).

`text_pdf` writes a minimal PDF by hand (PDF 1.4: catalog, pages, a Helvetica font, one content
stream per page) so that pages carry a real text layer; `image_pdf` uses Pillow (pages without a
text layer, like a scan). The byte offsets in the cross-reference table are computed as written.
"""

from __future__ import annotations

import io
import struct
import zlib

from PIL import Image, ImageDraw

LETTER = (612, 792)  # points


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def text_pdf(pages: list[str], size: tuple[int, int] = LETTER, trailer_extra: str = "") -> bytes:
    """A PDF whose page i shows `pages[i]` (lines split on \\n) in 12-pt Helvetica."""
    objects: dict[int, bytes] = {
        1: b"<< /Type /Catalog /Pages 2 0 R >>",
        3: b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    }
    kids = []
    for index, text in enumerate(pages):
        page, content = 4 + 2 * index, 5 + 2 * index
        kids.append(f"{page} 0 R")
        lines = " T* ".join(f"({_escape(line)}) Tj" for line in text.split("\n")) if text else ""
        stream = f"BT /F1 12 Tf 14 TL 72 {size[1] - 72} Td {lines} ET".encode("latin-1")
        objects[page] = (f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {size[0]} {size[1]}] "
                         f"/Resources << /Font << /F1 3 0 R >> >> /Contents {content} 0 R >>").encode()
        objects[content] = b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream"
    objects[2] = f"<< /Type /Pages /Kids [{' '.join(kids)}] /Count {len(pages)} >>".encode()
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = {}
    for number in sorted(objects):
        offsets[number] = out.tell()
        out.write(b"%d 0 obj\n" % number + objects[number] + b"\nendobj\n")
    xref = out.tell()
    count = max(objects) + 1
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % count)
    for number in range(1, count):
        out.write(b"%010d 00000 n \n" % offsets[number])
    out.write(f"trailer\n<< /Size {count} /Root 1 0 R {trailer_extra}>>\nstartxref\n{xref}\n%%EOF\n".encode())
    return out.getvalue()


def encrypted_pdf() -> bytes:
    """A PDF with a standard security handler whose user password is not empty."""
    return text_pdf(["secret"], trailer_extra=(
        f"/Encrypt << /Filter /Standard /V 1 /R 2 /O <{'11' * 32}> /U <{'22' * 32}> /P -4 >> "
        f"/ID [<{'33' * 16}> <{'33' * 16}>] "))


def page_image(text: str = "", size: tuple[int, int] = (200, 120), mode: str = "RGB") -> Image.Image:
    """A white page with some dark bars (ink) unless `text` is empty."""
    image = Image.new(mode, size, "white")
    if text:
        draw = ImageDraw.Draw(image)
        draw.text((10, 10), text, fill="black")
        draw.rectangle((10, 40, 150, 50), fill="black")
    return image


def image_pdf(count: int, blank: bool = False) -> bytes:
    """A PDF of `count` image pages (no text layer), via Pillow."""
    pages = [page_image("" if blank else f"scan {i}") for i in range(count)]
    out = io.BytesIO()
    pages[0].save(out, "PDF", save_all=True, append_images=pages[1:], resolution=72)
    return out.getvalue()


def many_pages_pdf(count: int) -> bytes:
    """A PDF with `count` empty pages, via pypdfium2."""
    import pypdfium2

    document = pypdfium2.PdfDocument.new()
    for _ in range(count):
        document.new_page(200, 200)
    out = io.BytesIO()
    document.save(out)
    document.close()
    return out.getvalue()


def encoded(image: Image.Image, fmt: str, **options) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def png_claiming_size(width: int, height: int) -> bytes:
    """A small valid PNG whose header says `width` x `height` (a decompression bomb's header)."""
    data = encoded(Image.new("L", (8, 8), 255), "PNG")
    ihdr = data[8 + 8:8 + 8 + 13]
    patched = struct.pack(">II", width, height) + ihdr[8:]
    chunk = b"IHDR" + patched
    return data[:8] + struct.pack(">I", 13) + chunk + struct.pack(">I", zlib.crc32(chunk)) + data[8 + 8 + 13 + 4:]
