"""Build-once loader of the project's JIT C++ CPU extensions (docs/kernels.md §6).

    from pmsn.ops.cpp_build import load_extension
    module = load_extension("pmsn_leaky_cpu", Path(__file__).parent / "csrc" / "leaky_cpu.cpp")
    if module is None:
        ...  # use the pure-PyTorch path (a RuntimeWarning saying why was issued once)

The first call for a name compiles the source with ``torch.utils.cpp_extension.load`` (gcc/clang + ninja, about
30-60 s, announced by one line on stderr) into the build folder ``<torch extensions dir>/<name>_<key>``; later
calls return the same module, and later processes load the cached build silently. The key hashes everything that
changes the build: the source (path and bytes, with the local headers it includes), the flags, the compiler, torch
and Python (versions, executable, prefix, include paths) and the CPU (builds use -march=native), so checkouts and
virtualenvs keep separate builds instead of rebuilding each other's. ``PMSN_CPU_ISA=avx2`` builds for x86-64-v3
(AVX2 + FMA, no AVX-512) instead of this CPU's full instruction set; its flags differ, so does its key.

Builds cannot hang silently. A process builds while holding an flock on ``<build folder>/pmsn.lock``, which the OS
drops when the process dies: a torch ``lock`` file found by the next holder was left by a killed build, so it is
removed with a RuntimeWarning (once any compiler that build left running has exited) instead of being waited on
forever. Waiting for a live build elsewhere prints one line and gives up after ``LOCK_TIMEOUT_S`` (the caller then
falls back like on any failed build). Parallel compile jobs are capped by ``MAX_JOBS`` (default min(4, CPUs)).
Thread-safe: concurrent first calls build once.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import platform
import re
import sys
import sysconfig
import threading
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import torch

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None

# -fno-trapping-math lets gcc vectorise std::floor and comparisons in the soma loops (docs/kernels.md §5).
BASE_CFLAGS = ("-O3", "-march=native", "-fno-trapping-math", "-fopenmp")
# PMSN_CPU_ISA: the instruction set the kernels are built for (docs/kernels.md §6). "native" (the default) is
# this CPU's; "avx2" is x86-64-v3 (AVX2, FMA, no AVX-512), for a build that also runs on AVX2-only CPUs and for
# measuring the kernels' 256-bit code on an AVX-512 machine (docs/kernels.md §12.6).
ISA_ENV = "PMSN_CPU_ISA"
ISA_MARCH = {"native": "-march=native", "avx2": "-march=x86-64-v3"}
BASE_LDFLAGS = ("-fopenmp",)
LOCK_TIMEOUT_S = 300.0  # longest wait for another process's build (one build takes about a minute)
STALE_LOCK_AGE_S = 180.0  # without flock: a torch lock this old is taken as left by a killed build
_POLL_S = 0.2
_LOCAL_INCLUDE = re.compile(r'^\s*#\s*include\s*"([^"]+)"', re.MULTILINE)


@dataclass(frozen=True)
class BuildRecord:
    """What ``load_extension`` did for one extension: its keyed ``name``, its build ``directory`` (None if the
    build failed before one was chosen), whether it was ``compiled`` now (False: the cached build was loaded),
    and the ``error`` that stopped it (None on success)."""

    name: str
    directory: Path | None
    compiled: bool
    error: str | None


_lock = threading.Lock()
_modules: dict[str, ModuleType | None] = {}
_records: dict[str, BuildRecord] = {}
_build_seconds = 0.0  # wall time spent in first calls (compiling or loading a cached build), summed


def load_extension(name: str, source_path: str | Path, extra_cflags: tuple[str, ...] = ()) -> ModuleType | None:
    """The compiled extension ``name`` built from ``source_path``; None (after one RuntimeWarning) if it cannot be.

    After the first call for ``name`` this is one dict read: no lock, no path work (the fused ops call it per
    call)."""
    global _build_seconds
    if name in _modules:
        return _modules[name]
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"extension name must be a Python identifier, got {name!r}")
    source = Path(source_path)
    cflags = (*cpu_cflags(), *extra_cflags)
    with _lock:
        if name not in _modules:
            start = time.perf_counter()
            _modules[name], _records[name] = _build(name, source, cflags, BASE_LDFLAGS)
            _build_seconds += time.perf_counter() - start
        return _modules[name]


def cpu_isa() -> str:
    """The instruction set chosen by ``PMSN_CPU_ISA`` ("native" when unset or empty); ValueError naming the
    allowed values for any other value."""
    isa = os.environ.get(ISA_ENV, "").strip().lower() or "native"
    if isa not in ISA_MARCH:
        raise ValueError(f"{ISA_ENV} must be one of {', '.join(ISA_MARCH)}, got {os.environ[ISA_ENV]!r}")
    return isa


def cpu_cflags(isa: str | None = None) -> tuple[str, ...]:
    """``BASE_CFLAGS`` with the ``-march`` of ``isa`` (default: ``cpu_isa()``, from ``PMSN_CPU_ISA``): the flags
    every extension is built with, and so part of its cache key."""
    march = ISA_MARCH[cpu_isa() if isa is None else isa]
    return tuple(march if flag.startswith("-march=") else flag for flag in BASE_CFLAGS)


def build_seconds() -> float:
    """Seconds this process has spent building or loading extensions so far; a timer that must not count the
    one-time build subtracts the change over its span (docs/training.md §1.5)."""
    return _build_seconds


def build_records() -> dict[str, BuildRecord]:
    """What each extension loaded by this process did (compiled, loaded from the cache, or failed), by name."""
    with _lock:
        return dict(_records)


def keyed_name(name: str, source: Path, cflags: Sequence[str], ldflags: Sequence[str]) -> str:
    """``name`` plus a hash of everything that changes its build: the name of its build folder and module."""
    from torch.utils.cpp_extension import get_cxx_compiler, include_paths

    # The executable resolved (python and python3.11 are one interpreter); sys.prefix tells virtualenvs apart.
    settings = (tuple(cflags), tuple(ldflags), get_cxx_compiler(), torch.__version__, sys.version,
                os.path.realpath(sys.executable), sys.prefix, tuple(include_paths()), sysconfig.get_path("include"),
                _cpu_fingerprint())
    digest = hashlib.sha256(repr(settings).encode())
    for path in _source_files(source):
        digest.update(f"\0{path}\0".encode())
        digest.update(path.read_bytes())
    return f"{name}_{digest.hexdigest()[:16]}"


def _source_files(source: Path) -> list[Path]:
    """The source and, recursively, the local headers it includes (``#include "..."`` next to the includer)."""
    files: list[Path] = []
    pending = [source.resolve()]
    while pending:
        path = pending.pop()
        if path not in files:
            files.append(path)
            for include in _LOCAL_INCLUDE.findall(path.read_text(encoding="utf-8", errors="replace")):
                header = (path.parent / include).resolve()
                if header.is_file():
                    pending.append(header)
    return files


def _cpu_fingerprint() -> str:
    """The CPU's architecture and instruction-set flags: builds use -march=native, so a cached build must never be
    loaded on another CPU model (shared home directories, copied images, other nodes)."""
    flags = platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            flags += next((line for line in cpuinfo if line.startswith(("flags", "Features"))), "")
    except OSError:
        flags += platform.processor()
    return flags


def _build(name: str, source: Path, cflags: tuple[str, ...],
           ldflags: tuple[str, ...]) -> tuple[ModuleType | None, BuildRecord]:
    keyed, directory = name, None
    try:
        if not source.is_file():
            raise FileNotFoundError(f"C++ source {source} not found")
        # _get_build_directory: torch's own choice of folder (TORCH_EXTENSIONS_DIR or its default cache root).
        from torch.utils.cpp_extension import LIB_EXT, _get_build_directory, load

        keyed = keyed_name(name, source, cflags, ldflags)
        directory = Path(_get_build_directory(keyed, verbose=False))
        with _build_lock(directory, keyed), _bounded_jobs():
            compiled = not (directory / f"{keyed}{LIB_EXT}").exists()
            if compiled:
                _say(f"compiling the C++ kernel {keyed} in {directory} (once; about 30-60 s)")
            module = load(name=keyed, sources=[str(source)], extra_cflags=list(cflags), extra_ldflags=list(ldflags),
                          build_directory=str(directory), verbose=False)
        return module, BuildRecord(keyed, directory, compiled, None)
    except Exception as error:  # no compiler, no ninja, unsupported flags, compile error, lock timeout, ...
        warnings.warn(f"pmsn: the C++ CPU kernel {keyed!r} could not be built ({type(error).__name__}: {error}); "
                      "falling back to the slower pure-PyTorch path", RuntimeWarning, stacklevel=4)
        summary = (str(error).strip().splitlines() or [""])[0]
        return None, BuildRecord(keyed, directory, False, f"{type(error).__name__}: {summary}")


@contextlib.contextmanager
def _build_lock(directory: Path, name: str):
    """The sole right to build in ``directory``: our flock (a bounded wait), then torch's lock removed if stale."""
    torch_lock = directory / "lock"
    if fcntl is None:  # no flock: only its age tells a killed build's torch lock from a live build's
        _wait_while(lambda: _age_s(torch_lock) < STALE_LOCK_AGE_S,
                    f"another process compiling {name} (lock {torch_lock})")
        if torch_lock.exists():
            _remove_stale_lock(torch_lock, name)
        yield
        return
    with open(directory / "pmsn.lock", "a") as handle:
        _wait_while(lambda: not _try_flock(handle), f"another process compiling {name} (lock {handle.name})")
        if torch_lock.exists():  # nobody held our flock, so the build that made this lock was killed
            leftovers = _processes_in(directory)
            if leftovers:
                _wait_while(lambda: bool(_processes_in(directory)),
                            f"{', '.join(leftovers)} left running in {directory} by a killed build to exit")
            _remove_stale_lock(torch_lock, name)
        yield


def _try_flock(handle) -> bool:
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False


def _age_s(path: Path) -> float:
    """Seconds since ``path`` was modified; infinite if it does not exist."""
    try:
        return time.time() - path.stat().st_mtime
    except FileNotFoundError:
        return float("inf")


def _processes_in(directory: Path) -> list[str]:
    """``"COMMAND (pid N)"`` of each process working in ``directory`` (ninja and the compilers it runs do);
    empty where /proc does not exist."""
    target = os.path.realpath(directory)
    found = []
    for cwd in Path("/proc").glob("[0-9]*/cwd"):
        with contextlib.suppress(OSError):  # gone, or not ours to inspect
            if os.readlink(cwd) == target:
                found.append(f"{(cwd.parent / 'comm').read_text().strip()} (pid {cwd.parent.name})")
    return found


def _remove_stale_lock(torch_lock: Path, name: str) -> None:
    warnings.warn(f"pmsn: removed the stale build lock {torch_lock} left by a killed build of {name}",
                  RuntimeWarning, stacklevel=6)  # the caller of load_extension
    torch_lock.unlink(missing_ok=True)


def _wait_while(busy: Callable[[], bool], what: str) -> None:
    """Return once ``busy()`` is False; if it is not at once, say what is waited for; TimeoutError after
    ``LOCK_TIMEOUT_S``."""
    if not busy():
        return
    _say(f"waiting for {what}; giving up after {LOCK_TIMEOUT_S:.0f} s")
    deadline = time.monotonic() + LOCK_TIMEOUT_S
    while busy():
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {LOCK_TIMEOUT_S:.0f} s for {what}")
        time.sleep(_POLL_S)


@contextlib.contextmanager
def _bounded_jobs():
    """Cap torch's parallel compile jobs (MAX_JOBS) at min(4, usable CPUs) during a build, unless the user set it."""
    if "MAX_JOBS" in os.environ:
        yield
        return
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    os.environ["MAX_JOBS"] = str(min(4, cpus))
    try:
        yield
    finally:
        os.environ.pop("MAX_JOBS", None)


def _say(message: str) -> None:
    print(f"pmsn: {message}", file=sys.stderr, flush=True)
