"""TC-LIF gradient analysis (docs/neurons.md §3.5; TC-LIF Supp. Table 7, docs/tasks.md §4.2).

* ``tclif_gradient_norm(β1, β2)`` — the closed form of TC-LIF Supp. Table 7's "infinite norm" (the paper's
  values: ``pmsn.papers.tclif_table7_gradient_norm``):
  |1 + β1β2| + |β2|·|2 + β1β2|, the absolute sum of the first column of M² with the one-step Jacobian
  M = [[1, β1], [β2, 1 + β1β2]] of the reset-free state (U_D, U_S).
* ``autograd_jacobian_norm`` — the same number measured by autograd through two steps of ``pmsn.neurons.TCLIF``
  (threshold out of reach, so no spike and no reset).
* ``gradient_through_time`` — mean |∂L/∂I[t]| for L = Σ soma potential (PMSN: soma current) at the last
  step, by autograd through the real neurons (LIF, TC-LIF, PMSN; resets and surrogates included): how far
  back in time the gradient reaches.
"""

from __future__ import annotations

import torch

from pmsn.neurons import LIF, PMSN, TCLIF
from pmsn.neurons.tclif import logits_from_betas


def tclif_gradient_norm(beta1, beta2):
    """|1 + β1β2| + |β2|·|2 + β1β2| (floats or tensors), docs/neurons.md §3.5."""
    product = beta1 * beta2
    return abs(1 + product) + abs(beta2) * abs(2 + product)


def autograd_jacobian_norm(beta1: float, beta2: float) -> float:
    """Column-1 absolute sum of ∂(U_D, U_S)[t+2]/∂(U_D, U_S)[t] measured by autograd through ``TCLIF.step``."""
    neuron = TCLIF(decay_init=logits_from_betas(beta1, beta2), threshold=1e9).double()
    state0 = torch.zeros(1, 1, dtype=torch.float64)

    def two_steps(dendrite, soma):
        from pmsn.neurons.tclif import TCLIFState

        state = TCLIFState(dendrite.view(1, 1), soma.view(1, 1), torch.zeros_like(state0))
        for _ in range(2):
            _, state = neuron.step(torch.zeros_like(state0), state)
        return torch.stack([state.dendrite.flatten()[0], state.soma.flatten()[0]])

    start = (torch.zeros((), dtype=torch.float64), torch.zeros((), dtype=torch.float64))
    jacobian = torch.autograd.functional.jacobian(two_steps, start)  # ((∂out/∂U_D), (∂out/∂U_S))
    first_column = torch.stack([jacobian[0][0], jacobian[0][1]])  # ∂(U_D, U_S)[t+2]/∂U_D[t]
    return float(first_column.abs().sum())


def comparison_neurons(channels: int) -> dict:
    """The neurons compared by ``gradient_through_time``: code-default LIF (τ = 2, soft reset), TC-LIF, PMSN."""
    return {"LIF": LIF(tau=2.0, reset="soft"), "TC-LIF": TCLIF(), "PMSN": PMSN(channels=channels)}


def gradient_through_time(neuron, steps: int = 200, batch: int = 8, channels: int = 32, gain: float = 0.6,
                          seed: int = 0) -> torch.Tensor:
    """mean over batch and channels of |∂L/∂I[t]|, L = Σ (soma potential at step T − 1), input I ~ gain·U[0, 1).

    PMSN's soma potential carries no gradient to the past by design (its remainder is detached, docs/pmsn.md §6.1: the
    surrogate acts element-wise on the soma input), so for PMSN L uses the soma input current Y[T − 1].
    """
    generator = torch.Generator().manual_seed(seed)
    current = (gain * torch.rand(steps, batch, channels, generator=generator)).requires_grad_(True)
    _, trace = neuron(current, return_states=True)
    soma = _differentiable_potential(trace)
    soma[-1].sum().backward()
    return current.grad.abs().mean(dim=(1, 2))


def _differentiable_potential(trace) -> torch.Tensor:
    """The potential whose last step defines L: TC-LIF soma, LIF membrane, PMSN soma current Y."""
    for field in ("current", "soma", "membrane"):
        if hasattr(trace, field):
            return getattr(trace, field)
    raise TypeError(f"no soma potential in trace {type(trace).__name__}")
