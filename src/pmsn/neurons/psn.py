"""The PSN family: PSN, masked PSN, sliding PSN (docs/neurons.md §4) of W. Fang, Z. Yu, Z. Zhou, D. Chen,
Y. Chen, Z. Ma, T. Masquelier, Y. Tian, "Parallel Spiking Neurons with High Efficiency and Ability to Learn
Long-term Dependencies", NeurIPS 2023, arXiv:2304.12760 (PSN below).

No reset and no state besides past inputs: the membrane is a learned linear map over time, shared by every
neuron of the layer (all of B, C and spatial dims flattened into N columns):
    PSN          H = W·X + b,             W [T, T]   (non-causal; no ``step``)       PSN eq. 8-10
    MaskedPSN    H = (W ⊙ M_k(λ))·X + b,  M_k band of order k, M_k(λ) = λ·M_k + (1 − λ)·1    PSN eq. 11-13
    SlidingPSN   H[t] = Σ_{i<k} w_i·X[t − k + 1 + i] + b   (any T, causal)                     PSN eq. 14-16
    S = Θ(H) (b = −threshold), ATan surrogate α = 2.

Padded batches (docs/variable_length.md §3): ``neuron(x, lengths=lengths)`` zeroes the steps t ≥ L_b of each column
before the product, so H[:L] = W[:L, :L]·X[:L] + b[:L], the top-left block: the neuron run on the first L steps.
SlidingPSN is causal and needs no mask.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from pmsn.neurons.base import Neuron, check_flag, check_int, check_real, check_state
from pmsn.surrogate import ATan, spike


class PSNTrace(NamedTuple):
    potential: torch.Tensor  # H[t] = W·X + b, [T, B, C, *spatial]


class PSNState(NamedTuple):
    history: torch.Tensor  # the last ≤ k − 1 inputs (oldest first), [m, B, C, *spatial]


class MaskedPSNState(NamedTuple):
    time: int  # index of the next step
    history: torch.Tensor  # the last ≤ k − 1 inputs (oldest first), [m, B, C, *spatial]


def _check_steps(name: str, x: torch.Tensor, steps: int) -> None:
    if x.shape[0] != steps:
        raise ValueError(f"{name} was built for T={steps} time steps, got T={x.shape[0]} (input {tuple(x.shape)})")


def _time_mix(weight: torch.Tensor, bias: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """H = W·X + b with X = x flattened to [T, N] (one weight matrix shared by all neurons)."""
    flat = x.reshape(x.shape[0], -1)
    return torch.addmm(bias.unsqueeze(1), weight, flat).reshape(weight.shape[0], *x.shape[1:])


def _fire(potential: torch.Tensor, surrogate, strict: bool, return_states: bool):
    """S = Θ(H); in inference the temporary H is overwritten with the spikes (no second full-size tensor)."""
    if return_states or (torch.is_grad_enabled() and potential.requires_grad):
        spikes = spike(potential, surrogate, strict)
        return (spikes, PSNTrace(potential)) if return_states else spikes
    return potential.gt_(0.0) if strict else potential.ge_(0.0)


def _history_step(name: str, weights: torch.Tensor, bias, x_t: torch.Tensor, state: PSNState | None, keep: int):
    """H[t] = Σ_j weights[j]·X[j] + b over the stored inputs and x_t (weights aligned to the newest input last)."""
    if state is None:
        state = PSNState(x_t.new_zeros((0,) + tuple(x_t.shape)))
    history_length = state.history.shape[0] if isinstance(state.history, torch.Tensor) else 0
    check_state(name, "history", state.history, (history_length,) + tuple(x_t.shape), x_t.dtype, x_t.device)
    window = torch.cat([state.history, x_t.unsqueeze(0)])
    used = weights[weights.shape[0] - window.shape[0]:]
    potential = torch.tensordot(used, window, dims=1) + bias
    return potential, PSNState(window[max(0, window.shape[0] - keep):] if keep > 0 else window[:0])


class PSN(Neuron):
    """Parallel spiking neuron: a learnable T×T map over time (T fixed at build). Needs the whole sequence."""

    causal = False  # H[t] reads X[j > t]: padded steps are zeroed out of the product (docs/variable_length.md §3)

    def __init__(self, T: int, threshold: float = 1.0, surrogate=None, strict: bool = False):
        super().__init__(surrogate if surrogate is not None else ATan(2.0), strict)
        self.T = T = check_int(type(self).__name__, "T", T)
        # threshold only sets the initial bias b = −θ of a learned map: any finite value
        threshold = check_real(type(self).__name__, "threshold", threshold)
        self.weight = nn.Parameter(torch.empty(T, T).uniform_(-1.0 / math.sqrt(T), 1.0 / math.sqrt(T)))
        self.bias = nn.Parameter(torch.full((T,), -threshold))  # kaiming_uniform(a=√5) range, b = −θ

    def extra_repr(self) -> str:
        return f"T={self.T}"

    def effective_weight(self) -> torch.Tensor:
        return self.weight

    def _parallel(self, x, return_states):
        _check_steps(type(self).__name__, x, self.T)
        potential = _time_mix(self.effective_weight().to(x.dtype), self.bias.to(x.dtype), x)
        return _fire(potential, self.surrogate, self.strict, return_states)

    def _step(self, x_t, state):
        raise RuntimeError("PSN mixes all T time steps (non-causal), so it has no step mode; use MaskedPSN "
                           "(with mask_lambda = 1) or SlidingPSN for streaming")


class MaskedPSN(PSN):
    """PSN whose weights are masked to a causal band of ``order`` k; ``mask_lambda`` < 1 blends in the dense map
    (progressive masking λ = min(1, 8·epoch/(epochs − 1)), set by the trainer through ``set_lambda``)."""

    def __init__(self, T: int, order: int, threshold: float = 1.0, mask_lambda: float = 1.0, surrogate=None,
                 strict: bool = False):
        super().__init__(T, threshold, surrogate, strict)
        self.order = order = check_int("MaskedPSN", "order", order, what=f"an int in [1, T={T}]")
        if order > T:
            raise ValueError(f"MaskedPSN: order must be an int in [1, T={T}], got {order!r}")
        rows, cols = torch.arange(T).unsqueeze(1), torch.arange(T).unsqueeze(0)
        # M_k[i][j] of docs/neurons.md §4.2
        self.register_buffer("mask", ((cols <= rows) & (rows <= cols + order - 1)).float())
        self.register_buffer("mask_lambda", torch.tensor(check_real("MaskedPSN", "mask_lambda", mask_lambda,
                                                                    "in [0, 1]")))

    def set_lambda(self, value: float) -> None:
        self.mask_lambda.fill_(check_real("MaskedPSN", "mask_lambda", value, "in [0, 1]"))

    def extra_repr(self) -> str:
        return f"T={self.T}, order={self.order}, mask_lambda={float(self.mask_lambda):g}"

    def effective_weight(self) -> torch.Tensor:
        # Tensor arithmetic, no float(λ): no data-dependent branch for torch.compile / torch.export; λ = 1 gives
        # exactly W ⊙ M_k (1·M + 0 = M).
        lam = self.mask_lambda
        return self.weight * (lam * self.mask + (1.0 - lam))

    def _step(self, x_t, state: MaskedPSNState | None):
        if float(self.mask_lambda) < 1.0:
            raise RuntimeError(f"MaskedPSN.step needs mask_lambda = 1 (causal band); it is "
                               f"{float(self.mask_lambda):g}: the blended mask sees future inputs")
        time = 0 if state is None else int(state.time)
        if time >= self.T:
            raise ValueError(f"MaskedPSN was built for T={self.T} steps; step {time + 1} asked for more "
                             f"(pass state=None to start a new sequence)")
        row = self.weight[time, max(0, time - self.order + 1):time + 1].to(x_t.dtype)
        potential, history = _history_step("MaskedPSN", row, self.bias[time].to(x_t.dtype), x_t,
                                           None if state is None else PSNState(state.history), self.order - 1)
        s_t = spike(potential, self.surrogate, self.strict)
        return s_t, MaskedPSNState(time + 1, history.history), PSNTrace(potential)


class SlidingPSN(Neuron):
    """Sliding PSN of ``order`` k: k weights shared by the layer slide over time (any T; causal).

    ``exp_init`` (default): w_i = 2^{i−k+1} (…, 1/4, 1/2, 1); else kaiming-uniform U(−1/√k, 1/√k). b = −threshold.
    """

    def __init__(self, order: int, threshold: float = 1.0, exp_init: bool = True, surrogate=None,
                 strict: bool = False):
        super().__init__(surrogate if surrogate is not None else ATan(2.0), strict)
        self.order = order = check_int("SlidingPSN", "order", order)
        threshold = check_real("SlidingPSN", "threshold", threshold)  # the initial bias b = −θ: any finite value
        if check_flag("SlidingPSN", "exp_init", exp_init):
            weight = torch.pow(2.0, torch.arange(order, dtype=torch.float32) - (order - 1))
        else:
            weight = torch.empty(order).uniform_(-1.0 / math.sqrt(order), 1.0 / math.sqrt(order))
        self.weight = nn.Parameter(weight)
        self.bias = nn.Parameter(torch.tensor(-threshold))

    def extra_repr(self) -> str:
        return f"order={self.order}"

    def toeplitz(self, steps: int, columns: int | None = None) -> torch.Tensor:
        """A[i, j] = w_{k−1−i+j} for i − k < j ≤ i, else 0 (PSN eq. 16 matrix form), ``[steps, columns]``.

        With ``columns = steps + k − 1`` the rows see a window that starts k − 1 steps earlier: A[i, i + j] = w_j.
        """
        shift = 0 if columns is None else columns - steps
        rows = torch.arange(steps).unsqueeze(1) + shift
        lag = rows - torch.arange(steps if columns is None else columns).unsqueeze(0)
        band = (lag >= 0) & (lag < self.order)
        index = (self.order - 1 - lag).clamp(0, self.order - 1).to(self.weight.device)
        return self.weight[index] * band.to(self.weight.device, self.weight.dtype)

    def _parallel(self, x, return_states):
        steps, block = x.shape[0], max(64, self.order)
        if steps <= 8 * block:  # measured: the dense T×T matmul wins up to T ≈ 512, the band beyond (2.8× at 4096)
            potential = _time_mix(self.toeplitz(steps).to(x.dtype), self.bias.to(x.dtype).expand(steps), x)
        else:
            potential = self._banded_mix(x, block)
        return _fire(potential, self.surrogate, self.strict, return_states)

    def _banded_mix(self, x: torch.Tensor, block: int) -> torch.Tensor:
        """The same H = A·X + b by blocks of ``block`` steps: each block is one [block, block + k − 1] matmul
        over a window that starts k − 1 steps earlier — O(T·(block + k)) instead of O(T²) per column."""
        steps, order = x.shape[0], self.order
        blocks = -(-steps // block)
        flat = x.reshape(steps, -1)
        padded = F.pad(flat, (0, 0, order - 1, blocks * block - steps))  # x[t − k + 1 …] with zeros before t = 0
        windows = padded.unfold(0, block + order - 1, block).transpose(1, 2)  # [blocks, block + k − 1, N]
        band = self.toeplitz(block, block + order - 1).to(x.dtype)
        potential = torch.matmul(band, windows).reshape(blocks * block, -1)[:steps] + self.bias.to(x.dtype)
        return potential.reshape(x.shape)

    def _step(self, x_t, state: PSNState | None):
        potential, state = _history_step("SlidingPSN", self.weight.to(x_t.dtype), self.bias.to(x_t.dtype), x_t,
                                         state, self.order - 1)
        return spike(potential, self.surrogate, self.strict), state, PSNTrace(potential)
