"""Fused CPU path of the PMSN neuron: one serial sweep over time in C++ (docs/pmsn.md §4.3, docs/kernels.md §3).

    from pmsn.ops.fused_cpu import fused_available, pmsn_fused
    if fused_available():
        spikes = pmsn_fused(u, abar_re, abar_im, residue_re, residue_im, skip)

``u`` is ``[T, B, C, *spatial]`` (float32 or float64), the modal parameters are real ``[C, N]`` tensors
(Ā = abar_re + i·abar_im, r = C̃·B̄ = residue_re + i·residue_im) and ``skip`` is D ``[C]``. Per column:
x̂_m[t] = Ā_m·x̂_m[t−1] + u[t], Y = D·u + Re Σ_m r_m·x̂_m, x = ReLU(κ·Y), serial soma with remainder reset
(docs/pmsn.md §5.2). Backward follows docs/pmsn.md §6 (``soma_grad="elementwise"`` or ``"cumsum"``) with a
triangle surrogate.

The extension is compiled on first use with ``torch.utils.cpp_extension.load`` (gcc/clang + ninja, about 30 s
once, then cached in the torch extensions directory). Where it cannot be built, ``fused_available()`` warns
once, saying why, and returns False: callers then use the pure-PyTorch path.

Edge cases: empty inputs (B = 0 or a zero-size spatial dim) give empty spikes and zero parameter gradients; a
NaN in u gives NaN gradients exactly where the step loop's autograd does (selects, not multiplications by 0);
double backward (``create_graph=True``) raises one line pointing at ``neuron.serial(x)``.
"""

from __future__ import annotations

import functools
import math
from pathlib import Path

import torch
from torch.autograd.function import once_differentiable

from pmsn.ops.cpp_build import load_extension
from pmsn.ops.soma import SOMA_GRADS

_SOURCE = Path(__file__).resolve().parent / "csrc" / "pmsn_cpu.cpp"
_EXTENSION_NAME = "pmsn_fused_cpu"
_BLOCK = 64  # checkpoint interval (steps) of modal state + remainder; backward recomputes one block at a time
_TILE = 128  # columns per tile (inner, vectorised loop); 128 measured best here (L2-resident backward scratch)


def _load_extension():
    """The built extension, or None after one warning saying why it could not be built."""
    return load_extension(_EXTENSION_NAME, _SOURCE)


def fused_available() -> bool:
    """True if the fused CPU kernel is built (building it on the first call); warns once if it cannot be."""
    return _load_extension() is not None


def _columns(u: torch.Tensor) -> torch.Tensor:
    return u.reshape(u.shape[0], math.prod(u.shape[1:])).contiguous()  # no -1: u may be empty


def first_order_only(hint: str):
    """Decorator of a fused kernel's ``backward``: ``once_differentiable``, and one clear error line instead of a
    silently wrong (or confusing) second derivative when the backward runs with ``create_graph=True``."""
    def decorate(backward):
        once = once_differentiable(backward)

        @functools.wraps(backward)
        def wrapper(ctx, *grad_outputs):
            if torch.is_grad_enabled():  # inside backward: True only for create_graph=True
                raise RuntimeError(f"pmsn: double backward (create_graph=True) is not supported by the fused C++ "
                                   f"kernel; {hint}")
            return once(ctx, *grad_outputs)
        return wrapper
    return decorate


class _FusedPMSN(torch.autograd.Function):
    @staticmethod
    def forward(ctx, u, abar_re, abar_im, residue_re, residue_im, skip, threshold, scale, surrogate_width,
                through_integrator, strict):
        params = [p.contiguous() for p in (abar_re, abar_im, residue_re, residue_im, skip)]
        columns = _columns(u)
        spatial = math.prod(u.shape[3:])
        spikes, checkpoints = _load_extension().forward(columns, params, u.shape[2], spatial, threshold, scale, strict,
                                                 _BLOCK, _TILE)
        ctx.save_for_backward(columns, checkpoints, *params)
        ctx.shape, ctx.spatial = u.shape, spatial
        ctx.settings = (threshold, scale, surrogate_width, through_integrator)
        return spikes.view(u.shape)

    @staticmethod
    @first_order_only("run neuron.serial(x) (the step loop, same spikes and gradients) for higher-order gradients")
    def backward(ctx, grad_spikes):
        columns, checkpoints, *params = ctx.saved_tensors
        threshold, scale, surrogate_width, through_integrator = ctx.settings
        batch, channels = ctx.shape[1:3]
        need_u, need_params = ctx.needs_input_grad[0], any(ctx.needs_input_grad[1:6])
        grad_columns = _columns(grad_spikes.to(columns.dtype))
        grad_u, sums = _load_extension().backward(grad_columns, columns, params, checkpoints, channels, ctx.spatial,
                                           threshold, scale, surrogate_width, through_integrator, _BLOCK, _TILE,
                                           need_u, need_params)
        grads = [grad_u.view(ctx.shape) if need_u else None] + [None] * 5
        if need_params:
            # Column sums (float64) reduced over batch and spatial positions, then to the parameters:
            # P = Σ u·ν, W = Σ u·ζ ⇒ dL/dr = (Re P, −Im P), dL/dĀ = (Re(r·W), −Im(r·W)), dL/dD = Σ u·G.
            modes = params[0].shape[1]
            per_channel = sums.view(4 * modes + 1, batch, channels, ctx.spatial).sum(dim=(1, 3))  # [4N+1, C]
            p_re, p_im, w_re, w_im = (per_channel[i * modes:(i + 1) * modes].T for i in range(4))
            r_re, r_im = params[2].double(), params[3].double()
            dtype = columns.dtype
            grads[1:6] = [
                (r_re * w_re - r_im * w_im).to(dtype),
                (-(r_re * w_im + r_im * w_re)).to(dtype),
                p_re.to(dtype),
                (-p_im).to(dtype),
                per_channel[4 * modes].to(dtype),
            ]
            grads[1:6] = [g if need else None for g, need in zip(grads[1:6], ctx.needs_input_grad[1:6])]
        return (*grads, None, None, None, None, None)


