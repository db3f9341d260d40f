"""The PMSN soma in parallel over time: cumulative sum / floor reset (docs/pmsn.md §5-6).

With x[t] ≥ 0 and P[t] = Σ_{i≤t} x[i]:  v[t] = P[t] − θ·⌊P[t−1]/θ⌋,  S[t] = [v[t] ≥ θ],
which equals the serial soma  v[t] = r[t−1] + x[t], S[t] = [v[t] ≥ θ], r[t] = v[t] − θ·⌊v[t]/θ⌋.

Exactness at long T: P grows with t, so a float32 cumsum over the whole sequence drifts. The sum is taken in
chunks of ``chunk`` steps, each started from the carried remainder r (kept in [0, θ)), so no value ever grows
beyond one chunk's input (docs/pmsn.md §5.6).

The input current Y is clamped first, x = ReLU(κ·Y) (docs/pmsn.md §5.1), inside the same autograd function.
Gradient (docs/pmsn.md §6): ``soma_grad="elementwise"`` (default; paper = code):
∂L/∂x[t] = ∂L/∂S[t]·σ'(v[t] − θ);
``"cumsum"``: through the integrator, ∂L/∂x[t'] = Σ_{t≥t'} ∂L/∂S[t]·σ'(v[t] − θ); then ∂x/∂Y = κ·[κY > 0].
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from pmsn.surrogate import Triangle, heaviside

SOMA_GRADS = ("elementwise", "cumsum")


def soma_potential(x: torch.Tensor, threshold: float, chunk: int = 64) -> torch.Tensor:
    """Pre-reset soma potential v[t] for x ``[T, ...]`` ≥ 0 (docs/pmsn.md §5.3), summed chunk by chunk from the
    remainder."""
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
    """ReLU(κ·Y) → cumulative-sum soma → spikes, saving one tensor: ∂S/∂Y = σ'(v − θ)·κ·[κY > 0]."""

    @staticmethod
    def forward(ctx, current, threshold, scale, surrogate, strict, soma_grad, chunk):
        drive = scale * current
        potential = soma_potential(torch.relu(drive), threshold, chunk)
        spikes = heaviside(potential - threshold, strict)
        if ctx.needs_input_grad[0]:
            slope = surrogate.derivative(potential - threshold)
            if soma_grad == "elementwise":
                ctx.save_for_backward(slope * (drive > 0) * scale)
            else:  # the ReLU mask and κ apply after the sum over t ≥ t'
                ctx.save_for_backward(slope, drive > 0)
        ctx.soma_grad, ctx.scale = soma_grad, scale
        return spikes

    @staticmethod
    def backward(ctx, grad_spikes):
        if ctx.soma_grad == "elementwise":
            (slope,) = ctx.saved_tensors
            return grad_spikes * slope, None, None, None, None, None, None
        slope, active = ctx.saved_tensors
        grad = (grad_spikes * slope).flip(0).cumsum(0).flip(0)  # Σ over t ≥ t': through the integrator
        return grad * active * ctx.scale, None, None, None, None, None, None


def parallel_soma(current, threshold=1.0, scale=1.0, surrogate=Triangle(), strict=False, soma_grad="elementwise",
                  chunk=64, trace=False):
    """Spikes of the soma driven by ReLU(scale·current), current ``[T, ...]``; with ``trace`` also returns v[t]."""
    if soma_grad not in SOMA_GRADS:
        raise ValueError(f"soma_grad must be one of {SOMA_GRADS}, got {soma_grad!r}")
    spikes = _ParallelSoma.apply(current, float(threshold), float(scale), surrogate, strict, soma_grad, int(chunk))
    if trace:
        return spikes, soma_potential(torch.relu(scale * current.detach()), threshold, chunk)
    return spikes
