"""What every neuron shares: input checks and the serial loop over ``step``.

Contract (docs/neurons.md §1.1):
    spikes = neuron(x)                       # x: [T, B, C, *spatial], the parallel path
    spikes = neuron(x, lengths=lengths)      # a right-padded batch, lengths [B] (docs/variable_length.md §1)
    spikes, trace = neuron(x, return_states=True)
    s_t, state = neuron.step(x_t, state)     # x_t: [B, C, *spatial]; state=None = fresh; the definition

A subclass implements ``_parallel(x, return_states)`` and ``_step(x_t, state) -> (s_t, state, trace_t)``;
``neuron.serial(x)`` runs the step loop over a whole sequence (the reference the parallel path is tested against).
"""

from __future__ import annotations

import math
import numbers
from typing import Any, NamedTuple

import torch
from torch import nn

from pmsn.neurons.lengths import check_lengths, zero_padding
from pmsn.surrogate import get_surrogate


def check_sequence(x: Any, channels: int | None, name: str) -> torch.Tensor:
    """Validate a ``[T, B, C, *spatial]`` floating-point tensor; errors name what was expected and what came."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} expects a torch.Tensor of shape [T, B, C, *spatial], got {type(x).__name__}")
    if x.dim() < 3:
        raise ValueError(f"{name} expects input of shape [T, B, C, *spatial] (3 or more dims), got {tuple(x.shape)}")
    _check_float(x, name)
    if x.shape[0] == 0:
        raise ValueError(f"{name} expects at least one time step, got T=0 in input of shape {tuple(x.shape)}")
    if channels is not None and x.shape[2] != channels:
        raise ValueError(f"{name} was built for {channels} channels (dim 2 of [T, B, C, ...]), got {x.shape[2]} "
                         f"in input of shape {tuple(x.shape)}")
    return x


def check_step_input(x_t: Any, channels: int | None, name: str) -> torch.Tensor:
    """Validate a single time step ``[B, C, *spatial]``."""
    if not isinstance(x_t, torch.Tensor):
        raise TypeError(f"{name}.step expects a torch.Tensor of shape [B, C, *spatial], got {type(x_t).__name__}")
    if x_t.dim() < 2:
        raise ValueError(f"{name}.step expects input of shape [B, C, *spatial] (2 or more dims), "
                         f"got {tuple(x_t.shape)}")
    _check_float(x_t, name)
    if channels is not None and x_t.shape[1] != channels:
        raise ValueError(f"{name}.step was built for {channels} channels (dim 1 of [B, C, ...]), got {x_t.shape[1]}")
    return x_t


def check_state_shape(name: str, field: str, tensor: torch.Tensor, expected: tuple[int, ...]) -> None:
    """A state handed to ``step`` must come from inputs of the same shape."""
    if tuple(tensor.shape) != tuple(expected):
        raise ValueError(f"{name}.step got a state whose {field!r} has shape {tuple(tensor.shape)}, expected "
                         f"{tuple(expected)} for this input; pass state=None to start a fresh sequence")


def check_state(name: str, field: str, tensor: Any, expected_shape: tuple[int, ...], dtype: torch.dtype,
                device: torch.device) -> None:
    """A state handed to ``step`` must be a tensor of the expected shape, dtype and device (no silent promotion
    of the whole sequence to another dtype, no cross-device surprise)."""
    if not isinstance(tensor, torch.Tensor):
        raise TypeError(f"{name}.step got a state whose {field!r} is a {type(tensor).__name__}, expected a "
                        f"torch.Tensor; pass state=None to start a fresh sequence")
    check_state_shape(name, field, tensor, expected_shape)
    if tensor.dtype != dtype:
        raise TypeError(f"{name}.step got a state whose {field!r} has dtype {tensor.dtype}, expected {dtype} for "
                        f"this input; pass state=None to start a fresh sequence or convert the state")
    if tensor.device != device:
        raise ValueError(f"{name}.step got a state whose {field!r} is on device {tensor.device}, expected "
                         f"{device} (the input's); pass state=None to start a fresh sequence or move the state")


# Constructor arguments: one ValueError line "<Neuron>: <arg> must be <what>, got <value>" ---------------------------
_BOUNDS = {
    "": lambda v: True,
    "> 0": lambda v: v > 0,
    ">= 0": lambda v: v >= 0,
    "> 1": lambda v: v > 1,
    ">= 1": lambda v: v >= 1,
    "in [0, 1]": lambda v: 0 <= v <= 1,
}


def check_real(owner: str, name: str, value: Any, bound: str = "") -> float:
    """A finite real number (not a bool) satisfying ``bound`` (a key of ``_BOUNDS``); returned as a float."""
    real = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if not (real and math.isfinite(value) and _BOUNDS[bound](value)):
        raise ValueError(f"{owner}: {name} must be a finite number {bound}".rstrip() + f", got {value!r}")
    return float(value)


def check_int(owner: str, name: str, value: Any, minimum: int = 1, what: str | None = None) -> int:
    """An int (not a bool) >= ``minimum``; ``what`` replaces the default description in the message."""
    if not (isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= minimum):
        expected = what or ("a positive int" if minimum == 1 else f"an int >= {minimum}")
        raise ValueError(f"{owner}: {name} must be {expected}, got {value!r}")
    return int(value)


def check_choice(owner: str, name: str, value: Any, allowed: tuple) -> Any:
    if value not in allowed:
        raise ValueError(f"{owner}: {name} must be one of {allowed}, got {value!r}")
    return value


def check_flag(owner: str, name: str, value: Any) -> bool:
    """A bool (a YAML "false" string or None would silently mean something else)."""
    if not isinstance(value, bool):
        raise ValueError(f"{owner}: {name} must be a bool, got {value!r}")
    return value


def _check_float(x: torch.Tensor, name: str) -> None:
    if not x.is_floating_point():
        raise TypeError(f"{name} expects a floating-point tensor (float32/float64/bf16/fp16), got {x.dtype}")


def channel_view(param: torch.Tensor, spatial_dims: int) -> torch.Tensor:
    """Reshape a per-channel ``[C, *rest]`` parameter to broadcast against ``[B, C, *spatial, *rest]``."""
    c, rest = param.shape[0], param.shape[1:]
    return param.reshape(c, *([1] * spatial_dims), *rest)


class Neuron(nn.Module):
    """Base class: input validation, ``forward`` → ``_parallel``, ``step`` → ``_step``, and the serial loop."""

    channels: int | None = None
    # valid steps never read later steps; else ``lengths`` zero the padded inputs (docs/variable_length.md §3)
    causal = True

    def __init__(self, surrogate="triangle", strict: bool = False):
        super().__init__()
        self.surrogate = get_surrogate(surrogate)
        self.strict = check_flag(type(self).__name__, "strict", strict)

    # the public contract -------------------------------------------------------------------------------------
    def forward(self, x: torch.Tensor, return_states: bool = False, lengths: torch.Tensor | None = None):
        x = check_sequence(x, self.channels, type(self).__name__)
        if lengths is not None:
            check_lengths(lengths, x.shape[1], x.shape[0], type(self).__name__)
            if not self.causal:
                x = zero_padding(x, lengths)
        return self._parallel(x, return_states)

    def step(self, x_t: torch.Tensor, state: NamedTuple | None = None):
        x_t = check_step_input(x_t, self.channels, type(self).__name__)
        s_t, state, _ = self._step(x_t, state)
        return s_t, state

    def serial(self, x: torch.Tensor, return_states: bool = False):
        """Run ``step`` over every time step of ``x`` from a fresh state (the serial definition)."""
        x = check_sequence(x, self.channels, type(self).__name__)
        state, spikes, traces = None, [], []
        for x_t in x.unbind(0):  # unbind, not x[t]: indexing makes backward quadratic in T
            s_t, state, trace_t = self._step(x_t, state)
            spikes.append(s_t)
            traces.append(trace_t)
        out = torch.stack(spikes)
        if not return_states:
            return out
        trace_type = type(traces[0])
        return out, trace_type(*(torch.stack(field) for field in zip(*traces)))

    # subclass hooks --------------------------------------------------------------------------------------------
    def _parallel(self, x: torch.Tensor, return_states: bool):
        raise NotImplementedError

    def _step(self, x_t: torch.Tensor, state):
        raise NotImplementedError
