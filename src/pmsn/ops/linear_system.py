"""The hidden compartments of PMSN as a diagonal linear system (docs/pmsn.md §1-4).

Pure functions: the tridiagonal coupling matrix and its diagonalisation (init), the zero-order-hold
discretisation, the convolution kernel K, and the causal FFT convolution along time (dim 0).
"""

from __future__ import annotations

import torch


def coupling_matrix(hidden: int, coupling: float, leak: float = 0.5, dtype=torch.float64) -> torch.Tensor:
    """Tridiagonal A of docs/pmsn.md §1.2: A[i,i] = −leak, A[i,i+1] = +c·(i+1), A[i+1,i] = −c·(i+1)."""
    matrix = torch.diag(torch.full((hidden,), -leak, dtype=dtype))
    for i in range(hidden - 1):
        matrix[i, i + 1] = coupling * (i + 1)
        matrix[i + 1, i] = -coupling * (i + 1)
    return matrix


def diagonalize(matrix: torch.Tensor, output: str = "last"):
    """Modal form of A = −leak·I + skew part (docs/pmsn.md §2.1): A = V Λ Vᴴ with V unitary.

    Returns (real part of λ, imaginary parts ω ascending, B̃ = Vᴴ·1, C̃ = C·V) where C = e_last (``"last"``)
    or all-ones (``"ones"``, SHD preset). Only the products C̃_m·B̃_m are phase invariant.
    """
    hidden = matrix.shape[0]
    leak = matrix.diagonal().mean()
    skew = matrix - torch.diag(matrix.diagonal())
    omega, vectors = torch.linalg.eigh(-1j * skew.to(torch.complex128))  # Hermitian: −i·S = V diag(ω) Vᴴ
    input_gain = vectors.conj().T @ torch.ones(hidden, dtype=torch.complex128)
    if output == "last":
        readout = torch.zeros(hidden, dtype=torch.complex128)
        readout[-1] = 1.0
    elif output == "ones":
        readout = torch.ones(hidden, dtype=torch.complex128)
    else:
        raise ValueError(f"output must be 'last' or 'ones', got {output!r}")
    return leak.expand(hidden).clone(), omega, input_gain, readout @ vectors


def discretize(log_dt, log_A_real, A_imag, VinvB_real, VinvB_imag, CV_real, CV_imag):
    """Zero-order hold (docs/pmsn.md §3.1): λ = −exp(log_A_real) + i·A_imag, Δ = exp(log_dt), Ā = exp(λΔ),
    B̄ = (Ā − 1)/λ · B̃. Returns (Ā, B̄, C̃) complex ``[C, N]``."""
    eigenvalue = torch.complex(-torch.exp(log_A_real), A_imag)
    decay = torch.exp(eigenvalue * torch.exp(log_dt).unsqueeze(-1))
    input_gain = (decay - 1.0) / eigenvalue * torch.complex(VinvB_real, VinvB_imag)
    return decay, input_gain, torch.complex(CV_real, CV_imag)


def convolution_kernel(decay: torch.Tensor, residue: torch.Tensor, steps: int) -> torch.Tensor:
    """K[l] = Re Σ_m r_m·Ā_mˡ for l = 0..steps−1 (docs/pmsn.md §3.2), r = C̃·B̄; returns real ``[steps, C]``.

    Ā_mˡ = exp(l·log Ā_m) (exact powers, no drift); accumulated mode by mode to keep memory at ``[steps, C]``.
    """
    lags = torch.arange(steps, dtype=decay.real.dtype, device=decay.device).unsqueeze(-1)
    log_decay = torch.log(decay)
    kernel = None
    for m in range(decay.shape[-1]):
        term = (residue[:, m] * torch.exp(lags * log_decay[:, m])).real
        kernel = term if kernel is None else kernel + term
    return kernel


def causal_conv_fft(u: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """y[t] = Σ_{l≤t} K[l, c]·u[t−l, b, c, …] along dim 0 by zero-padded FFT, linear, not circular
    (docs/pmsn.md §4.1).

    ``u`` is ``[T, B, C, *spatial]`` and ``kernel`` ``[T, C]`` (per channel, shared over batch and spatial).
    """
    steps = u.shape[0]
    n_fft = 1 << (2 * steps - 1).bit_length()  # ≥ 2T−1 avoids wrap-around; a power of two is fastest
    shape = (-1, 1, kernel.shape[1]) + (1,) * (u.dim() - 3)
    if u.numel() == 0:  # MKL refuses empty FFTs; an empty product of the right shape keeps the graph to K
        return u * kernel[:steps].reshape((steps,) + shape[1:])
    u_f = torch.fft.rfft(u, n=n_fft, dim=0)
    k_f = torch.fft.rfft(kernel, n=n_fft, dim=0).reshape(shape)
    return torch.fft.irfft(u_f * k_f, n=n_fft, dim=0)[:steps]
