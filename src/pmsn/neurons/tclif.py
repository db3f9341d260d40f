"""TC-LIF: the two-compartment (dendrite + soma) LIF neuron (docs/neurons.md §3) of S. Zhang, Q. Yang, C. Ma,
J. Wu, H. Li, K. C. Tan, "TC-LIF: A Two-Compartment Spiking Neuron Model for Long-Term Sequential Modelling",
AAAI 2024, arXiv:2308.13250.

Per step (official code order, docs/neurons.md §3.2), β1 = −σ(c0) ∈ (−1, 0), β2 = σ(c1) ∈ (0, 1):
    U_D ← U_D + β1·U_S + I[t]          (U_S: post-reset soma of t−1; pre-reset with coupling_uses_pre_reset_soma)
    U_S ← U_S + β2·U_D
    S[t] = Θ(U_S − V_th)               (triangle surrogate, width 1)
    U_D ← U_D − γ·S[t];  U_S ← U_S − V_th·S[t]     (soft reset of both compartments, not detached by default)
The neuron resets, so the parallel call runs this update in one sweep over time; it equals ``step`` exactly.
"""

from __future__ import annotations

import math
import numbers
from typing import NamedTuple

import torch
from torch import nn

from pmsn.neurons.base import Neuron, channel_view, check_choice, check_flag, check_int, check_real, check_state
from pmsn.ops.fused_leaky import fused_leaky_supports, tclif_fused
from pmsn.ops.triton_common import triton_installed
from pmsn.surrogate import spike

# Per-dataset inits of the official README commands (docs/neurons.md §3.4): raw (c0, c1), dendritic reset γ,
# threshold V_th.
PRESETS = {
    "smnist_ff": dict(decay_init=(0.0, 0.0), dendrite_reset=0.5, threshold=1.0),
    "smnist_rec": dict(decay_init=(1.5, -0.5), dendrite_reset=0.5, threshold=1.0),
    "psmnist_ff": dict(decay_init=(0.0, 0.0), dendrite_reset=0.7, threshold=1.5),
    "psmnist_rec": dict(decay_init=(-1.4, 1.4), dendrite_reset=0.5, threshold=1.8),
    "gsc_ff": dict(decay_init=(0.0, 0.0), dendrite_reset=0.6, threshold=1.2),
    "gsc_rec": dict(decay_init=(1.4, 1.4), dendrite_reset=0.7, threshold=1.25),
    "shd": dict(decay_init=(0.0, 0.0), dendrite_reset=0.5, threshold=1.5),
    "ssc": dict(decay_init=(0.0, 0.0), dendrite_reset=0.5, threshold=1.5),
}
SHARING = ("layer", "channel")
PARAMETRIZATIONS = ("sigmoid", "free")


def logits_from_betas(beta1: float, beta2: float) -> tuple[float, float]:
    """Logits of (β1, β2) (docs/neurons.md §3.1): c0 = ln(−β1/(1+β1)), c1 = ln(β2/(1−β2))."""
    if not (-1.0 < beta1 < 0.0 and 0.0 < beta2 < 1.0):
        raise ValueError(f"TC-LIF needs β1 in (−1, 0) and β2 in (0, 1), got β1={beta1}, β2={beta2}")
    return math.log(-beta1 / (1.0 + beta1)), math.log(beta2 / (1.0 - beta2))


class TCLIFState(NamedTuple):
    dendrite: torch.Tensor  # post-reset U_D
    soma: torch.Tensor  # post-reset U_S
    spikes: torch.Tensor  # S[t−1] as used by the reset (detached with detach_reset); rebuilds the pre-reset soma


class TCLIFTrace(NamedTuple):
    dendrite: torch.Tensor  # U_D[t] after charging, before reset
    soma: torch.Tensor  # U_S[t] after charging, before reset


