"""Triton GPU sweeps of the resetting neurons LIF/PLIF and TC-LIF: the fused CPU kernels (``pmsn.ops.fused_leaky``)
as Triton kernels, same signatures, same semantics (docs/neurons.md §1.3-1.4, §2.1-2.2, §3.2; design:
docs/kernels.md §4).

    from pmsn.ops.triton_leaky import leaky_triton, tclif_triton, triton_leaky_supports
    if triton_leaky_supports(x, surrogate, inverse_tau):
        spikes = leaky_triton(x, inverse_tau, threshold=1.0, reset="hard", surrogate=surrogate)
    if triton_leaky_supports(x, surrogate, beta1, beta2):
        spikes = tclif_triton(x, beta1, beta2, threshold=1.0, dendrite_reset=0.5, surrogate=surrogate)

One program per tile of columns of ``[T, J]`` (J = B·C·spatial) keeps the neuron state in registers while t runs
over the sequence, in the operation order of the neurons' ``step`` and without fused multiply-adds
(``enable_fp_fusion=False``), so the spikes equal the step loop's (docs/kernels.md §4.2). LIF/PLIF
(k = 1/τ, H charged, V post-reset potential):

    decay_input: H = V + (X − (V − V_rest))·k,   else H = V − (V − V_rest)·k + X;   S = Θ(H − θ)
    hard: V = H·(1 − S) + V_reset·S,   soft: V = H − θ·S,   none: V = H

TC-LIF (P = S[t−1]): a = U + θ·P (pre-reset coupling) or U; D_c = D + β1·a + X; U_c = U + β2·D_c;
S = Θ(U_c − θ); D = D_c − γ·S; U = U_c − θ·S.

Forward stores the state every ``BLOCK`` steps; backward recomputes one block from its checkpoint into a
per-program scratch and runs the adjoint recurrence of docs/kernels.md §4.3 in reverse:

    LIF:    g_H = g_V·∂V/∂H + (dL/dS + g_V·∂V/∂S)·g(H − θ);  dL/dX = g_H·k (or g_H);  g_V ← g_H·(1 − k);
            dL/dk += g_H·(X − (V − V_rest)) (or −g_H·(V − V_rest))
    TC-LIF: g_S = dL/dS + g_P − γ·g_D − θ·g_U;  g_Uc = g_U + g_S·g(U_c − θ);  g_Dc = g_D + β2·g_Uc;  dL/dX = g_Dc;
            dL/dβ1 += g_Dc·a;  dL/dβ2 += g_Uc·D_c;  g_D ← g_Dc;  g_U ← g_Uc + β1·g_Dc;  g_P ← θ·β1·g_Dc

(the reset terms vanish with ``detach_reset``; g_P only with the pre-reset coupling and an attached reset).
Parameter gradients are per-column float64 sums reduced in PyTorch. Surrogates: the five classes of
``pmsn.surrogate`` (docs/neurons.md §1.3). Empty inputs, NaN inputs and double backward behave as in
``pmsn.ops.fused_leaky``.
"""

from __future__ import annotations

import math

import torch
import triton
import triton.language as tl

from pmsn.ops import triton_common as common
from pmsn.ops.fused_cpu import first_order_only
from pmsn.ops.fused_leaky import RESET_CODES, SURROGATE_KINDS, surrogate_code
from pmsn.surrogate import Sigmoid, Triangle

NONE = RESET_CODES["none"]  # the kernels test RESET == 0 (hard), 1 (soft), else none
SURROGATE_CONSTANTS = 5  # constants of the surrogate derivative per call (unused ones are 0)
INTERPRETED = bool(triton.knobs.runtime.interpret)  # kernels below built for the interpreter (CPU tensors)


def triton_leaky_supports(x: torch.Tensor, surrogate, *params) -> bool:
    """True if the Triton sweeps can run this call: ``triton_common.triton_supports(x, *params)`` and a surrogate
    of ``pmsn.surrogate``."""
    return surrogate_code(surrogate) is not None and common.triton_supports(x, *params)


