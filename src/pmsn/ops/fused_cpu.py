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
double backward (``create_graph=True``) raises one line pointing at ``neuron.serial(x)`` (docs/kernels.md §3.6).

The kernel is two ``torch.library`` custom ops, so ``torch.compile(fullgraph=True)`` and ``torch.export`` see one
opaque node per call instead of a graph break (docs/kernels.md §3.2-3.5):

    torch.ops.pmsn.pmsn_sweep_forward(u, abar_re, abar_im, residue_re, residue_im, skip, threshold, scale,
                                      surrogate_width, through_integrator, strict, block)
        -> (spikes like u, checkpoints [blocks, 2N+1, B·C·S])
    torch.ops.pmsn.pmsn_sweep_backward(grad_spikes, u, abar_re, abar_im, residue_re, residue_im, skip, checkpoints,
                                       threshold, scale, surrogate_width, through_integrator, block, need_u,
                                       need_params)
        -> (grad_u, grad_abar_re, grad_abar_im, grad_residue_re, grad_residue_im, grad_skip)

``block = 0`` (inference) writes no checkpoints; a gradient not asked for comes back as an empty tensor. The
forward op's autograd formula (``register_autograd``) calls the backward op; both ops have fake kernels (shapes
and dtypes only). ``surrogate_width`` and ``through_integrator`` (``soma_grad="cumsum"``) are forward arguments
only for the autograd formula. The extension is resolved outside any traced region: ``fused_available()`` runs
the loader once and is then one global read, and under tracing its answer is a constant
(``torch.compiler.assume_constant_result``).
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


@torch.compiler.assume_constant_result
def fused_available() -> bool:
    """True if the fused CPU kernel is built (building it on the first call); warns once if it cannot be.

    After the first call this is one global read; under ``torch.compile`` it runs at trace time and the graph keeps
    the answer as a constant, so the loader's lock never sits in a traced region (docs/kernels.md §6)."""
    return _load_extension() is not None


def _columns(u: torch.Tensor) -> torch.Tensor:
    return u.reshape(u.shape[0], math.prod(u.shape[1:])).contiguous()  # no -1: u may be empty


def block_count(steps, block: int):
    """Checkpoint blocks of a sweep over ``steps`` steps; 0 when ``block`` <= 0 (inference, no checkpoints)."""
    return (steps + block - 1) // block if block > 0 else 0


_SERIAL_HINT = "run neuron.serial(x) (the step loop, same spikes and gradients) for higher-order gradients"


def refuse_double_backward(hint: str = _SERIAL_HINT) -> None:
    """Called first in a fused kernel's autograd formula: grad mode is on there only for ``create_graph=True``,
    which gets one clear error line instead of a wrong second derivative (docs/kernels.md §3.6)."""
    if torch.is_grad_enabled():
        raise RuntimeError(f"pmsn: double backward (create_graph=True) is not supported by the fused C++ kernel; "
                           f"{hint}")


def first_order_only(hint: str):
    """Decorator of an ``autograd.Function``'s ``backward`` (the Triton kernels): ``once_differentiable``, and
    ``refuse_double_backward(hint)`` instead of a silently wrong second derivative."""
    def decorate(backward):
        once = once_differentiable(backward)

        @functools.wraps(backward)
        def wrapper(ctx, *grad_outputs):
            refuse_double_backward(hint)
            return once(ctx, *grad_outputs)
        return wrapper
    return decorate


