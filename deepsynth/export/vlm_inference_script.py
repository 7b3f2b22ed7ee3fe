"""The `inference.py` written into packages of vision-language-model adapters.

Unlike the default package script (which runs DeepSynth's vendored code: its OCR reader and
projections exist nowhere else), a VLM adapter is a plain PEFT adapter on a transformers model, so
its script needs only transformers + peft + pillow: the pages go through the model's own processor
and chat template, as DeepSynth trained them. The few DeepSynth rules that shape the input (the
default instruction, the downscale limit, the small-page resolution rule) are written into the
script from their single definitions when the package is made; a test checks that the script's
output equals DeepSynth's `Summarizer` on the same page. Two functions are carried verbatim from
their single definitions: `load_processor` (the processor without a video part whose backend is
missing) and `places_image_tokens` (Florence-2's processor writes the image tokens itself).
"""

from __future__ import annotations

SCRIPT = '''#!/usr/bin/env python3
"""Summarize page images with the vision-language-model adapter in this folder (`deepsynth export`).

    python inference.py --image page1.png --image page2.png        # one document, its pages in order
    python inference.py --image page.png --base /path/to/base-model  # base folder elsewhere
    python inference.py --image page.png --base-only                 # the base model without the adapter

Needs: torch, transformers, peft, pillow (pip install -r requirements.txt). No DeepSynth code runs.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_INSTRUCTION = __DEFAULT_INSTRUCTION__
MAX_PAGE_SIDE = __MAX_PAGE_SIDE__
SMALL_MODE_SIDE = __SMALL_MODE_SIDE__


def load_pages(paths):
    """Pages as DeepSynth reads them: 8-bit gray (like rendered pages), then RGB; very large pages
    downscaled to MAX_PAGE_SIDE on their longer side."""
    from PIL import Image

    pages = []
    for path in paths:
        with Image.open(path) as opened:
            page = opened.convert("L")
        width, height = page.size
        if max(width, height) > MAX_PAGE_SIDE:
            scale = MAX_PAGE_SIDE / max(width, height)
            page = page.resize((max(1, round(width * scale)), max(1, round(height * scale))))
        pages.append(page.convert("RGB"))
    return pages


def processor_settings(processor, pages):
    """DeepSeek-OCR-2: one 768 view (no tiles) for small square pages (render modes tiny/small)."""
    image_processor = getattr(processor, "image_processor", None)
    if not hasattr(image_processor, "crop_to_patches"):
        return {}
    small = all(page.size[0] == page.size[1] <= SMALL_MODE_SIDE for page in pages)
    return {"crop_to_patches": False} if small else {}


__HELPERS__


def prompt_text(processor, pages, instruction):
    if places_image_tokens(processor):  # e.g. Florence-2: the processor adds the image tokens itself
        return instruction
    content = [{"type": "image"} for _ in pages] + [{"type": "text", "text": instruction}]
    if getattr(processor, "chat_template", None) or getattr(processor.tokenizer, "chat_template", None):
        template = getattr(processor, "chat_template", None) or processor.tokenizer.chat_template
        return processor.tokenizer.apply_chat_template([{"role": "user", "content": content}], chat_template=template,
                                                       tokenize=False, add_generation_prompt=True)
    return (getattr(processor, "image_token", None) or "<image>") * len(pages) + "\\n" + instruction


def main(argv=None):
    card = json.loads((HERE / "deepsynth_model.json").read_text(encoding="utf-8"))
    model_config = card["model_config"]
    parser = argparse.ArgumentParser(description="Summarize page images with this adapter.")
    parser.add_argument("--image", action="append", required=True, help="a page image (repeat for more pages)")
    parser.add_argument("--base", default=model_config["name"], help="the base model folder (default: where "
                        "it was at training time)")
    parser.add_argument("--instruction", default="", help="instruction (default: the training default)")
    parser.add_argument("--base-only", action="store_true", help="summarize with the base model only")
    parser.add_argument("--max-new-tokens", type=int, default=model_config["max_target_tokens"])
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    args = parser.parse_args(argv)

    import torch
    from transformers import AutoModelForImageTextToText

    if args.threads:
        torch.set_num_threads(args.threads)
    dtype = torch.bfloat16 if args.device.startswith("cuda") else torch.float32
    processor = load_processor(args.base)
    tokenizer = processor.tokenizer
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForImageTextToText.from_pretrained(args.base, dtype=dtype, trust_remote_code=False).to(args.device).eval()
    if not args.base_only:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, str(HERE)).eval()
    pages = load_pages(args.image)
    text = prompt_text(processor, pages, args.instruction.strip() or DEFAULT_INSTRUCTION)
    inputs = processor(text=[text], images=[pages], return_tensors="pt", **processor_settings(processor, pages))
    inputs = {k: (v.to(args.device, dtype) if v.is_floating_point() else v.to(args.device))
              for k, v in inputs.items()}
    with torch.inference_mode():
        out = model.generate(**inputs, max_new_tokens=args.max_new_tokens, do_sample=False, num_beams=1,
                             pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id)
    # A decoder-only model returns the prompt too; an encoder-decoder (Florence-2) the answer only.
    new = out if model.config.is_encoder_decoder else out[:, inputs["input_ids"].shape[1]:]
    print(tokenizer.batch_decode(new, skip_special_tokens=True)[0].strip())
    return 0


if __name__ == "__main__":
    sys.exit(main())
'''


def vlm_inference_script() -> str:
    import inspect

    from deepsynth.models.builtin.prompt import DEFAULT_INSTRUCTION
    from deepsynth.models.vlm.processor import load_processor
    from deepsynth.models.vlm.prompt import MAX_PAGE_SIDE, SMALL_MODE_SIDE, places_image_tokens

    # Self-contained functions, carried verbatim: the script loads and prompts as training did.
    helpers = "\n\n".join(inspect.getsource(function).rstrip() for function in (load_processor, places_image_tokens))
    return (SCRIPT.replace("__HELPERS__", helpers).replace("__DEFAULT_INSTRUCTION__", repr(DEFAULT_INSTRUCTION))
            .replace("__MAX_PAGE_SIDE__", str(MAX_PAGE_SIDE)).replace("__SMALL_MODE_SIDE__", str(SMALL_MODE_SIDE)))
