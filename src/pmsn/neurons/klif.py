"""KLIF: the k-based LIF neuron (docs/neurons.md §9) of C. Jiang, Y. Zhang, "KLIF: An optimized spiking neuron unit
for tuning surrogate gradient slope and membrane potential", 2023, arXiv:2302.09238.

Per step (LIF charge, then a learnable scale k and a ReLU before firing and reset; V_rest as for LIF):
    decay_input:      H[t] = V[t−1] + (X[t] − (V[t−1] − V_rest))/τ
    not decay_input:  H[t] = V[t−1] − (V[t−1] − V_rest)/τ + X[t]
    F[t] = ReLU(k·H[t]);   S[t] = Θ(F[t] − V_th)
    reset on F: hard V = F·(1 − S) + V_reset·S, soft V = F − V_th·S, or none V = F.
The ReLU and k sit between charge and fire, so the fused LIF sweeps do not apply: the parallel call is the step loop.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from pmsn.neurons.base import check_real, check_state
from pmsn.neurons.lif import LIFState, _Leaky
from pmsn.surrogate import spike


class KLIFTrace(NamedTuple):
    membrane: torch.Tensor  # charged potential H[t], [T, B, C, *spatial]
    scaled: torch.Tensor  # F[t] = ReLU(k·H[t]), what fires and resets


class KLIF(_Leaky):
    """k-based LIF with one learnable scale ``k`` per layer (initialised to ``k_init`` = 1, the paper's and
    SpikingJelly's KLIFNode value). Defaults as SpikingJelly's KLIFNode: τ = 2, V_th = 1, hard reset to 0, input
    decay, sigmoid(α=4) surrogate. State: ``LIFState`` (post-reset V); trace: ``KLIFTrace``.
    """

    def __init__(self, tau: float = 2.0, threshold: float = 1.0, reset: str = "hard", v_reset: float = 0.0,
                 v_rest: float | None = None, decay_input: bool = True, detach_reset: bool = False,
                 k_init: float = 1.0, surrogate="sigmoid", strict: bool = False):
        super().__init__(threshold, reset, v_reset, v_rest, decay_input, detach_reset, surrogate, strict)
        self.tau = check_real("KLIF", "tau", tau, ">= 1")  # as LIF: 1/τ in (0, 1]
        self.k = nn.Parameter(torch.tensor(check_real("KLIF", "k_init", k_init, "> 0")))

    def inverse_tau(self):
        return 1.0 / self.tau

    def extra_repr(self) -> str:
        return f"tau={self.tau}, " + super().extra_repr()

    def _parallel(self, x, return_states):
        return self.serial(x, return_states)

    def _step(self, x_t, state: LIFState | None):
        if state is None:
            state = LIFState(torch.full_like(x_t, self.v_reset if self.reset == "hard" else 0.0))
        check_state("KLIF", "membrane", state.membrane, tuple(x_t.shape), x_t.dtype, x_t.device)
        v, rate = state.membrane, self.inverse_tau()
        if self.decay_input:
            charged = v + (x_t - (v - self.v_rest)) * rate
        else:
            charged = v - (v - self.v_rest) * rate + x_t
        scaled = torch.relu(self.k * charged)  # KLIF: F = ReLU(k·H) fires and resets
        s_t = spike(scaled - self.threshold, self.surrogate, self.strict)
        s_reset = s_t.detach() if self.detach_reset else s_t
        if self.reset == "hard":
            v = scaled * (1.0 - s_reset) + self.v_reset * s_reset
        elif self.reset == "soft":
            v = scaled - self.threshold * s_reset
        else:
            v = scaled
        return s_t, LIFState(v), KLIFTrace(charged, scaled)