def _surrogate_constants(surrogate) -> tuple[int, list[float]]:
    """(kind, the constants ``_surrogate`` reads), computed in float64 from the surrogate's fields."""
    code = surrogate_code(surrogate)
    if code is None:
        raise TypeError(f"the Triton kernels support the surrogates {[c.__name__ for c in SURROGATE_KINDS]}, "
                        f"got {type(surrogate).__name__}")
    kind, p = code
    if kind == 0:  # Triangle(width)
        constants = [p[0], p[0] * p[0]]
    elif kind == 1:  # ATan(alpha)
        constants = [p[0], math.pi / 2.0 * p[0]]
    elif kind == 2:  # Sigmoid(alpha)
        constants = [p[0]]
    elif kind == 3:  # Rectangle(width)
        constants = [p[0] / 2.0, 1.0 / p[0]]
    else:  # MultiGaussian(sigma, height, spread, scale)
        sigma, height, wide = p[0], p[1], p[2] * p[0]
        root_two_pi = math.sqrt(2.0 * math.pi)
        constants = [sigma, p[3] * (1.0 + height) / (root_two_pi * sigma), p[3] * height / (root_two_pi * wide),
                     -0.5 / (sigma * sigma), -0.5 / (wide * wide)]
    return kind, constants + [0.0] * (SURROGATE_CONSTANTS - len(constants))


@triton.jit
def _surrogate(z, c0, c1, c2, c3, c4, KIND: tl.constexpr):
    """g(z), the surrogate derivative at z = H − θ (docs/neurons.md §1.3; constants of ``_surrogate_constants``).
    NaN stays NaN, as in the PyTorch formulas."""
    if KIND == 0:  # Triangle: (γ − |z|)⁺ / γ²
        room = c0 - tl.abs(z)
        out = tl.where(room <= 0, 0.0, room / c1)
    elif KIND == 1:  # ATan: α / (2·(1 + (π α z / 2)²))
        y = c1 * z
        out = c0 / (2.0 * (1.0 + y * y))
    elif KIND == 2:  # Sigmoid: α·σ(αz)·(1 − σ(αz)) = α·e / (1 + e)², e = exp(−α|z|)
        e = tl.exp(-c0 * tl.abs(z))
        out = c0 * e / ((1.0 + e) * (1.0 + e))
    elif KIND == 3:  # Rectangle: 1/w inside |z| < w/2
        out = tl.where(tl.abs(z) < c0, c1, 0.0).to(z.dtype)
    else:  # MultiGaussian: scale·[(1+h)·N(z; 0, σ) − h·N(z; σ, sσ) − h·N(z; −σ, sσ)]
        right = z - c0
        left = z + c0
        out = c1 * tl.exp(c3 * z * z) - c2 * (tl.exp(c4 * right * right) + tl.exp(c4 * left * left))
    return out


@triton.jit
def _heaviside(z, STRICT: tl.constexpr):
    """Θ(z) in z's dtype: z ≥ 0 fires (z > 0 if STRICT); NaN does not fire."""
    fired = z > 0 if STRICT else z >= 0
    return fired.to(z.dtype)


# ------------------------------------------------------------------------------------------------ LIF / PLIF
@triton.jit
def _lif_step(x_t, v, k, threshold, v_reset, v_rest, RESET: tl.constexpr, DECAY_INPUT: tl.constexpr,
              STRICT: tl.constexpr):
    """One LIF step (pmsn.neurons.lif._Leaky._step, same operation order): (H, S, new V)."""
    leak = v - v_rest
    if DECAY_INPUT:
        charged = v + (x_t - leak) * k
    else:
        charged = v - leak * k + x_t
    s = _heaviside(charged - threshold, STRICT)
    if RESET == 0:
        v = charged * (1.0 - s) + v_reset * s
    elif RESET == 1:
        v = charged - threshold * s
    else:
        v = charged
    return charged, s, v


