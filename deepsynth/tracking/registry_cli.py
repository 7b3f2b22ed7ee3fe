"""`deepsynth register`, `deepsynth alias`, `deepsynth models`: the adapter registry from the shell.

One module serves the three verbs (`add_verb`, as deepsynth/cli.py expects); mlflow loads only
inside the handlers.
"""

from __future__ import annotations

import argparse

HELP = {
    "register": "register a run's adapter in the MLflow Model Registry (optionally with an alias)",
    "alias": "point an alias at a registered adapter version: NAME VERSION ALIAS (or NAME --delete ALIAS)",
    "models": "list registered adapters, their versions and aliases",
}


def _tracking(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--tracking-uri", default=None,
                        help="MLflow tracking/registry URI (default: MLFLOW_TRACKING_URI or the workspace's mlflow.db)")


def add_verb(subparsers: argparse._SubParsersAction, verb: str) -> None:
    parser = subparsers.add_parser(verb, help=HELP[verb], description=HELP[verb])
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
    else:
        raise ValueError(f"registry_cli does not serve verb {verb!r}")
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
    from deepsynth.tracking.registry import list_adapters

    adapters = [a for a in list_adapters(uri=args.tracking_uri) if args.name in (None, a.name)]
    if not adapters:
        print("no registered adapters" + (f" named {args.name!r}" if args.name else ""))
        return 0 if args.name is None else 1
    for adapter in adapters:
        aliases = ", ".join(f"{alias}->v{version}" for alias, version in sorted(adapter.aliases.items()))
        print(f"{adapter.name}  ({len(adapter.versions)} version(s){'; ' + aliases if aliases else ''})")
        for version in adapter.versions:
            metrics = " ".join(f"{k}={v}" for k, v in sorted(version.tags.items()) if "/" in k)
            print(f"  v{version.version}  run {version.run_id}  {metrics}".rstrip())
    return 0
