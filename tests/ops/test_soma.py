"""The cumulative-sum soma equals the serial remainder soma (docs/pmsn.md §5-6)."""

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from pmsn.ops.soma import parallel_soma, soma_potential
from pmsn.surrogate import Triangle


def serial_soma(x, threshold):
    """v[t] = r[t−1] + x[t], S = [v ≥ θ], r = v − θ⌊v/θ⌋ (docs/pmsn.md §5.2), plainly."""
    remainder, potentials = torch.zeros_like(x[0]), []
    for x_t in x.unbind(0):
        v = remainder + x_t
        potentials.append(v)
        remainder = v - threshold * torch.floor(v / threshold)
    return torch.stack(potentials)


@given(steps=st.integers(1, 300), chunk=st.integers(1, 70), threshold=st.floats(0.1, 3.0),
       scale=st.floats(0.01, 5.0), seed=st.integers(0, 1000))
def test_potential_equals_serial_for_any_chunk(steps, chunk, threshold, scale, seed):
    x = torch.rand(steps, 3, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) * scale
    torch.testing.assert_close(soma_potential(x, threshold, chunk), serial_soma(x, threshold), rtol=1e-12,
                               atol=1e-10 * max(1.0, scale * steps))


def test_float32_exact_at_long_T():
    """Chunked float32 agrees with float64 on ≥ 99.99 % of spikes at T = 16384; a plain float32 cumsum drifts."""
    x = torch.rand(16384, 64, generator=torch.Generator().manual_seed(0)) * 0.7
    reference = (serial_soma(x.double(), 1.0) >= 1.0)
    chunked = parallel_soma(x, 1.0, 1.0, Triangle()).bool()
    plain = parallel_soma(x, 1.0, 1.0, Triangle(), chunk=16384).bool()
    assert (chunked == reference).float().mean() >= 0.9999
    assert (chunked == reference).sum() > (plain == reference).sum(), "chunking must beat the plain cumsum"


@pytest.mark.parametrize("soma_grad", ["elementwise", "cumsum"])
@pytest.mark.parametrize("scale", [1.0, 0.2])
def test_gradient_rules(soma_grad, scale):
    y = (torch.randn(40, 5, dtype=torch.float64) + 0.3).requires_grad_(True)
    weights = torch.randn(40, 5, dtype=torch.float64)
    spikes = parallel_soma(y, 1.0, scale, Triangle(), soma_grad=soma_grad)
    (grad,) = torch.autograd.grad((spikes * weights).sum(), y)
    drive = scale * y.detach()
    slope = Triangle().derivative(soma_potential(torch.relu(drive), 1.0) - 1.0)
    expected = weights * slope
    if soma_grad == "cumsum":
        expected = expected.flip(0).cumsum(0).flip(0)
    torch.testing.assert_close(grad, expected * (drive > 0) * scale)


def test_strict_and_spikes_at_most_one_per_step():
    x = torch.tensor([1.0, 0.0, 2.5, 0.5], dtype=torch.float64).reshape(4, 1)
    assert parallel_soma(x, 1.0, 1.0, Triangle()).flatten().tolist() == [1, 0, 1, 1]
    assert parallel_soma(x, 1.0, 1.0, Triangle(), strict=True).flatten().tolist() == [0, 0, 1, 0]
    assert parallel_soma(-x, 1.0, 1.0, Triangle()).sum() == 0, "negative current is clamped to zero"


def test_bad_soma_grad():
    with pytest.raises(ValueError, match="soma_grad.*'wrong'"):
        parallel_soma(torch.zeros(3, 1), 1.0, 1.0, Triangle(), soma_grad="wrong")
