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

Each sweep is a pair of ``torch.library`` custom ops (forward, backward; docs/kernels.md §4.1-4.3), so
``torch.compile(fullgraph=True)`` and ``torch.export`` see one opaque node per call:

    torch.ops.pmsn.lif_forward(x, inverse_tau, threshold, reset, v_reset, v_rest, decay_input, detach_reset,
                               strict, surrogate_kind, surrogate_params, block) -> (spikes, checkpoints [blocks, J])
    torch.ops.pmsn.lif_backward(grad_spikes, x, checkpoints, inverse_tau, <the same settings>, block, need_x,
                                need_inverse_tau) -> (grad_x, grad_inverse_tau)
    torch.ops.pmsn.tclif_forward(x, beta1, beta2, threshold, dendrite_reset, pre_reset_coupling, detach_reset,
                                 strict, surrogate_kind, surrogate_params, block) -> (spikes, checkpoints [blocks, 3, J])
    torch.ops.pmsn.tclif_backward(grad_spikes, x, checkpoints, beta1, beta2, <the same settings>, block, need_x,
                                  need_betas) -> (grad_x, grad_beta1, grad_beta2)

``inverse_tau`` is a one-element tensor (a float 1/τ is wrapped in a float64 one, so the kernel sees the same
double); ``reset`` is "hard", "soft" or "none"; ``surrogate_kind`` indexes ``SURROGATE_KINDS`` and
``surrogate_params`` are the fields of that dataclass (``surrogate_code``). ``block = 0`` (inference) writes no
checkpoints; a gradient not asked for is an empty tensor. Every op has a fake kernel (shapes and dtypes only);
the forward ops' autograd formulas call the backward ops and refuse double backward (docs/kernels.md §3.6).
``fused_leaky_available()`` resolves the extension once, outside any traced region (docs/kernels.md §6).
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import torch

from pmsn.ops.cpp_build import load_extension
from pmsn.ops.fused_cpu import block_count, refuse_double_backward
from pmsn.surrogate import ATan, MultiGaussian, Rectangle, Sigmoid, Triangle

# Position = the surrogate kind code of the C++ side (enum SurrogateKind).
SURROGATE_KINDS = (Triangle, ATan, Sigmoid, Rectangle, MultiGaussian)
# The C++ parameters of each kind, in order: the dataclass fields, read once here (not per call under tracing).
_SURROGATE_FIELDS = tuple(tuple(field.name for field in dataclasses.fields(cls)) for cls in SURROGATE_KINDS)
RESET_CODES = {"hard": 0, "soft": 1, "none": 2}
BLOCK = 64  # checkpoint interval (steps); backward recomputes one block of a column tile at a time
TILE = 256  # columns per tile of a sweep (the inner, vectorised loop)

_SOURCE = Path(__file__).resolve().parent / "csrc" / "leaky_cpu.cpp"
_EXTENSION_NAME = "pmsn_leaky_cpu"
def _extension():
    # -ffp-contract=off: no fused multiply-adds, so the sweep rounds exactly like the PyTorch step.
    return load_extension(_EXTENSION_NAME, _SOURCE, extra_cflags=("-ffp-contract=off",))


@torch.compiler.assume_constant_result
def fused_leaky_available() -> bool:
    """True if the fused LIF/TC-LIF kernel is built (building it on the first call); warns once if it cannot be.

    After the first call this is one global read; under ``torch.compile`` it runs at trace time and the graph keeps
    the answer as a constant, so the loader's lock never sits in a traced region (docs/kernels.md §6)."""
    return _extension() is not None


def surrogate_code(surrogate) -> tuple[int, list[float]] | None:
    """(kind, parameters) of a ``pmsn.surrogate`` object for the C++ kernel; None for any other surrogate."""
    for kind, cls in enumerate(SURROGATE_KINDS):
        if type(surrogate) is cls:
            return kind, [float(getattr(surrogate, name)) for name in _SURROGATE_FIELDS[kind]]
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
    return fused_leaky_available()


def _columns(t: torch.Tensor) -> torch.Tensor:
    return t.reshape(t.shape[0], math.prod(t.shape[1:])).contiguous()  # no -1: t may be empty


def _needs_graph(*tensors) -> bool:
    return torch.is_grad_enabled() and any(isinstance(t, torch.Tensor) and t.requires_grad for t in tensors)


