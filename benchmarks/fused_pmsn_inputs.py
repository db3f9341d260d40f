"""The parameters the fused PMSN CPU kernel takes, built as a PMSN layer initialises them (docs/pmsn.md §3.1), for
the benchmark scripts that time the kernel directly (``custom_op_overhead.py``, ``fused_cpu_vs_torch.py``)."""

from __future__ import annotations

import math

import torch

from pmsn.ops.linear_system import coupling_matrix, diagonalize, discretize


def pmsn_parameters(channels: int, modes: int = 4) -> list[torch.Tensor]:
    """[Re Ā, Im Ā, Re C̃B̄, Im C̃B̄, skip D] of ``channels`` channels with ``modes`` modes, float32, requiring grad."""
    real, omega, input_gain, readout = diagonalize(coupling_matrix(modes, 5.0))
    log_dt = torch.empty(channels, dtype=torch.float64).uniform_(math.log(1e-3), math.log(1e-1))
    ones = torch.ones(channels, 1, dtype=torch.float64)
    decay, b_bar, c_tilde = discretize(log_dt, torch.log(-real) * ones, omega * ones, input_gain.real * ones,
                                       input_gain.imag * ones, readout.real * ones, readout.imag * ones)
    residue = c_tilde * b_bar
    params = [decay.real, decay.imag, residue.real, residue.imag, torch.randn(channels, dtype=torch.float64)]
    return [p.float().requires_grad_(True) for p in params]
