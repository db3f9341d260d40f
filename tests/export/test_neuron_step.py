"""PMSN's step in real arithmetic (docs/onnx.md §1) equals its complex ``step``: the modes as (real, imaginary) pairs,
every soma variant, with and without a spatial axis."""

from __future__ import annotations

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from pmsn.export.neuron_step import neuron_step
from pmsn.neurons import build_pmsn
from pmsn.neurons.pmsn_variants import SOMA_VARIANTS


@settings(max_examples=25, deadline=None)
@given(compartments=st.integers(2, 6), soma_mode=st.sampled_from(sorted(SOMA_VARIANTS)),
       spatial=st.sampled_from([(), (3,)]), gain=st.floats(0.1, 4.0), seed=st.integers(0, 1000))
def test_pmsn_real_pairs_equal_the_complex_step(compartments, soma_mode, spatial, gain, seed):
    torch.manual_seed(seed)
    channels = 4
    neuron = build_pmsn(channels, soma_mode=soma_mode, compartments=compartments, coupling=1.0, dt_min=0.05,
                        dt_max=0.5).eval()
    stepper = neuron_step(neuron)
    x = torch.randn((10, 2, channels) + spatial) * gain
    state, reference = stepper.fresh(x[0]), None
    time = torch.zeros((), dtype=torch.long)
    with torch.no_grad():
        for x_t in x:
            spikes, state = stepper(x_t, state, time)
            expected, reference = neuron.step(x_t, reference)
            assert torch.equal(spikes, expected)
            # float32 (the exported arithmetic): complex products and their real-pair form round differently
            torch.testing.assert_close(state[0], reference.hidden.real, rtol=2e-5, atol=1e-5)
            torch.testing.assert_close(state[1], reference.hidden.imag, rtol=2e-5, atol=1e-5)
            torch.testing.assert_close(state[2], reference.soma, rtol=2e-5, atol=1e-5)
