"""The `deepsynth` command line: one verb per dashboard action.

Each verb lives in the module that owns its idea and exposes `HELP`, `add_arguments(parser)` and
`run(args) -> int`. Command modules import only argparse-level code at top level, so `deepsynth
--help` and `deepsynth estimate` stay fast; torch and friends load inside `run`.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from deepsynth import paths
from deepsynth.errors import DeepSynthError

# verb -> module implementing it (HELP, add_arguments, run)
COMMANDS: dict[str, str] = {
    "render": "deepsynth.render.cli",
    "dataset": "deepsynth.data.cli",
    "estimate": "deepsynth.estimate.cli",
    "train": "deepsynth.training.cli",
    "demo": "deepsynth.demo.cli",
    "compare": "deepsynth.tracking.cli",
    "jobs": "deepsynth.jobs.cli",
    "sweep": "deepsynth.sweeps.cli",
    "export": "deepsynth.export.cli",
    "import": "deepsynth.export.cli",
    "merge": "deepsynth.export.cli",
    "register": "deepsynth.tracking.cli",
    "alias": "deepsynth.tracking.cli",
    "models": "deepsynth.tracking.cli",
    "delete": "deepsynth.tracking.cli",
    "infer": "deepsynth.inference.cli",
    "server": "deepsynth.tracking.cli",
    "dashboard": "deepsynth.dashboard_host.launcher",
}


def _verb_modules() -> dict[str, object]:
    return {verb: importlib.import_module(module_name) for verb, module_name in COMMANDS.items()}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="deepsynth",
        description="Render documents to page images and fine-tune document readers with LoRA.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for verb, module in _verb_modules().items():
        add_verb = getattr(module, "add_verb", None)
        if add_verb is not None:  # a module serving several verbs configures each itself
            add_verb(subparsers, verb)
            continue
        sub = subparsers.add_parser(verb, help=module.HELP, description=module.HELP)
        module.add_arguments(sub)
        sub.set_defaults(handler=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        paths.apply_umask()  # before anything is created: workspaces, stores and logs are private
        return int(args.handler(args) or 0)
    except DeepSynthError as error:
        print(f"deepsynth {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"deepsynth {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
