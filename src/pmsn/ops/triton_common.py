"""Plumbing shared by the Triton GPU sweeps of PMSN (``triton_pmsn``) and LIF/PLIF/TC-LIF (``triton_leaky``).

    from pmsn.ops.triton_common import triton_supports
    if triton_supports(x):  # CUDA float32/float64 tensor and triton importable
        from pmsn.ops.triton_pmsn import pmsn_triton

The kernels follow the fused C++ CPU sweeps (docs/kernels.md §3-4) with the same Python signatures: the input
stays ``[T, J]`` (J = B·C·spatial columns, the channel of column j is ``(j // spatial) % C``), one Triton program
owns a tile of ``TILE`` columns and keeps their state in registers while t runs over the sequence; forward stores
the state every ``BLOCK`` steps and backward recomputes one block at a time from those checkpoints into a small
per-program scratch, so nothing of the size of the input is saved besides the input itself.

Without a GPU the kernels run in Triton's interpreter on CPU tensors (tests): set ``TRITON_INTERPRET=1`` before
the kernel modules are imported (Triton reads it when ``@triton.jit`` decorates them); the modules record it in
``INTERPRETED``. This module imports no Triton, so that callers can ask ``triton_supports`` where Triton is not
installed.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import logging
import math

import torch

log = logging.getLogger(__name__)

BLOCK = 64  # checkpoint interval (steps); backward recomputes one block of a tile at a time; the time chunk
TILES = (128, 64, 32, 16)  # tile widths (columns per program) tried, widest first
# choose_pmsn_triton_variant (docs/kernels.md §11.2), rules of thumb not measured on hardware: the chunked sweep
# runs when the column sweep leaves the GPU under-occupied (< 2 programs of 16 columns per SM) and T has enough
# chunks (>= 8) to pay for its 3 forward and 2 backward passes over the data
CHUNKS_BELOW_PROGRAMS_PER_SM = 2
CHUNKS_MIN_BLOCKS = 8


@functools.cache
def triton_installed() -> bool:
    """True if the ``triton`` package can be imported."""
    return importlib.util.find_spec("triton") is not None


def triton_supports(x: torch.Tensor, *params) -> bool:
    """True if the Triton sweeps can run on ``x`` on the GPU: a float32/float64 CUDA tensor, Triton installed, and
    every tensor in ``params`` on x's device (0-dim ones of any float dtype, others of x's dtype)."""
    if x.device.type != "cuda" or x.dtype not in (torch.float32, torch.float64) or not triton_installed():
        return False
    return all(not isinstance(p, torch.Tensor) or (p.device == x.device and (p.dim() == 0 or p.dtype == x.dtype))
               for p in params)


def check_device(x: torch.Tensor, interpreted: bool, name: str = "u") -> None:
    """Raise ValueError unless ``x`` is on a device the kernels run on: CUDA, or the CPU if the kernels were built
    for the interpreter (``interpreted``)."""
    if x.device.type == ("cpu" if interpreted else "cuda"):
        return
    where = "CPU tensors (they were built for the interpreter)" if interpreted else \
        "CUDA tensors (CPU tensors need TRITON_INTERPRET=1 when the kernels are imported)"
    raise ValueError(f"the Triton kernels run on {where}, got {name} on {x.device}")


def on_device(t: torch.Tensor):
    """Context in which a launch runs on ``t``'s GPU (Triton launches on the current device), or a no-op."""
    return torch.cuda.device(t.device) if t.device.type == "cuda" else contextlib.nullcontext()


def columns_view(t: torch.Tensor) -> torch.Tensor:
    """``[T, *rest]`` as a contiguous ``[T, J]`` (J = prod(rest)); no -1, so that empty inputs work."""
    return t.reshape(t.shape[0], math.prod(t.shape[1:])).contiguous()


def processor_count(device: torch.device) -> int:
    """Streaming multiprocessors of ``device``'s GPU; 1 elsewhere (the interpreter runs one program at a time)."""
    return torch.cuda.get_device_properties(device).multi_processor_count if device.type == "cuda" else 1


def tile_width(columns: int, device: torch.device, widest: int = TILES[0]) -> int:
    """Columns per program: the widest of ``TILES`` up to ``widest`` that still gives two programs per streaming
    multiprocessor (so that small layers still fill the GPU), else the narrowest. Under the interpreter ("one SM")
    this gives several programs for test-sized inputs. Not tuned on hardware yet."""
    processors = processor_count(device)
    for tile in TILES:
        if tile <= widest and -(-columns // tile) >= 2 * processors:
            return tile
    return TILES[-1]


def choose_pmsn_triton_variant(steps: int, columns: int, processors: int) -> str:
    """The PMSN Triton sweep for ``steps`` = T and ``columns`` = B·C·spatial on a GPU with ``processors`` SMs
    (docs/kernels.md §11.2): ``"chunks"`` (parallel over time chunks, ``pmsn.ops.triton_pmsn_chunked``) when the
    column sweep would put fewer than ``CHUNKS_BELOW_PROGRAMS_PER_SM`` programs of the narrowest tile on each SM
    and T spans at least ``CHUNKS_MIN_BLOCKS`` checkpoint blocks; else ``"columns"`` (``pmsn.ops.triton_pmsn``).
    The first choice for each shape is logged at info level (``pmsn.ops.triton_common``)."""
    narrow_programs = -(-columns // TILES[-1])
    few_columns = narrow_programs < CHUNKS_BELOW_PROGRAMS_PER_SM * processors
    variant = "chunks" if few_columns and steps >= CHUNKS_MIN_BLOCKS * BLOCK else "columns"
    if not torch.compiler.is_compiling():  # a logging call would break a torch.compile graph
        _log_choice(steps, columns, processors, variant)
    return variant


@functools.lru_cache(maxsize=1024)
def _log_choice(steps: int, columns: int, processors: int, variant: str) -> None:
    log.info("PMSN Triton sweep: %s variant for T=%d, B·C·spatial=%d columns, %d SMs", variant, steps, columns,
             processors)


def warps(values: int, per_thread: int = 1) -> int:
    """Warps per program for blocks of ``values`` elements per tensor: ``per_thread`` elements per thread (at most
    16 warps). Compiled for sm_90, the PMSN kernels need about 100-180 registers per thread at 1 (float64) or 2
    (float32) values per thread and N = 8 modes, and spill at 4 or more."""
    return max(1, min(16, values // (32 * per_thread)))


def scalars(values, like: torch.Tensor) -> torch.Tensor:
    """Kernel constants as a tensor of ``like``'s dtype and device: Triton would pass Python floats as float32,
    which rounds constants such as κ = 0.2 in a float64 computation. Cached (read-only): no host-to-device copy per
    call after the first, so calls can also be captured in CUDA graphs."""
    return _scalars(tuple(float(v) for v in values), like.dtype, like.device)


@functools.lru_cache(maxsize=256)
def _scalars(values: tuple[float, ...], dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    return torch.tensor(values, dtype=dtype, device=device)
