"""A multi-page example reaches a VLM whole, through its processor as the family takes pages (one
list per prompt, or one flat list); a family that takes one image per prompt reads the first page,
and the cut is logged with its cap."""

from __future__ import annotations

import logging

import pytest
import torch

SIZES = ((200, 260), (160, 200), (96, 96))


def build(folder):
    from deepsynth.lora import LoraSettings
    from deepsynth.models import ModelConfig, build_document_model

    return build_document_model(ModelConfig(name=str(folder), max_target_tokens=8),
                                LoraSettings(rank=4, alpha=8, dropout=0.0))


@pytest.mark.parametrize("family", ("qwen2_vl", "idefics3"))
def test_every_page_of_a_three_page_example_reaches_the_tower(family, vlm_folder, make_page, caplog):
    model = build(vlm_folder(family))
    pages = [make_page(f"page {n}", *size) for n, size in enumerate(SIZES, 1)]
    assert model.reader.page_layout in ("nested", "flat") and model.reader.max_pages is None
    with caplog.at_level(logging.WARNING):
        reading = model.read_pages(pages)
    assert reading.pages == 3 and not [r for r in caplog.records if "page cap" in r.getMessage()]
    alone = [model.read_pages([page]) for page in pages]
    image_token = model.reader.image_token_id
    assert int((reading.prompt_ids == image_token).sum()) == sum(int((r.prompt_ids == image_token).sum()) for r in alone)
    # each page's features, in order: the tower saw all three
    torch.testing.assert_close(reading.features, torch.cat([r.features for r in alone]))
    loss = model(**model.collate([reading], ["Summarize."], ["Three pages."]))
    assert torch.isfinite(loss)


def test_a_one_image_family_reads_the_first_page_and_names_the_cap(vlm_folder, make_page, caplog):
    model = build(vlm_folder("florence2"))
    pages = [make_page(f"page {n}", *size) for n, size in enumerate(SIZES, 1)]
    with caplog.at_level(logging.WARNING):
        readings = model.read_documents([pages, pages[:1]])
    assert [r.pages for r in readings] == [1, 1]
    assert torch.equal(readings[0].prompt_ids, readings[1].prompt_ids)
    torch.testing.assert_close(readings[0].features, readings[1].features)
    warned = [r.getMessage() for r in caplog.records if "page cap" in r.getMessage()]
    assert len(warned) == 1 and "a page cap of 1 per example for florence2" in warned[0] \
        and "1 document(s) of more pages cut to their first page, 2 page(s) not read" in warned[0]
    assert model.reader.pages_cut == 2


class FlatOnly:
    """A processor that takes a prompt's images as one flat list (refuses one list per prompt)."""

    def __init__(self, processor):
        self.processor = processor

    def __getattr__(self, name):
        return getattr(self.processor, name)

    def __call__(self, text=None, images=None, **kwargs):
        if images and isinstance(images[0], list):
            raise ValueError("images must be a flat list")
        return self.processor(text=text, images=images, **kwargs)


def test_a_processor_that_takes_a_flat_list_gets_the_pages_flat(vlm_folder, make_page):
    model = build(vlm_folder("qwen2_vl"))
    pages = [make_page(f"page {n}", *size) for n, size in enumerate(SIZES, 1)]
    nested = model.read_pages(pages)
    model.reader.processor, model.reader._page_layout = FlatOnly(model.reader.processor), None
    assert model.reader.page_layout == "flat"
    flat = model.read_pages(pages)
    assert flat.pages == 3 and torch.equal(flat.prompt_ids, nested.prompt_ids)
    torch.testing.assert_close(flat.features, nested.features)
