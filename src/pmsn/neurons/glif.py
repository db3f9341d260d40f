"""GLIF: the gated LIF neuron (docs/neurons.md §8) of X. Yao, F. Li, Z. Mo, J. Cheng, "GLIF: A Unified Gated Leaky
Integrate-and-Fire Neuron for Spiking Neural Networks", NeurIPS 2022, arXiv:2210.13768.

Per channel, every coefficient is the sigmoid of a learnable logit: the gates α, β, γ; the decay factor τ, the
threshold V_th, the linear leak E_L, the soft-reset step V_R; the conductance g[t], one per step when built with
``T`` (the paper's time-wise g), else (``T=None`` or ``time_wise=False``) one for all steps. ``channel_wise=False``
shares every coefficient by the layer's channels (the layer-wise GLIF: 7 + T parameters a layer, as SpikingJelly's
``GatedLIFNode`` without ``inplane``; docs/neurons.md §8.2). Per step (the official code's order, docs/neurons.md §8.1):
    I[t] = (1 − β·(1 − g[t]))·X[t]                                  integration: plain X (β=0) or g·X (β=1)
    U[t] = (1 − α·(1 − τ))·U[t−1]·(1 − γ·S[t−1]) − (1 − α)·E_L      leak: exponential τ (α=1) or linear E_L (α=0)
           + I[t] − (1 − γ)·V_R·S[t−1]                               reset: hard (γ=1) or by subtraction (γ=0)
    S[t] = Θ(U[t] − V_th)
with U[−1] = 0, S[−1] = 0: a spike's reset is applied by the next step. GLIF resets, so it is serial by nature: the
parallel call computes every I[t] in one product, then runs the same recurrence as ``step`` over time.
"""

from __future__ import annotations

import math
import numbers
from typing import NamedTuple

import torch
from torch import nn

from pmsn.neurons.base import Neuron, check_flag, check_int, check_state
from pmsn.surrogate import spike

# The official code's initial values (docs/neurons.md §8.2): τ, V_th, E_L = V_th/(2·4) (its module-level T = 4),
# g; V_R starts at V_th.
DEFAULTS = dict(tau_init=0.25, threshold_init=0.5, leak_init=0.0625, conductance_init=0.5)


class GLIFState(NamedTuple):
    membrane: torch.Tensor  # U[t], before the reset of S[t] (which the next step applies)
    spikes: torch.Tensor  # S[t]
    time: int  # index of the next step (selects g[t])


class GLIFTrace(NamedTuple):
    membrane: torch.Tensor  # U[t], [T, B, C, *spatial]


class GLIFCoefficients(NamedTuple):
    """The sigmoids of the logits: ``[C]`` each, ``conductance`` ``[T, C]`` (``[1, C]`` time-static); ``C`` is 1
    for a layer-wise GLIF (``channel_wise=False``)."""

    alpha: torch.Tensor
    beta: torch.Tensor
    gamma: torch.Tensor
    tau: torch.Tensor
    threshold: torch.Tensor
    leak: torch.Tensor
    reset: torch.Tensor
    conductance: torch.Tensor


def _unit(name: str, value) -> float:
    """A value in (0, 1), the range of the sigmoid that parametrises it."""
    if not (isinstance(value, numbers.Real) and not isinstance(value, bool) and 0.0 < value < 1.0):
        raise ValueError(f"GLIF: {name} must be a number in (0, 1) (it is learnt as a sigmoid), got {value!r}")
    return float(value)


def _logit(p: float) -> float:
    return math.log(p / (1.0 - p))


