"""LIF, PLIF (learnable τ), IF (no leak) and ALIF (adaptive threshold) baselines (docs/neurons.md §1.4, §2).
ALIF: B. Yin, F. Corradi, S. M. Bohté, "Accurate and efficient time-domain classification with adaptive spiking
recurrent neural networks", Nature Machine Intelligence 2021.

These neurons reset, so their dynamics are serial by nature: the parallel call runs the same update as
``step`` over time (one sweep, ``unbind``/``stack``), and the two are equal by construction.

LIF / PLIF per step (SpikingJelly form, docs/neurons.md §2.1-2.2), H = charged potential, V = post-reset potential:
    decay_input:      H[t] = V[t−1] + (X[t] − (V[t−1] − V_rest))/τ
    not decay_input:  H[t] = V[t−1] − (V[t−1] − V_rest)/τ + X[t]
    S[t] = Θ(H[t] − V_th);   reset: hard V = H·(1 − S) + V_reset·S, soft V = H − V_th·S, or none V = H.
IF (SpikingJelly IFNode, docs/neurons.md §2.4) is the not-decay_input update with k = 1/τ = 0: H[t] = V[t−1] + X[t],
the same sweep (fused kernels included) with no leak.
ALIF (Yin et al. 2021, docs/neurons.md §2.3), per channel learnable τ_m, τ_adp:
    b[t] = ρ·b[t−1] + (1 − ρ)·S[t−1],   θ[t] = b₀ + β_a·b[t]
    u[t] = α·u[t−1] + (1 − α)·x[t] − θ[t]·S[t−1],   S[t] = Θ(u[t] − θ[t]) (strict by default)
"""

from __future__ import annotations

import math
import numbers
from typing import NamedTuple

import torch
from torch import nn

from pmsn.neurons.base import Neuron, channel_view, check_choice, check_flag, check_int, check_real, check_state
from pmsn.ops.fused_leaky import fused_leaky_supports, lif_fused
from pmsn.ops.triton_common import triton_installed
from pmsn.surrogate import spike

RESETS = ("hard", "soft", "none")


class LIFState(NamedTuple):
    membrane: torch.Tensor  # post-reset membrane potential V, [B, C, *spatial]


class LIFTrace(NamedTuple):
    membrane: torch.Tensor  # charged (pre-reset) potential H[t], [T, B, C, *spatial]


class ALIFState(NamedTuple):
    membrane: torch.Tensor  # u after the step
    adaptation: torch.Tensor  # b
    spikes: torch.Tensor  # S[t−1], used by the reset and the adaptation of the next step


class ALIFTrace(NamedTuple):
    membrane: torch.Tensor  # u[t]
    threshold: torch.Tensor  # θ[t]