def _checked_code(surrogate) -> tuple[int, list[float]]:
    code = surrogate_code(surrogate)
    if code is None:
        raise TypeError(f"the fused kernel supports the surrogates {[c.__name__ for c in SURROGATE_KINDS]}, "
                        f"got {type(surrogate).__name__}")
    return code


# ------------------------------------------------------------------------------------------------ LIF / PLIF
@torch.library.custom_op("pmsn::lif_forward", mutates_args=(), device_types="cpu")
def lif_forward(x: torch.Tensor, inverse_tau: torch.Tensor, threshold: float, reset: str, v_reset: float,
                v_rest: float, decay_input: bool, detach_reset: bool, strict: bool, surrogate_kind: int,
                surrogate_params: list[float], block: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(spikes like ``x``, checkpoints ``[blocks, J]``) of one LIF/PLIF sweep (docs/kernels.md §4.1-4.2);
    ``block`` = 0 writes no checkpoints. ``detach_reset`` and the surrogate are used by the autograd formula."""
    spikes, checkpoints = _extension().leaky_forward(_columns(x), inverse_tau.item(), threshold, RESET_CODES[reset],
                                                     v_reset, v_rest, decay_input, strict, block, TILE)
    return spikes.view(x.shape), checkpoints


@lif_forward.register_fake
def _(x, inverse_tau, threshold, reset, v_reset, v_rest, decay_input, detach_reset, strict, surrogate_kind,
      surrogate_params, block):
    return x.new_empty(x.shape), x.new_empty((block_count(x.shape[0], block), math.prod(x.shape[1:])))


@torch.library.custom_op("pmsn::lif_backward", mutates_args=(), device_types="cpu")
def lif_backward(grad_spikes: torch.Tensor, x: torch.Tensor, checkpoints: torch.Tensor, inverse_tau: torch.Tensor,
                 threshold: float, reset: str, v_reset: float, v_rest: float, decay_input: bool, detach_reset: bool,
                 strict: bool, surrogate_kind: int, surrogate_params: list[float], block: int, need_x: bool,
                 need_inverse_tau: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """(dL/dx, dL/d(1/τ) like ``inverse_tau``) of one reverse LIF/PLIF sweep (docs/kernels.md §4.3); a gradient
    not asked for is an empty tensor."""
    grad_x, rate_sums = _extension().leaky_backward(
        _columns(grad_spikes.to(x.dtype)), _columns(x), checkpoints.contiguous(), inverse_tau.item(), threshold,
        RESET_CODES[reset], v_reset, v_rest, decay_input, detach_reset, strict, surrogate_kind,
        list(surrogate_params), block, TILE, need_x, need_inverse_tau)
    grad_x = grad_x.view(x.shape) if need_x else x.new_empty(0)
    # float64 column sums → the scalar 1/τ
    grad_k = rate_sums.sum().to(inverse_tau.dtype).reshape(inverse_tau.shape) if need_inverse_tau else x.new_empty(0)
    return grad_x, grad_k


@lif_backward.register_fake
def _(grad_spikes, x, checkpoints, inverse_tau, threshold, reset, v_reset, v_rest, decay_input, detach_reset, strict,
      surrogate_kind, surrogate_params, block, need_x, need_inverse_tau):
    return (x.new_empty(x.shape) if need_x else x.new_empty(0),
            inverse_tau.new_empty(inverse_tau.shape) if need_inverse_tau else x.new_empty(0))


def _lif_setup_context(ctx, inputs, output):
    ctx.set_materialize_grads(False)  # no zero gradient of the checkpoints is built
    x, inverse_tau, *settings, block = inputs
    ctx.save_for_backward(x, output[1])
    # The one-element 1/τ rides on ctx, not through save_for_backward: PLIF's sigmoid already saves that tensor,
    # and backward keeps only x plus the checkpoints (docs/kernels.md §4.3).
    ctx.inverse_tau = inverse_tau.detach()
    ctx.settings, ctx.block = settings, block


def _lif_backward(ctx, grad_spikes, _grad_checkpoints):
    refuse_double_backward()
    x, checkpoints = ctx.saved_tensors
    inverse_tau = ctx.inverse_tau
    need_x, need_k = ctx.needs_input_grad[:2]
    grad_x, grad_k = torch.ops.pmsn.lif_backward(grad_spikes, x, checkpoints, inverse_tau, *ctx.settings, ctx.block,
                                                 need_x, need_k)
    return (grad_x if need_x else None, grad_k if need_k else None, *([None] * 10))


lif_forward.register_autograd(_lif_backward, setup_context=_lif_setup_context)


def lif_fused(x: torch.Tensor, inverse_tau, *, threshold: float = 1.0, reset: str = "hard", v_reset: float = 0.0,
              v_rest: float = 0.0, decay_input: bool = True, detach_reset: bool = False, surrogate=Sigmoid(),
              strict: bool = False) -> torch.Tensor:
    """Spikes ``[T, B, C, *spatial]`` of LIF/PLIF (k = ``inverse_tau`` = 1/τ, a float or a 0-dim tensor that
    may require grad). Check ``fused_leaky_supports(x, surrogate, inverse_tau)`` first."""
    if reset not in RESET_CODES:
        raise ValueError(f"reset must be one of {tuple(RESET_CODES)}, got {reset!r}")
    kind, params = _checked_code(surrogate)
    if isinstance(inverse_tau, torch.Tensor):
        if inverse_tau.numel() != 1:
            raise ValueError(f"inverse_tau must be a float or a one-element tensor, got shape "
                             f"{tuple(inverse_tau.shape)}")
        k = inverse_tau
    else:
        k = torch.tensor(float(inverse_tau), dtype=torch.float64)
    block = BLOCK if _needs_graph(x, k) else 0  # inference: no checkpoints, nothing saved
    spikes, _ = torch.ops.pmsn.lif_forward(x, k, float(threshold), reset, float(v_reset), float(v_rest),
                                           bool(decay_input), bool(detach_reset), bool(strict), kind, params, block)
    return spikes


# ------------------------------------------------------------------------------------------------ TC-LIF
def _betas(x: torch.Tensor, beta1: torch.Tensor, beta2: torch.Tensor) -> list[torch.Tensor]:
    return [b.detach().reshape(-1).to(x.dtype).contiguous() for b in (beta1, beta2)]


@torch.library.custom_op("pmsn::tclif_forward", mutates_args=(), device_types="cpu")
def tclif_forward(x: torch.Tensor, beta1: torch.Tensor, beta2: torch.Tensor, threshold: float, dendrite_reset: float,
                  pre_reset_coupling: bool, detach_reset: bool, strict: bool, surrogate_kind: int,
                  surrogate_params: list[float], block: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(spikes like ``x``, checkpoints ``[blocks, 3, J]``) of one TC-LIF sweep (docs/kernels.md §4.1-4.2);
    ``block`` = 0 writes no checkpoints. ``detach_reset`` and the surrogate are used by the autograd formula."""
    b1, b2 = _betas(x, beta1, beta2)
    spatial = max(1, math.prod(x.shape[3:]))  # the kernel wants S >= 1; a zero-size spatial dim has no columns
    spikes, checkpoints = _extension().tclif_forward(_columns(x), b1, b2, spatial, threshold, dendrite_reset,
                                                     pre_reset_coupling, strict, block, TILE)
    return spikes.view(x.shape), checkpoints


@tclif_forward.register_fake
def _(x, beta1, beta2, threshold, dendrite_reset, pre_reset_coupling, detach_reset, strict, surrogate_kind,
      surrogate_params, block):
    return x.new_empty(x.shape), x.new_empty((block_count(x.shape[0], block), 3, math.prod(x.shape[1:])))


@torch.library.custom_op("pmsn::tclif_backward", mutates_args=(), device_types="cpu")
def tclif_backward(grad_spikes: torch.Tensor, x: torch.Tensor, checkpoints: torch.Tensor, beta1: torch.Tensor,
                   beta2: torch.Tensor, threshold: float, dendrite_reset: float, pre_reset_coupling: bool,
                   detach_reset: bool, strict: bool, surrogate_kind: int, surrogate_params: list[float], block: int,
                   need_x: bool, need_betas: bool) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(dL/dx, dL/dβ1, dL/dβ2 like the β's) of one reverse TC-LIF sweep (docs/kernels.md §4.3); a gradient not
    asked for is an empty tensor."""
    b1, b2 = _betas(x, beta1, beta2)
    spatial = math.prod(x.shape[3:])
    grad_x, beta_sums = _extension().tclif_backward(
        _columns(grad_spikes.to(x.dtype)), _columns(x), checkpoints.contiguous(), b1, b2, max(1, spatial), threshold,
        dendrite_reset, pre_reset_coupling, detach_reset, strict, surrogate_kind, list(surrogate_params), block,
        TILE, need_x, need_betas)
    grad_x = grad_x.view(x.shape) if need_x else x.new_empty(0)
    if not need_betas:
        return grad_x, x.new_empty(0), x.new_empty(0)
    # float64 column sums [2, J] → per layer or per channel (channel of column j: (j//S) % C)
    outer = x.shape[1] * x.shape[2] // b1.numel()  # no -1: J may be 0
    per_group = beta_sums.view(2, outer, b1.numel(), spatial).sum(dim=(1, 3))
    # Fresh tensors: rows of per_group would alias each other, which a custom op must not return.
    return (grad_x, *(per_group[i].to(beta.dtype, copy=True).reshape(beta.shape)
                      for i, beta in enumerate((beta1, beta2))))


@tclif_backward.register_fake
def _(grad_spikes, x, checkpoints, beta1, beta2, threshold, dendrite_reset, pre_reset_coupling, detach_reset, strict,
      surrogate_kind, surrogate_params, block, need_x, need_betas):
    return (x.new_empty(x.shape) if need_x else x.new_empty(0),
            *(beta.new_empty(beta.shape) if need_betas else x.new_empty(0) for beta in (beta1, beta2)))


def _tclif_setup_context(ctx, inputs, output):
    ctx.set_materialize_grads(False)  # no zero gradient of the checkpoints is built
    x, beta1, beta2, *settings, block = inputs
    ctx.save_for_backward(x, output[1], beta1, beta2)
    ctx.settings, ctx.block = settings, block


def _tclif_backward(ctx, grad_spikes, _grad_checkpoints):
    refuse_double_backward()
    x, checkpoints, beta1, beta2 = ctx.saved_tensors
    need_x, need_betas = ctx.needs_input_grad[0], any(ctx.needs_input_grad[1:3])
    grads = torch.ops.pmsn.tclif_backward(grad_spikes, x, checkpoints, beta1, beta2, *ctx.settings, ctx.block,
                                          need_x, need_betas)
    return (*(g if need else None for g, need in zip(grads, ctx.needs_input_grad[:3])), *([None] * 8))


tclif_forward.register_autograd(_tclif_backward, setup_context=_tclif_setup_context)


def tclif_fused(x: torch.Tensor, beta1: torch.Tensor, beta2: torch.Tensor, *, threshold: float = 1.0,
                dendrite_reset: float = 0.5, pre_reset_coupling: bool = False, detach_reset: bool = False,
                surrogate=Triangle(), strict: bool = False) -> torch.Tensor:
    """Spikes ``[T, B, C, *spatial]`` of TC-LIF with (β1, β2) per layer (0-dim) or per channel (``[C]``, C =
    x.shape[2]); gradients reach x and the β's. Check ``fused_leaky_supports(x, surrogate, beta1, beta2)``."""
    kind, params = _checked_code(surrogate)
    for name, beta in (("beta1", beta1), ("beta2", beta2)):
        if not isinstance(beta, torch.Tensor) or beta.shape not in ((), (1,), (x.shape[2],)):
            raise ValueError(f"{name} must be a 0-dim tensor or have shape ({x.shape[2]},) (C = x.shape[2]), got "
                             f"{tuple(beta.shape) if isinstance(beta, torch.Tensor) else type(beta).__name__}")
    if beta1.shape != beta2.shape:
        raise ValueError(f"beta1 and beta2 must have the same shape, got {tuple(beta1.shape)} and {tuple(beta2.shape)}")
    block = BLOCK if _needs_graph(x, beta1, beta2) else 0  # inference: no checkpoints, nothing saved
    spikes, _ = torch.ops.pmsn.tclif_forward(x, beta1, beta2, float(threshold), float(dendrite_reset),
                                             bool(pre_reset_coupling), bool(detach_reset), bool(strict), kind, params,
                                             block)
    return spikes
