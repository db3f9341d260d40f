"""Triton GPU sweep of the PMSN neuron: the fused CPU kernel (``pmsn.ops.fused_cpu``) as Triton kernels, same
signature, same semantics (docs/pmsn.md §4.3, §5.2, §6; design: docs/kernels.md §3).

    from pmsn.ops.triton_pmsn import pmsn_triton
    spikes = pmsn_triton(u, abar_re, abar_im, residue_re, residue_im, skip, threshold=1.0, scale=1.0,
                         surrogate_width=1.0, soma_grad="elementwise", strict=False)

``u`` is ``[T, B, C, *spatial]`` float32/float64 on CUDA (on the CPU under ``TRITON_INTERPRET=1``), the modal
parameters are real ``[C, N]`` (Ā = abar_re + i·abar_im, r = C̃·B̄ = residue_re + i·residue_im), ``skip`` is D
``[C]``, all of u's dtype and device. Per column (docs/pmsn.md §4.3, §5.2):

    x̂_m[t] = Ā_m·x̂_m[t−1] + u[t];   Y = D·u + Re Σ_m r_m·x̂_m
    v = rem + ReLU(κ·Y);   S = [v ≥ θ] (strict: v > θ);   rem = v − θ·⌊v/θ⌋

One program per tile of columns keeps the N complex modal states and the remainder in registers while t runs
over the sequence; forward stores (x̂, rem) every ``BLOCK`` steps. Backward (docs/pmsn.md §6, docs/kernels.md
§3.4-3.5) walks the blocks from the last: it recomputes the block from its checkpoint into a per-program scratch
(dL/dS·tri(v − θ) and κ·[κY > 0], 2·BLOCK·TILE values), then runs the adjoints backwards through the block:

    G[t] = κ·[κY > 0]·A[t],   A[t] = dL/dS[t]·tri(v[t] − θ) ("elementwise") or Σ_{t' ≥ t} of it ("cumsum")
    ν_m[t] = Ā_m·ν_m[t+1] + G[t],   ζ_m[t] = Ā_m·ζ_m[t+1] + ν_m[t+1],   dL/du[t] = D·G[t] + Re Σ_m r_m·ν_m[t]

with per-column sums P_m = Σ u·ν_m, W_m = Σ u·ζ_m, E = Σ u·G (per block in the input precision, then in
float64), reduced over batch and spatial positions in PyTorch: dL/dr = (Re P, −Im P), dL/dĀ = (Re(r·W),
−Im(r·W)), dL/dD = E. Nothing of the surrogate's size is saved. Empty inputs, NaN inputs and double backward
behave as in ``pmsn.ops.fused_cpu``. The step, block-recompute and adjoint helpers and the autograd function
(``run_sweeps``) are shared with the variant parallel over time chunks, ``pmsn.ops.triton_pmsn_chunked``.
"""

from __future__ import annotations

import math
from typing import Callable, NamedTuple

import torch
import triton
import triton.language as tl

from pmsn.ops import triton_common as common
from pmsn.ops.fused_cpu import check_sweep_arguments, first_order_only


INTERPRETED = bool(triton.knobs.runtime.interpret)  # kernels below built for the interpreter (CPU tensors)


