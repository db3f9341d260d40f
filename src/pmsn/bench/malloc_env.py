"""glibc settings of the speed bench, which glibc reads only at start-up: the command re-executes itself once.

glibc returns large freed blocks to the system and faults them in again on the next call, which would make
every full-size tensor cost page faults; the bench therefore runs with ``MALLOC_MMAP_THRESHOLD_``,
``MALLOC_TRIM_THRESHOLD_`` and ``MALLOC_TOP_PAD_`` set (``BENCH_MALLOC_ENV``), the same for every neuron.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Callable

# Keep freed memory in the heap (no munmap/trim, large blocks from the heap): set before the process starts.
BENCH_MALLOC_ENV = {
    "MALLOC_MMAP_THRESHOLD_": str(1 << 30),
    "MALLOC_TRIM_THRESHOLD_": str(1 << 34),
    "MALLOC_TOP_PAD_": str(1 << 28),
}
_REEXEC_MARK = "PMSN_BENCH_REEXEC"


def ensure_malloc_env(mode: str, log: Callable[[str], None] = print) -> None:
    """Re-execute this command once with ``BENCH_MALLOC_ENV`` set (glibc reads it only at start-up), or warn.

    Re-executes only when the process's own command line is the speed bench (``speed`` among its arguments),
    never a host program that called the CLI's ``main`` (e.g. pytest).
    """
    missing = [key for key in BENCH_MALLOC_ENV if key not in os.environ]
    if not missing or mode == "ignore":
        return
    own_command = "speed" in sys.argv[1:] or Path(sys.argv[0]).name == "speed.py"
    if mode == "reexec" and own_command and _REEXEC_MARK not in os.environ:
        env = {**os.environ, **{key: BENCH_MALLOC_ENV[key] for key in missing}, _REEXEC_MARK: "1"}
        sys.stdout.flush()
        sys.stderr.flush()
        os.execve(sys.executable, [sys.executable, *sys.orig_argv[1:]], env)
    settings = " ".join(f"{key}={BENCH_MALLOC_ENV[key]}" for key in missing)
    log(f"warning: {', '.join(missing)} not set at start-up; timings include page faults of freed memory. "
        f"Run as: {settings} pmsn bench speed ...")


def malloc_description() -> str:
    """The bench's ``MALLOC_*`` variables as set in this process, or ``"glibc defaults"``."""
    return " ".join(f"{key}={os.environ[key]}" for key in BENCH_MALLOC_ENV if key in os.environ) or "glibc defaults"


__all__ = ["BENCH_MALLOC_ENV", "ensure_malloc_env", "malloc_description"]