class _Leaky(Neuron):
    """Shared LIF/PLIF update; subclasses provide ``inverse_tau()``."""

    def __init__(self, threshold: float, reset: str, v_reset: float, v_rest: float | None, decay_input: bool,
                 detach_reset: bool, surrogate, strict: bool):
        super().__init__(surrogate, strict)
        name = type(self).__name__
        self.reset = check_choice(name, "reset", reset, RESETS)
        self.threshold = check_real(name, "threshold", threshold, "> 0")
        self.v_reset = check_real(name, "v_reset", v_reset)
        if reset == "hard" and not self.threshold > self.v_reset:  # else a reset leaves V at/above threshold
            raise ValueError(f"{name}: threshold must be above v_reset with reset='hard', got threshold={threshold}, "
                             f"v_reset={v_reset}")
        if v_rest is None:  # SpikingJelly: the leak pulls towards V_reset (hard reset), towards 0 otherwise
            v_rest = v_reset if reset == "hard" else 0.0
        self.v_rest = check_real(name, "v_rest", v_rest)
        self.decay_input = check_flag(name, "decay_input", decay_input)
        self.detach_reset = check_flag(name, "detach_reset", detach_reset)

    def inverse_tau(self):
        raise NotImplementedError

    def extra_repr(self) -> str:
        return f"threshold={self.threshold}, reset={self.reset!r}, decay_input={self.decay_input}"

    def _parallel(self, x, return_states):
        # One fused sweep: C++ on CPU (pmsn.ops.fused_leaky), Triton on CUDA (pmsn.ops.triton_leaky, when triton
        # imports); the step loop for traces and other devices/dtypes/surrogates (docs/kernels.md §2).
        inverse_tau = self.inverse_tau()
        settings = dict(threshold=self.threshold, reset=self.reset, v_reset=self.v_reset, v_rest=self.v_rest,
                        decay_input=self.decay_input, detach_reset=self.detach_reset, surrogate=self.surrogate,
                        strict=self.strict)
        if not return_states and fused_leaky_supports(x, self.surrogate, inverse_tau):
            return lif_fused(x, inverse_tau, **settings)
        if not return_states and x.is_cuda and triton_installed():
            from pmsn.ops.triton_leaky import leaky_triton, triton_leaky_supports  # optional: imports triton

            if triton_leaky_supports(x, self.surrogate, inverse_tau):
                return leaky_triton(x, inverse_tau, **settings)
        return self.serial(x, return_states)

    def _step(self, x_t, state: LIFState | None):
        if state is None:
            state = LIFState(torch.full_like(x_t, self.v_reset if self.reset == "hard" else 0.0))
        check_state(type(self).__name__, "membrane", state.membrane, tuple(x_t.shape), x_t.dtype, x_t.device)
        v, k = state.membrane, self.inverse_tau()
        if self.decay_input:
            charged = v + (x_t - (v - self.v_rest)) * k
        else:
            charged = v - (v - self.v_rest) * k + x_t
        s_t = spike(charged - self.threshold, self.surrogate, self.strict)
        s_reset = s_t.detach() if self.detach_reset else s_t
        if self.reset == "hard":
            v = charged * (1.0 - s_reset) + self.v_reset * s_reset
        elif self.reset == "soft":
            v = charged - self.threshold * s_reset
        else:
            v = charged
        return s_t, LIFState(v), LIFTrace(charged)


class LIF(_Leaky):
    """Leaky integrate-and-fire, SpikingJelly defaults: τ = 2, V_th = 1, hard reset to 0, sigmoid(α=4) surrogate.

    ``reset="none"`` gives the "LIF w/o reset" baseline of PSN Table 1.
    """

    def __init__(self, tau: float = 2.0, threshold: float = 1.0, reset: str = "hard", v_reset: float = 0.0,
                 v_rest: float | None = None, decay_input: bool = True, detach_reset: bool = False,
                 surrogate="sigmoid", strict: bool = False):
        super().__init__(threshold, reset, v_reset, v_rest, decay_input, detach_reset, surrogate, strict)
        self.tau = check_real("LIF", "tau", tau, ">= 1")  # 1/τ in (0, 1]: τ = 1 keeps no memory, τ < 1 overshoots

    def inverse_tau(self):
        return 1.0 / self.tau


class PLIF(_Leaky):
    """LIF with one learnable time constant per layer (docs/neurons.md §2.2): 1/τ = σ(w), w₀ = −ln(τ₀ − 1)."""

    def __init__(self, tau_init: float = 2.0, threshold: float = 1.0, reset: str = "hard", v_reset: float = 0.0,
                 v_rest: float | None = None, decay_input: bool = True, detach_reset: bool = False,
                 surrogate="sigmoid", strict: bool = False):
        super().__init__(threshold, reset, v_reset, v_rest, decay_input, detach_reset, surrogate, strict)
        tau_init = check_real("PLIF", "tau_init", tau_init, "> 1")  # 1/τ = sigmoid(w) < 1
        self.w = nn.Parameter(torch.tensor(-math.log(tau_init - 1.0)))

    def inverse_tau(self):
        return torch.sigmoid(self.w)


