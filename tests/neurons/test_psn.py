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


def test_psn_lengths_use_the_top_left_block_and_never_see_padding():
    """docs/variable_length.md §3: with lengths, column n's valid rows are W[:L, :L]·X[:L] + b[:L]; other padding
    values change no valid potential, and neither padded inputs nor W outside the blocks get gradient."""
    torch.manual_seed(5)
    steps, lengths = 7, torch.tensor([5, 3, 1, 4])  # no sequence reaches steps 5, 6
    neuron = PSN(T=steps).double()
    padding = (torch.arange(steps).unsqueeze(1) >= lengths).unsqueeze(-1)  # [T, B, 1]
    x = torch.randn(steps, 4, 2, dtype=torch.float64)
    runs = []
    for garbage in (0.0, 1e4):
        padded = torch.where(padding, torch.full_like(x, garbage), x).requires_grad_(True)
        _, trace = neuron(padded, return_states=True, lengths=lengths)
        loss = (trace.potential.sin() * ~padding).sum()  # a loss on the valid steps only
        runs.append((trace.potential, *torch.autograd.grad(loss, [padded, neuron.weight])))
    for b, length in enumerate(lengths.tolist()):
        block = reference_potential(neuron.weight[:length, :length], neuron.bias[:length], x[:length, b])
        for potential, grad_x, _ in runs:
            torch.testing.assert_close(potential[:length, b], block)
            assert torch.all(grad_x[length:, b] == 0)
    (_, grad_x, grad_w), (_, grad_x2, grad_w2) = runs
    torch.testing.assert_close(grad_x, grad_x2)
    torch.testing.assert_close(grad_w, grad_w2)
    assert torch.all(grad_w[5:] == 0) and torch.all(grad_w[:, 5:] == 0) and torch.all(grad_w[:5, :5] != 0)


def test_masked_psn_lengths_equal_the_step_loop_on_the_first_steps():
    """λ = 1: the valid steps of a padded batch equal MaskedPSN.step run over the sequence's first L steps."""
    torch.manual_seed(6)
    steps, lengths = 6, torch.tensor([2, 6, 4])
    for mask_lambda in (1.0, 0.3):
        neuron = MaskedPSN(T=steps, order=3, mask_lambda=mask_lambda).double()
        x = torch.randn(steps, 3, 2, dtype=torch.float64)
        _, trace = neuron(x, return_states=True, lengths=lengths)
        for b, length in enumerate(lengths.tolist()):
            block = reference_potential(neuron.effective_weight()[:length, :length], neuron.bias[:length],
                                        x[:length, b])
            torch.testing.assert_close(trace.potential[:length, b], block)
            if mask_lambda == 1.0:
                _, serial = neuron.serial(x[:length, b:b + 1], return_states=True)
                torch.testing.assert_close(trace.potential[:length, b], serial.potential[:, 0])
