"""PMSN: the parallel multi-compartment spiking neuron of X. Chen, J. Wu, C. Ma, Y. Yan, Y. Wu, K. C. Tan,
"PMSN: A Parallel Multi-compartment Spiking Neuron for Multi-scale Temporal Processing", 2024, arXiv:2408.14917.
Derivations: docs/pmsn.md.

n compartments: n − 1 hidden compartments form a linear system, diagonalised into N = n − 1 complex modes,
and one spiking soma. Per channel and time step t (serial definition, ``step``; docs/pmsn.md §3.1, §5.1-5.2):

    x_m[t] = Ā_m·x_m[t−1] + B̄_m·u[t]                   modal recurrence, zero-order hold   PMSN eq. 10
    Y[t]   = Re Σ_m C̃_m·x_m[t] + D·u[t]                current into the soma               PMSN eq. 10
    v[t]   = r[t−1] + ReLU(κ·Y[t])                       non-leaky soma, clamped input
    S[t]   = [v[t] ≥ θ],   r[t] = v[t] − θ·⌊v[t]/θ⌋      fire once, keep the remainder       PMSN eq. 16-18

Parallel path (``forward``): Y = K ∗ u + D·u with K[l] = Re Σ_m C̃_m B̄_m Ā_mˡ by FFT or by a chunked scan
(``pmsn.ops``), then the cumulative-sum soma; on CPU the fused C++ sweep does both in one pass over time.
All equal the loop of ``step`` (the proof: docs/pmsn.md §5.4). The ablation variants (serial soma, soft reset,
no reset, memoryless soma, global input) are subclasses in ``pmsn.neurons.pmsn_variants``. One exception, a NaN in the input: the fused and serial paths leave the steps
before it untouched, while the chunked scan (FFT) mixes a whole chunk (sequence) in one matmul (transform), so the
NaN also reaches the currents of earlier steps of that chunk (column) there and silences their spikes; the
gradients are NaN on the same entries on every path.
"""

from __future__ import annotations

import logging
import math
from typing import NamedTuple

import torch
from torch import nn

from pmsn.neurons.base import Neuron, channel_view, check_choice, check_int, check_real, check_state
from pmsn.ops.linear_system import causal_conv_fft, convolution_kernel, coupling_matrix, diagonalize, discretize
from pmsn.ops.scan import causal_conv_chunked
from pmsn.ops.soma import SOMA_GRADS, parallel_soma
from pmsn.ops.fused_cpu import fused_available, pmsn_fused
from pmsn.ops.triton_common import choose_pmsn_triton_variant, processor_count, triton_installed
from pmsn.surrogate import Triangle, spike

log = logging.getLogger(__name__)

PATHS = ("fft", "chunked", "fused", "triton", "triton_columns", "triton_chunks")
SWEEP_DEVICES = {"fused": "cpu", "triton": "cuda", "triton_columns": "cuda", "triton_chunks": "cuda"}
SHORT_T = 256  # on GPU, sequences shorter than this use the chunked scan, longer ones the FFT

# Per-task presets of the official code (docs/pmsn.md §8): coupling c, dt range, C vector, D init, κ.
PRESETS = {
    "sequential": dict(coupling=5.0, dt_min=1e-3, dt_max=1e-1, output_init="last", skip_init="normal", scale=1.0),
    "scifar_column": dict(coupling=5.0, dt_min=1e-3, dt_max=1e-1, output_init="last", skip_init="normal", scale=0.2),
    "shd": dict(coupling=5.0, dt_min=1e-3, dt_max=1e-1, output_init="ones", skip_init="normal", scale=1.0),
    "imagenet": dict(coupling=0.25, dt_min=0.2, dt_max=1.0, output_init="last", skip_init="uniform", scale=1.0),
}


def _triton_variant(x: torch.Tensor) -> str:
    """``"triton_columns"`` or ``"triton_chunks"`` for ``x`` [T, B, C, *spatial] (docs/kernels.md §11.2)."""
    columns = math.prod(x.shape[1:])
    return "triton_" + choose_pmsn_triton_variant(x.shape[0], columns, processor_count(x.device))


class PMSNState(NamedTuple):
    hidden: torch.Tensor  # complex modal states x_m, [B, C, *spatial, N]
    soma: torch.Tensor  # soma potential after reset (the remainder r), [B, C, *spatial]


class PMSNTrace(NamedTuple):
    hidden: torch.Tensor  # Re x_m[t], the hidden compartments in modal coordinates, [T, B, C, *spatial, N]
    current: torch.Tensor  # Y[t], current into the soma before clamp and scale, [T, B, C, *spatial]
    soma: torch.Tensor  # v[t], soma potential before reset, [T, B, C, *spatial]


