"""The PMSN soma in parallel over time: cumulative sum / floor reset (spec neurons.md §5.8-5.9).

With x[t] ≥ 0 and P[t] = Σ_{i≤t} x[i]:  v[t] = P[t] − θ·⌊P[t−1]/θ⌋,  S[t] = [v[t] ≥ θ],
which equals the serial soma  v[t] = r[t−1] + x[t], S[t] = [v[t] ≥ θ], r[t] = v[t] − θ·⌊v[t]/θ⌋.

Exactness at long T: P grows with t, so a float32 cumsum over the whole sequence drifts. The sum is taken in
chunks of ``chunk`` steps, each started from the carried remainder r (kept in [0, θ)), so no value ever grows
beyond one chunk's input (kernels.md "Exactness").

Gradient (§5.9): ``soma_grad="elementwise"`` (default; paper = code): ∂L/∂x[t] = ∂L/∂S[t]·σ'(v[t] − θ);
``"cumsum"``: through the integrator, ∂L/∂x[t'] = Σ_{t≥t'} ∂L/∂S[t]·σ'(v[t] − θ).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from pmsn.surrogate import heaviside

SOMA_GRADS = ("elementwise", "cumsum")


def soma_potential(x: torch.Tensor, threshold: float, chunk: int = 64) -> torch.Tensor:
    """Pre-reset soma potential v[t] of §5.8 for x ``[T, ...]`` ≥ 0, summing chunk by chunk from the remainder."""
    steps = x.shape[0]
    chunks = -(-steps // chunk)
    padded = F.pad(x, (0, 0) * (x.dim() - 1) + (0, chunks * chunk - steps)) if chunks * chunk != steps else x
    local = padded.reshape(chunks, chunk, *x.shape[1:]).cumsum(1)  # within-chunk charge
    carry, carries = torch.zeros_like(local[0, 0]), []
    for total in local[:, -1].unbind(0):
        carries.append(carry)
        carry = torch.remainder(carry + total, threshold)  # remainder carried to the next chunk, in [0, θ)
    charge = torch.stack(carries).unsqueeze(1) + local  # P[t] up to whole multiples of θ
    previous = torch.cat([torch.stack(carries).unsqueeze(1), charge[:, :-1]], dim=1)  # P[t−1]
    potential = charge - threshold * torch.floor(previous / threshold)
    return potential.reshape(chunks * chunk, *x.shape[1:])[:steps]


class _ParallelSoma(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, threshold, surrogate, strict, soma_grad, chunk):
        potential = soma_potential(x, threshold, chunk)
        spikes = heaviside(potential - threshold, strict)
        if ctx.needs_input_grad[0]:
            ctx.save_for_backward(surrogate.derivative(potential - threshold))  # the only tensor backward needs
        ctx.soma_grad = soma_grad
        return spikes

    @staticmethod
    def backward(ctx, grad_spikes):
        (slope,) = ctx.saved_tensors
        grad = grad_spikes * slope
        if ctx.soma_grad == "cumsum":  # Σ over t ≥ t': a reversed cumulative sum along time
            grad = grad.flip(0).cumsum(0).flip(0)
        return grad, None, None, None, None, None


def parallel_soma(x, threshold=1.0, surrogate=None, strict=False, soma_grad="elementwise", chunk=64, trace=False):
    """Spikes of the soma for non-negative input current x ``[T, ...]``; with ``trace`` also returns v[t]."""
    if soma_grad not in SOMA_GRADS:
        raise ValueError(f"soma_grad must be one of {SOMA_GRADS}, got {soma_grad!r}")
    spikes = _ParallelSoma.apply(x, float(threshold), surrogate, strict, soma_grad, int(chunk))
    if trace:
        return spikes, soma_potential(x.detach(), threshold, chunk)
    return spikes
