"""Shared by the Triton kernel tests (test_triton_*.py).

Where there is no GPU they run the kernels in Triton's interpreter on CPU tensors (TRITON_INTERPRET=1, set by
tests/conftest.py before anything imports triton).

``compile_for_sm90`` compiles kernels for an H100 (sm_90) with the ptxas bundled in Triton's wheel, no GPU
needed, in a fresh Python without the interpreter: it proves that what the interpreter ran also compiles, and
reports each kernel's registers and stack (spills) from ``cuobjdump -res-usage``.
"""

import importlib.util
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from pmsn.ops.linear_system import discretize


# Prepended to the script of compile_for_sm90: compile_sm90(name, kernel, dtype, constexprs, **options) prints
# "name registers stack_bytes". Pointer arguments (*_ptr) are of `dtype` ("fp32"/"fp64"), sums_ptr float64,
# opened_ptr int8, the others int32 scalars.
_COMPILER = r'''
import re, subprocess, tempfile
from pathlib import Path
import triton
from triton.backends.compiler import GPUTarget
from triton.compiler import ASTSource

CUOBJDUMP = Path(triton.__file__).parent / "backends" / "nvidia" / "bin" / "cuobjdump"


def compile_sm90(name, kernel, dtype, constexprs, **options):
    signature = {arg: "constexpr" if arg in constexprs else "*fp64" if arg == "sums_ptr" else
                 "*i8" if arg == "opened_ptr" else "*" + dtype if arg.endswith("_ptr") else "i32"
                 for arg in kernel.arg_names}
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


@pytest.fixture
def pmsn_golden():
    """The worked example of docs/pmsn.md §10, shared by the C++ and Triton sweep tests: n = 3, Δ = 0.1,
    λ = −0.5 ± 5i, C = e_N, D = 0.5, one channel, L = Σ (t+1)·S[t]. ``params`` are the sweep's (abar_re, abar_im,
    residue_re, residue_im, skip) in float64; ``input_gradient`` is dL/du for each soma gradient rule."""
    sq = 1 / math.sqrt(2)
    decay, input_gain, readout = discretize(
        torch.tensor([math.log(0.1)], dtype=torch.float64), torch.full((1, 2), math.log(0.5), dtype=torch.float64),
        torch.tensor([[-5.0, 5.0]], dtype=torch.float64), torch.tensor([[sq, sq]], dtype=torch.float64),
        torch.tensor([[-sq, sq]], dtype=torch.float64), torch.tensor([[sq, sq]], dtype=torch.float64),
        torch.zeros(1, 2, dtype=torch.float64))
    residue = readout * input_gain
    return {
        "input": [2.0, 0.5, -1.0, 3.0, 1.5, 0.0, -0.5, 4.0, 2.5, -2.0, 1.0, 0.8],
        "params": [decay.real, decay.imag, residue.real, residue.imag, torch.tensor([0.5], dtype=torch.float64)],
        "spikes": [1, 0, 0, 1, 1, 0, 0, 1, 1, 0, 0, 0],
        "input_gradient": {
            "elementwise": [1.60711, 1.37699, 0.397392, -0.0790311, 0.143019, -1.67798, -1.90947, -1.66882,
                            1.15791, -0.46919, 4.03368, 5.20377],
            "cumsum": [17.1278, 15.8395, -4.87308, 15.0557, 13.5783, -6.05326, -3.97889, 12.1775, 12.8531,
                       -0.424748, 9.23745, 5.20377],
        },
    }
