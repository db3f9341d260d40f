"""``pmsn build``: compile the C++ CPU kernels ahead of time (else the first run compiles them) and say where.

    pmsn build     # one line per extension: compiled now or loaded from the cache, and its build folder

Exit status 0 when every extension loads; 1 with one ``pmsn build: error: ...`` line per extension that failed
(training still runs then, on the slower pure-PyTorch paths).
"""

from __future__ import annotations

import importlib
import sys
import warnings

from pmsn.ops.cpp_build import build_records

# (module, function) pairs: each function builds its module's extension and returns whether it is available.
_EXTENSIONS = (("pmsn.ops.fused_cpu", "fused_available"), ("pmsn.ops.fused_leaky", "fused_leaky_available"))
_SUMMARY_CHARS = 200  # a compiler error's first line can be a whole command line


def register(subparsers) -> None:
    parser = subparsers.add_parser("build", help="compile the C++ CPU kernels now instead of on first use")
    parser.set_defaults(func=run)


def run(args) -> int:
    with warnings.catch_warnings():
        # Failed builds are reported below, one line each (other warnings, such as a stale lock removed, show).
        warnings.filterwarnings("ignore", message=r"pmsn: the C\+\+ CPU kernel .* could not be built")
        for module_name, function in _EXTENSIONS:
            getattr(importlib.import_module(module_name), function)()
    failed = 0
    for record in build_records().values():
        if record.error is None:
            done = "compiled" if record.compiled else "loaded the cached build of"
            print(f"{done} {record.name} in {record.directory}")
            continue
        failed += 1
        error = record.error if len(record.error) <= _SUMMARY_CHARS else record.error[:_SUMMARY_CHARS] + "…"
        hint = f"; `ninja -C {record.directory}` shows the compiler's output" if record.directory else ""
        print(f"pmsn build: error: {record.name} could not be built ({error}){hint}", file=sys.stderr)
    return 1 if failed else 0
