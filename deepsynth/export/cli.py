"""The export family's verbs: `deepsynth export --run RUN_ID --out FILE.zip [--merge]` packages an
adapter for a colleague; `deepsynth import FILE.zip [--dest DIR]` validates a package, then unpacks
it atomically."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

HELP = {"export": "Package a run's adapter (or an adapter folder) as a ZIP with model card, requirements and inference.py",
        "import": "Validate an adapter package (paths, sizes, hashes, file types, tensor shapes) and unpack it",
        "merge": "Merge a run's adapter into its base: a 16-bit model folder that loads with from_pretrained"}


def _export_arguments(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--run", metavar="RUN", action="append",
                        help="MLflow run whose adapter/ artifact to export (its id, a unique id prefix or its run "
                             "name); repeat it to put several adapters in one archive (one package each, listed in "
                             "bundle.json)")
    source.add_argument("--adapter-dir", metavar="DIR", help="an adapter folder written by DeepSynth")
    parser.add_argument("--out", required=True, metavar="FILE.zip", help="package file to write")
    parser.add_argument("--merge", action="store_true",
                        help="also write merged/: the decoder with the adapter merged into a 16-bit base")
    parser.add_argument("--merge-dtype", default="float16", choices=("float16", "bfloat16", "float32"),
                        help="dtype of the merged weights (default float16: ~10x closer to the unmerged model than bfloat16 on SmolLM2; the merge check refuses an overflow)")
    parser.add_argument("--trust-remote-code", action="store_true",
                        help="--merge only: let the base model's own Python code run (its folder's auto_map); "
                             "the adapter's card never turns this on")
    parser.add_argument("--allow-download", action="store_true",
                        help="--merge only: let a base model named by a Hugging Face hub id in the adapter's card "
                             "download when it is not in the local cache (otherwise nothing is requested from the hub)")
    parser.add_argument("--tracking-uri", default=None, help="MLflow tracking URI (default: the workspace's)")


def _checked_source(args: argparse.Namespace):
    """The run id or adapter folder to export; a bad value is named by its flag."""
    from pathlib import Path

    from deepsynth.configuration import ConfigError
    from deepsynth.errors import InputError
    from deepsynth.tracking.run_lookup import resolve_run_id

    problems = []
    if not str(args.out).lower().endswith(".zip"):
        problems.append(("--out", f"a package is a .zip file, got {args.out!r}"))
    source = None
    if args.run is not None:
        checked = []
        for run in args.run:
            try:
                checked.append(resolve_run_id(run, args.tracking_uri))  # an id, a unique prefix or a run name
            except InputError as error:
                problems.append(("--run", str(error)))
        source = checked[0] if len(checked) == 1 else checked
        if len(args.run) > 1 and (args.merge or args.trust_remote_code):
            problems.append(("--merge", "merges one adapter at a time: export a bundle without --merge"))
    else:
        source = Path(args.adapter_dir)
        if not source.is_dir():
            problems.append(("--adapter-dir", f"{source}: no such folder"))
    if problems:
        raise ConfigError(problems, "export options")
    return source


def run_export(args: argparse.Namespace) -> int:
    import zipfile

    from tqdm import tqdm

    from deepsynth.export.package import export_package

    source = _checked_source(args)
    if isinstance(source, list):
        return _export_bundle(source, args)
    steps = tqdm(total=None, desc="export", unit="step", leave=False)

    def progress(message: str) -> None:
        steps.set_description(message)
        steps.update(1)

    try:
        out = export_package(source, args.out, merge=args.merge, uri=args.tracking_uri,
                             progress=progress, merge_dtype=args.merge_dtype,
                             trust_remote_code=args.trust_remote_code, allow_download=args.allow_download)
    finally:
        steps.close()
    with zipfile.ZipFile(out) as archive:
        infos = archive.infolist()
    vendored = [i for i in infos if i.filename.startswith("deepsynth_src/")]
    print(f"wrote {out} ({out.stat().st_size:,} bytes, {len(infos)} files)")
    for info in infos:
        if not info.filename.startswith("deepsynth_src/"):
            print(f"  {info.file_size:>12,}  {info.filename}")
    print(f"  {sum(i.file_size for i in vendored):>12,}  deepsynth_src/ ({len(vendored)} files: the DeepSynth code inference.py runs)")
    return 0


def _export_bundle(run_ids: list[str], args: argparse.Namespace) -> int:
    import zipfile

    from deepsynth.export.bundle import BUNDLE_MANIFEST, export_bundle

    out = export_bundle(run_ids, args.out, uri=args.tracking_uri, progress=lambda message: print(message, flush=True))
    with zipfile.ZipFile(out) as archive:
        infos = [info for info in archive.infolist() if info.filename != BUNDLE_MANIFEST]
    print(f"wrote {out} ({out.stat().st_size:,} bytes, {len(infos)} packages; unpack it and "
          "`deepsynth import` each package)")
    for info in infos:
        print(f"  {info.file_size:>12,}  {info.filename}")
    return 0


def _import_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("package", metavar="FILE.zip", help="package written by `deepsynth export`")
    parser.add_argument("--dest", default=None, metavar="DIR",
                        help="new folder to unpack into (default: workspace/imports/<package name>)")
    parser.add_argument("--allow-location", action="append", default=[], metavar="PATH_OR_HUB_ID",
                        help="a base model, text encoder or font outside the package that its "
                             "deepsynth_model.json names and that you allow DeepSynth to read (exact value; "
                             "repeat for each; a URL is never allowed)")
    parser.add_argument("--allow-download", action="store_true",
                        help="let a base model named by a Hugging Face hub id in the package's card (allowed with "
                             "--allow-location) download when it is not in the local cache, to check the tensor "
                             "shapes against it (otherwise nothing is requested from the hub)")


def default_destination(package: str) -> Path:
    from deepsynth import paths

    stem = re.sub(r"[^A-Za-z0-9._-]", "_", Path(package).stem).lstrip(".")[:64] or "package"
    return paths.home() / "workspace" / "imports" / stem


def run_import(args: argparse.Namespace) -> int:
    from deepsynth.export.bundle import import_bundle, is_bundle
    from deepsynth.export.safe_import import import_package

    dest = args.dest or default_destination(args.package)
    if is_bundle(args.package):  # several packages in one archive (export --run A --run B)
        imported = import_bundle(args.package, dest, allowed_locations=args.allow_location,
                                 allow_download=args.allow_download)
        print(f"imported {len(imported)} packages into {dest}")
        for package in imported:
            print(f"  {package.path}  (deepsynth infer --adapter {package.path} --text-file FILE)")
        return 0
    imported = import_package(args.package, dest, allowed_locations=args.allow_location,
                              allow_download=args.allow_download)
    print(f"imported {len(imported.files)} files into {imported.path}")
    print(f"use it with: deepsynth infer --adapter {imported.path} --text-file FILE")
    return 0


def _merge_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--run", required=True, metavar="RUN", help="MLflow run whose adapter/ to merge: its id, a unique id prefix or its run name")
    parser.add_argument("--out", default=None, metavar="DIR",
                        help="new folder for the merged model (default: workspace/merged/<run name>-<run id[:8]>)")
    parser.add_argument("--merge-dtype", default="float16", choices=("float16", "bfloat16", "float32"),
                        help="dtype of the merged weights (default float16; see deepsynth export --merge-dtype)")
    parser.add_argument("--trust-remote-code", action="store_true",
                        help="let the base model's own Python code run (its folder's auto_map); the adapter's "
                             "card never turns this on")
    parser.add_argument("--allow-download", action="store_true",
                        help="let a base model named by a Hugging Face hub id in the adapter's card download when "
                             "it is not in the local cache (otherwise nothing is requested from the hub)")
    parser.add_argument("--tracking-uri", default=None, help="MLflow tracking URI (default: the workspace's)")


def run_merge(args: argparse.Namespace) -> int:
    from deepsynth.configuration import ConfigError
    from deepsynth.errors import InputError
    from deepsynth.export.merge_run import merge_run
    from deepsynth.tracking.run_lookup import resolve_run_id

    try:
        run_id = resolve_run_id(args.run, args.tracking_uri)  # an id, a unique prefix or a run name
    except InputError as error:
        raise ConfigError([("--run", str(error))], "merge options") from None
    out, report = merge_run(run_id, args.out, uri=args.tracking_uri, dtype=args.merge_dtype,
                            trust_remote_code=args.trust_remote_code, progress=lambda m: print(m, flush=True),
                            allow_download=args.allow_download)
    print(f"merged into {out} ({report['dtype']}; max logit gap to the unmerged model {report['merged_gap']:.3g}, "
          f"tolerance {report['tolerance']:.3g})")
    if report.get("note"):
        print(f"note: {report['note']}")
    return 0


def add_verb(subparsers: argparse._SubParsersAction, verb: str) -> None:
    parser = subparsers.add_parser(verb, help=HELP[verb], description=HELP[verb])
    if verb == "merge":
        _merge_arguments(parser)
        parser.set_defaults(handler=run_merge)
    elif verb == "export":
        _export_arguments(parser)
        parser.set_defaults(handler=run_export)
    elif verb == "import":
        _import_arguments(parser)
        parser.set_defaults(handler=run_import)
    else:
        raise ValueError(f"deepsynth.export.cli does not serve verb {verb!r}")
