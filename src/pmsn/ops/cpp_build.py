"""Build-once loader of the project's JIT C++ CPU extensions (kernels.md "Build").

    from pmsn.ops.cpp_build import load_extension
    module = load_extension("pmsn_leaky_cpu", Path(__file__).parent / "csrc" / "leaky_cpu.cpp")
    if module is None:
        ...  # use the pure-PyTorch path (a RuntimeWarning saying why was issued once)

The first call for a name compiles the source with ``torch.utils.cpp_extension.load`` (gcc/clang + ninja,
about 30 s, then cached in the torch extensions directory); later calls return the same module, or None
again without a second warning. Thread-safe: concurrent first calls build once.
"""

from __future__ import annotations

import hashlib
import platform
import threading
import warnings
from pathlib import Path
from types import ModuleType

# -fno-trapping-math lets gcc vectorise std::floor and comparisons in the soma loops (kernels.md, traps).
BASE_CFLAGS = ("-O3", "-march=native", "-fno-trapping-math", "-fopenmp")
BASE_LDFLAGS = ("-fopenmp",)

_lock = threading.Lock()
_modules: dict[str, ModuleType | None] = {}


def load_extension(name: str, source_path: str | Path, extra_cflags: tuple[str, ...] = ()) -> ModuleType | None:
    """The compiled extension ``name`` built from ``source_path``; None (after one RuntimeWarning) if it cannot be."""
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"extension name must be a Python identifier, got {name!r}")
    source = Path(source_path)
    with _lock:
        if name not in _modules:
            _modules[name] = _build(f"{name}_{_cpu_fingerprint()}", source, tuple(extra_cflags))
        return _modules[name]


def _cpu_fingerprint() -> str:
    """A short hash of the CPU's architecture and instruction-set flags: builds use -march=native, so a cached
    build must never be loaded on another CPU model (shared home directories, copied images, other nodes)."""
    flags = platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            flags += next((line for line in cpuinfo if line.startswith(("flags", "Features"))), "")
    except OSError:
        flags += platform.processor()
    return hashlib.sha1(flags.encode()).hexdigest()[:8]


def _build(name: str, source: Path, extra_cflags: tuple[str, ...]) -> ModuleType | None:
    try:
        if not source.is_file():
            raise FileNotFoundError(f"C++ source {source} not found")
        from torch.utils.cpp_extension import load

        return load(name=name, sources=[str(source)], extra_cflags=[*BASE_CFLAGS, *extra_cflags],
                    extra_ldflags=list(BASE_LDFLAGS), verbose=False)
    except Exception as error:  # no compiler, no ninja, unsupported flags, compile error, ...
        warnings.warn(f"pmsn: the C++ CPU kernel {name!r} could not be built ({type(error).__name__}: {error}); "
                      "falling back to the slower pure-PyTorch path", RuntimeWarning, stacklevel=4)
        return None
