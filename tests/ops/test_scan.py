"""The chunked scan equals the FFT convolution and the modal recurrence (docs/pmsn.md §3.1, §4.1-4.2)."""

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from pmsn.ops.linear_system import causal_conv_fft, convolution_kernel, discretize
from pmsn.ops.scan import causal_conv_chunked


def random_system(channels, modes, seed):
    gen = torch.Generator().manual_seed(seed)
    rand = lambda *shape: torch.randn(*shape, generator=gen, dtype=torch.float64)
    log_dt = torch.empty(channels, dtype=torch.float64).uniform_(math.log(1e-2), math.log(1.0), generator=gen)
    return discretize(log_dt, rand(channels, modes) * 0.5 - 0.7, rand(channels, modes) * 5, rand(channels, modes),
                      rand(channels, modes), rand(channels, modes), rand(channels, modes))


def recurrence(u, decay, input_gain, readout):
    """Y[t] = Re Σ_m C̃ x_m[t], x_m[t] = Ā x_m[t−1] + B̄ u[t], columns [T, B, C]."""
    state, out = torch.zeros(u.shape[1:] + decay.shape[-1:], dtype=decay.dtype), []
    for u_t in u.unbind(0):
        state = decay * state + input_gain * u_t.unsqueeze(-1)
        out.append((readout * state).real.sum(-1))
    return torch.stack(out)


@given(steps=st.integers(1, 150), chunk=st.integers(1, 80), modes=st.integers(1, 5), seed=st.integers(0, 999))
def test_chunked_equals_recurrence(steps, chunk, modes, seed):
    decay, input_gain, readout = random_system(3, modes, seed)
    u = torch.randn(steps, 2, 3, generator=torch.Generator().manual_seed(seed + 1), dtype=torch.float64)
    expected = recurrence(u, decay, input_gain, readout)
    torch.testing.assert_close(causal_conv_chunked(u, decay, input_gain, readout, chunk), expected)
    fft = causal_conv_fft(u, convolution_kernel(decay, readout * input_gain, steps))
    torch.testing.assert_close(fft, expected)


@pytest.mark.parametrize("spatial", [(), (4,), (2, 3)])
def test_chunked_with_spatial_dims_and_gradients(spatial):
    decay, input_gain, readout = random_system(3, 4, 7)
    params = [p.detach().requires_grad_(True) for p in (decay, input_gain, readout)]
    u = torch.randn(70, 2, 3, *spatial, dtype=torch.float64, requires_grad=True)
    weights = torch.randn(70, 2, 3, *spatial, dtype=torch.float64)
    chunked = causal_conv_chunked(u, *params, chunk=16)
    fft = causal_conv_fft(u, convolution_kernel(params[0], params[2] * params[1], 70))
    torch.testing.assert_close(chunked, fft)
    grads_chunked = torch.autograd.grad((chunked * weights).sum(), [u] + params)
    grads_fft = torch.autograd.grad((fft * weights).sum(), [u] + params)
    for a, b in zip(grads_chunked, grads_fft):
        torch.testing.assert_close(a, b)