class TCLIF(Neuron):
    """Two-compartment LIF. ``beta_sharing="layer"`` (default): one learnable (c0, c1) pair for the layer;
    ``"channel"``: one pair per channel (needs ``channels``). ``preset`` picks a row of docs/neurons.md §3.4
    (e.g. ``"smnist_rec"``) as defaults of ``decay_init``, ``dendrite_reset`` and ``threshold``; arguments given
    explicitly win.
    ``parametrization="free"`` learns (β1, β2) directly, of any sign (``decay_init`` then holds β1, β2): the
    β-quadrant study of TC-LIF Fig. 2 needs all four quadrants, the sigmoid form covers quadrant II only.
    """

    def __init__(self, channels: int | None = None, decay_init: tuple[float, float] | None = None,
                 dendrite_reset: float | None = None, threshold: float | None = None, beta_sharing: str = "layer",
                 coupling_uses_pre_reset_soma: bool = False, detach_reset: bool = False, surrogate="triangle",
                 strict: bool = False, preset: str | None = None, parametrization: str = "sigmoid"):
        super().__init__(surrogate, strict)
        check_choice("TCLIF", "preset", preset, (None, *PRESETS))
        self.parametrization = check_choice("TCLIF", "parametrization", parametrization, PARAMETRIZATIONS)
        self.beta_sharing = check_choice("TCLIF", "beta_sharing", beta_sharing, SHARING)
        if beta_sharing == "channel":
            self.channels = check_int("TCLIF", "channels", channels, what="a positive int with beta_sharing='channel'")
        elif channels is not None:
            self.channels = check_int("TCLIF", "channels", channels, what="None or a positive int")
        defaults = PRESETS[preset] if preset is not None else dict(decay_init=(0.0, 0.0), dendrite_reset=0.5,
                                                                   threshold=1.0)
        dendrite_reset = defaults["dendrite_reset"] if dendrite_reset is None else dendrite_reset
        threshold = defaults["threshold"] if threshold is None else threshold
        if decay_init is None:  # preset/default inits are logits (c0, c1); the free form learns (β1, β2) itself
            c0, c1 = defaults["decay_init"]
            decay_init = (-1.0 / (1.0 + math.exp(-c0)), 1.0 / (1.0 + math.exp(-c1))) if parametrization == "free" \
                else (c0, c1)
        if not (isinstance(decay_init, (tuple, list)) and len(decay_init) == 2
                and all(isinstance(c, numbers.Real) and not isinstance(c, bool) and math.isfinite(c)
                        for c in decay_init)):
            raise ValueError(f"TCLIF: decay_init must be two finite numbers (logits c0, c1; β1, β2 with "
                             f"parametrization='free'), got {decay_init!r}")
        self.dendrite_reset = check_real("TCLIF", "dendrite_reset", dendrite_reset, ">= 0")
        self.threshold = check_real("TCLIF", "threshold", threshold, "> 0")
        self.coupling_uses_pre_reset_soma = check_flag("TCLIF", "coupling_uses_pre_reset_soma",
                                                       coupling_uses_pre_reset_soma)
        self.detach_reset = check_flag("TCLIF", "detach_reset", detach_reset)
        init = torch.tensor([float(c) for c in decay_init])
        self.decay = nn.Parameter(init if beta_sharing == "layer" else init.expand(channels, 2).clone())

    def betas(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(β1, β2) = (−σ(c0), σ(c1)) (or the raw pair when ``parametrization="free"``), scalars or ``[C]``."""
        if self.parametrization == "free":
            return self.decay[..., 0], self.decay[..., 1]
        return -torch.sigmoid(self.decay[..., 0]), torch.sigmoid(self.decay[..., 1])

    def extra_repr(self) -> str:
        return (f"channels={self.channels}, beta_sharing={self.beta_sharing!r}, "
                f"dendrite_reset={self.dendrite_reset}, threshold={self.threshold}")

    def _parallel(self, x, return_states):
        # One fused sweep: C++ on CPU (pmsn.ops.fused_leaky), Triton on CUDA (pmsn.ops.triton_leaky, when triton
        # imports); the step loop for traces and other devices/dtypes/surrogates (docs/kernels.md §2).
        beta1, beta2 = self.betas()
        settings = dict(threshold=self.threshold, dendrite_reset=self.dendrite_reset,
                        pre_reset_coupling=self.coupling_uses_pre_reset_soma, detach_reset=self.detach_reset,
                        surrogate=self.surrogate, strict=self.strict)
        if not return_states and fused_leaky_supports(x, self.surrogate, beta1, beta2):
            return tclif_fused(x, beta1, beta2, **settings)
        if not return_states and x.is_cuda and triton_installed():
            from pmsn.ops.triton_leaky import tclif_triton, triton_leaky_supports  # optional: imports triton

            if triton_leaky_supports(x, self.surrogate, beta1, beta2):
                return tclif_triton(x, beta1, beta2, **settings)
        return self.serial(x, return_states)

    def _step(self, x_t, state: TCLIFState | None):
        if state is None:
            zeros = torch.zeros_like(x_t)
            state = TCLIFState(zeros, zeros, zeros)
        for field, value in zip(TCLIFState._fields, state):
            check_state("TCLIF", field, value, tuple(x_t.shape), x_t.dtype, x_t.device)
        beta1, beta2 = self.betas()
        if self.beta_sharing == "channel":
            beta1, beta2 = channel_view(beta1, x_t.dim() - 2), channel_view(beta2, x_t.dim() - 2)
        soma = state.soma
        if self.coupling_uses_pre_reset_soma:  # TC-LIF eq. 10-12 literally: β1 multiplies U_S[t−1] before reset
            soma = soma + self.threshold * state.spikes
        dendrite = state.dendrite + beta1 * soma + x_t
        soma = state.soma + beta2 * dendrite
        s_t = spike(soma - self.threshold, self.surrogate, self.strict)
        s_reset = s_t.detach() if self.detach_reset else s_t
        trace = TCLIFTrace(dendrite, soma)
        new_state = TCLIFState(dendrite - self.dendrite_reset * s_reset, soma - self.threshold * s_reset, s_reset)
        return s_t, new_state, trace
