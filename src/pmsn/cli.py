"""The ``pmsn`` command line: a thin dispatcher over the sub-commands each package registers.

Each entry of ``_COMMANDS`` names a module exposing ``register(subparsers)``, which adds its sub-command(s)
and sets ``func`` on the parser; modules are imported only when the CLI starts, so ``pmsn --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys

_COMMANDS = (
    "pmsn.demo",
    "pmsn.train.cli",
    "pmsn.models.cli",
    "pmsn.bench.cli",
    "pmsn.plot.cli",
    "pmsn.experiments.cli",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pmsn", description="Parallel spiking neurons: train, evaluate, measure.")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in _COMMANDS:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as err:  # a sub-package not built yet must not break the others
            if err.name and (module_name + ".").startswith(err.name + "."):  # not built yet
                continue
            raise
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help()
        return 0 if args.command is None else 2
    result = args.func(args)
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
