"""The tracking family's verbs: `deepsynth register`, `alias`, `models` (the adapter registry),
`deepsynth compare` (evaluated runs side by side) and `deepsynth server` (a shared tracking
server, its flags built from `ServerConfig`). mlflow loads only inside the handlers.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import signal
import sys

HELP = {
    "register": "Register a run's adapter in the MLflow Model Registry (optionally with an alias)",
    "alias": "Point an alias at a registered adapter version: NAME VERSION ALIAS (or NAME --delete ALIAS)",
    "models": "List registered adapters, their versions and aliases",
    "delete": "Delete a run's adapter (RUN: full id or exact name) or a registered version (models:/NAME/VERSION), "
              "after a confirmation",
    "compare": "Compare evaluated runs on the same documents: ROUGE-L with intervals, paired differences, wins.",
    "server": "Run a shared MLflow tracking server (127.0.0.1 unless --host; --auth for a team).",
}


@functools.lru_cache(maxsize=1)
def server_flags():
    from deepsynth.config_flags import ConfigFlags
    from deepsynth.tracking.server import ServerConfig

    return ConfigFlags(ServerConfig)


def _tracking(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--tracking-uri", default=None,
                        help="MLflow tracking/registry URI (default: MLFLOW_TRACKING_URI or the workspace's mlflow.db)")


def add_verb(subparsers: argparse._SubParsersAction, verb: str) -> None:
    parser = subparsers.add_parser(verb, help=HELP[verb], description=HELP[verb])
    if verb == "compare":
        _compare_arguments(parser)
        parser.set_defaults(handler=run_compare)
        return
    if verb == "server":
        server_flags().add_to(parser)
        parser.set_defaults(handler=run_server)
        return
    if verb == "register":
        parser.add_argument("--run", required=True, metavar="RUN_ID", help="run whose adapter/ to register")
        parser.add_argument("--name", required=True, help="registered model name (letters, digits, . _ -)")
        parser.add_argument("--alias", default=None, help="alias to point at the new version, e.g. champion")
        parser.set_defaults(handler=run_register)
    elif verb == "alias":
        parser.add_argument("name", help="registered model name")
        parser.add_argument("version", nargs="?", metavar="VERSION", help="version the alias points at")
        parser.add_argument("alias", nargs="?", metavar="ALIAS", help="alias to set, e.g. champion")
        parser.add_argument("--delete", metavar="ALIAS", default=None, help="delete this alias instead")
        parser.set_defaults(handler=run_alias)
    elif verb == "models":
        parser.add_argument("name", nargs="?", default=None, help="show only this registered model")
        parser.set_defaults(handler=run_models)
    elif verb == "delete":
        parser.add_argument("target", metavar="RUN|models:/NAME/VERSION",
                            help="a run's full id or exact name (its adapter/ is deleted; never a prefix), or a "
                                 "registered version (refused while an alias points at it)")
        parser.add_argument("--yes", action="store_true",
                            help="do not ask: confirm the deletion here (needed where no terminal can answer)")
        parser.set_defaults(handler=run_delete)
    else:
        raise ValueError(f"deepsynth.tracking.cli does not serve verb {verb!r}")
    _tracking(parser)


def run_register(args: argparse.Namespace) -> int:
    from deepsynth.tracking.registry import register_adapter

    version = register_adapter(args.run, args.name, alias=args.alias, uri=args.tracking_uri)
    aliases = f" (alias: {', '.join(version.aliases)})" if version.aliases else ""
    print(f"registered {version.name} version {version.version}{aliases} from run {version.run_id}")
    print(f"load it with: deepsynth infer --adapter models:/{version.name}/{version.version}")
    return 0


def run_alias(args: argparse.Namespace) -> int:
    from deepsynth.errors import InputError
    from deepsynth.tracking.registry import delete_alias, set_alias

    if args.delete is not None:
        if args.version is not None:
            raise InputError("alias NAME --delete ALIAS takes no VERSION")
        delete_alias(args.name, args.delete, uri=args.tracking_uri)
        print(f"deleted alias {args.delete!r} of {args.name}")
        return 0
    if args.version is None or args.alias is None:
        raise InputError("usage: deepsynth alias NAME VERSION ALIAS (or NAME --delete ALIAS)")
    version = set_alias(args.name, args.version, args.alias, uri=args.tracking_uri)
    print(f"{version.name}@{args.alias} -> version {version.version} (run {version.run_id})")
    return 0


def run_models(args: argparse.Namespace) -> int:
    from deepsynth.tracking.alias_guard import scored
    from deepsynth.tracking.registry import list_adapters

    adapters = [a for a in list_adapters(uri=args.tracking_uri) if args.name in (None, a.name)]
    if not adapters:
        print("no registered adapters" + (f" named {args.name!r}" if args.name else ""))
        return 0 if args.name is None else 1
    for adapter in adapters:
        aliases = ", ".join(f"{alias}->v{version}" for alias, version in sorted(adapter.aliases.items()))
        print(f"{adapter.name}  ({len(adapter.versions)} version(s){'; ' + aliases if aliases else ''})")
        for version in adapter.versions:
            metrics = " ".join(f"{k}={v}" for k, v in sorted(version.tags.items())
                               if "/" in k and not k.endswith(("_lo", "_hi")))
            print(f"  v{version.version}  run {version.run_id}  {scored(version.tags).full()}  {metrics}".rstrip())
    return 0


def _confirmed(question: str, answer: str, yes: bool) -> bool:
    """Whether the user confirmed: `--yes`, or typing `answer` at the terminal."""
    from deepsynth.errors import InputError

    if yes:
        return True
    if not sys.stdin.isatty():
        raise InputError(f"{question}: nothing deleted; no terminal to confirm at, add --yes to confirm")
    typed = input(f"{question}\nType {answer!r} to confirm: ").strip()
    return typed == answer


def run_delete(args: argparse.Namespace) -> int:
    from deepsynth.errors import InputError
    from deepsynth.tracking import deletion
    from deepsynth.tracking.registry import get_version, is_registry_reference, parse_model_uri, resolve

    by = f"{deletion.local_user()} (command line)"
    if is_registry_reference(args.target):
        name, alias, version = parse_model_uri(args.target)
        if alias is not None:
            number = resolve(args.target, args.tracking_uri).version
            raise InputError(f"{args.target} is an alias (now version {number}): name the version to delete, "
                             f"models:/{name}/VERSION; a version an alias points at is kept until the alias moves")
        found = get_version(name, version, args.tracking_uri)
        question = f"delete {args.target} (the adapter of run {found.run_id})"
        if not _confirmed(question, f"{name}/{version}", args.yes):
            print("nothing deleted")
            return 1
        record = deletion.delete_version(name, version, by=by, uri=args.tracking_uri)
    else:
        run = deletion.run_by_id_or_name(args.target, args.tracking_uri)
        question = f"delete the adapter of run {run.run_name or '(unnamed)'} ({run.run_id})"
        if not _confirmed(question, run.run_name or run.run_id, args.yes):
            print("nothing deleted")
            return 1
        record = deletion.delete_run_adapter(run.run_id, by=by, uri=args.tracking_uri)
    print(record.describe())
    return 0


def _compare_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("runs", nargs="+", metavar="RUN", help="MLflow run ids; the first is the reference")
    parser.add_argument("--tracking-uri", default="", help="MLflow tracking URI (default: MLFLOW_TRACKING_URI "
                                                           "or the workspace's mlflow.db)")
    output = parser.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="print one JSON object")
    output.add_argument("--csv", action="store_true", help="print the table as CSV")


def run_compare(args: argparse.Namespace) -> int:
    from deepsynth.errors import InputError
    from deepsynth.tracking.compare.runs import compare_runs
    from deepsynth.tracking.compare.text_table import check_same_documents, load_runs, rows, text_table
    from deepsynth.tracking.store import resolve_tracking_uri

    if len(dict.fromkeys(args.runs)) < 2:
        raise InputError("give two different runs or more: deepsynth compare RUN_A RUN_B [RUN...]")
    uri = resolve_tracking_uri(args.tracking_uri or None)
    runs, predictions = load_runs(list(args.runs), uri)
    check_same_documents(runs, predictions)
    comparison = compare_runs(runs, runs[0].run_id, predictions)
    if args.json:
        print(json.dumps({"reference": runs[0].run_id, "runs": rows(comparison),
                          "reference_lines": comparison.reference_lines(), "notes": list(comparison.notes)}))
    elif args.csv:
        import csv

        records = rows(comparison)
        writer = csv.DictWriter(sys.stdout, fieldnames=list(dict.fromkeys(k for r in records for k in r)))
        writer.writeheader()
        writer.writerows(records)
    else:
        print(text_table(comparison))
        for note in comparison.notes:
            print(f"note: {note}")
    return 0


def run_server(args: argparse.Namespace) -> int:
    from deepsynth.tracking.server import NO_AUTH_EXPOSURE, is_loopback, start_server, stop_server

    config = server_flags().build(server_flags().typed(args), what="server options")
    if config.insecure_no_auth and not config.auth and not is_loopback(config.host):
        print(f"warning: --insecure-no-auth: {NO_AUTH_EXPOSURE}", file=sys.stderr)
    process = start_server(config)
    print(f"MLflow tracking server on http://{config.host}:{config.port} (pid {process.pid}); Ctrl-C, or "
          f"SIGTERM to pid {os.getpid()}, stops it", flush=True)

    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt  # the server runs in its own session: stop its whole group below

    for name in ("SIGTERM", "SIGHUP"):  # kill PID, or the terminal closing: never leave it serving
        signal.signal(getattr(signal, name), stop)
    try:
        return process.wait()
    except KeyboardInterrupt:
        stop_server(process)
        return 0
