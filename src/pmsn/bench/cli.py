"""``pmsn bench {speed,speedup,energy,memory}``: each measurement module exposes ``register(subparsers)``."""

from __future__ import annotations

import importlib

_MEASUREMENTS = ("pmsn.bench.speed", "pmsn.bench.speedup", "pmsn.bench.energy_cli", "pmsn.bench.memory_table")


def register(subparsers) -> None:
    parser = subparsers.add_parser("bench", help="measure speed, memory and energy")
    measurements = parser.add_subparsers(dest="measurement", metavar="MEASUREMENT")
    for module_name in _MEASUREMENTS:
        importlib.import_module(module_name).register(measurements)
    parser.set_defaults(func=lambda args: parser.print_help() or 2)