def _validate(u, abar_re, abar_im, residue_re, residue_im, skip, threshold, surrogate_width, soma_grad):
    named = {"u": u, "abar_re": abar_re, "abar_im": abar_im, "residue_re": residue_re, "residue_im": residue_im,
             "skip": skip}
    for name, tensor in named.items():
        if not isinstance(tensor, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(tensor).__name__}")
    if u.dtype not in (torch.float32, torch.float64):
        raise TypeError(f"u must be float32 or float64, got {u.dtype}")
    if u.device.type != "cpu":
        raise ValueError(f"the fused kernel runs on CPU tensors, got u on {u.device}")
    if u.dim() < 3:
        raise ValueError(f"u must be [T, B, C, *spatial], got shape {tuple(u.shape)}")
    channels = u.shape[2]
    modes = abar_re.shape[-1] if abar_re.dim() == 2 else None
    for name, tensor in named.items():
        if name == "u":
            continue
        expected = (channels,) if name == "skip" else (channels, modes)
        if tensor.dim() != len(expected) or (modes is not None and tuple(tensor.shape) != expected):
            raise ValueError(f"{name} must have shape {expected} (C = u.shape[2], N modes), got {tuple(tensor.shape)}")
        if tensor.dtype != u.dtype:
            raise TypeError(f"{name} must have u's dtype {u.dtype}, got {tensor.dtype}")
        if tensor.device != u.device:
            raise ValueError(f"{name} must be on {u.device}, got {tensor.device}")
    if modes is None or modes < 1:
        raise ValueError(f"abar_re must have shape (C, N) with N >= 1, got {tuple(abar_re.shape)}")
    if soma_grad not in SOMA_GRADS:
        raise ValueError(f"soma_grad must be one of {SOMA_GRADS}, got {soma_grad!r}")
    if not threshold > 0:
        raise ValueError(f"threshold must be > 0, got {threshold}")
    if not surrogate_width > 0:
        raise ValueError(f"surrogate_width must be > 0, got {surrogate_width}")


def pmsn_fused(u, abar_re, abar_im, residue_re, residue_im, skip, threshold=1.0, scale=1.0, surrogate_width=1.0,
               soma_grad="elementwise", strict=False) -> torch.Tensor:
    """Spikes ``[T, B, C, *spatial]`` (u's dtype) of the PMSN neuron, fused forward and backward on the CPU.

    Gradients flow to ``u`` and to every parameter that requires grad (triangle surrogate of width
    ``surrogate_width``; ``soma_grad`` as in docs/pmsn.md §6). Raises RuntimeError if the extension is not available
    (check ``fused_available()`` first).
    """
    _validate(u, abar_re, abar_im, residue_re, residue_im, skip, threshold, surrogate_width, soma_grad)
    if not fused_available():
        raise RuntimeError("pmsn: the fused CPU kernel is not available (see the earlier warning)")
    tensors = (u, abar_re, abar_im, residue_re, residue_im, skip)
    settings = (float(threshold), float(scale), float(surrogate_width), soma_grad == "cumsum", bool(strict))
    if torch.is_grad_enabled() and any(t.requires_grad for t in tensors):
        return _FusedPMSN.apply(*tensors, *settings)
    columns = _columns(u)  # inference: no checkpoints, nothing saved
    params = [p.contiguous() for p in tensors[1:]]
    spikes, _ = _load_extension().forward(columns, params, u.shape[2], math.prod(u.shape[3:]), settings[0], settings[1],
                                   settings[4], 0, _TILE)
    return spikes.view(u.shape)
