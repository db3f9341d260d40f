"""Chunked scan of the diagonal linear system: the same Y = K ∗ u as the FFT, in chunks of L steps.

Inside a chunk a small per-channel Toeplitz matmul applies the first L kernel taps; between chunks the N complex
modal states are carried (docs/pmsn.md §3.1, §4.2):
    Y[t] = Σ_{l ≤ t in chunk} K[t − l]·u[l]  +  Re Σ_m C̃_m·Ā_m^{t+1}·x_m[chunk start − 1]
    x_m[chunk end] = Ā_m^L·x_m[chunk start − 1] + Σ_l Ā_m^{L−1−l}·B̄_m·u[l]
Work is O(T·(L + N)) per column and memory O(T) with no FFT padding: it wins at short T and on memory.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def causal_conv_chunked(u: torch.Tensor, decay: torch.Tensor, input_gain: torch.Tensor, readout: torch.Tensor,
                        chunk: int = 64) -> torch.Tensor:
    """Y[t] = Re Σ_m C̃_m x_m[t] for u ``[T, B, C, *spatial]`` and (Ā, B̄, C̃) complex ``[C, N]`` (no D term)."""
    steps, channels = u.shape[0], u.shape[2]
    chunk = max(1, min(chunk, steps))
    chunks = -(-steps // chunk)
    columns = u.movedim(2, 1).reshape(steps, channels, -1)  # [T, C, J], J = B·spatial
    if chunks * chunk != steps:
        columns = F.pad(columns, (0, 0, 0, 0, 0, chunks * chunk - steps))
    blocks = columns.reshape(chunks, chunk, channels, -1)  # [n, L, C, J]

    lags = torch.arange(chunk, device=u.device, dtype=u.dtype)
    powers = torch.exp(lags.reshape(1, 1, -1) * torch.log(decay).unsqueeze(-1))  # Ā^l, [C, N, L]
    residue = readout * input_gain
    taps = (residue.unsqueeze(-1) * powers).real.sum(1)  # K[0..L−1], [C, L]
    difference = lags.unsqueeze(1) - lags.unsqueeze(0)  # t − l
    toeplitz = taps[:, difference.clamp_min(0).long()] * (difference >= 0).to(u.dtype)  # [C, L, L]
    output = torch.einsum("ctl,nlcj->ntcj", toeplitz, blocks)  # within-chunk part

    if chunks > 1:
        complex_blocks = blocks.to(decay.dtype)
        gather = input_gain.unsqueeze(-1) * powers.flip(-1)  # B̄·Ā^{L−1−l}, [C, N, L]
        increments = torch.einsum("cml,nlcj->ncmj", gather, complex_blocks)  # state added by each chunk
        carry_decay = (powers[..., -1] * decay).unsqueeze(-1)  # Ā^L, [C, N, 1]
        state, states = torch.zeros_like(increments[0]), []
        for increment in increments[:-1].unbind(0):  # carried states entering chunks 1..n−1
            state = carry_decay * state + increment
            states.append(state)
        emit = readout.unsqueeze(-1) * powers * decay.unsqueeze(-1)  # C̃·Ā^{t+1}, [C, N, L]
        carried = torch.einsum("cmt,ncmj->ntcj", emit, torch.stack(states)).real
        output = torch.cat([output[:1], output[1:] + carried], dim=0)

    out = output.reshape(chunks * chunk, channels, -1)[:steps]
    return out.reshape(steps, channels, u.shape[1], *u.shape[3:]).movedim(1, 2)
