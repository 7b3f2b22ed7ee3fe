"""Vision tokens per page: the estimator (no torch, from the model folder's JSON files) against the
family's real processor run on a blank page of that size."""

import pytest
from vlm_helpers import vlm_config, word_tokenizer, write_config

from deepsynth.estimate import (
    load_architecture,
    page_layout_for,
    vision_tokens_per_page,
)
from deepsynth.estimate.vlm.towers import sample_tokens

PAGES = [(1024, 1448), (512, 512), (1280, 1280), (1400, 400)]


def _page(width: int, height: int):
    from PIL import Image

    return Image.new("RGB", (width, height), "white")


def _image_tokens(processor, image_token: str, page) -> int:
    out = processor(text=[f"{image_token} summarize the page"], images=[[page]], return_tensors="pt")
    return int((out["input_ids"] == processor.tokenizer.convert_tokens_to_ids(image_token)).sum())


@pytest.mark.parametrize("family,settings", [
    ("qwen2_vl", {}),
    ("qwen2_5_vl", {"size": {"shortest_edge": 3136, "longest_edge": 28 * 28 * 256}}),
])
def test_qwen_dynamic_resolution(tmp_path, family, settings):
    from transformers import Qwen2VLImageProcessorPil

    processor = Qwen2VLImageProcessorPil(**settings)
    processor.save_pretrained(str(tmp_path))
    write_config(tmp_path, vlm_config(family))
    for width, height in PAGES:
        grid = processor([_page(width, height)], return_tensors="pt")["image_grid_thw"][0]
        layout = page_layout_for(str(tmp_path), width, height)
        # Qwen2VLProcessor: image_grid_thw.prod() // merge_size**2 placeholders per image
        assert layout.tokens == int(grid.prod()) // processor.merge_size ** 2
        assert layout.images == ((int(grid[1]) * processor.patch_size, int(grid[2]) * processor.patch_size),)