class GLIF(Neuron):
    """Gated LIF with channel-wise learnable gates and membrane coefficients (docs/neurons.md §8).

    ``T``: the number of steps, one learnable conductance g[t] per step and channel as in the paper (a sequence may
    be shorter; ``step`` refuses step T + 1); ``T=None`` learns one g per channel for sequences of any length.
    ``time_wise=False``: one g for all steps even when ``T`` is given (what a network builder passes), so the
    neuron is time-static and runs any length. ``channel_wise=False``: one α, β, γ, τ, V_th, E_L, V_R (and g[t])
    for the whole layer instead of one per channel, the layer-wise GLIF of the GLIF paper and of SpikingJelly's
    ``GatedLIFNode(T)``; the TC-LIF authors' GLIF* baselines have its parameter count (docs/tasks.md §2.8).
    ``gate_init``: the initial (α, β, γ), or None for the official code's random gates, logits ~ U(−0.1, 0.1)
    per channel. ``reset_init`` = None starts V_R at ``threshold_init``. Surrogate and strict firing as the
    official code: rectangle of width 1, fire on U > V_th.
    """

    # Official training: gates at 1/10 of the learning rate, everything GLIF learns without weight decay
    # (docs/neurons.md §8.3, docs/training.md §2).
    optimizer_roles = {"gate_logits": "neuron_slow", "dynamics_logits": "neuron_fast",
                       "conductance_logits": "neuron_fast"}

    def __init__(self, channels: int, T: int | None = None, gate_init: tuple[float, float, float] | None = None,
                 tau_init: float = DEFAULTS["tau_init"], threshold_init: float = DEFAULTS["threshold_init"],
                 leak_init: float = DEFAULTS["leak_init"], reset_init: float | None = None,
                 conductance_init: float = DEFAULTS["conductance_init"], surrogate="rectangle", strict: bool = True,
                 channel_wise: bool = True, time_wise: bool = True):
        super().__init__(surrogate, strict)
        self.channels = check_int("GLIF", "channels", channels)
        T = None if T is None else check_int("GLIF", "T", T, what="None or a positive int")
        self.channel_wise = check_flag("GLIF", "channel_wise", channel_wise)
        self.time_wise = check_flag("GLIF", "time_wise", time_wise)
        self.T = T if self.time_wise else None  # T only bounds the length through the per-step conductances
        width = self.channels if self.channel_wise else 1  # the parameters' channel axis
        if gate_init is None:
            gates = 0.2 * (torch.rand(3, width) - 0.5)
        elif isinstance(gate_init, (tuple, list)) and len(gate_init) == 3:
            names = ("gate_init α", "gate_init β", "gate_init γ")
            gates = torch.tensor([_logit(_unit(name, g)) for name, g in zip(names, gate_init)])
            gates = gates.unsqueeze(1).expand(3, width).clone()
        else:
            raise ValueError(f"GLIF: gate_init must be None or three numbers (α, β, γ) in (0, 1), got {gate_init!r}")
        reset_init = threshold_init if reset_init is None else reset_init
        dynamics = [_logit(_unit(name, value)) for name, value in (("tau_init", tau_init),
                                                                  ("threshold_init", threshold_init),
                                                                  ("leak_init", leak_init), ("reset_init", reset_init))]
        conductance = _logit(_unit("conductance_init", conductance_init))
        # logits [3, C] of α, β, γ; [4, C] of τ, V_th, E_L, V_R; [T or 1, C] of g (C = 1 layer-wise)
        self.gate_logits = nn.Parameter(gates)
        self.dynamics_logits = nn.Parameter(torch.tensor(dynamics).unsqueeze(1).expand(4, width).clone())
        self.conductance_logits = nn.Parameter(torch.full((self.T or 1, width), conductance))

    def extra_repr(self) -> str:
        return f"channels={self.channels}, T={self.T}, channel_wise={self.channel_wise}"

    def coefficients(self) -> GLIFCoefficients:
        """α, β, γ, τ, V_th, E_L, V_R and g: the sigmoids of the learnt logits."""
        gates, dynamics = torch.sigmoid(self.gate_logits), torch.sigmoid(self.dynamics_logits)
        return GLIFCoefficients(*gates.unbind(0), *dynamics.unbind(0), torch.sigmoid(self.conductance_logits))

    def _broadcast(self, dtype: torch.dtype, spatial_dims: int, steps: slice) -> GLIFCoefficients:
        """Coefficients in the input's dtype, shaped to broadcast against ``[B, C, *spatial]``; the conductance
        rows ``steps`` (only those: a step of a long sequence needs one) ``[steps, 1, C, *1]`` against
        ``[T, B, C, *spatial]`` (C = 1 layer-wise)."""
        gates, dynamics = torch.sigmoid(self.gate_logits), torch.sigmoid(self.dynamics_logits)
        conductance = torch.sigmoid(self.conductance_logits[steps])
        ones = [1] * spatial_dims
        width = gates.shape[1]
        per_channel = [p.to(dtype).reshape(width, *ones) for p in (*gates.unbind(0), *dynamics.unbind(0))]
        return GLIFCoefficients(*per_channel, conductance.to(dtype).reshape(-1, 1, width, *ones))

    @staticmethod
    def _update(c: GLIFCoefficients, membrane, spikes, current):
        """U[t] from U[t−1], S[t−1] and I[t] (docs/neurons.md §8.1)."""
        decay = 1.0 - c.alpha * (1.0 - c.tau)
        return (decay * membrane * (1.0 - c.gamma * spikes) - (1.0 - c.alpha) * c.leak + current
                - (1.0 - c.gamma) * c.reset * spikes)

    def _check_length(self, steps: int, what: str) -> None:
        if self.T is not None and steps > self.T:
            raise ValueError(f"GLIF was built for T={self.T} steps (one conductance g[t] per step); {what}")

    def _parallel(self, x, return_states):
        self._check_length(x.shape[0], f"got T={x.shape[0]} in input of shape {tuple(x.shape)}")
        c = self._broadcast(x.dtype, x.dim() - 3, slice(0, x.shape[0] if self.T is not None else 1))
        current = (1.0 - c.beta * (1.0 - c.conductance)) * x  # every I[t] at once
        membrane = spikes = torch.zeros_like(x[0])
        out, membranes = [], []
        for current_t in current.unbind(0):
            membrane = self._update(c, membrane, spikes, current_t)
            spikes = spike(membrane - c.threshold, self.surrogate, self.strict)
            out.append(spikes)
            membranes.append(membrane)
        if not return_states:
            return torch.stack(out)
        return torch.stack(out), GLIFTrace(torch.stack(membranes))

    def _step(self, x_t, state: GLIFState | None):
        if state is None:
            zeros = torch.zeros_like(x_t)
            state = GLIFState(zeros, zeros, 0)
        for field in ("membrane", "spikes"):
            check_state("GLIF", field, getattr(state, field), tuple(x_t.shape), x_t.dtype, x_t.device)
        time = state.time
        self._check_length(time + 1, f"step {time + 1} asked for more (pass state=None to start a new sequence)")
        row = time if self.T is not None else 0
        c = self._broadcast(x_t.dtype, x_t.dim() - 2, slice(row, row + 1))
        current = (1.0 - c.beta * (1.0 - c.conductance[0, 0])) * x_t
        membrane = self._update(c, state.membrane, state.spikes, current)
        s_t = spike(membrane - c.threshold, self.surrogate, self.strict)
        return s_t, GLIFState(membrane, s_t, time + 1), GLIFTrace(membrane)