@triton.jit
def _lif_forward_kernel(x_ptr, k_ptr, settings_ptr, spikes_ptr, checkpoints_ptr, steps, columns,
                        RESET: tl.constexpr, DECAY_INPUT: tl.constexpr, STRICT: tl.constexpr, SAVE: tl.constexpr,
                        BLOCK: tl.constexpr, TILE: tl.constexpr):
    """Spikes [T, J]; with SAVE, checkpoints [blocks, J] of V. settings: θ, V_reset, V_rest."""
    column = tl.program_id(0) * TILE + tl.arange(0, TILE)
    inside = column < columns
    k = tl.load(k_ptr)
    threshold = tl.load(settings_ptr)
    v_reset = tl.load(settings_ptr + 1)
    v_rest = tl.load(settings_ptr + 2)
    v = tl.zeros([TILE], dtype=x_ptr.dtype.element_ty)
    if RESET == 0:
        v = v + v_reset
    for b in range(tl.cdiv(steps, BLOCK)):
        t_begin = b * BLOCK
        if SAVE:
            tl.store(checkpoints_ptr + tl.cast(b, tl.int64) * columns + column, v, mask=inside)
        for t in range(t_begin, tl.minimum(steps, t_begin + BLOCK)):
            offset = tl.cast(t, tl.int64) * columns + column
            x_t = tl.load(x_ptr + offset, mask=inside, other=0.0)
            _, s, v = _lif_step(x_t, v, k, threshold, v_reset, v_rest, RESET, DECAY_INPUT, STRICT)
            tl.store(spikes_ptr + offset, s, mask=inside)


@triton.jit
def _lif_backward_kernel(grad_spikes_ptr, x_ptr, k_ptr, settings_ptr, checkpoints_ptr, scratch_ptr, grad_x_ptr,
                         sums_ptr, steps, columns, RESET: tl.constexpr, DECAY_INPUT: tl.constexpr,
                         RESET_PATH: tl.constexpr, STRICT: tl.constexpr, KIND: tl.constexpr, GRAD_X: tl.constexpr,
                         GRAD_K: tl.constexpr, BLOCK: tl.constexpr, TILE: tl.constexpr):
    """dL/dx [T, J] (GRAD_X) and float64 column sums of dL/dk [J] (GRAD_K). settings: θ, V_reset, V_rest, then
    the surrogate constants. Scratch: [programs, 2, BLOCK, TILE] (H, V before the step)."""
    program = tl.program_id(0)
    lane = tl.arange(0, TILE)
    column = program * TILE + lane
    inside = column < columns
    k = tl.load(k_ptr)
    keep = 1.0 - k
    threshold = tl.load(settings_ptr)
    v_reset = tl.load(settings_ptr + 1)
    v_rest = tl.load(settings_ptr + 2)
    c0 = tl.load(settings_ptr + 3)
    c1 = tl.load(settings_ptr + 4)
    c2 = tl.load(settings_ptr + 5)
    c3 = tl.load(settings_ptr + 6)
    c4 = tl.load(settings_ptr + 7)
    dtype = x_ptr.dtype.element_ty
    charged_ptr = scratch_ptr + tl.cast(program, tl.int64) * (2 * BLOCK * TILE) + lane  # + row·TILE
    before_ptr = charged_ptr + BLOCK * TILE
    grad_v = tl.zeros([TILE], dtype=dtype)
    rate = tl.zeros([TILE], dtype=tl.float64)
    blocks = tl.cdiv(steps, BLOCK)
    for i in range(blocks):
        b = blocks - 1 - i
        t_begin = b * BLOCK
        rows = tl.minimum(steps, t_begin + BLOCK) - t_begin
        v = tl.load(checkpoints_ptr + tl.cast(b, tl.int64) * columns + column, mask=inside, other=0.0)
        for row in range(rows):
            x_t = tl.load(x_ptr + tl.cast(t_begin + row, tl.int64) * columns + column, mask=inside, other=0.0)
            tl.store(before_ptr + row * TILE, v)
            charged, _, v = _lif_step(x_t, v, k, threshold, v_reset, v_rest, RESET, DECAY_INPUT, STRICT)
            tl.store(charged_ptr + row * TILE, charged)
        tl.debug_barrier()  # the reverse sweep reads the scratch with another thread layout
        block_rate = tl.zeros([TILE], dtype=dtype)
        for j in range(rows):
            row = rows - 1 - j
            offset = tl.cast(t_begin + row, tl.int64) * columns + column
            charged = tl.load(charged_ptr + row * TILE)
            grad_s = tl.load(grad_spikes_ptr + offset, mask=inside, other=0.0)
            # ∂V/∂H and ∂V/∂S of the reset (docs/neurons.md §1.4); the ∂V/∂S path is left out, not multiplied
            # by 0, where S does not reach V (a NaN potential must not give NaN gradients autograd has not)
            if RESET == 0:
                spike = _heaviside(charged - threshold, STRICT)
                if RESET_PATH:
                    grad_s = grad_s + grad_v * (v_reset - charged)
                grad_h = grad_v * (1.0 - spike)
            else:
                if RESET_PATH:
                    grad_s = grad_s + grad_v * -threshold
                grad_h = grad_v
            grad_h = grad_h + grad_s * _surrogate(charged - threshold, c0, c1, c2, c3, c4, KIND)
            if GRAD_X:
                if DECAY_INPUT:
                    tl.store(grad_x_ptr + offset, grad_h * k, mask=inside)
                else:
                    tl.store(grad_x_ptr + offset, grad_h, mask=inside)
            grad_v = grad_h * keep
            if GRAD_K:
                leak = tl.load(before_ptr + row * TILE) - v_rest
                if DECAY_INPUT:
                    block_rate += grad_h * (tl.load(x_ptr + offset, mask=inside, other=0.0) - leak)
                else:
                    block_rate += grad_h * -leak
        tl.debug_barrier()  # the next block's recompute overwrites the scratch
        if GRAD_K:
            rate += block_rate.to(tl.float64)
    if GRAD_K:
        tl.store(sums_ptr + column, rate, mask=inside)


