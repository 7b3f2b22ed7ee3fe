"""`deepsynth infer --adapter RUN|models:/NAME@ALIAS|DIR (--text-file F | --image PNG)`."""

from __future__ import annotations

import argparse

HELP = "Summarize a text file or a page image with one or more adapters (and the base)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--adapter", action="append", required=True, metavar="RUN|models:/NAME@ALIAS|DIR",
                        help="adapter to use (a run: its id, a unique id prefix or its run name); repeat to compare "
                             "several on the same input")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--text-file", metavar="F", help="UTF-8 text file (rendered with the adapter's settings)")
    source.add_argument("--image", metavar="PNG", help="page image")
    parser.add_argument("--base", action="store_true", help="also print the base model's summary")
    parser.add_argument("--instruction", default="", help="instruction (default: the training default)")
    parser.add_argument("--max-new-tokens", type=int, default=None, help="summary length cap in tokens")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--tracking-uri", default=None, help="MLflow tracking/registry URI")
    parser.add_argument("--trust-remote-code", action="store_true",
                        help="run the Python code shipped in the base model's folder (DeepSeek-OCR needs it); "
                             "only this flag turns it on: an adapter's deepsynth_model.json never does")
    parser.add_argument("--allow-download", action="store_true",
                        help="let a base model named by a Hugging Face hub id in the adapter's card download "
                             "when it is not in the local cache (otherwise nothing is requested from the hub)")
    parser.add_argument("--json", action="store_true",
                        help='print one JSON object {"summaries": {label: summary}} (base labelled "base")')
    parser.add_argument("--stream", action="store_true",
                        help='print one JSON line per event as it happens: {"event": "loaded", "seconds"}, then '
                             '{"event": "summary", "label", "summary", "seconds"} per model (the playground)')


def run(args: argparse.Namespace) -> int:
    import time
    from pathlib import Path

    from deepsynth.errors import InputError
    from deepsynth.inference import BASE, Summarizer

    text = None
    if args.text_file:
        try:
            text = Path(args.text_file).read_text(encoding="utf-8")
        except FileNotFoundError:
            raise InputError(f"{args.text_file}: no such file") from None
        except UnicodeDecodeError as error:
            raise InputError(f"{args.text_file}: not UTF-8 text (byte {error.start})") from None
    first, *others = args.adapter
    started = time.perf_counter()
    try:
        summarizer = Summarizer.for_adapter(first, device=args.device, uri=args.tracking_uri,
                                            trust_remote_code=args.trust_remote_code,
                                            allow_download=args.allow_download)
    except ValueError as error:  # transformers: the base folder's config maps to its own code
        if args.trust_remote_code or "trust_remote_code" not in str(error):
            raise
        raise InputError(f"{first}: its base model needs the Python code shipped in the model's folder; "
                         "DeepSynth runs it only if you add --trust-remote-code (an adapter's "
                         "deepsynth_model.json never turns it on): do so only if you trust that folder") from None
    for source in others:
        summarizer.add_adapter(source, uri=args.tracking_uri)
    if args.stream:
        import json

        print(json.dumps({"event": "loaded", "seconds": round(time.perf_counter() - started, 3)}), flush=True)
        for label, summary in summarizer.compare_each(text=text, image=args.image, include_base=args.base,
                                                      instruction=args.instruction,
                                                      max_new_tokens=args.max_new_tokens):
            print(json.dumps({"event": "summary", "label": label, "summary": summary,
                              "seconds": round(time.perf_counter() - started, 3)}, ensure_ascii=False), flush=True)
            started = time.perf_counter()
        return 0
    results = summarizer.compare(text=text, image=args.image, include_base=args.base,
                                 instruction=args.instruction, max_new_tokens=args.max_new_tokens)
    if args.json:
        import json

        print(json.dumps({"summaries": results}, ensure_ascii=False))
        return 0
    if len(results) == 1:
        print(next(iter(results.values())))
        return 0
    for label, summary in results.items():
        print(f"[{'base model' if label == BASE else label}]\n{summary}\n")
    return 0