# ------------------------------------------------------------------------------------------------ custom ops
@torch.library.custom_op("pmsn::pmsn_sweep_forward", mutates_args=(), device_types="cpu")
def pmsn_sweep_forward(u: torch.Tensor, abar_re: torch.Tensor, abar_im: torch.Tensor, residue_re: torch.Tensor,
                       residue_im: torch.Tensor, skip: torch.Tensor, threshold: float, scale: float,
                       surrogate_width: float, through_integrator: bool, strict: bool,
                       block: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(spikes like ``u``, checkpoints ``[blocks, 2N+1, B·C·S]``) of one forward sweep (docs/kernels.md §3.2-3.3);
    ``block`` = 0 writes no checkpoints (docs/kernels.md §3.6)."""
    params = [p.contiguous() for p in (abar_re, abar_im, residue_re, residue_im, skip)]
    spikes, checkpoints = _load_extension().forward(_columns(u), params, u.shape[2], math.prod(u.shape[3:]),
                                                    threshold, scale, strict, block, _TILE)
    return spikes.view(u.shape), checkpoints


@pmsn_sweep_forward.register_fake
def _(u, abar_re, abar_im, residue_re, residue_im, skip, threshold, scale, surrogate_width, through_integrator,
      strict, block):
    checkpoints = (block_count(u.shape[0], block), 2 * abar_re.shape[1] + 1, math.prod(u.shape[1:]))
    return u.new_empty(u.shape), u.new_empty(checkpoints)


@torch.library.custom_op("pmsn::pmsn_sweep_backward", mutates_args=(), device_types="cpu")
def pmsn_sweep_backward(grad_spikes: torch.Tensor, u: torch.Tensor, abar_re: torch.Tensor, abar_im: torch.Tensor,
                        residue_re: torch.Tensor, residue_im: torch.Tensor, skip: torch.Tensor,
                        checkpoints: torch.Tensor, threshold: float, scale: float, surrogate_width: float,
                        through_integrator: bool, block: int, need_u: bool,
                        need_params: bool) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor,
                                                    torch.Tensor, torch.Tensor]:
    """(dL/du, dL/dĀ re, im, dL/dr re, im, dL/dD) of one reverse sweep (docs/kernels.md §3.4-3.5); a gradient not
    asked for (``need_u`` / ``need_params`` False) is an empty tensor."""
    params = [p.contiguous() for p in (abar_re, abar_im, residue_re, residue_im, skip)]
    batch, channels, spatial = u.shape[1], u.shape[2], math.prod(u.shape[3:])
    grad_u, sums = _load_extension().backward(_columns(grad_spikes.to(u.dtype)), _columns(u), params,
                                              checkpoints.contiguous(), channels, spatial, threshold, scale,
                                              surrogate_width, through_integrator, block, _TILE, need_u, need_params)
    grad_u = grad_u.view(u.shape) if need_u else u.new_empty(0)
    if not need_params:
        return (grad_u, *(u.new_empty(0) for _ in range(5)))
    # Column sums (float64) reduced over batch and spatial positions, then to the parameters:
    # P = Σ u·ν, W = Σ u·ζ ⇒ dL/dr = (Re P, −Im P), dL/dĀ = (Re(r·W), −Im(r·W)), dL/dD = Σ u·G.
    modes = params[0].shape[1]
    per_channel = sums.view(4 * modes + 1, batch, channels, spatial).sum(dim=(1, 3))  # [4N+1, C]
    p_re, p_im, w_re, w_im = (per_channel[i * modes:(i + 1) * modes].T for i in range(4))
    r_re, r_im = params[2].double(), params[3].double()
    grads = (r_re * w_re - r_im * w_im, -(r_re * w_im + r_im * w_re), p_re, -p_im, per_channel[4 * modes])
    # Fresh tensors: views of per_channel would alias each other, which a custom op must not return.
    return (grad_u, *(g.to(u.dtype, copy=True, memory_format=torch.contiguous_format) for g in grads))


@pmsn_sweep_backward.register_fake
def _(grad_spikes, u, abar_re, abar_im, residue_re, residue_im, skip, checkpoints, threshold, scale, surrogate_width,
      through_integrator, block, need_u, need_params):
    params = (abar_re, abar_im, residue_re, residue_im, skip)
    grad_u = u.new_empty(u.shape) if need_u else u.new_empty(0)
    return (grad_u, *(u.new_empty(p.shape) if need_params else u.new_empty(0) for p in params))


def _setup_context(ctx, inputs, output):
    ctx.set_materialize_grads(False)  # no zero gradient of the checkpoints is built
    u, abar_re, abar_im, residue_re, residue_im, skip, threshold, scale, width, through_integrator, _, block = inputs
    ctx.save_for_backward(u, abar_re, abar_im, residue_re, residue_im, skip, output[1])
    ctx.settings = (threshold, scale, width, through_integrator, block)


def _backward(ctx, grad_spikes, _grad_checkpoints):
    refuse_double_backward()
    u, *params, checkpoints = ctx.saved_tensors
    need_u, need_params = ctx.needs_input_grad[0], any(ctx.needs_input_grad[1:6])
    grads = torch.ops.pmsn.pmsn_sweep_backward(grad_spikes, u, *params, checkpoints, *ctx.settings, need_u,
                                               need_params)
    return (*(g if need else None for g, need in zip(grads, ctx.needs_input_grad[:6])), None, None, None, None,
            None, None)


pmsn_sweep_forward.register_autograd(_backward, setup_context=_setup_context)


def check_sweep_arguments(u, abar_re, abar_im, residue_re, residue_im, skip, threshold, surrogate_width, soma_grad,
                          cpu_only: bool = True) -> int:
    """Check the arguments of a PMSN sweep (this one, or the Triton one with ``cpu_only=False``); returns N."""
    named = {"u": u, "abar_re": abar_re, "abar_im": abar_im, "residue_re": residue_re, "residue_im": residue_im,
             "skip": skip}
    for name, tensor in named.items():
        if not isinstance(tensor, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(tensor).__name__}")
    if u.dtype not in (torch.float32, torch.float64):
        raise TypeError(f"u must be float32 or float64, got {u.dtype}")
    if cpu_only and u.device.type != "cpu":
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
    return modes


def pmsn_fused(u, abar_re, abar_im, residue_re, residue_im, skip, threshold=1.0, scale=1.0, surrogate_width=1.0,
               soma_grad="elementwise", strict=False) -> torch.Tensor:
    """Spikes ``[T, B, C, *spatial]`` (u's dtype) of the PMSN neuron, fused forward and backward on the CPU.

    Gradients flow to ``u`` and to every parameter that requires grad (triangle surrogate of width
    ``surrogate_width``; ``soma_grad`` as in docs/pmsn.md §6). Raises RuntimeError if the extension is not available
    (check ``fused_available()`` first).
    """
    check_sweep_arguments(u, abar_re, abar_im, residue_re, residue_im, skip, threshold, surrogate_width, soma_grad)
    if not fused_available():
        raise RuntimeError("pmsn: the fused CPU kernel is not available (see the earlier warning)")
    tensors = (u, abar_re, abar_im, residue_re, residue_im, skip)
    training = torch.is_grad_enabled() and any(t.requires_grad for t in tensors)
    # Inference: block = 0, no checkpoints, nothing saved (docs/kernels.md §3.6).
    spikes, _ = torch.ops.pmsn.pmsn_sweep_forward(*tensors, float(threshold), float(scale), float(surrogate_width),
                                                  soma_grad == "cumsum", bool(strict), _BLOCK if training else 0)
    return spikes