def _launch(columns: torch.Tensor):
    """(grid, launch constants) of a sweep over ``columns`` ``[T, J]``; fp fusion off: the step's rounding."""
    tile = common.tile_width(columns.shape[1], columns.device)
    return (triton.cdiv(columns.shape[1], tile),), dict(BLOCK=common.BLOCK, TILE=tile, num_warps=common.warps(tile),
                                                        enable_fp_fusion=False)


def _needs_graph(*tensors) -> bool:
    return torch.is_grad_enabled() and any(isinstance(t, torch.Tensor) and t.requires_grad for t in tensors)


def _column_parameter(value, like: torch.Tensor) -> torch.Tensor:
    """A float or tensor parameter as a detached contiguous 1-D tensor of ``like``'s dtype and device."""
    if isinstance(value, torch.Tensor):
        return value.detach().to(device=like.device, dtype=like.dtype).reshape(-1).contiguous()
    return common.scalars((value,), like)


def _lif_forward(columns, k, settings, save: bool):
    """Spikes ``[T, J]`` and (``save``) checkpoints ``[blocks, J]`` of LIF over ``columns`` ``[T, J]``."""
    threshold, reset, v_reset, v_rest, decay_input, _, strict, _ = settings
    spikes = torch.empty_like(columns)
    checkpoints = columns.new_empty((triton.cdiv(columns.shape[0], common.BLOCK) if save else 0, columns.shape[1]))
    if columns.numel() > 0:
        grid, launch = _launch(columns)
        with common.on_device(columns):
            _lif_forward_kernel[grid](columns, k, common.scalars((threshold, v_reset, v_rest), columns), spikes,
                                      checkpoints, *columns.shape, RESET=reset, DECAY_INPUT=decay_input, STRICT=strict,
                                      SAVE=save, **launch)
    return spikes, checkpoints


