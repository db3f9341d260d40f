"""The ``pmsn`` command line: a thin dispatcher over the sub-commands each package registers.

Each entry of ``_COMMANDS`` names a module exposing ``register(subparsers)``, which adds its sub-command(s)
and sets ``func`` on the parser; modules are imported only when the CLI starts, so ``pmsn --help`` stays fast.

Bad input (a config key or value, a missing or corrupt data file, a foreign or unsafe checkpoint) reaches the user
as one line ``pmsn COMMAND: error: ...`` and exit status 2; ``PMSN_TRACEBACK=1`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from pmsn.data.errors import DataError

_COMMANDS = (
    "pmsn.demo",
    "pmsn.train.cli",
    "pmsn.models.cli",
    "pmsn.bench.cli",
    "pmsn.plot.cli",
    "pmsn.experiments.cli",
    "pmsn.export.cli",
    "pmsn.ops.cli",
)

# What a user can cause: bad settings (ValueError), missing/corrupt files (OSError, DataError), divergence.
USER_ERRORS = (ValueError, OSError, DataError, FloatingPointError)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pmsn", description="Parallel spiking neurons: train, evaluate, measure.")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in _COMMANDS:
        importlib.import_module(module_name).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # --help, or a usage error argparse has already printed as one line
        return int(exit_.code or 0)
    if getattr(args, "func", None) is None:
        parser.print_help()
        return 0 if args.command is None else 2
    try:
        from pmsn.ops.cpp_build import cpu_isa

        cpu_isa()  # environment settings are checked before any command starts (a run folder, a build)
        return int(args.func(args) or 0)
    except USER_ERRORS as error:
        if os.environ.get("PMSN_TRACEBACK"):
            raise
        return error_line(args.command, " ".join(str(error).split()) or type(error).__name__)
    except KeyboardInterrupt:
        print(f"pmsn {args.command}: interrupted", file=sys.stderr)
        return 130


def error_line(command: str, message: str) -> int:
    """Print ``pmsn COMMAND: error: MESSAGE`` on stderr; the exit status of a usage error (2)."""
    print(f"pmsn {command}: error: {message}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
