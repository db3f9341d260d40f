"""PSN family: the parallel map equals its written-out definition (docs/neurons.md §4)."""

import torch

from pmsn.neurons import PSN, MaskedPSN, SlidingPSN, build_neuron


def reference_potential(weight, bias, x):
    """H[t] = Σ_j W[t, j]·X[j] + b[t], one neuron column at a time."""
    steps = x.shape[0]
    flat = x.reshape(steps, -1)
    out = torch.stack([sum(weight[t, j] * flat[j] for j in range(steps)) + bias[t] for t in range(steps)])
    return out.reshape(x.shape)


def test_psn_equals_definition_and_uses_the_future():
    torch.manual_seed(0)
    neuron = PSN(T=6).double()
    x = torch.randn(6, 2, 3, 2, dtype=torch.float64)
    _, trace = neuron(x, return_states=True)
    torch.testing.assert_close(trace.potential, reference_potential(neuron.weight, neuron.bias, x))
    future = x.clone()
    future[-1] += 10.0
    _, changed = neuron(future, return_states=True)
    assert not torch.allclose(changed.potential[0], trace.potential[0]), "PSN is non-causal"


def test_psn_init():
    neuron = PSN(T=16)
    assert neuron.weight.abs().max() <= 1 / 4 and torch.equal(neuron.bias, -torch.ones(16))
    assert sum(p.numel() for p in neuron.parameters()) == 16 * 16 + 16


def test_masked_psn_mask_and_lambda():
    neuron = MaskedPSN(T=5, order=2, mask_lambda=0.0).double()
    expected_band = torch.tensor([[1, 0, 0, 0, 0], [1, 1, 0, 0, 0], [0, 1, 1, 0, 0], [0, 0, 1, 1, 0],
                                  [0, 0, 0, 1, 1]], dtype=torch.float64)
    assert torch.equal(neuron.mask.double(), expected_band)
    torch.testing.assert_close(neuron.effective_weight(), neuron.weight)  # λ = 0: dense
    neuron.set_lambda(0.25)
    torch.testing.assert_close(neuron.effective_weight(), neuron.weight * (0.25 * expected_band + 0.75))
    neuron.set_lambda(1.0)
    x = torch.randn(5, 3, 2, dtype=torch.float64)
    _, trace = neuron(x, return_states=True)
    torch.testing.assert_close(trace.potential, reference_potential(neuron.weight * expected_band, neuron.bias, x))


def test_sliding_psn_any_T_and_causal():
    torch.manual_seed(1)
    neuron = SlidingPSN(order=3, exp_init=False).double()
    for steps in (1, 2, 3, 11):
        x = torch.randn(steps, 2, 2, dtype=torch.float64)
        _, trace = neuron(x, return_states=True)
        w = neuron.weight
        padded = torch.cat([torch.zeros(2, 2, 2, dtype=torch.float64), x])
        expected = torch.stack([w[0] * padded[t] + w[1] * padded[t + 1] + w[2] * padded[t + 2]
                                for t in range(steps)]) + neuron.bias
        torch.testing.assert_close(trace.potential, expected)
    assert sum(p.numel() for p in neuron.parameters()) == 3 + 1


def test_build_neuron_defaults():
    assert build_neuron("masked_psn", 8, T=10).order == 10
    assert build_neuron("masked_psn", 8, T=100).order == 32
    assert build_neuron("sliding_psn", 8).order == 32
    assert build_neuron("pmsn", 8).channels == 8
    assert build_neuron("pmsn", 8, compartments=3).compartments == 3


def test_sliding_psn_banded_path_equals_toeplitz_for_long_T():
    """Beyond T = 8·block the parallel call multiplies 64-step blocks; it must equal the full Toeplitz product."""
    torch.manual_seed(3)
    for order in (1, 5, 70):
        neuron = SlidingPSN(order=order, exp_init=False).double()
        steps = 8 * max(64, order) + 37
        x = torch.randn(steps, 2, 3, dtype=torch.float64, requires_grad=True)
        _, trace = neuron(x, return_states=True)
        dense = (neuron.toeplitz(steps) @ x.reshape(steps, -1) + neuron.bias).reshape(x.shape)
        torch.testing.assert_close(trace.potential, dense)
        grads = torch.autograd.grad(trace.potential.sum(), [x, neuron.weight])
        dense_grads = torch.autograd.grad(dense.sum(), [x, neuron.weight])
        for a, b in zip(grads, dense_grads):
            torch.testing.assert_close(a, b)


def test_inference_spikes_equal_training_spikes():
    torch.manual_seed(4)
    for neuron in (PSN(T=9), MaskedPSN(T=9, order=3), SlidingPSN(order=3, threshold=0.2)):
        for strict in (False, True):
            neuron.strict = strict
            x = torch.randn(9, 2, 3)
            with torch.no_grad():
                inference = neuron(x)
            assert inference.dtype == x.dtype and torch.equal(inference, neuron(x.requires_grad_(True)).detach())