class _LeakyFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, inverse_tau, settings):
        columns = common.columns_view(x)
        k = _column_parameter(inverse_tau, x)
        spikes, checkpoints = _lif_forward(columns, k, settings, save=True)
        ctx.save_for_backward(columns, checkpoints, k)
        ctx.settings, ctx.shape = settings, x.shape
        ctx.tau_like = (inverse_tau.dtype, inverse_tau.shape) if isinstance(inverse_tau, torch.Tensor) else None
        return spikes.view(x.shape)

    @staticmethod
    @first_order_only("run neuron.serial(x) (the step loop, same spikes and gradients) for higher-order gradients")
    def backward(ctx, grad_spikes):
        columns, checkpoints, k = ctx.saved_tensors
        threshold, reset, v_reset, v_rest, decay_input, detach_reset, strict, (kind, constants) = ctx.settings
        need_x, need_k = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        grad_x = torch.empty_like(columns) if need_x else None
        sums = torch.zeros(columns.shape[1], dtype=torch.float64, device=columns.device) if need_k else None
        if columns.numel() > 0:
            grid, launch = _launch(columns)
            scratch = columns.new_empty((grid[0], 2, launch["BLOCK"], launch["TILE"]))
            unused = columns.new_empty(0)
            with common.on_device(columns):
                _lif_backward_kernel[grid](
                    common.columns_view(grad_spikes.to(columns.dtype)), columns, k,
                    common.scalars((threshold, v_reset, v_rest, *constants), columns), checkpoints, scratch,
                    grad_x if need_x else unused, sums if need_k else unused, *columns.shape, RESET=reset,
                    DECAY_INPUT=decay_input, RESET_PATH=not detach_reset and reset != NONE, STRICT=strict, KIND=kind,
                    GRAD_X=need_x, GRAD_K=need_k, **launch)
        grad_k = None
        if need_k:  # float64 column sums → the scalar 1/τ
            dtype, shape = ctx.tau_like
            grad_k = sums.sum().to(dtype).reshape(shape)
        return (grad_x.view(ctx.shape) if need_x else None), grad_k, None


def leaky_triton(x: torch.Tensor, inverse_tau, *, threshold: float = 1.0, reset: str = "hard", v_reset: float = 0.0,
                 v_rest: float = 0.0, decay_input: bool = True, detach_reset: bool = False, surrogate=Sigmoid(),
                 strict: bool = False) -> torch.Tensor:
    """Spikes ``[T, B, C, *spatial]`` of LIF/PLIF (k = ``inverse_tau`` = 1/τ, a float or a one-element tensor that
    may require grad); the arguments of ``pmsn.ops.fused_leaky.lif_fused``. Check
    ``triton_leaky_supports(x, surrogate, inverse_tau)`` first."""
    if reset not in RESET_CODES:
        raise ValueError(f"reset must be one of {tuple(RESET_CODES)}, got {reset!r}")
    if isinstance(inverse_tau, torch.Tensor) and inverse_tau.numel() != 1:
        raise ValueError(f"inverse_tau must be a float or a one-element tensor, got shape {tuple(inverse_tau.shape)}")
    common.check_device(x, INTERPRETED, "x")
    settings = (float(threshold), RESET_CODES[reset], float(v_reset), float(v_rest), bool(decay_input),
                bool(detach_reset), bool(strict), _surrogate_constants(surrogate))
    if _needs_graph(x, inverse_tau):
        return _LeakyFunction.apply(x, inverse_tau, settings)
    spikes, _ = _lif_forward(common.columns_view(x), _column_parameter(inverse_tau, x), settings, save=False)
    return spikes.view(x.shape)


# ------------------------------------------------------------------------------------------------ TC-LIF
@triton.jit
def _tclif_step(x_t, dendrite, soma, previous, beta1, beta2, threshold, gamma, PRE: tl.constexpr,
                STRICT: tl.constexpr):
    """One TC-LIF step (pmsn.neurons.tclif.TCLIF._step, same operation order): (a, D_c, U_c, S, new D, new U)."""
    if PRE:
        coupled = soma + threshold * previous
    else:
        coupled = soma
    dendrite_charged = dendrite + beta1 * coupled + x_t
    soma_charged = soma + beta2 * dendrite_charged
    s = _heaviside(soma_charged - threshold, STRICT)
    return coupled, dendrite_charged, soma_charged, s, dendrite_charged - gamma * s, soma_charged - threshold * s


