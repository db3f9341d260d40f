"""Long sequences: float32 PMSN agrees with float64 (the cumulative-sum soma must not drift)."""

import pytest
import torch

from pmsn.neurons import PMSN


@pytest.mark.parametrize("path", ["fft", "chunked"])
def test_float32_agrees_with_float64_at_T_16384(path):
    torch.manual_seed(0)
    neuron = PMSN(channels=4, path=path)
    x = torch.randn(16384, 2, 4)
    spikes32 = neuron(x)
    spikes64 = neuron.double()(x.double())
    agreement = (spikes32.double() == spikes64).double().mean().item()
    assert 0.05 < spikes64.mean() < 0.95
    assert agreement >= 0.9999, f"float32 agrees with float64 on {100 * agreement:.4f} % of spikes"