class IF(_Leaky):
    """Non-leaky integrate-and-fire, SpikingJelly's IFNode (docs/neurons.md §2.4): H[t] = V[t−1] + X[t], V_th = 1,
    hard reset to 0, sigmoid(α=4) surrogate.

    It is the leaky update with k = 1/τ = 0 (τ → ∞) and no input decay, H = V − (V − V_rest)·0 + X, which is
    V + X for every finite V; so the fused C++/Triton LIF sweeps run it exactly, with the same reset options.
    """

    def __init__(self, threshold: float = 1.0, reset: str = "hard", v_reset: float = 0.0, detach_reset: bool = False,
                 surrogate="sigmoid", strict: bool = False):
        super().__init__(threshold, reset, v_reset, None, False, detach_reset, surrogate, strict)

    def inverse_tau(self):
        return 0.0

    def extra_repr(self) -> str:
        return f"threshold={self.threshold}, reset={self.reset!r}"


def _is_mean_std(value) -> bool:
    """(mean, std) of a normal init: two finite numbers, mean > 0, std >= 0."""
    return (isinstance(value, (tuple, list)) and len(value) == 2
            and all(isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(v) for v in value)
            and value[0] > 0 and value[1] >= 0)


class ALIF(Neuron):
    """Adaptive-threshold LIF of Yin et al. (2021) with per-channel learnable τ_m and τ_adp (docs/neurons.md §2.3).

    Defaults: b₀ = 0.01, β_a = 1.8, τ_m ~ N(20, 5), τ_adp ~ N(150, 10) (clamped ≥ 1), strict Θ, multi-Gaussian
    surrogate.
    """

    def __init__(self, channels: int, tau_m: tuple[float, float] = (20.0, 5.0),
                 tau_adp: tuple[float, float] = (150.0, 10.0), base_threshold: float = 0.01,
                 adaptation_strength: float = 1.8, surrogate="multi_gaussian", strict: bool = True):
        super().__init__(surrogate, strict)
        self.channels = check_int("ALIF", "channels", channels)
        for name, value in (("tau_m", tau_m), ("tau_adp", tau_adp)):
            if not _is_mean_std(value):
                raise ValueError(f"ALIF: {name} must be (mean, std) of the initial time constants, finite, mean > 0, "
                                 f"std >= 0, got {value!r}")
        self.base_threshold = check_real("ALIF", "base_threshold", base_threshold, "> 0")
        self.adaptation_strength = check_real("ALIF", "adaptation_strength", adaptation_strength, ">= 0")
        self.tau_m = nn.Parameter(torch.normal(tau_m[0], tau_m[1], (channels,)).clamp_min(1.0))
        self.tau_adp = nn.Parameter(torch.normal(tau_adp[0], tau_adp[1], (channels,)).clamp_min(1.0))

    def _parallel(self, x, return_states):
        return self.serial(x, return_states)

    def _step(self, x_t, state: ALIFState | None):
        if state is None:
            state = ALIFState(torch.zeros_like(x_t), torch.full_like(x_t, self.base_threshold), torch.zeros_like(x_t))
        for field, value in zip(ALIFState._fields, state):
            check_state("ALIF", field, value, tuple(x_t.shape), x_t.dtype, x_t.device)
        spatial = x_t.dim() - 2
        alpha = channel_view(torch.exp(-1.0 / self.tau_m), spatial)
        rho = channel_view(torch.exp(-1.0 / self.tau_adp), spatial)
        adaptation = rho * state.adaptation + (1.0 - rho) * state.spikes
        threshold = self.base_threshold + self.adaptation_strength * adaptation
        membrane = alpha * state.membrane + (1.0 - alpha) * x_t - threshold * state.spikes
        s_t = spike(membrane - threshold, self.surrogate, self.strict)
        return s_t, ALIFState(membrane, adaptation, s_t), ALIFTrace(membrane, threshold)