@triton.jit
def _load_betas(beta1_ptr, beta2_ptr, column, inside, groups, spatial):
    """β1, β2 of a tile's columns [TILE]: one pair per layer (groups = 1) or per channel (groups = C)."""
    group = (column // spatial) % groups
    return (tl.load(beta1_ptr + group, mask=inside, other=0.0), tl.load(beta2_ptr + group, mask=inside, other=0.0))


@triton.jit
def _tclif_forward_kernel(x_ptr, beta1_ptr, beta2_ptr, settings_ptr, spikes_ptr, checkpoints_ptr, steps, columns,
                          groups, spatial, PRE: tl.constexpr, STRICT: tl.constexpr, SAVE: tl.constexpr,
                          BLOCK: tl.constexpr, TILE: tl.constexpr):
    """Spikes [T, J]; with SAVE, checkpoints [blocks, 3, J] of (D, U, P). settings: θ, γ."""
    column = tl.program_id(0) * TILE + tl.arange(0, TILE)
    inside = column < columns
    beta1, beta2 = _load_betas(beta1_ptr, beta2_ptr, column, inside, groups, spatial)
    threshold = tl.load(settings_ptr)
    gamma = tl.load(settings_ptr + 1)
    dendrite = tl.zeros([TILE], dtype=x_ptr.dtype.element_ty)
    soma = tl.zeros([TILE], dtype=x_ptr.dtype.element_ty)
    previous = tl.zeros([TILE], dtype=x_ptr.dtype.element_ty)
    for b in range(tl.cdiv(steps, BLOCK)):
        t_begin = b * BLOCK
        if SAVE:
            base = checkpoints_ptr + tl.cast(b, tl.int64) * 3 * columns + column
            tl.store(base, dendrite, mask=inside)
            tl.store(base + columns, soma, mask=inside)
            tl.store(base + 2 * columns, previous, mask=inside)
        for t in range(t_begin, tl.minimum(steps, t_begin + BLOCK)):
            offset = tl.cast(t, tl.int64) * columns + column
            x_t = tl.load(x_ptr + offset, mask=inside, other=0.0)
            _, _, _, previous, dendrite, soma = _tclif_step(x_t, dendrite, soma, previous, beta1, beta2, threshold,
                                                            gamma, PRE, STRICT)
            tl.store(spikes_ptr + offset, previous, mask=inside)


@triton.jit
def _tclif_backward_kernel(grad_spikes_ptr, x_ptr, beta1_ptr, beta2_ptr, settings_ptr, checkpoints_ptr, scratch_ptr,
                           grad_x_ptr, sums_ptr, steps, columns, groups, spatial, PRE: tl.constexpr,
                           RESET_PATH: tl.constexpr, COUPLING_PATH: tl.constexpr, STRICT: tl.constexpr,
                           KIND: tl.constexpr, GRAD_X: tl.constexpr, GRAD_BETAS: tl.constexpr, BLOCK: tl.constexpr,
                           TILE: tl.constexpr):
    """dL/dx [T, J] (GRAD_X) and float64 column sums [2, J] of dL/dβ1, dL/dβ2 (GRAD_BETAS). settings: θ, γ, then
    the surrogate constants. Scratch: [programs, 3, BLOCK, TILE] (U_c, D_c, a)."""
    program = tl.program_id(0)
    lane = tl.arange(0, TILE)
    column = program * TILE + lane
    inside = column < columns
    beta1, beta2 = _load_betas(beta1_ptr, beta2_ptr, column, inside, groups, spatial)
    threshold = tl.load(settings_ptr)
    gamma = tl.load(settings_ptr + 1)
    c0 = tl.load(settings_ptr + 2)
    c1 = tl.load(settings_ptr + 3)
    c2 = tl.load(settings_ptr + 4)
    c3 = tl.load(settings_ptr + 5)
    c4 = tl.load(settings_ptr + 6)
    dtype = x_ptr.dtype.element_ty
    soma_ptr = scratch_ptr + tl.cast(program, tl.int64) * (3 * BLOCK * TILE) + lane  # + row·TILE
    dendrite_ptr = soma_ptr + BLOCK * TILE
    coupled_ptr = dendrite_ptr + BLOCK * TILE
    grad_d = tl.zeros([TILE], dtype=dtype)
    grad_u = tl.zeros([TILE], dtype=dtype)
    grad_p = tl.zeros([TILE], dtype=dtype)
    sum1 = tl.zeros([TILE], dtype=tl.float64)
    sum2 = tl.zeros([TILE], dtype=tl.float64)
    blocks = tl.cdiv(steps, BLOCK)
    for i in range(blocks):
        b = blocks - 1 - i
        t_begin = b * BLOCK
        rows = tl.minimum(steps, t_begin + BLOCK) - t_begin
        base = checkpoints_ptr + tl.cast(b, tl.int64) * 3 * columns + column
        dendrite = tl.load(base, mask=inside, other=0.0)
        soma = tl.load(base + columns, mask=inside, other=0.0)
        previous = tl.load(base + 2 * columns, mask=inside, other=0.0)
        for row in range(rows):
            x_t = tl.load(x_ptr + tl.cast(t_begin + row, tl.int64) * columns + column, mask=inside, other=0.0)
            coupled, dendrite_charged, soma_charged, previous, dendrite, soma = _tclif_step(
                x_t, dendrite, soma, previous, beta1, beta2, threshold, gamma, PRE, STRICT)
            tl.store(soma_ptr + row * TILE, soma_charged)
            tl.store(dendrite_ptr + row * TILE, dendrite_charged)
            tl.store(coupled_ptr + row * TILE, coupled)
        tl.debug_barrier()  # the reverse sweep reads the scratch with another thread layout
        block1 = tl.zeros([TILE], dtype=dtype)
        block2 = tl.zeros([TILE], dtype=dtype)
        for j in range(rows):
            row = rows - 1 - j
            offset = tl.cast(t_begin + row, tl.int64) * columns + column
            soma_charged = tl.load(soma_ptr + row * TILE)
            grad_s = tl.load(grad_spikes_ptr + offset, mask=inside, other=0.0) + grad_p
            if RESET_PATH:  # S reaches D and U through the attached soft resets
                grad_s = grad_s + (-gamma * grad_d - threshold * grad_u)
            grad_uc = grad_u + grad_s * _surrogate(soma_charged - threshold, c0, c1, c2, c3, c4, KIND)
            grad_dc = grad_d + beta2 * grad_uc
            grad_a = beta1 * grad_dc
            if GRAD_X:
                tl.store(grad_x_ptr + offset, grad_dc, mask=inside)
            if GRAD_BETAS:
                block1 += grad_dc * tl.load(coupled_ptr + row * TILE)
                block2 += grad_uc * tl.load(dendrite_ptr + row * TILE)
            grad_d = grad_dc
            grad_u = grad_uc + grad_a
            if COUPLING_PATH:  # S[t−1] reaches a through the pre-reset coupling
                grad_p = threshold * grad_a
        tl.debug_barrier()  # the next block's recompute overwrites the scratch
        if GRAD_BETAS:
            sum1 += block1.to(tl.float64)
            sum2 += block2.to(tl.float64)
    if GRAD_BETAS:
        tl.store(sums_ptr + column, sum1, mask=inside)
        tl.store(sums_ptr + columns + column, sum2, mask=inside)


def _tclif_forward(columns, beta1, beta2, spatial: int, settings, save: bool):
    """Spikes ``[T, J]`` and (``save``) checkpoints ``[blocks, 3, J]`` of TC-LIF over ``columns`` ``[T, J]``."""
    threshold, dendrite_reset, pre_reset_coupling, _, strict, _ = settings
    spikes = torch.empty_like(columns)
    blocks = triton.cdiv(columns.shape[0], common.BLOCK) if save else 0
    checkpoints = columns.new_empty((blocks, 3, columns.shape[1]))
    if columns.numel() > 0:
        grid, launch = _launch(columns)
        with common.on_device(columns):
            _tclif_forward_kernel[grid](columns, beta1, beta2, common.scalars((threshold, dendrite_reset), columns),
                                        spikes, checkpoints, *columns.shape, beta1.numel(), spatial,
                                        PRE=pre_reset_coupling, STRICT=strict, SAVE=save, **launch)
    return spikes, checkpoints


class _TwoCompartmentFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, beta1, beta2, settings):
        columns = common.columns_view(x)
        b1, b2 = (_column_parameter(b, x) for b in (beta1, beta2))
        spatial = max(1, math.prod(x.shape[3:]))
        spikes, checkpoints = _tclif_forward(columns, b1, b2, spatial, settings, save=True)
        ctx.save_for_backward(columns, checkpoints, b1, b2)
        ctx.settings, ctx.shape, ctx.spatial = settings, x.shape, spatial
        ctx.beta_like = ((beta1.dtype, beta1.shape), (beta2.dtype, beta2.shape))
        return spikes.view(x.shape)

    @staticmethod
    @first_order_only("run neuron.serial(x) (the step loop, same spikes and gradients) for higher-order gradients")
    def backward(ctx, grad_spikes):
        columns, checkpoints, b1, b2 = ctx.saved_tensors
        threshold, dendrite_reset, pre_reset_coupling, detach_reset, strict, (kind, constants) = ctx.settings
        need_x, need_betas = ctx.needs_input_grad[0], any(ctx.needs_input_grad[1:3])
        grad_x = torch.empty_like(columns) if need_x else None
        sums = torch.zeros((2, columns.shape[1]), dtype=torch.float64, device=columns.device) if need_betas else None
        if columns.numel() > 0:
            grid, launch = _launch(columns)
            scratch = columns.new_empty((grid[0], 3, launch["BLOCK"], launch["TILE"]))
            unused = columns.new_empty(0)
            with common.on_device(columns):
                _tclif_backward_kernel[grid](
                    common.columns_view(grad_spikes.to(columns.dtype)), columns, b1, b2,
                    common.scalars((threshold, dendrite_reset, *constants), columns), checkpoints, scratch,
                    grad_x if need_x else unused, sums if need_betas else unused, *columns.shape, b1.numel(),
                    ctx.spatial, PRE=pre_reset_coupling, RESET_PATH=not detach_reset,
                    COUPLING_PATH=pre_reset_coupling and not detach_reset, STRICT=strict, KIND=kind, GRAD_X=need_x,
                    GRAD_BETAS=need_betas, **launch)
        grads = [grad_x.view(ctx.shape) if need_x else None, None, None]
        if need_betas:  # float64 column sums [2, J] → per layer or per channel (channel of column j: (j // S) % C)
            outer = ctx.shape[1] * ctx.shape[2] // b1.numel()  # no -1: J may be 0
            per_group = sums.view(2, outer, b1.numel(), ctx.spatial).sum(dim=(1, 3))
            for i, (like, need) in enumerate(zip(ctx.beta_like, ctx.needs_input_grad[1:3])):
                grads[1 + i] = per_group[i].to(like[0]).reshape(like[1]) if need else None
        return (*grads, None)


