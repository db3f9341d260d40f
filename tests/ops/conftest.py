"""Shared by the Triton kernel tests (test_triton_*.py).

Where there is no GPU they run the kernels in Triton's interpreter on CPU tensors (TRITON_INTERPRET=1, set by
tests/conftest.py before anything imports triton).

``compile_for_sm90`` compiles kernels for an H100 (sm_90) with the ptxas bundled in Triton's wheel, no GPU
needed, in a fresh Python without the interpreter: it proves that what the interpreter ran also compiles, and
reports each kernel's registers and stack (spills) from ``cuobjdump -res-usage``.
"""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest


# Prepended to the script of compile_for_sm90: compile_sm90(name, kernel, dtype, constexprs, **options) prints
# "name registers stack_bytes". Pointer arguments (*_ptr) are of `dtype` ("fp32"/"fp64"), sums_ptr float64, the
# others int32 scalars.
_COMPILER = r'''
import re, subprocess, tempfile
from pathlib import Path
import triton
from triton.backends.compiler import GPUTarget
from triton.compiler import ASTSource

CUOBJDUMP = Path(triton.__file__).parent / "backends" / "nvidia" / "bin" / "cuobjdump"


def compile_sm90(name, kernel, dtype, constexprs, **options):
    signature = {arg: "constexpr" if arg in constexprs else "*fp64" if arg == "sums_ptr" else
                 "*" + dtype if arg.endswith("_ptr") else "i32" for arg in kernel.arg_names}
    compiled = triton.compile(ASTSource(kernel, signature, constexprs), target=GPUTarget("cuda", 90, 32),
                              options=options)
    with tempfile.NamedTemporaryFile(suffix=".cubin") as cubin:
        cubin.write(compiled.asm["cubin"])
        cubin.flush()
        usage = subprocess.run([str(CUOBJDUMP), "-res-usage", cubin.name], capture_output=True, text=True,
                               check=True).stdout
    print(name, *re.search(r"REG:(\d+) STACK:(\d+)", usage).groups())
'''


@pytest.fixture
def compile_for_sm90():
    """Runs a script (which calls ``compile_sm90``) in a fresh Python; returns {name: (registers, stack bytes)}.
    Skips where Triton has no NVIDIA backend with its bundled ptxas/cuobjdump."""
    spec = importlib.util.find_spec("triton")
    bin_dir = Path(spec.origin).parent / "backends" / "nvidia" / "bin" if spec else None
    if bin_dir is None or not (bin_dir / "ptxas").exists() or not (bin_dir / "cuobjdump").exists():
        pytest.skip("Triton's NVIDIA backend (bundled ptxas, cuobjdump) is not installed")

    def run(script: str) -> dict[str, tuple[int, int]]:
        env = {**os.environ, "TRITON_INTERPRET": "0", "TRITON_DEFAULT_FP_FUSION": "1"}
        result = subprocess.run([sys.executable, "-c", _COMPILER + script], env=env, capture_output=True, text=True,
                                timeout=600)
        assert result.returncode == 0, result.stderr[-4000:]
        return {name: (int(registers), int(stack))
                for name, registers, stack in (line.split() for line in result.stdout.splitlines())}
    return run
