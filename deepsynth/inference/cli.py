"""`deepsynth infer --adapter RUN|models:/NAME@ALIAS|DIR (--file PAGE | --text-file F | --image PNG)`."""

from __future__ import annotations

import argparse

HELP = "Answer on a page file (PDF, PNG, JPEG, TIFF, WebP), a text file or a page image with one or more adapters"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--adapter", action="append", required=True, metavar="RUN|models:/NAME@ALIAS|DIR",
                        help="adapter to use (a run: its id, a unique id prefix or its run name); repeat to compare "
                             "several on the same input (adapters that need different bases each get theirs)")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--file", metavar="PAGE", help="a PDF (rasterized at the DPI of the adapter's dataset, up to "
                                                      "its page cap) or a page image: PNG, JPEG, TIFF, WebP")
    source.add_argument("--text-file", metavar="F", help="UTF-8 text file (rendered with the adapter's settings)")
    source.add_argument("--image", metavar="PNG", help="page image")
    parser.add_argument("--base", action="store_true", help="also print the base model's output")
    parser.add_argument("--prompt", "--instruction", dest="prompt", default="",
                        help="what to ask, given to the model as text (a question, an instruction); default: the "
                             "default prompt of the adapter's task")
    parser.add_argument("--max-new-tokens", type=int, default=None, help="output length cap in tokens")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--tracking-uri", default=None, help="MLflow tracking/registry URI")
    parser.add_argument("--trust-remote-code", action="store_true",
                        help="run the Python code shipped in the base model's folder (DeepSeek-OCR needs it); "
                             "only this flag turns it on: an adapter's deepsynth_model.json never does")
    parser.add_argument("--allow-download", action="store_true",
                        help="let a base model named by a Hugging Face hub id in the adapter's card download "
                             "when it is not in the local cache (otherwise nothing is requested from the hub)")
    parser.add_argument("--json", action="store_true",
                        help='print one JSON object {"summaries": {label: output}} (base labelled "base")')
    parser.add_argument("--stream", action="store_true",
                        help='print one JSON line per event as it happens: {"event": "plan", "note", "bases", '
                             '"pages"} before anything loads, {"event": "loaded", "seconds"} per load, then '
                             '{"event": "summary", "label", "summary", "seconds"} per model (the playground)')


def _stream(event: dict) -> None:
    import json

    print(json.dumps(event, ensure_ascii=False), flush=True)


def run(args: argparse.Namespace) -> int:
    import sys
    import time
    from pathlib import Path

    from deepsynth.errors import InputError
    from deepsynth.inference import BASE
    from deepsynth.inference.page_input import adapter_task, check_page_file, page_cap_note
    from deepsynth.inference.side_by_side import compare_side_by_side, plan_side_by_side

    text = None
    if args.text_file:
        try:
            text = Path(args.text_file).read_text(encoding="utf-8")
        except FileNotFoundError:
            raise InputError(f"{args.text_file}: no such file") from None
        except UnicodeDecodeError as error:
            raise InputError(f"{args.text_file}: not UTF-8 text (byte {error.start})") from None
        if not text.strip():
            raise InputError(f"{args.text_file}: the text to summarize is empty")
    pages_note = ""
    if args.file:  # a bad file is refused before any adapter resolves or model loads
        total = check_page_file(args.file)
    plan = plan_side_by_side(args.adapter, uri=args.tracking_uri)
    if args.file:
        pages_note = page_cap_note(args.file, total,
                                   [adapter_task(a.card) for group in plan.groups for a in group.adapters])
    if args.stream:
        _stream({"event": "plan", "note": plan.note, "bases": plan.bases, "pages": pages_note})
    else:
        for said in (plan.note, pages_note):
            if said:
                print(said, file=sys.stderr, flush=True)
    started = [time.perf_counter()]

    def loaded(seconds: float) -> None:
        if args.stream:
            _stream({"event": "loaded", "seconds": round(seconds, 3)})
        started[0] = time.perf_counter()

    outputs = compare_side_by_side(plan, text=text, image=args.image, file=args.file, include_base=args.base,
                                   prompt=args.prompt, max_new_tokens=args.max_new_tokens, device=args.device,
                                   trust_remote_code=args.trust_remote_code, allow_download=args.allow_download,
                                   uri=args.tracking_uri, on_loaded=loaded)
    results: dict[str, str] = {}
    try:
        for label, summary in outputs:
            results[label] = summary
            if args.stream:
                _stream({"event": "summary", "label": label, "summary": summary,
                         "seconds": round(time.perf_counter() - started[0], 3)})
                started[0] = time.perf_counter()
    except ValueError as error:  # transformers: the base folder's config maps to its own code
        if isinstance(error, InputError) or args.trust_remote_code or "trust_remote_code" not in str(error):
            raise
        raise InputError(f"{args.adapter[0]}: its base model needs the Python code shipped in the model's folder; "
                         "DeepSynth runs it only if you add --trust-remote-code (an adapter's "
                         "deepsynth_model.json never turns it on): do so only if you trust that folder") from None
    if args.stream:
        return 0
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
