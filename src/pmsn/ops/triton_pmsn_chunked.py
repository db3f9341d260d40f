"""Triton GPU sweep of the PMSN neuron, parallel over time chunks: for long T with few columns (B·C·spatial small),
where one program per tile of columns (``pmsn.ops.triton_pmsn``) leaves the GPU idle. Same signature, same
semantics, same spikes up to rounding (design and math: docs/kernels.md §11.1).

    from pmsn.ops.triton_pmsn_chunked import pmsn_triton_chunked
    spikes = pmsn_triton_chunked(u, abar_re, abar_im, residue_re, residue_im, skip, threshold=1.0, scale=1.0,
                                 surrogate_width=1.0, soma_grad="elementwise", strict=False)

Time is cut into chunks of ``BLOCK`` steps (the checkpoint blocks of the column sweep); a program owns one
(chunk, column tile). Both the modal recurrence and the soma remainder are exactly chunkable, so the forward is
three chunk-parallel passes joined by two short carries over the chunks, sequential per column:

    1. x̂ from zero over the chunk → its end state ξ_c        carry: x̂_start[c+1] = Ā^L·x̂_start[c] + ξ_c
    2. x̂ from x̂_start[c], rem from 0 → its end remainder ρ_c  carry: rem_start[c+1] = (rem_start[c] + ρ_c) mod θ
    3. x̂, rem from the true start states → spikes

The chunk start states are the checkpoints the backward needs (nothing surrogate-sized is saved). The backward
runs the same structure in reverse: 1. recompute each chunk from its checkpoint, storing dL/dS·tri(v − θ) (in the
dL/du buffer) and [κY > 0] (int8); for ``soma_grad="cumsum"`` the sum of the later chunks' dL/dS·tri is a reverse
cumulative sum of the chunk sums; 2. the adjoints (ν, ζ) from zero over each chunk, carried back over the chunks
with ν_end[c−1] = Ā^L·ν_end[c] + ν_c and ζ_end[c−1] = Ā^L·ζ_end[c] + L·Ā^(L−1)·ν_end[c] + ζ_c; 3. the adjoints from
the true end states, writing dL/du and per-chunk parameter sums (input precision, then summed in float64).
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from pmsn.ops import triton_common as common
from pmsn.ops.triton_pmsn import (Sweeps, adjoint_block, advance, geometry, load_checkpoint, load_params,
                                  modal_step, recompute_block, run_sweeps)

# the passes and carries of the module doc, as constants the kernels can read
MODAL, SOMA, SPIKES = tl.constexpr(0), tl.constexpr(1), tl.constexpr(2)  # forward passes
RECOMPUTE, LOCAL, FINAL = tl.constexpr(0), tl.constexpr(1), tl.constexpr(2)  # backward passes
STATE, REMAINDER, ADJOINT = tl.constexpr(0), tl.constexpr(1), tl.constexpr(2)  # carries over the chunks


@triton.jit
def _chunk_and_columns(skipped, columns, TILE: tl.constexpr):
    """(chunk, columns [TILE], inside) of this program in a grid of (chunks − skipped) × tiles programs, chunk
    ``skipped`` first."""
    tiles = tl.cdiv(columns, TILE)
    program = tl.program_id(0)
    column = (program % tiles) * TILE + tl.arange(0, TILE)
    return program // tiles + skipped, column, column < columns


@triton.jit
def _forward_kernel(u_ptr, abar_re_ptr, abar_im_ptr, residue_re_ptr, residue_im_ptr, skip_ptr, settings_ptr,
                    spikes_ptr, checkpoints_ptr, steps, columns, channels, spatial, modes, PHASE: tl.constexpr,
                    STRICT: tl.constexpr, BLOCK: tl.constexpr, TILE: tl.constexpr, MODES: tl.constexpr):
    """One forward pass over chunk c (module doc). Checkpoints [chunks, 2N + 1, J] (Re x̂, Im x̂, remainder at
    each chunk's start): MODAL writes ξ_c into the x̂ rows of c + 1, SOMA ρ_c into the remainder row of c + 1 (both
    run on chunks 0 … C − 2), SPIKES writes the spikes."""
    chunk, column, inside = _chunk_and_columns(0, columns, TILE)
    a_re, a_im, r_re, r_im, skip, real_mode = load_params(abar_re_ptr, abar_im_ptr, residue_re_ptr, residue_im_ptr,
                                                          skip_ptr, column, inside, channels, spatial, modes, MODES)
    threshold = tl.load(settings_ptr)
    scale = tl.load(settings_ptr + 1)
    mode = tl.arange(0, MODES)
    state_mask = inside[:, None] & real_mode[None, :]
    at = mode[None, :] * columns + column[:, None]  # [TILE, MODES]: offsets of a per-mode row of J columns
    if PHASE == MODAL:  # from zero: the chunk's own contribution (row c is being carried into)
        x_re = tl.zeros([TILE, MODES], dtype=u_ptr.dtype.element_ty)
        x_im = tl.zeros([TILE, MODES], dtype=u_ptr.dtype.element_ty)
        remainder = tl.zeros([TILE], dtype=u_ptr.dtype.element_ty)
    else:
        # in the SOMA pass the remainder at the chunk's start is not known yet: start from 0 (never read)
        x_re, x_im, remainder = load_checkpoint(checkpoints_ptr, chunk, columns, modes, at, state_mask, column,
                                                inside & (PHASE == SPIKES))
    t_begin = chunk * BLOCK
    for t in range(t_begin, tl.minimum(steps, t_begin + BLOCK)):
        row = tl.cast(t, tl.int64) * columns
        u_t = tl.load(u_ptr + row + column, mask=inside, other=0.0)
        if PHASE == MODAL:
            x_re, x_im = modal_step(u_t, x_re, x_im, a_re, a_im, real_mode)
        else:
            x_re, x_im, _, potential, remainder = advance(u_t, x_re, x_im, remainder, a_re, a_im, r_re, r_im, skip,
                                                          real_mode, threshold, scale)
            if PHASE == SPIKES:
                fired = potential > threshold if STRICT else potential >= threshold
                tl.store(spikes_ptr + row + column, fired.to(u_ptr.dtype.element_ty), mask=inside)
    following = checkpoints_ptr + tl.cast(chunk + 1, tl.int64) * (2 * modes + 1) * columns
    if PHASE == MODAL:
        tl.store(following + at, x_re, mask=state_mask)
        tl.store(following + modes * columns + at, x_im, mask=state_mask)
    if PHASE == SOMA:
        tl.store(following + 2 * modes * columns + column, remainder, mask=inside)


@triton.jit
def _complex_mul_add(a_re, a_im, b_re, b_im, c_re, c_im):
    """a·b + c on (re, im) pairs."""
    return a_re * b_re - a_im * b_im + c_re, a_re * b_im + a_im * b_re + c_im


@triton.jit
def _carry_kernel(abar_re_ptr, abar_im_ptr, residue_re_ptr, residue_im_ptr, skip_ptr, settings_ptr, carries_ptr,
                  chunks, columns, channels, spatial, modes, KIND: tl.constexpr, ZETA: tl.constexpr,
                  BLOCK: tl.constexpr, TILE: tl.constexpr, MODES: tl.constexpr):
    """The sequential carry over the chunks of one tile of columns, in place (module doc, docs/kernels.md §11.1).
    STATE and REMAINDER on the checkpoints [chunks, 2N + 1, J], forwards: row c holds ξ_{c−1} (ρ_{c−1}) on entry,
    x̂_start[c] (rem_start[c]) on return. ADJOINT on [chunks, 4N + 1, J] (Re ν, Im ν, Re ζ, Im ζ, C), backwards:
    row c holds the zero-started adjoints at the start of chunk c + 1 on entry (the last row zeros), the true ones
    at the end of chunk c on return (ζ with ``ZETA``)."""
    column = tl.program_id(0) * TILE + tl.arange(0, TILE)
    inside = column < columns
    a_re, a_im, _, _, _, real_mode = load_params(abar_re_ptr, abar_im_ptr, residue_re_ptr, residue_im_ptr, skip_ptr,
                                                 column, inside, channels, spatial, modes, MODES)
    dtype = carries_ptr.dtype.element_ty
    mode = tl.arange(0, MODES)
    state_mask = inside[:, None] & real_mode[None, :]
    at = mode[None, :] * columns + column[:, None]
    if KIND == REMAINDER:
        threshold = tl.load(settings_ptr)
        remainder = tl.zeros([TILE], dtype=dtype)
        for c in range(1, chunks):
            pointer = carries_ptr + tl.cast(c, tl.int64) * (2 * modes + 1) * columns + 2 * modes * columns + column
            remainder += tl.load(pointer, mask=inside, other=0.0)
            remainder = remainder - threshold * tl.floor(remainder / threshold)  # as the sweep's step (docs/pmsn.md §5.2)
            tl.store(pointer, remainder, mask=inside)
    else:
        # power = Ā^L, slope = L·Ā^(L−1): the zero-input response of (x̂ or ν) and ζ over one chunk
        zero = tl.zeros([TILE, MODES], dtype=dtype)
        power_re, power_im, slope_re, slope_im = zero + 1, zero, zero, zero
        for _ in range(BLOCK):
            slope_re, slope_im = _complex_mul_add(a_re, a_im, slope_re, slope_im, power_re, power_im)
            power_re, power_im = _complex_mul_add(a_re, a_im, power_re, power_im, zero, zero)
        if KIND == STATE:
            x_re, x_im = zero, zero
            for c in range(1, chunks):
                base = carries_ptr + tl.cast(c, tl.int64) * (2 * modes + 1) * columns
                x_re, x_im = _complex_mul_add(power_re, power_im, x_re, x_im,
                                              tl.load(base + at, mask=state_mask, other=0.0),
                                              tl.load(base + modes * columns + at, mask=state_mask, other=0.0))
                tl.store(base + at, x_re, mask=state_mask)
                tl.store(base + modes * columns + at, x_im, mask=state_mask)
        if KIND == ADJOINT:
            nu_re, nu_im, zeta_re, zeta_im = zero, zero, zero, zero
            for i in range(chunks - 1):
                base = carries_ptr + tl.cast(chunks - 2 - i, tl.int64) * (4 * modes + 1) * columns
                if ZETA:  # with the ν after the later chunk, before ν moves
                    zeta_re, zeta_im = _complex_mul_add(power_re, power_im, zeta_re, zeta_im,
                                                        tl.load(base + 2 * modes * columns + at, mask=state_mask,
                                                                other=0.0),
                                                        tl.load(base + 3 * modes * columns + at, mask=state_mask,
                                                                other=0.0))
                    zeta_re, zeta_im = _complex_mul_add(slope_re, slope_im, nu_re, nu_im, zeta_re, zeta_im)
                    tl.store(base + 2 * modes * columns + at, zeta_re, mask=state_mask)
                    tl.store(base + 3 * modes * columns + at, zeta_im, mask=state_mask)
                nu_re, nu_im = _complex_mul_add(power_re, power_im, nu_re, nu_im,
                                                tl.load(base + at, mask=state_mask, other=0.0),
                                                tl.load(base + modes * columns + at, mask=state_mask, other=0.0))
                tl.store(base + at, nu_re, mask=state_mask)
                tl.store(base + modes * columns + at, nu_im, mask=state_mask)


@triton.jit
def _backward_kernel(grad_spikes_ptr, u_ptr, abar_re_ptr, abar_im_ptr, residue_re_ptr, residue_im_ptr, skip_ptr,
                     settings_ptr, checkpoints_ptr, spike_grad_ptr, opened_ptr, adjoint_ptr, partial_ptr, steps,
                     columns, channels, spatial, modes, PHASE: tl.constexpr, CARRY: tl.constexpr,
                     ZETA: tl.constexpr, SUMS: tl.constexpr, GRAD_U: tl.constexpr, BLOCK: tl.constexpr,
                     TILE: tl.constexpr, MODES: tl.constexpr):
    """One backward pass over chunk c (module doc). ``spike_grad_ptr`` [T, J]: dL/dS·tri(v − θ), then dL/du;
    ``opened_ptr`` [T, J] int8: [κY > 0]; ``adjoint_ptr`` [chunks, 4N + 1, J]: the adjoints after each chunk (the
    ``_carry_kernel`` layout); ``partial_ptr`` [chunks, 4N + 1, J]: the chunk sums P_m, W_m, E (rows as the
    column sweep's float64 sums). RECOMPUTE: stores dL/dS·tri and [κY > 0], and (CARRY) the chunk's sum into row
    c − 1's C. LOCAL (chunks 1 … C − 1): the zero-started adjoints at the chunk's start into row c − 1. FINAL:
    dL/du (GRAD_U) and the chunk sums (SUMS)."""
    chunk, column, inside = _chunk_and_columns(1 if PHASE == LOCAL else 0, columns, TILE)
    a_re, a_im, r_re, r_im, skip, real_mode = load_params(abar_re_ptr, abar_im_ptr, residue_re_ptr, residue_im_ptr,
                                                          skip_ptr, column, inside, channels, spatial, modes, MODES)
    threshold = tl.load(settings_ptr)
    scale = tl.load(settings_ptr + 1)
    width = tl.load(settings_ptr + 2)
    mode = tl.arange(0, MODES)
    state_mask = inside[:, None] & real_mode[None, :]
    at = mode[None, :] * columns + column[:, None]
    t_begin = chunk * BLOCK
    rows = tl.minimum(steps, t_begin + BLOCK) - t_begin
    in_chunk = tl.cast(t_begin, tl.int64) * columns + column  # + row·J
    after = adjoint_ptr + tl.cast(chunk, tl.int64) * (4 * modes + 1) * columns
    before = after - (4 * modes + 1) * columns  # the row of chunk c − 1: the adjoints at chunk c's start
    if PHASE == RECOMPUTE:
        x_re, x_im, remainder = load_checkpoint(checkpoints_ptr, chunk, columns, modes, at, state_mask, column,
                                                inside)
        total = recompute_block(u_ptr, grad_spikes_ptr, t_begin, rows, columns, column, inside, x_re, x_im,
                                remainder, a_re, a_im, r_re, r_im, skip, real_mode, threshold, scale, width,
                                spike_grad_ptr + in_chunk, opened_ptr + in_chunk, columns)
        if CARRY:
            if chunk > 0:
                tl.store(before + 4 * modes * columns + column, total, mask=inside)
    else:
        # LOCAL: from zero, the chunk's own contribution (row c is being written by chunk c + 1); its C, a sum
        # over the later chunks only, is known
        nu_re = tl.zeros([TILE, MODES], dtype=u_ptr.dtype.element_ty)
        nu_im = tl.zeros_like(nu_re)
        zeta_re = tl.zeros_like(nu_re)
        zeta_im = tl.zeros_like(nu_re)
        if PHASE == FINAL:
            nu_re = tl.load(after + at, mask=state_mask, other=0.0)
            nu_im = tl.load(after + modes * columns + at, mask=state_mask, other=0.0)
            if ZETA:
                zeta_re = tl.load(after + 2 * modes * columns + at, mask=state_mask, other=0.0)
                zeta_im = tl.load(after + 3 * modes * columns + at, mask=state_mask, other=0.0)
        carried = tl.zeros([TILE], dtype=u_ptr.dtype.element_ty)
        if CARRY:
            carried = tl.load(after + 4 * modes * columns + column, mask=inside, other=0.0)
        nu_re, nu_im, zeta_re, zeta_im, carried, block_p_re, block_p_im, block_w_re, block_w_im, block_e = \
            adjoint_block(spike_grad_ptr + in_chunk, opened_ptr + in_chunk, columns, u_ptr, spike_grad_ptr, t_begin,
                          rows, columns, column, inside, nu_re, nu_im, zeta_re, zeta_im, carried, a_re, a_im, r_re,
                          r_im, skip, real_mode, scale, CARRY, ZETA, SUMS, GRAD_U)
        if PHASE == LOCAL:
            tl.store(before + at, nu_re, mask=state_mask)
            tl.store(before + modes * columns + at, nu_im, mask=state_mask)
            if ZETA:
                tl.store(before + 2 * modes * columns + at, zeta_re, mask=state_mask)
                tl.store(before + 3 * modes * columns + at, zeta_im, mask=state_mask)
        if SUMS:
            sums = partial_ptr + tl.cast(chunk, tl.int64) * (4 * modes + 1) * columns
            tl.store(sums + at, block_p_re, mask=state_mask)
            tl.store(sums + modes * columns + at, block_p_im, mask=state_mask)
            tl.store(sums + 2 * modes * columns + at, block_w_re, mask=state_mask)
            tl.store(sums + 3 * modes * columns + at, block_w_im, mask=state_mask)
            tl.store(sums + 4 * modes * columns + column, block_e, mask=inside)


def _forward(u: torch.Tensor, params, settings: torch.Tensor, spatial: int, strict: bool, save: bool):
    """Spikes ``[T, J]`` and (``save``) checkpoints ``[chunks, 2N + 1, J]`` of the columns ``u`` ``[T, J]``."""
    steps, columns = u.shape
    channels, modes = params[0].shape
    chunks = triton.cdiv(steps, common.BLOCK)
    spikes = torch.empty_like(u)
    checkpoints = u.new_empty((chunks, 2 * modes + 1, columns))
    if u.numel() > 0:
        (tiles,), constants = geometry(u, modes)
        checkpoints[0].zero_()
        sweep = (u, *params, settings, spikes, checkpoints, steps, columns, channels, spatial, modes)
        carry = (*params, settings, checkpoints, chunks, columns, channels, spatial, modes)
        with common.on_device(u):
            if chunks > 1:
                _forward_kernel[((chunks - 1) * tiles,)](*sweep, PHASE=MODAL, STRICT=strict, **constants)
                _carry_kernel[(tiles,)](*carry, KIND=STATE, ZETA=False, **constants)
                _forward_kernel[((chunks - 1) * tiles,)](*sweep, PHASE=SOMA, STRICT=strict, **constants)
                _carry_kernel[(tiles,)](*carry, KIND=REMAINDER, ZETA=False, **constants)
            _forward_kernel[(chunks * tiles,)](*sweep, PHASE=SPIKES, STRICT=strict, **constants)
    return spikes, checkpoints if save else checkpoints[:0]


def _backward(grad_spikes, u, params, settings, checkpoints, spatial, carry, need_u, need_params):
    """(dL/du ``[T, J]`` or None, float64 column sums ``[4N + 1, J]`` or None)."""
    steps, columns = u.shape
    channels, modes = params[0].shape
    spike_grads = torch.empty_like(u)  # dL/dS·tri(v − θ), overwritten with dL/du by the last pass
    partial = u.new_zeros((0, 4 * modes + 1, columns))
    if u.numel() > 0:
        (tiles,), constants = geometry(u, modes)
        chunks = triton.cdiv(steps, constants["BLOCK"])
        opened = torch.empty(u.shape, dtype=torch.int8, device=u.device)
        adjoint = u.new_empty((chunks, 4 * modes + 1, columns))
        adjoint[-1].zero_()  # nothing after the last chunk
        if need_params:
            partial = u.new_empty((chunks, 4 * modes + 1, columns))
        sweep = (grad_spikes, u, *params, settings, checkpoints, spike_grads, opened, adjoint, partial, steps, columns,
                 channels, spatial, modes)
        flags = dict(CARRY=carry, ZETA=need_params, **constants)
        with common.on_device(u):
            _backward_kernel[(chunks * tiles,)](*sweep, PHASE=RECOMPUTE, SUMS=False, GRAD_U=False, **flags)
            if carry:  # C after chunk c: the sum over the later chunks (docs/kernels.md §11.1)
                later = adjoint[:, 4 * modes]
                later.copy_(later.flip(0).cumsum(0).flip(0))
            if chunks > 1:
                _backward_kernel[((chunks - 1) * tiles,)](*sweep, PHASE=LOCAL, SUMS=False, GRAD_U=False, **flags)
                _carry_kernel[(tiles,)](*params, settings, adjoint, chunks, columns, channels, spatial, modes,
                                        KIND=ADJOINT, ZETA=need_params, **constants)
            _backward_kernel[(chunks * tiles,)](*sweep, PHASE=FINAL, SUMS=need_params, GRAD_U=need_u, **flags)
    sums = partial.sum(0, dtype=torch.float64) if need_params else None
    return (spike_grads if need_u else None), sums


CHUNK_SWEEPS = Sweeps(_forward, _backward)


def pmsn_triton_chunked(u, abar_re, abar_im, residue_re, residue_im, skip, threshold=1.0, scale=1.0,
                        surrogate_width=1.0, soma_grad="elementwise", strict=False) -> torch.Tensor:
    """Spikes ``[T, B, C, *spatial]`` of the PMSN neuron, forward and backward in Triton kernels parallel over
    chunks of time (docs/kernels.md §11.1). Arguments, gradients and devices as ``pmsn.ops.triton_pmsn.pmsn_triton``
    (``pmsn.ops.triton_common.choose_pmsn_triton_variant`` says which of the two suits a shape)."""
    return run_sweeps(CHUNK_SWEEPS, u, (abar_re, abar_im, residue_re, residue_im, skip), threshold, scale,
                      surrogate_width, soma_grad, strict)