def tclif_triton(x: torch.Tensor, beta1: torch.Tensor, beta2: torch.Tensor, *, threshold: float = 1.0,
                 dendrite_reset: float = 0.5, pre_reset_coupling: bool = False, detach_reset: bool = False,
                 surrogate=Triangle(), strict: bool = False) -> torch.Tensor:
    """Spikes ``[T, B, C, *spatial]`` of TC-LIF with (β1, β2) per layer (0-dim) or per channel (``[C]``, C =
    x.shape[2]); gradients reach x and the β's. The arguments of ``pmsn.ops.fused_leaky.tclif_fused``; check
    ``triton_leaky_supports(x, surrogate, beta1, beta2)`` first."""
    for name, beta in (("beta1", beta1), ("beta2", beta2)):
        if not isinstance(beta, torch.Tensor) or beta.shape not in ((), (1,), (x.shape[2],)):
            raise ValueError(f"{name} must be a 0-dim tensor or have shape ({x.shape[2]},) (C = x.shape[2]), got "
                             f"{tuple(beta.shape) if isinstance(beta, torch.Tensor) else type(beta).__name__}")
    if beta1.shape != beta2.shape:
        raise ValueError(f"beta1 and beta2 must have the same shape, got {tuple(beta1.shape)} and {tuple(beta2.shape)}")
    common.check_device(x, INTERPRETED, "x")
    settings = (float(threshold), float(dendrite_reset), bool(pre_reset_coupling), bool(detach_reset), bool(strict),
                _surrogate_constants(surrogate))
    if _needs_graph(x, beta1, beta2):
        return _TwoCompartmentFunction.apply(x, beta1, beta2, settings)
    b1, b2 = (_column_parameter(b, x) for b in (beta1, beta2))
    spikes, _ = _tclif_forward(common.columns_view(x), b1, b2, max(1, math.prod(x.shape[3:])), settings, save=False)
    return spikes.view(x.shape)