class PMSN(Neuron):
    """Parallel multi-compartment spiking neuron with ``compartments`` = n ≥ 2 (n − 1 hidden + soma).

    Args:
        channels: C, parameters are per channel (dim 2 of ``[T, B, C, *spatial]``).
        compartments: n (default 5 ⇒ 4 complex modes, 26 parameters per channel).
        threshold: θ of the soma (fixed). scale: κ, gain of Y before the ReLU (0.2 in the sCIFAR-column preset).
        coupling: c of the tridiagonal init (5 sequential, 0.25 ImageNet). dt_min, dt_max: log-uniform Δ range.
        output_init: ``"last"`` (C = e_N) or ``"ones"`` (SHD). skip_init: D ~ ``"normal"`` N(0,1) or ``"uniform"`` U[0,1).
        surrogate: of the spike (default triangle, width 1). strict: fire on v > θ instead of v ≥ θ.
        soma_grad: ``"elementwise"`` (paper = code) or ``"cumsum"`` (gradient through the integrator),
            docs/pmsn.md §6.
        path: force ``"fft"``, ``"chunked"``, ``"fused"`` (CPU C++ sweep) or ``"triton"`` (CUDA sweep, its
            variant chosen by shape: ``"triton_columns"`` or ``"triton_chunks"``, which force one; docs/kernels.md
            §11.2); ``None`` picks: CPU → fused (if it builds, else chunked), CUDA → triton (if triton imports, else
            chunked below T = 256, FFT above); the choice is logged at debug level.
        chunk: steps per chunk of the float32 cumulative-sum soma (remainder carried) and of the chunked scan.
    """

    # optimiser role of each parameter (docs/training.md §2): the papers train the kernel at its own learning rate
    optimizer_roles = {"log_dt": "neuron_slow", "log_A_real": "neuron_slow", "A_imag": "neuron_frequency",
                       "VinvB_real": "neuron_input", "VinvB_imag": "neuron_fast", "CV_real": "neuron_fast",
                       "CV_imag": "neuron_fast"}
    soma_mode = "parallel"  # the paper's soma; the ablation variants override it (pmsn_variants.py)
    resets = True  # the soma resets after a spike (energy counting: docs/training.md §6)
    fusable = True  # the fused C++ sweep computes this soma

    def __init__(self, channels: int, compartments: int = 5, threshold: float = 1.0, scale: float = 1.0,
                 coupling: float = 5.0, dt_min: float = 1e-3, dt_max: float = 1e-1, output_init: str = "last",
                 skip_init: str = "normal", surrogate="triangle", strict: bool = False,
                 soma_grad: str = "elementwise", path: str | None = None, chunk: int = 64):
        super().__init__(surrogate, strict)
        self.channels = check_int("PMSN", "channels", channels)
        self.compartments = check_int("PMSN", "compartments", compartments, minimum=2,
                                      what="an int >= 2 (n − 1 hidden + 1 soma)")
        self.threshold = check_real("PMSN", "threshold", threshold, "> 0")
        self.scale = check_real("PMSN", "scale", scale, "> 0")  # κ of ReLU(κ·Y)
        coupling = check_real("PMSN", "coupling", coupling)
        dt_min, dt_max = check_real("PMSN", "dt_min", dt_min, "> 0"), check_real("PMSN", "dt_max", dt_max, "> 0")
        if dt_min > dt_max:
            raise ValueError(f"PMSN: dt_min must be <= dt_max, got dt_min={dt_min}, dt_max={dt_max}")
        self.chunk = check_int("PMSN", "chunk", chunk)
        for name, value, allowed in (("soma_grad", soma_grad, SOMA_GRADS), ("path", path, PATHS + (None,)),
                                     ("output_init", output_init, ("last", "ones")),
                                     ("skip_init", skip_init, ("normal", "uniform"))):
            check_choice("PMSN", name, value, allowed)
        self.soma_grad, self.path = soma_grad, path

        # init (docs/pmsn.md §1.2-2.3): diagonalise the coupling matrix once, replicate per channel
        hidden = compartments - 1
        real, omega, input_gain, readout = diagonalize(coupling_matrix(hidden, coupling), output_init)

        def per_channel(values: torch.Tensor) -> nn.Parameter:
            return nn.Parameter(values.to(torch.float32).expand(channels, hidden).clone())

        self.log_dt = nn.Parameter(torch.empty(channels).uniform_(math.log(dt_min), math.log(dt_max)))  # log Δ [C]
        self.log_A_real = per_channel(torch.log(-real))  # log(−Re λ_m) [C, N]: decay rates of the modes
        self.A_imag = per_channel(omega)  # Im λ_m [C, N]: oscillation frequencies
        self.VinvB_real, self.VinvB_imag = per_channel(input_gain.real), per_channel(input_gain.imag)  # V⁻¹B [C, N]
        self.CV_real, self.CV_imag = per_channel(readout.real), per_channel(readout.imag)  # CV [C, N]
        skip = torch.randn(channels) if skip_init == "normal" else torch.rand(channels)
        self.D = nn.Parameter(skip)  # D [C]: direct input to the soma, trained like the layer weights

    @classmethod
    def from_preset(cls, preset: str, channels: int, **overrides) -> "PMSN":
        """Build with the official code's per-task settings (``sequential``, ``scifar_column``, ``shd``, ``imagenet``)."""
        if preset not in PRESETS:
            raise ValueError(f"unknown PMSN preset {preset!r}; expected one of {sorted(PRESETS)}")
        return cls(channels, **{**PRESETS[preset], **overrides})

    def extra_repr(self) -> str:
        return (f"channels={self.channels}, compartments={self.compartments}, threshold={self.threshold}, "
                f"scale={self.scale}, soma_grad={self.soma_grad!r}")

    # the linear system ---------------------------------------------------------------------------------------
    def modal_system(self, dtype=None):
        """(Ā, B̄, C̃) complex ``[C, N]`` from the learned parameters (docs/pmsn.md §3.1), computed in ``dtype``."""
        params = [self.log_dt, self.log_A_real, self.A_imag, self.VinvB_real, self.VinvB_imag, self.CV_real,
                  self.CV_imag]
        if dtype is not None:
            params = [p.to(dtype) for p in params]
        return discretize(*params)

    def kernel(self, steps: int, dtype=None) -> torch.Tensor:
        """The convolution kernel K ``[steps, C]`` of the hidden system (docs/pmsn.md §3.2)."""
        decay, input_gain, readout = self.modal_system(dtype)
        return convolution_kernel(decay, readout * input_gain, steps)

    def _compute_dtype(self, x: torch.Tensor) -> torch.dtype:
        # float64 stays float64; float32, bf16 and fp16 run the kernel and soma in float32 (autocast safe)
        return torch.float64 if x.dtype == torch.float64 else torch.float32

    def _input(self, x: torch.Tensor) -> torch.Tensor:
        """What the hidden compartments receive: the input itself (GlobalPMSN: its sum over time)."""
        return x

    def chosen_path(self, x: torch.Tensor, return_states: bool = False) -> str:
        """The path (``fft``, ``chunked``, ``fused``, ``triton_columns`` or ``triton_chunks``) the parallel call
        takes for ``x``."""
        if self.path is not None:
            wanted = SWEEP_DEVICES.get(self.path)
            if wanted is not None and (x.device.type != wanted or return_states or not self.fusable):
                raise ValueError(f"PMSN path={self.path!r} runs on {wanted} tensors, the paper's soma (not "
                                 f"{type(self).__name__}), return_states=False; got device={x.device.type}, "
                                 f"return_states={return_states}")
            return _triton_variant(x) if self.path == "triton" else self.path
        sweep_ok = not return_states and self.fusable and isinstance(self.surrogate, Triangle)
        if x.device.type == "cpu":
            return "fused" if sweep_ok and fused_available() else "chunked"
        if x.is_cuda and sweep_ok and triton_installed():
            return _triton_variant(x)
        return "chunked" if x.shape[0] < SHORT_T else "fft"

    # parallel path -------------------------------------------------------------------------------------------
    def _parallel(self, x: torch.Tensor, return_states: bool):
        with torch.autocast(x.device.type, enabled=False):  # kernel and soma stay in float32 under autocast
            return self._parallel_full_precision(x, return_states)

    def _parallel_full_precision(self, x: torch.Tensor, return_states: bool):
        dtype = self._compute_dtype(x)
        u = self._input(x).to(dtype)
        path = self.chosen_path(x, return_states)
        if not torch.compiler.is_compiling():  # a logging call would break a torch.compile graph
            log.debug("PMSN forward: path=%s, T=%d, shape=%s, dtype=%s", path, x.shape[0], tuple(x.shape), dtype)
        if path in SWEEP_DEVICES:
            return self._fused(u, path).to(x.dtype)
        steps, spatial = u.shape[0], u.dim() - 3
        decay, input_gain, readout = self.modal_system(dtype)
        if path == "chunked":
            hidden_output = causal_conv_chunked(u, decay, input_gain, readout, self.chunk)
        else:
            hidden_output = causal_conv_fft(u, convolution_kernel(decay, readout * input_gain, steps))
        current = hidden_output + channel_view(self.D.to(dtype), spatial) * u
        if not return_states:
            return self._soma(current, trace=False)[0].to(x.dtype)
        spikes, potential = self._soma(current, trace=True)
        hidden = self._modal_states(u, decay, input_gain)
        return spikes.to(x.dtype), PMSNTrace(hidden, current, potential)

    def _fused(self, u: torch.Tensor, path: str = "fused") -> torch.Tensor:
        """Hidden system and soma in one sweep over time: C++ on CPU, Triton on CUDA (docs/pmsn.md §4.3)."""
        if path == "triton_columns":
            from pmsn.ops.triton_pmsn import pmsn_triton as sweep  # optional: imports triton
        elif path == "triton_chunks":
            from pmsn.ops.triton_pmsn_chunked import pmsn_triton_chunked as sweep
        else:
            sweep = pmsn_fused
        decay, input_gain, readout = self.modal_system(u.dtype)
        residue = readout * input_gain
        columns = u.reshape(*u.shape[:3], math.prod(u.shape[3:]))  # no -1: u may be empty
        spikes = sweep(columns, decay.real, decay.imag, residue.real, residue.imag, self.D.to(u.dtype),
                            threshold=self.threshold, scale=self.scale, surrogate_width=self._triangle_width(),
                            soma_grad=self.soma_grad, strict=self.strict)
        return spikes.reshape(u.shape)

    def _triangle_width(self) -> float:
        if not isinstance(self.surrogate, Triangle):
            raise ValueError(f"PMSN's fused sweeps support the triangle surrogate only, got {self.surrogate!r}")
        return float(self.surrogate.width)

    def _soma(self, current: torch.Tensor, trace: bool):
        """Spikes and (with ``trace``) the pre-reset potential from the soma current Y ``[T, ...]``, all steps at
        once by the parallel soma identity (docs/pmsn.md §5.3)."""
        out = parallel_soma(current, self.threshold, self.scale, self.surrogate, self.strict, self.soma_grad,
                            self.chunk, trace=trace)
        return out if trace else (out, None)

    def _modal_states(self, u, decay, input_gain) -> torch.Tensor:
        """Re x_m[t] for every mode by FFT convolution with the per-mode kernels B̄_m Ā_mˡ (analysis only)."""
        steps = u.shape[0]
        modes = []
        for m in range(decay.shape[-1]):
            kernel_m = convolution_kernel(decay[:, m:m + 1], input_gain[:, m:m + 1], steps)
            modes.append(causal_conv_fft(u, kernel_m))
        return torch.stack(modes, dim=-1)

    # serial definition ---------------------------------------------------------------------------------------
    def _soma_step(self, drive: torch.Tensor, remainder: torch.Tensor):
        """One soma update from κ·Y[t] and the previous post-reset potential; returns (S, v, new remainder)."""
        potential = remainder + torch.relu(drive)
        spikes = spike(potential - self.threshold, self.surrogate, self.strict)
        whole = self.threshold * torch.floor(potential / self.threshold)  # crossed multiples of θ (docs/pmsn.md §5.2)
        if self.soma_grad == "elementwise":
            return spikes, potential, (potential - whole).detach()  # remainder: no gradient (docs/pmsn.md §6.1)
        return spikes, potential, potential - whole.detach()  # "cumsum": through the integrator (docs/pmsn.md §6.2)

    def _step(self, x_t: torch.Tensor, state: PMSNState | None):
        dtype = self._compute_dtype(x_t)
        u = x_t.to(dtype)
        spatial = u.dim() - 2
        decay, input_gain, readout = (channel_view(p, spatial) for p in self.modal_system(dtype))
        hidden_shape = tuple(u.shape) + (self.compartments - 1,)
        if state is None:
            state = PMSNState(torch.zeros(hidden_shape, dtype=decay.dtype, device=u.device), torch.zeros_like(u))
        check_state("PMSN", "hidden", state.hidden, hidden_shape, decay.dtype, u.device)
        check_state("PMSN", "soma", state.soma, tuple(u.shape), dtype, u.device)
        hidden = decay * state.hidden + input_gain * u.unsqueeze(-1)  # x_m[t] = Ā x_m[t−1] + B̄ u[t]
        current = (readout * hidden).real.sum(-1) + channel_view(self.D.to(dtype), spatial) * u
        s_t, potential, remainder = self._soma_step(self.scale * current, state.soma)
        return s_t.to(x_t.dtype), PMSNState(hidden, remainder), PMSNTrace(hidden.real, current, potential)