@pytest.mark.parametrize("family,split", [("smolvlm", True), ("idefics3", True), ("idefics3", False)])
def test_tiles_and_global_image(tmp_path, family, split):
    import transformers

    config = vlm_config(family)
    vision = config["vision_config"] = {**config["vision_config"], "image_size": 256, "patch_size": 16}
    per_tile = (vision["image_size"] // vision["patch_size"]) ** 2 // config["scale_factor"] ** 2
    rows = [f"<row_{r}_col_{c}>" for r in range(1, 7) for c in range(1, 7)]
    tokenizer = word_tokenizer(["<|endoftext|>", "<fake_token_around_image>", "<image>", "<global-img>", *rows],
                               pad_token="<|endoftext|>")
    prefix = "SmolVLM" if family == "smolvlm" else "Idefics3"
    image_processor = getattr(transformers, f"{prefix}ImageProcessorPil")(
        size={"longest_edge": 512}, max_image_size={"longest_edge": 256}, do_image_splitting=split)
    # SmolVLM checkpoints ship Idefics3's processor class (SmolVLM's own also wants a video processor)
    processor = transformers.Idefics3Processor(image_processor=image_processor, tokenizer=tokenizer,
                                               image_seq_len=per_tile)
    processor.save_pretrained(str(tmp_path))
    arch = load_architecture(str(write_config(tmp_path, config)))
    for width, height in PAGES:
        page = _page(width, height)
        layout = page_layout_for(arch, width, height)
        assert layout.tokens == _image_tokens(processor, "<image>", page)
        tiles = image_processor([[page]], return_tensors="pt")["pixel_values"].shape
        assert len(layout.images) == tiles[1] and layout.images[0] == tuple(tiles[-2:])
        assert sample_tokens(arch.vlm, list(layout.images)) == layout.tokens  # what the connector yields


def test_deepseek_global_view_and_crops(tmp_path):
    from transformers import DeepseekOcr2ImageProcessorPil, DeepseekOcr2Processor

    tokenizer = word_tokenizer(["<image>", "<|endoftext|>"], pad_token="<|endoftext|>")
    processor = DeepseekOcr2Processor(image_processor=DeepseekOcr2ImageProcessorPil(), tokenizer=tokenizer)
    processor.save_pretrained(str(tmp_path))
    config = vlm_config("deepseek_ocr2")
    config["vision_config"]["sam_config"]["image_size"] = 1024
    arch = load_architecture(str(write_config(tmp_path, config)))
    for width, height in [(1024, 1448), (700, 700), (2000, 600)]:
        page = _page(width, height)
        out = processor(text=["<image> summarize the page"], images=[page], return_tensors="pt")
        layout = page_layout_for(arch, width, height)
        assert layout.tokens == int((out["input_ids"] == tokenizer.convert_tokens_to_ids("<image>")).sum())
        crops = int(out["num_local_patches"][0])
        assert layout.images == ((1024, 1024),) + ((768, 768),) * crops
        assert sample_tokens(arch.vlm, list(layout.images), views=1) == layout.tokens  # 256 + 144 per crop + 1


def test_deepseek_crops_follow_the_processor_call_not_the_saved_image_processor(tmp_path):
    """The processor's call defaults (2 to 6 crops) win over an image processor saved with max_patches 2."""
    from transformers import DeepseekOcr2ImageProcessorPil, DeepseekOcr2Processor

    tokenizer = word_tokenizer(["<image>", "<|endoftext|>"], pad_token="<|endoftext|>")
    image_processor = DeepseekOcr2ImageProcessorPil(min_patches=1, max_patches=2)
    processor = DeepseekOcr2Processor(image_processor=image_processor, tokenizer=tokenizer)
    processor.save_pretrained(str(tmp_path))
    config = vlm_config("deepseek_ocr2")
    config["vision_config"]["sam_config"]["image_size"] = 1024
    arch = load_architecture(str(write_config(tmp_path, config)))
    page = _page(1024, 1448)
    out = processor(text=["<image> read"], images=[page], return_tensors="pt")
    assert int(out["num_local_patches"][0]) > 2
    layout = page_layout_for(arch, 1024, 1448)
    assert layout.tokens == int((out["input_ids"] == tokenizer.convert_tokens_to_ids("<image>")).sum())


def test_florence_fixed_size(tmp_path):
    from transformers import CLIPImageProcessorPil

    processor = CLIPImageProcessorPil(size={"height": 768, "width": 768}, do_center_crop=False)
    processor.save_pretrained(str(tmp_path))
    config = vlm_config("florence2")
    config["vision_config"] = {}  # DaViT defaults: strides 4, 2, 2, 2 -> 24 x 24 tokens + 1 pooled
    write_config(tmp_path, config)
    for width, height in PAGES:
        shape = processor([_page(width, height)], return_tensors="pt")["pixel_values"].shape
        layout = page_layout_for(str(tmp_path), width, height)
        assert layout.images == (tuple(shape[-2:]),) and layout.tokens == 577  # Florence-2's image_seq_length


def test_token_counts_feed_the_workload(tmp_path):
    from deepsynth.estimate import Workload, estimate
    from deepsynth.lora import LoraSettings

    folder = write_config(tmp_path, vlm_config("qwen2_vl"))
    tokens = vision_tokens_per_page(str(folder), 1024, 1448)
    workload = Workload(batch_size=1, seq_len=64, target_tokens=16, pages=2, page_width=1024, page_height=1448,
                        dtype="float32", device="cpu")
    result = estimate(load_architecture(str(folder)), LoraSettings(rank=4), workload)
    assert result.throughput.tokens_per_step == 64 + 2 * tokens
    with pytest.raises(Exception, match="page"):
        vision_tokens_per_page(str(folder), 0, 100)


def test_default_image_tokens_of_a_model_name():
    """What the Estimate page puts in its image-tokens field when a model is picked (one rule, the
    CLI's): DeepSeek-OCR's 256 vision tokens a page; 0 where the page is read as OCR text; 0 for a
    folder, whose tokens its processor decides."""
    from deepsynth.estimate import default_image_tokens

    assert default_image_tokens("deepseek-ocr") == 256
    assert default_image_tokens("default") == 0 and default_image_tokens("smollm2-135m") == 0
    assert default_image_tokens("default", vision_interface="features") == 192
    assert default_image_tokens("/no/such/folder") == 0
