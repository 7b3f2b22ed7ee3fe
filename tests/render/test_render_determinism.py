"""Same text and config -> the same pixels and the same PNG bytes, in this process, in fresh
processes, and from concurrent threads."""

import hashlib
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

from deepsynth.render import RenderConfig, encode_png, render_document

GOLDEN_TEXT = ("DeepSynth renders documents to pages.\n"
               "Greek Ελληνικά, Devanagari नमस्ते, emoji 🚀, Arabic مرحبا بالعالم.\n\n"
               + "Pixel-width wrapping keeps every line inside the margins. " * 12)
GOLDEN_CONFIG = dict(page_width=640, page_height=480, margin=32, font_size=20, max_pages=3)
# Produced once by running, with the pinned stack (Pillow 13.0.0 wheel: FreeType 2.14.3, raqm
# 0.11.0; matplotlib 3.11.2's DejaVu Sans; manimgx-fonts 2026.9.26.post1):
#   doc = render_document(GOLDEN_TEXT, RenderConfig(**GOLDEN_CONFIG), instruction="Summarize:")
#   h = hashlib.sha256(); for p in doc.pages: h.update(f"{p.mode}{p.size}".encode()); h.update(p.tobytes())
# and viewing the page by eye. A change here means the renderer's output changed: look at the
# page again before updating it.
GOLDEN_PIXELS_SHA256 = "500f35e2d96337dd0468a7da946e5e3f461e0ba84a9a9b9cb2a5b31ea9a75baa"


def pixels_digest(document):
    digest = hashlib.sha256()
    for page in document.pages:
        digest.update(f"{page.mode}{page.size}".encode())
        digest.update(page.tobytes())
    return digest.hexdigest()


def render_golden():
    return render_document(GOLDEN_TEXT, RenderConfig(**GOLDEN_CONFIG), instruction="Summarize:")


def test_golden_pixels():
    document = render_golden()
    assert len(document.pages) == 2 and not document.truncated and document.warnings == ()
    assert pixels_digest(document) == GOLDEN_PIXELS_SHA256


def test_rendering_twice_gives_identical_png_bytes():
    first, second = render_golden(), render_golden()
    assert [encode_png(p) for p in first.pages] == [encode_png(p) for p in second.pages]


def test_two_fresh_processes_write_identical_pngs():
    program = (
        "import hashlib, sys\n"
        "from deepsynth.render import RenderConfig, encode_png, render_document\n"
        f"doc = render_document({GOLDEN_TEXT!r}, RenderConfig(**{GOLDEN_CONFIG!r}), instruction='Summarize:')\n"
        "print(hashlib.sha256(b''.join(encode_png(p) for p in doc.pages)).hexdigest())\n"
    )
    outputs = [subprocess.run([sys.executable, "-c", program], capture_output=True, text=True,
                              check=True, timeout=120).stdout.strip() for _ in range(2)]
    here = hashlib.sha256(b"".join(encode_png(p) for p in render_golden().pages)).hexdigest()
    assert outputs[0] == outputs[1] == here


def test_concurrent_threads_render_the_same_pages(paragraph):
    texts = [f"{paragraph} thread variant {k} " + "ünïcödé wörds " * k for k in range(8)]
    config = RenderConfig(font_size=19)  # a size no other test uses: caches start cold
    with ThreadPoolExecutor(4) as pool:
        threaded = list(pool.map(lambda t: pixels_digest(render_document(t, config)), texts * 3))
    serial = [pixels_digest(render_document(t, config)) for t in texts * 3]
    assert threaded == serial


def test_a_full_word_cache_starts_afresh_without_changing_pixels(monkeypatch, paragraph):
    import deepsynth.render.words as words

    config = RenderConfig(font_size=17)  # a size no other test uses
    expected = pixels_digest(render_document(paragraph * 3, config))
    style = words.text_style(config.font, config.fallback, config.fallback_fonts, 17, config.layout_engine)
    style._words.clear()
    monkeypatch.setattr(words, "WORD_CACHE_LIMIT", 5)
    assert pixels_digest(render_document(paragraph * 3, config)) == expected
    assert len(style._words) <= 5