@triton.jit
def load_params(abar_re_ptr, abar_im_ptr, residue_re_ptr, residue_im_ptr, skip_ptr, column, inside, channels,
                 spatial, modes, MODES: tl.constexpr):
    """The parameters of a tile's columns: Ā, r as [TILE, MODES] (padding modes and columns zero), D as [TILE]."""
    channel = (column // spatial) % channels
    mode = tl.arange(0, MODES)
    real_mode = mode < modes
    at = channel[:, None] * modes + mode[None, :]
    mask = inside[:, None] & real_mode[None, :]
    a_re = tl.load(abar_re_ptr + at, mask=mask, other=0.0)
    a_im = tl.load(abar_im_ptr + at, mask=mask, other=0.0)
    r_re = tl.load(residue_re_ptr + at, mask=mask, other=0.0)
    r_im = tl.load(residue_im_ptr + at, mask=mask, other=0.0)
    skip = tl.load(skip_ptr + channel, mask=inside, other=0.0)
    return a_re, a_im, r_re, r_im, skip, real_mode


@triton.jit
def load_checkpoint(checkpoints_ptr, b, columns, modes, at, state_mask, column, inside):
    """The state (x̂ re, im [TILE, MODES], remainder [TILE]) at the start of block ``b`` from checkpoints
    [blocks, 2N + 1, J] (rows Re x̂ (N), Im x̂ (N), remainder); ``at`` = mode·J + column."""
    base = checkpoints_ptr + tl.cast(b, tl.int64) * (2 * modes + 1) * columns
    x_re = tl.load(base + at, mask=state_mask, other=0.0)
    x_im = tl.load(base + modes * columns + at, mask=state_mask, other=0.0)
    remainder = tl.load(base + 2 * modes * columns + column, mask=inside, other=0.0)
    return x_re, x_im, remainder


@triton.jit
def modal_step(u_t, x_re, x_im, a_re, a_im, real_mode):
    """x̂_m ← Ā_m·x̂_m + u[t] for a tile's modal states [TILE, MODES] (docs/pmsn.md §4.3)."""
    feed = tl.where(real_mode[None, :], u_t[:, None], 0.0)  # padding modes stay 0 (a NaN in u must not reach them)
    return a_re * x_re - a_im * x_im + feed, a_re * x_im + a_im * x_re


@triton.jit
def advance(u_t, x_re, x_im, remainder, a_re, a_im, r_re, r_im, skip, real_mode, threshold, scale):
    """One step of a tile (docs/pmsn.md §4.3, §5.2): modal states [TILE, MODES], drive κ·Y and potential v [TILE]."""
    next_re, next_im = modal_step(u_t, x_re, x_im, a_re, a_im, real_mode)
    current = skip * u_t + tl.sum(r_re * next_re - r_im * next_im, axis=1)
    drive = scale * current
    potential = remainder + tl.where(drive <= 0, 0.0, drive)  # ReLU; a NaN stays NaN, like torch.relu
    remainder = potential - threshold * tl.floor(potential / threshold)
    return next_re, next_im, drive, potential, remainder


@triton.jit
def recompute_block(u_ptr, grad_spikes_ptr, t_begin, rows, columns, column, inside, x_re, x_im, remainder, a_re,
                    a_im, r_re, r_im, skip, real_mode, threshold, scale, width, spike_grad_ptr, opened_ptr, stride):
    """Reruns ``rows`` steps from the state (x̂, rem) at step ``t_begin`` (docs/kernels.md §3.3) and stores, for row
    i of the block, dL/dS·tri(v − θ) at ``spike_grad_ptr + i·stride`` and [κY > 0] (1 or 0, also 1 for a NaN
    drive: ReLU's backward passes the gradient there) at ``opened_ptr + i·stride``. Returns the block's sum of
    dL/dS·tri(v − θ) per column."""
    width_sq = width * width
    total = tl.zeros_like(remainder)
    for row in range(rows):
        offset = tl.cast(t_begin + row, tl.int64) * columns + column
        u_t = tl.load(u_ptr + offset, mask=inside, other=0.0)
        x_re, x_im, drive, potential, remainder = advance(u_t, x_re, x_im, remainder, a_re, a_im, r_re, r_im, skip,
                                                          real_mode, threshold, scale)
        room = width - tl.abs(potential - threshold)
        # selects, not ·0: NaN propagates as in autograd ((γ − |x|).clamp_min(0) keeps NaN)
        grad_s = tl.load(grad_spikes_ptr + offset, mask=inside, other=0.0)
        spike_grad = grad_s * tl.where(room <= 0, 0.0, room / width_sq)
        tl.store(spike_grad_ptr + row * stride, spike_grad, mask=inside)
        tl.store(opened_ptr + row * stride, tl.where(drive <= 0, 0, 1).to(opened_ptr.dtype.element_ty), mask=inside)
        total += spike_grad
    return total


@triton.jit
def adjoint_block(spike_grad_ptr, opened_ptr, stride, u_ptr, grad_u_ptr, t_begin, rows, columns, column, inside,
                  nu_re, nu_im, zeta_re, zeta_im, carried, a_re, a_im, r_re, r_im, skip, real_mode, scale,
                  CARRY: tl.constexpr, ZETA: tl.constexpr, SUMS: tl.constexpr, GRAD_U: tl.constexpr):
    """The adjoint recurrences (docs/pmsn.md §6.3) backwards through ``rows`` steps from step ``t_begin``, started
    from the states after the block (ν, ζ [TILE, MODES], ``carried`` = Σ dL/dS·tri of the later steps for
    ``CARRY``), reading what ``recompute_block`` stored. Stores dL/du (``GRAD_U``); returns the states at the
    block's first step and (``SUMS``) the block sums P_m, W_m, E in the input precision."""
    block_p_re = tl.zeros_like(nu_re)
    block_p_im = tl.zeros_like(nu_re)
    block_w_re = tl.zeros_like(nu_re)
    block_w_im = tl.zeros_like(nu_re)
    block_e = tl.zeros_like(carried)
    for j in range(rows):
        row = rows - 1 - j
        offset = tl.cast(t_begin + row, tl.int64) * columns + column
        spike_grad = tl.load(spike_grad_ptr + row * stride, mask=inside, other=0.0)
        opened = tl.load(opened_ptr + row * stride, mask=inside, other=0)
        carried = carried + spike_grad if CARRY else spike_grad
        g = tl.where(opened == 0, 0.0, carried * scale)  # G = dL/dY[t]
        if ZETA:  # ζ[t] = Ā·ζ[t+1] + ν[t+1], before ν moves to t
            next_re = a_re * zeta_re - a_im * zeta_im + nu_re
            zeta_im = a_re * zeta_im + a_im * zeta_re + nu_im
            zeta_re = next_re
        nu_re, nu_im = modal_step(g, nu_re, nu_im, a_re, a_im, real_mode)
        if SUMS:
            u_t = tl.load(u_ptr + offset, mask=inside, other=0.0)
            block_p_re += u_t[:, None] * nu_re
            block_p_im += u_t[:, None] * nu_im
            block_w_re += u_t[:, None] * zeta_re
            block_w_im += u_t[:, None] * zeta_im
            block_e += u_t * g
        if GRAD_U:
            grad_u = skip * g + tl.sum(r_re * nu_re - r_im * nu_im, axis=1)
            tl.store(grad_u_ptr + offset, grad_u, mask=inside)
    return nu_re, nu_im, zeta_re, zeta_im, carried, block_p_re, block_p_im, block_w_re, block_w_im, block_e


@triton.jit
def _accumulate(pointer, value, mask):
    """*pointer += value in float64: a program's block sums into its own columns' sums (no other program's)."""
    tl.store(pointer, tl.load(pointer, mask=mask, other=0.0) + value.to(tl.float64), mask=mask)


@triton.jit
def _forward_kernel(u_ptr, abar_re_ptr, abar_im_ptr, residue_re_ptr, residue_im_ptr, skip_ptr, settings_ptr,
                    spikes_ptr, checkpoints_ptr, steps, columns, channels, spatial, modes,
                    STRICT: tl.constexpr, SAVE: tl.constexpr, BLOCK: tl.constexpr, TILE: tl.constexpr,
                    MODES: tl.constexpr):
    """Spikes [T, J]; with SAVE, checkpoints [blocks, 2N + 1, J] (Re x̂ (N rows), Im x̂ (N rows), remainder)."""
    column = tl.program_id(0) * TILE + tl.arange(0, TILE)
    inside = column < columns
    a_re, a_im, r_re, r_im, skip, real_mode = load_params(abar_re_ptr, abar_im_ptr, residue_re_ptr, residue_im_ptr,
                                                           skip_ptr, column, inside, channels, spatial, modes, MODES)
    threshold = tl.load(settings_ptr)
    scale = tl.load(settings_ptr + 1)
    dtype = u_ptr.dtype.element_ty
    x_re = tl.zeros([TILE, MODES], dtype=dtype)
    x_im = tl.zeros([TILE, MODES], dtype=dtype)
    remainder = tl.zeros([TILE], dtype=dtype)
    mode = tl.arange(0, MODES)
    state_mask = inside[:, None] & real_mode[None, :]
    at = mode[None, :] * columns + column[:, None]  # [TILE, MODES]: offsets of a per-mode row of J columns
    for b in range(tl.cdiv(steps, BLOCK)):
        t_begin = b * BLOCK
        if SAVE:
            base = checkpoints_ptr + tl.cast(b, tl.int64) * (2 * modes + 1) * columns
            tl.store(base + at, x_re, mask=state_mask)
            tl.store(base + modes * columns + at, x_im, mask=state_mask)
            tl.store(base + 2 * modes * columns + column, remainder, mask=inside)
        for t in range(t_begin, tl.minimum(steps, t_begin + BLOCK)):
            row = tl.cast(t, tl.int64) * columns
            u_t = tl.load(u_ptr + row + column, mask=inside, other=0.0)
            x_re, x_im, _, potential, remainder = advance(u_t, x_re, x_im, remainder, a_re, a_im, r_re, r_im, skip,
                                                           real_mode, threshold, scale)
            fired = potential > threshold if STRICT else potential >= threshold
            tl.store(spikes_ptr + row + column, fired.to(dtype), mask=inside)


@triton.jit
def _backward_kernel(grad_spikes_ptr, u_ptr, abar_re_ptr, abar_im_ptr, residue_re_ptr, residue_im_ptr, skip_ptr,
                     settings_ptr, checkpoints_ptr, scratch_ptr, grad_u_ptr, sums_ptr, steps, columns, channels,
                     spatial, modes, CARRY: tl.constexpr, GRAD_U: tl.constexpr, GRAD_PARAMS: tl.constexpr,
                     BLOCK: tl.constexpr, TILE: tl.constexpr, MODES: tl.constexpr):
    """dL/du [T, J] (GRAD_U) and float64 column sums [4N + 1, J] (GRAD_PARAMS, added to: zeros on entry): rows
    Re P_m, Im P_m, Re W_m, Im W_m (N rows each), then E. Scratch: [programs, 2, BLOCK, TILE] (dL/dS·tri and
    [κY > 0] of one block)."""
    program = tl.program_id(0)
    lane = tl.arange(0, TILE)
    column = program * TILE + lane
    inside = column < columns
    a_re, a_im, r_re, r_im, skip, real_mode = load_params(abar_re_ptr, abar_im_ptr, residue_re_ptr, residue_im_ptr,
                                                          skip_ptr, column, inside, channels, spatial, modes, MODES)
    threshold = tl.load(settings_ptr)
    scale = tl.load(settings_ptr + 1)
    width = tl.load(settings_ptr + 2)
    dtype = u_ptr.dtype.element_ty
    mode = tl.arange(0, MODES)
    state_mask = inside[:, None] & real_mode[None, :]
    at = mode[None, :] * columns + column[:, None]  # [TILE, MODES]: offsets of a per-mode row of J columns
    spike_grad_ptr = scratch_ptr + tl.cast(program, tl.int64) * (2 * BLOCK * TILE) + lane  # + row·TILE
    opened_ptr = spike_grad_ptr + BLOCK * TILE
    nu_re = tl.zeros([TILE, MODES], dtype=dtype)
    nu_im = tl.zeros([TILE, MODES], dtype=dtype)
    zeta_re = tl.zeros([TILE, MODES], dtype=dtype)
    zeta_im = tl.zeros([TILE, MODES], dtype=dtype)
    carried = tl.zeros([TILE], dtype=dtype)
    blocks = tl.cdiv(steps, BLOCK)
    for i in range(blocks):
        b = blocks - 1 - i
        t_begin = b * BLOCK
        rows = tl.minimum(steps, t_begin + BLOCK) - t_begin
        # recompute the block from its checkpoint, in forward order (docs/kernels.md §3.3)
        x_re, x_im, remainder = load_checkpoint(checkpoints_ptr, b, columns, modes, at, state_mask, column, inside)
        recompute_block(u_ptr, grad_spikes_ptr, t_begin, rows, columns, column, inside, x_re, x_im, remainder, a_re,
                        a_im, r_re, r_im, skip, real_mode, threshold, scale, width, spike_grad_ptr, opened_ptr, TILE)
        tl.debug_barrier()  # the reverse sweep reads the scratch with another thread layout
        nu_re, nu_im, zeta_re, zeta_im, carried, block_p_re, block_p_im, block_w_re, block_w_im, block_e = \
            adjoint_block(spike_grad_ptr, opened_ptr, TILE, u_ptr, grad_u_ptr, t_begin, rows, columns, column, inside,
                          nu_re, nu_im, zeta_re, zeta_im, carried, a_re, a_im, r_re, r_im, skip, real_mode, scale,
                          CARRY, GRAD_PARAMS, GRAD_PARAMS, GRAD_U)
        tl.debug_barrier()  # the next block's recompute overwrites the scratch
        if GRAD_PARAMS:  # the float64 sums live in memory, not in registers: added to once per block
            _accumulate(sums_ptr + at, block_p_re, state_mask)
            _accumulate(sums_ptr + modes * columns + at, block_p_im, state_mask)
            _accumulate(sums_ptr + 2 * modes * columns + at, block_w_re, state_mask)
            _accumulate(sums_ptr + 3 * modes * columns + at, block_w_im, state_mask)
            _accumulate(sums_ptr + 4 * modes * columns + column, block_e, inside)


def geometry(columns: torch.Tensor, modes: int):
    """(grid, launch constants) of a call on ``columns`` [T, J]: [TILE, MODES] blocks of at most 512 values per
    16 warps in float64 (1024 in float32), so that the backward's ~20 such blocks stay in registers. Fused
    multiply-adds on: the sweep promises the step loop's spikes only up to rounding (as the C++ sweep)."""
    per_thread = 2 if columns.dtype == torch.float32 else 1
    padded_modes = triton.next_power_of_2(modes)
    tile = common.tile_width(columns.shape[1], columns.device, widest=16 * 32 * per_thread // padded_modes)
    return (triton.cdiv(columns.shape[1], tile),), dict(BLOCK=common.BLOCK, TILE=tile, MODES=padded_modes,
                                                        num_warps=common.warps(tile * padded_modes, per_thread),
                                                        enable_fp_fusion=True)


def _forward(u: torch.Tensor, params, settings: torch.Tensor, spatial: int, strict: bool, save: bool):
    """Spikes ``[T, J]`` and (``save``) checkpoints ``[blocks, 2N + 1, J]`` of the columns ``u`` ``[T, J]``."""
    steps, columns = u.shape
    channels, modes = params[0].shape
    blocks = triton.cdiv(steps, common.BLOCK) if save else 0
    spikes = torch.empty_like(u)
    checkpoints = u.new_empty((blocks, 2 * modes + 1, columns))
    if u.numel() > 0:
        grid, constants = geometry(u, modes)
        with common.on_device(u):
            _forward_kernel[grid](u, *params, settings, spikes, checkpoints, steps, columns, channels, spatial, modes,
                                  STRICT=strict, SAVE=save, **constants)
    return spikes, checkpoints


def _backward(grad_spikes, u, params, settings, checkpoints, spatial, carry, need_u, need_params):
    """(dL/du ``[T, J]`` or None, float64 column sums ``[4N + 1, J]`` or None)."""
    steps, columns = u.shape
    channels, modes = params[0].shape
    grad_u = torch.empty_like(u) if need_u else None
    sums = torch.zeros((4 * modes + 1, columns), dtype=torch.float64, device=u.device) if need_params else None
    if u.numel() > 0:
        grid, constants = geometry(u, modes)
        scratch = u.new_empty((grid[0], 2, constants["BLOCK"], constants["TILE"]))
        unused = u.new_empty(0)
        with common.on_device(u):
            _backward_kernel[grid](grad_spikes, u, *params, settings, checkpoints, scratch,
                                   grad_u if need_u else unused, sums if need_params else unused, steps, columns,
                                   channels, spatial, modes, CARRY=carry, GRAD_U=need_u, GRAD_PARAMS=need_params,
                                   **constants)
    return grad_u, sums


class Sweeps(NamedTuple):
    """A variant's host functions: ``forward(u [T, J], params, settings, spatial, strict, save)`` → (spikes
    [T, J], checkpoints [blocks, 2N + 1, J] or none), ``backward(grad_spikes, u, params, settings, checkpoints,
    spatial, carry, need_u, need_params)`` → (dL/du [T, J] or None, float64 column sums [4N + 1, J] or None)."""
    forward: Callable
    backward: Callable


class _TritonPMSN(torch.autograd.Function):
    @staticmethod
    def forward(ctx, u, abar_re, abar_im, residue_re, residue_im, skip, threshold, scale, surrogate_width, carry,
                strict, sweeps):
        params = [p.contiguous() for p in (abar_re, abar_im, residue_re, residue_im, skip)]
        columns = common.columns_view(u)
        spatial = math.prod(u.shape[3:])
        settings = common.scalars((threshold, scale, surrogate_width), u)
        spikes, checkpoints = sweeps.forward(columns, params, settings, spatial, strict, save=True)
        ctx.save_for_backward(columns, checkpoints, settings, *params)
        ctx.shape, ctx.spatial, ctx.carry, ctx.sweeps = u.shape, spatial, carry, sweeps
        return spikes.view(u.shape)

    @staticmethod
    @first_order_only("run neuron.serial(x) (the step loop, same spikes and gradients) for higher-order gradients")
    def backward(ctx, grad_spikes):
        columns, checkpoints, settings, *params = ctx.saved_tensors
        batch, channels = ctx.shape[1:3]
        need_u, need_params = ctx.needs_input_grad[0], any(ctx.needs_input_grad[1:6])
        grad_columns = common.columns_view(grad_spikes.to(columns.dtype))
        grad_u, sums = ctx.sweeps.backward(grad_columns, columns, params, settings, checkpoints, ctx.spatial,
                                           ctx.carry, need_u, need_params)
        grads = [grad_u.view(ctx.shape) if need_u else None] + [None] * 5
        if need_params:
            # column sums (float64) reduced over batch and spatial positions, then to the parameters (module doc)
            modes = params[0].shape[1]
            per_channel = sums.view(4 * modes + 1, batch, channels, ctx.spatial).sum(dim=(1, 3))  # [4N + 1, C]
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
        return (*grads, None, None, None, None, None, None)


def _validate(u, params, threshold, surrogate_width, soma_grad):
    modes = check_sweep_arguments(u, *params, threshold, surrogate_width, soma_grad, cpu_only=False)
    common.check_device(u, INTERPRETED)
    if (4 * modes + 1) * math.prod(u.shape[1:]) >= 2**31:  # the kernels index rows of J columns in int32
        raise ValueError(f"the Triton kernels need (4N + 1)·B·C·spatial < 2^31, got N = {modes}, u of shape "
                         f"{tuple(u.shape)}; split the batch")


def run_sweeps(sweeps: Sweeps, u, params, threshold, scale, surrogate_width, soma_grad, strict) -> torch.Tensor:
    """Spikes of ``u`` ``[T, B, C, *spatial]`` by one variant's ``sweeps``, with autograd where a tensor requires
    grad (the arguments of ``pmsn_triton``; ``params`` = (abar_re, abar_im, residue_re, residue_im, skip))."""
    _validate(u, params, threshold, surrogate_width, soma_grad)
    settings = (float(threshold), float(scale), float(surrogate_width), soma_grad == "cumsum", bool(strict))
    if torch.is_grad_enabled() and any(t.requires_grad for t in (u, *params)):
        return _TritonPMSN.apply(u, *params, *settings, sweeps)
    columns = common.columns_view(u)  # inference: no checkpoints kept, nothing saved
    spikes, _ = sweeps.forward(columns, [p.contiguous() for p in params], common.scalars(settings[:3], u),
                               math.prod(u.shape[3:]), settings[4], save=False)
    return spikes.view(u.shape)


COLUMN_SWEEPS = Sweeps(_forward, _backward)


def pmsn_triton(u, abar_re, abar_im, residue_re, residue_im, skip, threshold=1.0, scale=1.0, surrogate_width=1.0,
                soma_grad="elementwise", strict=False) -> torch.Tensor:
    """Spikes ``[T, B, C, *spatial]`` (u's dtype) of the PMSN neuron, forward and backward in Triton kernels, one
    program per tile of columns running over the whole sequence (docs/kernels.md §11).

    The signature and semantics of ``pmsn.ops.fused_cpu.pmsn_fused``: gradients flow to ``u`` and to every
    parameter that requires grad (triangle surrogate of width ``surrogate_width``; ``soma_grad`` as in
    docs/pmsn.md §6). ``u`` on CUDA (on the CPU with ``TRITON_INTERPRET=1``); check
    ``pmsn.ops.triton_common.triton_supports(u)`` first.
    """
    return run_sweeps(COLUMN_SWEEPS, u, (abar_re, abar_im, residue_re, residue_im, skip), threshold, scale,
                      surrogate_width, soma_grad, strict)
