"""Fused CPU sweeps of the resetting neurons LIF/PLIF and TC-LIF (docs/neurons.md §1.3-1.4, §2.1-2.2, §3.2;
design: docs/kernels.md §4).

    from pmsn.ops.fused_leaky import fused_leaky_supports, lif_fused, tclif_fused
    if fused_leaky_supports(x, surrogate, inverse_tau):
        spikes = lif_fused(x, inverse_tau, threshold=1.0, reset="hard", surrogate=surrogate)
    if fused_leaky_supports(x, surrogate, beta1, beta2):
        spikes = tclif_fused(x, beta1, beta2, threshold=1.0, dendrite_reset=0.5, surrogate=surrogate)

One C++ sweep over time per call (``csrc/leaky_cpu.cpp``) in the native ``[T, B·C·spatial]`` layout, the same
arithmetic as the neurons' ``step`` (identical spikes); backward is one reverse sweep that recomputes the charged
potential from state checkpoints every ``BLOCK`` steps, so nothing of size T·B·C is saved besides the input.
Gradients reach ``x`` and the parameters (1/τ of PLIF, TC-LIF's β1, β2 — autograd carries them on to the raw
parameters). Surrogates: the classes of ``pmsn.surrogate``; ``fused_leaky_supports`` is False for any other,
for non-CPU tensors or dtypes other than float32/float64, and when the extension cannot be built (the loader
warns once, saying why).
Empty inputs, NaN inputs and double backward behave as in ``pmsn.ops.fused_cpu`` (same gradients as the step
loop, NaN included; ``create_graph=True`` raises one line pointing at ``neuron.serial(x)``).
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import torch

from pmsn.ops.cpp_build import load_extension
from pmsn.ops.fused_cpu import first_order_only
from pmsn.surrogate import ATan, MultiGaussian, Rectangle, Sigmoid, Triangle

# Position = the surrogate kind code of the C++ side (enum SurrogateKind).
SURROGATE_KINDS = (Triangle, ATan, Sigmoid, Rectangle, MultiGaussian)
RESET_CODES = {"hard": 0, "soft": 1, "none": 2}
BLOCK = 64  # checkpoint interval (steps); backward recomputes one block of a column tile at a time
TILE = 256  # columns per tile of a sweep (the inner, vectorised loop)

_SOURCE = Path(__file__).resolve().parent / "csrc" / "leaky_cpu.cpp"


def _extension():
    # -ffp-contract=off: no fused multiply-adds, so the sweep rounds exactly like the PyTorch step.
    return load_extension("pmsn_leaky_cpu", _SOURCE, extra_cflags=("-ffp-contract=off",))


def fused_leaky_available() -> bool:
    """True if the fused LIF/TC-LIF kernel is built (building it on the first call); warns once if it cannot be."""
    return _extension() is not None


def surrogate_code(surrogate) -> tuple[int, list[float]] | None:
    """(kind, parameters) of a ``pmsn.surrogate`` object for the C++ kernel; None for any other surrogate."""
    for kind, cls in enumerate(SURROGATE_KINDS):
        if type(surrogate) is cls:
            return kind, [float(getattr(surrogate, field.name)) for field in dataclasses.fields(cls)]
    return None


def fused_leaky_supports(x: torch.Tensor, surrogate, *params) -> bool:
    """True if the fused kernel can run this call: CPU float32/float64 ``x``, a known surrogate, parameters
    (floats or tensors) on the CPU with x's dtype (0-dim ones of any float dtype), and the extension built
    (building it on the first call; a failed build warns once)."""
    if x.device.type != "cpu" or x.dtype not in (torch.float32, torch.float64) or surrogate_code(surrogate) is None:
        return False
    for p in params:
        if isinstance(p, torch.Tensor) and (p.device.type != "cpu" or (p.dim() > 0 and p.dtype != x.dtype)):
            return False
    return _extension() is not None


def _columns(t: torch.Tensor) -> torch.Tensor:
    return t.reshape(t.shape[0], math.prod(t.shape[1:])).contiguous()  # no -1: t may be empty


def _needs_graph(*tensors) -> bool:
    return torch.is_grad_enabled() and any(isinstance(t, torch.Tensor) and t.requires_grad for t in tensors)


# ------------------------------------------------------------------------------------------------ LIF / PLIF
class _LeakyFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, inverse_tau, settings):
        columns = _columns(x)
        k = float(inverse_tau)
        threshold, reset, v_reset, v_rest, decay_input, _, strict, _ = settings
        spikes, checkpoints = _extension().leaky_forward(columns, k, threshold, reset, v_reset, v_rest, decay_input,
                                                         strict, BLOCK, TILE)
        ctx.save_for_backward(columns, checkpoints)
        ctx.k, ctx.settings, ctx.shape = k, settings, x.shape
        ctx.tau_like = (inverse_tau.dtype, inverse_tau.shape) if isinstance(inverse_tau, torch.Tensor) else None
        return spikes.view(x.shape)

    @staticmethod
    @first_order_only("run neuron.serial(x) (the step loop, same spikes and gradients) for higher-order gradients")
    def backward(ctx, grad_spikes):
        columns, checkpoints = ctx.saved_tensors
        threshold, reset, v_reset, v_rest, decay_input, detach_reset, strict, (kind, params) = ctx.settings
        need_x, need_k = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        grad_x, rate_sums = _extension().leaky_backward(
            _columns(grad_spikes.to(columns.dtype)), columns, checkpoints, ctx.k, threshold, reset, v_reset, v_rest,
            decay_input, detach_reset, strict, kind, params, BLOCK, TILE, need_x, need_k)
        grad_k = None
        if need_k:  # float64 column sums → the scalar 1/τ
            dtype, shape = ctx.tau_like
            grad_k = rate_sums.sum().to(dtype).reshape(shape)
        return (grad_x.view(ctx.shape) if need_x else None), grad_k, None


def lif_fused(x: torch.Tensor, inverse_tau, *, threshold: float = 1.0, reset: str = "hard", v_reset: float = 0.0,
              v_rest: float = 0.0, decay_input: bool = True, detach_reset: bool = False, surrogate=Sigmoid(),
              strict: bool = False) -> torch.Tensor:
    """Spikes ``[T, B, C, *spatial]`` of LIF/PLIF (k = ``inverse_tau`` = 1/τ, a float or a 0-dim tensor that
    may require grad). Check ``fused_leaky_supports(x, surrogate, inverse_tau)`` first."""
    if reset not in RESET_CODES:
        raise ValueError(f"reset must be one of {tuple(RESET_CODES)}, got {reset!r}")
    code = surrogate_code(surrogate)
    if code is None:
        raise TypeError(f"the fused kernel supports the surrogates {[c.__name__ for c in SURROGATE_KINDS]}, "
                        f"got {type(surrogate).__name__}")
    if isinstance(inverse_tau, torch.Tensor) and inverse_tau.numel() != 1:
        raise ValueError(f"inverse_tau must be a float or a one-element tensor, got shape {tuple(inverse_tau.shape)}")
    settings = (float(threshold), RESET_CODES[reset], float(v_reset), float(v_rest), bool(decay_input),
                bool(detach_reset), bool(strict), code)
    if _needs_graph(x, inverse_tau):
        return _LeakyFunction.apply(x, inverse_tau, settings)
    spikes, _ = _extension().leaky_forward(_columns(x), float(inverse_tau), settings[0], settings[1], settings[2],
                                           settings[3], settings[4], settings[6], 0, TILE)
    return spikes.view(x.shape)


# ------------------------------------------------------------------------------------------------ TC-LIF
class _TwoCompartmentFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, beta1, beta2, settings):
        columns = _columns(x)
        b1, b2 = (b.detach().reshape(-1).to(x.dtype).contiguous() for b in (beta1, beta2))
        spatial = math.prod(x.shape[3:])
        threshold, dendrite_reset, pre_reset_coupling, _, strict, _ = settings
        spikes, checkpoints = _extension().tclif_forward(columns, b1, b2, max(1, spatial), threshold, dendrite_reset,
                                                         pre_reset_coupling, strict, BLOCK, TILE)
        ctx.save_for_backward(columns, checkpoints, b1, b2)
        ctx.settings, ctx.shape, ctx.spatial = settings, x.shape, spatial
        ctx.beta_like = ((beta1.dtype, beta1.shape), (beta2.dtype, beta2.shape))
        return spikes.view(x.shape)

    @staticmethod
    @first_order_only("run neuron.serial(x) (the step loop, same spikes and gradients) for higher-order gradients")
    def backward(ctx, grad_spikes):
        columns, checkpoints, b1, b2 = ctx.saved_tensors
        threshold, dendrite_reset, pre_reset_coupling, detach_reset, strict, (kind, params) = ctx.settings
        need_x, need_betas = ctx.needs_input_grad[0], any(ctx.needs_input_grad[1:3])
        grad_x, beta_sums = _extension().tclif_backward(
            _columns(grad_spikes.to(columns.dtype)), columns, checkpoints, b1, b2, max(1, ctx.spatial), threshold,
            dendrite_reset, pre_reset_coupling, detach_reset, strict, kind, params, BLOCK, TILE, need_x, need_betas)
        grads = [grad_x.view(ctx.shape) if need_x else None, None, None]
        if need_betas:  # float64 column sums [2, J] → per layer or per channel (channel of column j: (j//S) % C)
            outer = ctx.shape[1] * ctx.shape[2] // b1.numel()  # no -1: J may be 0
            per_group = beta_sums.view(2, outer, b1.numel(), ctx.spatial).sum(dim=(1, 3))
            for i, (like, need) in enumerate(zip(ctx.beta_like, ctx.needs_input_grad[1:3])):
                grads[1 + i] = per_group[i].to(like[0]).reshape(like[1]) if need else None
        return (*grads, None)


def tclif_fused(x: torch.Tensor, beta1: torch.Tensor, beta2: torch.Tensor, *, threshold: float = 1.0,
                dendrite_reset: float = 0.5, pre_reset_coupling: bool = False, detach_reset: bool = False,
                surrogate=Triangle(), strict: bool = False) -> torch.Tensor:
    """Spikes ``[T, B, C, *spatial]`` of TC-LIF with (β1, β2) per layer (0-dim) or per channel (``[C]``, C =
    x.shape[2]); gradients reach x and the β's. Check ``fused_leaky_supports(x, surrogate, beta1, beta2)``."""
    code = surrogate_code(surrogate)
    if code is None:
        raise TypeError(f"the fused kernel supports the surrogates {[c.__name__ for c in SURROGATE_KINDS]}, "
                        f"got {type(surrogate).__name__}")
    for name, beta in (("beta1", beta1), ("beta2", beta2)):
        if not isinstance(beta, torch.Tensor) or beta.shape not in ((), (1,), (x.shape[2],)):
            raise ValueError(f"{name} must be a 0-dim tensor or have shape ({x.shape[2]},) (C = x.shape[2]), got "
                             f"{tuple(beta.shape) if isinstance(beta, torch.Tensor) else type(beta).__name__}")
    if beta1.shape != beta2.shape:
        raise ValueError(f"beta1 and beta2 must have the same shape, got {tuple(beta1.shape)} and {tuple(beta2.shape)}")
    settings = (float(threshold), float(dendrite_reset), bool(pre_reset_coupling), bool(detach_reset), bool(strict),
                code)
    if _needs_graph(x, beta1, beta2):
        return _TwoCompartmentFunction.apply(x, beta1, beta2, settings)
    b1, b2 = (b.reshape(-1).to(x.dtype).contiguous() for b in (beta1, beta2))
    spatial = max(1, math.prod(x.shape[3:]))  # the kernel wants S >= 1; a zero-size spatial dim has no columns
    spikes, _ = _extension().tclif_forward(_columns(x), b1, b2, spatial, settings[0], settings[1], settings[2],
                                           settings[4], 0, TILE)
    return spikes.view(x.shape)
