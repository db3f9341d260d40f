"""One neuron's time step on real tensors with a fixed-shape state, the form an ONNX graph needs (docs/onnx.md §2).

    stepper = neuron_step(neuron)                  # refuses neurons that cannot stream (docs/onnx.md §5)
    fields = stepper.fields(x_t)                   # name, shape, fill, dtype and batch axis of each state tensor
    s_t, state = stepper(x_t, state, time)         # state: a tuple of tensors in the order of ``fields``

Each stepper computes what ``neuron.step`` computes (the definition, docs/neurons.md §1.1) and calls the neuron's
own ``_step`` wherever its state is already real and of fixed shape. Two neurons need another form:

* PMSN keeps complex modal states; here they are (real, imaginary) pairs and the complex products are written
  out in real arithmetic (docs/pmsn.md §3.1); the soma is the neuron's own ``_soma_step`` (docs/pmsn.md §5.2), so
  every soma variant streams.
* Sliding and masked PSN keep a growing list of past inputs; here it is a window of the last k − 1 inputs,
  zero before the first step (zeros add nothing to H[t], docs/neurons.md §4.2-4.3). Masked PSN reads the row of
  its banded weight for step ``time`` from a table built once.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from pmsn.neurons.base import Neuron, channel_view
from pmsn.neurons.lif import ALIF, ALIFState, LIFState, _Leaky
from pmsn.neurons.pmsn import PMSN
from pmsn.neurons.pmsn_variants import GlobalPMSN
from pmsn.neurons.psn import PSN, MaskedPSN, PSNState, SlidingPSN
from pmsn.neurons.tclif import TCLIF, TCLIFState
from pmsn.surrogate import spike


class StateField(NamedTuple):
    name: str
    shape: tuple[int, ...]
    fill: float  # the value of every entry before the first step
    dtype: torch.dtype
    batch_axis: int | None  # the axis that is the batch (None: shared by the batch)


class StatefulStep(nn.Module):
    """One step with its state as a tuple of tensors (the fields); fresh = each field at its fill."""

    def fields(self, x_t: torch.Tensor) -> tuple[StateField, ...]:
        raise NotImplementedError

    def fresh(self, x_t: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """The state before the first step, for inputs shaped like ``x_t``."""
        return tuple(torch.full(f.shape, f.fill, dtype=f.dtype, device=x_t.device) for f in self.fields(x_t))

    def forward(self, x_t: torch.Tensor, state: tuple, time: torch.Tensor):
        raise NotImplementedError


class NeuronStep(StatefulStep):
    def __init__(self, neuron: Neuron):
        super().__init__()
        self.neuron = neuron


def _same_shape(x_t: torch.Tensor, *names_fills: tuple[str, float]) -> tuple[StateField, ...]:
    return tuple(StateField(name, tuple(x_t.shape), fill, x_t.dtype, 0) for name, fill in names_fills)


class LeakyStep(NeuronStep):
    """The LIF family (LIF, PLIF and every other subclass of its shared update): the membrane V, fresh at V_reset
    with a hard reset, else 0 (docs/neurons.md §2.1)."""

    def fields(self, x_t):
        return _same_shape(x_t, ("membrane", self.neuron.v_reset if self.neuron.reset == "hard" else 0.0))

    def forward(self, x_t, state, time):
        s_t, new, _ = self.neuron._step(x_t, LIFState(*state))
        return s_t, tuple(new)


class ALIFStep(NeuronStep):
    """ALIF: membrane u, adaptation b (fresh at b₀) and the previous spikes (docs/neurons.md §2.3)."""

    def fields(self, x_t):
        return _same_shape(x_t, ("membrane", 0.0), ("adaptation", self.neuron.base_threshold), ("spikes", 0.0))

    def forward(self, x_t, state, time):
        s_t, new, _ = self.neuron._step(x_t, ALIFState(*state))
        return s_t, tuple(new)


class TCLIFStep(NeuronStep):
    """TC-LIF: dendrite, soma and the previous spikes, all fresh at 0 (docs/neurons.md §3.2)."""

    def fields(self, x_t):
        return _same_shape(x_t, ("dendrite", 0.0), ("soma", 0.0), ("spikes", 0.0))

    def forward(self, x_t, state, time):
        s_t, new, _ = self.neuron._step(x_t, TCLIFState(*state))
        return s_t, tuple(new)


def _window_field(x_t: torch.Tensor, order: int) -> tuple[StateField, ...]:
    """The last k − 1 inputs, oldest first, ``[k − 1, B, C, *spatial]`` (none for k = 1)."""
    if order == 1:
        return ()
    return (StateField("history", (order - 1,) + tuple(x_t.shape), 0.0, x_t.dtype, 1),)


class SlidingPSNStep(NeuronStep):
    """Sliding PSN: H[t] = Σ_i w_i·X[t − k + 1 + i] + b over a full window (docs/neurons.md §4.3)."""

    def fields(self, x_t):
        return _window_field(x_t, self.neuron.order)

    def forward(self, x_t, state, time):
        s_t, new, _ = self.neuron._step(x_t, PSNState(*state) if state else None)
        return s_t, tuple(new) if state else ()


class MaskedPSNStep(NeuronStep):
    """Masked PSN at λ = 1: H[t] = Σ_j band[t, j]·window[j] + b[t], with band[t] the k weights of row t of W ⊙ M_k
    aligned to the window (oldest first; zero before step 0) (docs/neurons.md §4.2)."""

    def __init__(self, neuron: MaskedPSN):
        super().__init__(neuron)
        order, steps = neuron.order, neuron.T
        with torch.no_grad():
            source = torch.arange(steps).unsqueeze(1) - (order - 1) + torch.arange(order)  # input index of band[t, j]
            weight = neuron.effective_weight().detach()
            band = weight.gather(1, source.clamp_min(0)) * (source >= 0).to(weight.dtype)
        self.register_buffer("band", band)

    def fields(self, x_t):
        return _window_field(x_t, self.neuron.order)

    def forward(self, x_t, state, time):
        window = torch.cat([state[0], x_t.unsqueeze(0)]) if state else x_t.unsqueeze(0)
        row, bias = self.band[time].to(x_t.dtype), self.neuron.bias[time].to(x_t.dtype)
        potential = torch.tensordot(row, window, dims=1) + bias
        return spike(potential, self.neuron.surrogate, self.neuron.strict), (window[1:],) if state else ()


class PMSNStep(NeuronStep):
    """PMSN with the modes as real pairs (docs/pmsn.md §3.1): with Ā = a + ib, B̄ = g + ih, C̃ = c + id,

        x_re ← a·x_re − b·x_im + g·u,   x_im ← a·x_im + b·x_re + h·u,   Y = Σ_m (c·x_re − d·x_im) + D·u

    then the neuron's own soma step on κ·Y (docs/pmsn.md §5.2). (Ā, B̄, C̃) are computed once, in float32 as
    ``step`` computes them for float32 input."""

    def __init__(self, neuron: PMSN):
        super().__init__(neuron)
        with torch.no_grad():
            decay, input_gain, readout = neuron.modal_system(torch.float32)
        for name, value in (("decay", decay), ("input_gain", input_gain), ("readout", readout)):
            self.register_buffer(f"{name}_real", value.real.clone())
            self.register_buffer(f"{name}_imag", value.imag.clone())

    def fields(self, x_t):
        modes = tuple(x_t.shape) + (self.neuron.compartments - 1,)
        return (StateField("hidden_real", modes, 0.0, torch.float32, 0),
                StateField("hidden_imag", modes, 0.0, torch.float32, 0),
                StateField("soma", tuple(x_t.shape), 0.0, torch.float32, 0))

    def forward(self, x_t, state, time):
        hidden_real, hidden_imag, soma = state
        u = x_t.to(torch.float32)
        spatial = u.dim() - 2
        a, b, g, h, c, d = (channel_view(p, spatial) for p in (self.decay_real, self.decay_imag, self.input_gain_real,
                                                               self.input_gain_imag, self.readout_real,
                                                               self.readout_imag))
        drive = u.unsqueeze(-1)
        hidden_real, hidden_imag = (a * hidden_real - b * hidden_imag + g * drive,
                                    a * hidden_imag + b * hidden_real + h * drive)
        current = (c * hidden_real - d * hidden_imag).sum(-1) + channel_view(self.neuron.D, spatial) * u
        s_t, _, remainder = self.neuron._soma_step(self.neuron.scale * current, soma)
        return s_t.to(x_t.dtype), (hidden_real, hidden_imag, remainder)


def neuron_step(neuron: nn.Module) -> NeuronStep:
    """The streaming step of ``neuron``; a ValueError line for a neuron that needs the whole sequence."""
    if isinstance(neuron, GlobalPMSN):
        raise ValueError("cannot stream GlobalPMSN (global_mode='sum'): every step sees the sum of the whole "
                         "sequence (non-causal, docs/onnx.md §5)")
    if isinstance(neuron, MaskedPSN):
        if float(neuron.mask_lambda) < 1.0:
            raise ValueError(f"cannot stream masked PSN with mask_lambda = {float(neuron.mask_lambda):g} < 1: the "
                             f"blended mask sees future inputs (non-causal); only λ = 1 streams (docs/onnx.md §5)")
        return MaskedPSNStep(neuron)
    if isinstance(neuron, PSN):
        raise ValueError("cannot stream PSN: its T×T map mixes all time steps (non-causal); use masked_psn trained "
                         "to λ = 1 or sliding_psn (docs/onnx.md §5)")
    for family, stepper in ((PMSN, PMSNStep), (_Leaky, LeakyStep), (ALIF, ALIFStep), (TCLIF, TCLIFStep),
                            (SlidingPSN, SlidingPSNStep)):
        if isinstance(neuron, family):
            return stepper(neuron)
    raise ValueError(f"no streaming step for neuron {type(neuron).__name__}; expected one of PMSN, LIF, PLIF, ALIF, "
                     f"TCLIF, SlidingPSN, MaskedPSN (λ = 1)")
