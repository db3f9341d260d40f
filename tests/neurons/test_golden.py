"""The worked examples of docs/neurons.md §6 and docs/pmsn.md §10, and the PMSN init facts of docs/pmsn.md §2.2-2.3,
reproduced."""

import math

import pytest
import torch

from pmsn.neurons import PMSN, TCLIF, SlidingPSN
from pmsn.surrogate import ATan

U = [2.0, 0.5, -1.0, 3.0, 1.5, 0.0, -0.5, 4.0, 2.5, -2.0, 1.0, 0.8]
GOLDEN_K = [0.0698915, 0.0048671, -0.0551145, -0.0964212, -0.111112, -0.0982627, -0.0635179, -0.0171355, 0.0288646,
            0.0636961, 0.080227, 0.0763096]
GOLDEN_Y = [1.13978, 0.29468, -0.677687, 1.48441, 0.654119, -0.313703, -0.721937, 1.8314, 1.12298, -1.47885,
            0.108996, 0.124568]
GOLDEN_V = [1.13978, 0.434463, 0.434463, 1.91887, 1.57299, 0.57299, 0.57299, 2.40439, 1.52737, 0.527366, 0.636362,
            0.76093]
GOLDEN_S = [1, 0, 0, 1, 1, 0, 0, 1, 1, 0, 0, 0]
GOLDEN_GRAD = {
    "elementwise": [1.60711, 1.37699, 0.397392, -0.0790311, 0.143019, -1.67798, -1.90947, -1.66882, 1.15791,
                    -0.46919, 4.03368, 5.20377],
    "cumsum": [17.1278, 15.8395, -4.87308, 15.0557, 13.5783, -6.05326, -3.97889, 12.1775, 12.8531, -0.424748,
               9.23745, 5.20377],
}


def golden_pmsn(**kw):
    """docs/pmsn.md §10: n = 3, Δ = 0.1, Re λ = −0.5, ω = ∓5, B̃ = (1 ∓ i)/√2, C̃ = 1/√2, D = 0.5."""
    neuron = PMSN(channels=1, compartments=3, **kw).double()
    r = 1 / math.sqrt(2)
    with torch.no_grad():
        neuron.log_dt.fill_(math.log(0.1))
        neuron.log_A_real.fill_(math.log(0.5))
        neuron.A_imag.copy_(torch.tensor([[-5.0, 5.0]]))
        neuron.VinvB_real.copy_(torch.tensor([[r, r]]))
        neuron.VinvB_imag.copy_(torch.tensor([[-r, r]]))
        neuron.CV_real.copy_(torch.tensor([[r, r]]))
        neuron.CV_imag.zero_()
        neuron.D.fill_(0.5)
    return neuron


def close(actual, expected, rel=2e-5):
    expected = torch.tensor(expected, dtype=torch.float64)
    torch.testing.assert_close(actual.detach().flatten().double(), expected, rtol=rel, atol=rel * 1e-1)


@pytest.mark.parametrize("path", ["fft", "serial"])
@pytest.mark.parametrize("soma_grad", ["elementwise", "cumsum"])
def test_pmsn_worked_example(path, soma_grad):
    neuron = golden_pmsn(soma_grad=soma_grad, path=None if path == "serial" else path)
    close(neuron.kernel(12, torch.float64)[:, 0], GOLDEN_K)
    u = torch.tensor(U, dtype=torch.float64).reshape(12, 1, 1).requires_grad_(True)
    run = neuron.serial if path == "serial" else neuron
    spikes, trace = run(u, return_states=True)
    assert spikes.flatten().tolist() == GOLDEN_S
    close(trace.current, GOLDEN_Y)
    close(trace.soma, GOLDEN_V)
    loss = (spikes.flatten() * torch.arange(1, 13, dtype=torch.float64)).sum()
    (grad,) = torch.autograd.grad(loss, u)
    close(grad, GOLDEN_GRAD[soma_grad])


def test_pmsn_golden_last_hidden_compartment():
    """v_2[t] = Y[t] − D·u[t] (0.139783 at t = 0): the hidden trace sums (C̃ = 1/√2 each) to the hidden output."""
    neuron = golden_pmsn(path="fft")
    u = torch.tensor(U, dtype=torch.float64).reshape(12, 1, 1)
    _, trace = neuron(u, return_states=True)
    hidden_output = trace.current - 0.5 * u
    assert hidden_output[0].item() == pytest.approx(0.139783, rel=1e-5)
    torch.testing.assert_close(trace.hidden.sum(-1) / math.sqrt(2), hidden_output)


def test_pmsn_default_kernel():
    """Reference kernel values of docs/pmsn.md §3.2 (and of the shd / imagenet presets)."""
    neuron = PMSN(channels=1).double()
    with torch.no_grad():
        neuron.log_dt.fill_(math.log(0.01))
    close(neuron.kernel(6)[:, 0], [0.00921681, 0.0076319, 0.00605111, 0.00451613, 0.00306642, 0.00173797])
    shd = PMSN.from_preset("shd", 1).double()
    with torch.no_grad():
        shd.log_dt.fill_(math.log(0.01))
    close(shd.kernel(6)[:, 0], [0.0398504, 0.0393561, 0.0385795, 0.0375406, 0.0362665, 0.0347897])
    imagenet = PMSN.from_preset("imagenet", 1).double()
    with torch.no_grad():
        imagenet.log_dt.fill_(math.log(0.5))
    close(imagenet.kernel(6)[:, 0], [0.360779, 0.148734, 0.0258535, -0.0288932, -0.0393505, -0.0268407])


EIGEN_C5 = {
    2: [0.0], 3: [-5.0, 5.0], 4: [-11.18034, 0.0, 11.18034], 5: [-18.251408, -4.109272, 4.109272, 18.251408],
    9: [-50.135910, -28.194609, -13.395653, -3.465696, 3.465696, 13.395653, 28.194609, 50.135910],
    17: sorted(s * w for w in [2.991400, 10.742150, 20.965806, 33.515051, 48.641209, 66.942266, 89.667099,
                                120.105833] for s in (-1, 1)),
}


@pytest.mark.parametrize("compartments", sorted(EIGEN_C5))
def test_coupling_eigenvalues(compartments):
    """ω of docs/pmsn.md §2.2 for c = 5 and c = 0.25."""
    neuron = PMSN(channels=2, compartments=compartments)
    expected = torch.tensor(EIGEN_C5[compartments])
    torch.testing.assert_close(neuron.A_imag[1], expected, atol=1e-4, rtol=1e-6)
    torch.testing.assert_close(-torch.exp(neuron.log_A_real), torch.full((2, compartments - 1), -0.5))
    imagenet = PMSN.from_preset("imagenet", 1, compartments=compartments)
    torch.testing.assert_close(imagenet.A_imag[0], expected * 0.05, atol=1e-4, rtol=1e-5)  # ω ∝ c: 0.25 / 5


def test_residues():
    """Residues C̃_m·B̃_m of docs/pmsn.md §2.2."""
    neuron = PMSN(channels=1)
    residue = torch.complex(neuron.CV_real, neuron.CV_imag) * torch.complex(neuron.VinvB_real, neuron.VinvB_imag)
    expected = torch.tensor([0.091886 - 0.335410j, 0.408114 - 0.335410j, 0.408114 + 0.335410j, 0.091886 + 0.335410j])
    torch.testing.assert_close(residue[0], expected.to(residue.dtype), atol=2e-6, rtol=0)
    ones = PMSN.from_preset("shd", 1)
    residue = torch.complex(ones.CV_real, ones.CV_imag) * torch.complex(ones.VinvB_real, ones.VinvB_imag)
    torch.testing.assert_close(residue[0].real, torch.tensor([0.367544, 1.632456, 1.632456, 0.367544]), atol=2e-6,
                               rtol=0)


@pytest.mark.parametrize("compartments,count", [(2, 8), (3, 14), (5, 26), (9, 50), (17, 98)])
def test_parameter_count_per_channel(compartments, count):
    """6(n − 1) + 2 per channel (docs/pmsn.md §2.3)."""
    neuron = PMSN(channels=7, compartments=compartments)
    assert sum(p.numel() for p in neuron.parameters()) == 7 * count


def test_pmsn_init_ranges():
    torch.manual_seed(0)
    neuron = PMSN(channels=4000)
    dt = torch.exp(neuron.log_dt)
    assert 1e-3 <= dt.min() and dt.max() <= 1e-1
    assert abs(neuron.D.mean()) < 0.1 and abs(neuron.D.std() - 1) < 0.1  # N(0, 1)
    uniform = PMSN.from_preset("imagenet", 4000).D
    assert 0 <= uniform.min() and uniform.max() < 1


TC_INPUT = [1.5, 0.0, 0.8, 2.0, -0.5, 0.3, 1.2, 0.0, 0.0, 2.5, -1.0, 0.7]


def test_tclif_worked_example_code_order():
    """docs/neurons.md §6.2."""
    neuron = TCLIF().double()
    spikes, trace = neuron(torch.tensor(TC_INPUT, dtype=torch.float64).reshape(12, 1, 1), return_states=True)
    assert spikes.flatten().tolist() == [0, 1, 0, 1, 1, 1, 0, 1, 0, 1, 0, 1]
    close(trace.dendrite, [1.5, 1.125, 1.26875, 2.79531, 1.12305, 0.47002, 1.09949, 0.754083, 0.220158, 2.63119,
                           0.884431, 1.11656])
    close(trace.soma, [0.75, 1.3125, 0.946875, 2.34453, 1.90605, 1.14106, 0.690808, 1.06785, 0.177929, 1.49353,
                       0.935741, 1.49402])


def test_tclif_worked_example_paper_order():
    """docs/neurons.md §6.2, with ``coupling_uses_pre_reset_soma=True``."""
    neuron = TCLIF(coupling_uses_pre_reset_soma=True).double()
    spikes, trace = neuron(torch.tensor(TC_INPUT, dtype=torch.float64).reshape(12, 1, 1), return_states=True)
    assert spikes.flatten().tolist() == [0, 1, 0, 1, 1, 0, 0, 0, 0, 1, 0, 0]
    close(trace.dendrite, [1.5, 1.125, 0.76875, 2.42031, 0.466797, -0.303418, 0.902222, 0.682306, 0.291814, 2.32837,
                           -0.21717, -0.00841491], rel=5e-5)
    close(trace.soma, [0.75, 1.3125, 0.696875, 1.90703, 1.14043, -0.0112793, 0.439832, 0.780984, 0.926891, 2.09108,
                       0.98249, 0.978283], rel=5e-5)


def test_tclif_presets():
    """docs/neurons.md §3.4."""
    beta1, beta2 = TCLIF(preset="smnist_rec").betas()
    assert beta1.item() == pytest.approx(-0.81757, abs=1e-5) and beta2.item() == pytest.approx(0.37754, abs=1e-5)
    neuron = TCLIF(preset="psmnist_rec")
    assert neuron.threshold == 1.8 and neuron.dendrite_reset == 0.5
    assert sum(p.numel() for p in neuron.parameters()) == 2


def test_sliding_psn_worked_example():
    """docs/neurons.md §6.3."""
    x = torch.tensor([0.6, 0.2, 0.9, -0.4, 1.3, 0.0, 0.5, 0.5, -1.2, 2.0, 0.1, 0.3], dtype=torch.float64)
    neuron = SlidingPSN(order=3).double()
    assert neuron.weight.tolist() == [0.25, 0.5, 1.0]
    spikes, trace = neuron(x.reshape(12, 1, 1), return_states=True)
    charge = [0.6, 0.5, 1.15, 0.1, 1.325, 0.55, 0.825, 0.75, -0.825, 1.525, 0.8, 0.85]
    close(trace.potential + 1.0, charge)
    assert spikes.flatten().tolist() == [0, 0, 1, 0, 1, 0, 0, 0, 0, 1, 0, 0]
    surrogate = [0.387727, 0.2884, 0.818286, 0.111181, 0.489602, 0.33349, 0.767898, 0.618486, 0.029523, 0.268795,
                 0.716957, 0.818286]
    close(ATan(2.0).derivative(trace.potential), surrogate)
    (grad_bias,) = torch.autograd.grad(spikes.sum(), neuron.bias)
    assert grad_bias.item() == pytest.approx(sum(surrogate), rel=1e-5)


def test_tclif_free_parametrization_matches_sigmoid_form():
    sigmoid_form = TCLIF(decay_init=(1.5, -0.5)).double()
    beta1, beta2 = (b.item() for b in sigmoid_form.betas())
    free = TCLIF(parametrization="free", decay_init=(beta1, beta2)).double()
    x = torch.randn(30, 2, 3, dtype=torch.float64) + 0.5
    assert torch.equal(free(x), sigmoid_form(x))
    with pytest.raises(ValueError, match="parametrization.*'tanh'"):
        TCLIF(parametrization="tanh")


def test_tclif_preset_gives_defaults_explicit_arguments_win():
    neuron = TCLIF(preset="psmnist_rec", threshold=1.0, dendrite_reset=0.9)
    assert (neuron.threshold, neuron.dendrite_reset) == (1.0, 0.9)  # the official recurrent-MNIST V_th = 1
    beta1, beta2 = TCLIF(preset="smnist_rec", parametrization="free").betas()  # preset logits → β
    assert beta1.item() == pytest.approx(-0.81757, abs=1e-5) and beta2.item() == pytest.approx(0.37754, abs=1e-5)


def test_lif_leak_pulls_towards_v_reset_with_hard_reset():
    from pmsn.neurons import LIF

    _, trace = LIF(v_reset=-1.0).double()(torch.zeros(3, 1, 1, dtype=torch.float64), return_states=True)
    assert trace.membrane.flatten().tolist() == [-1.0, -1.0, -1.0]  # SpikingJelly: stays at V_reset
    _, trace = LIF(reset="soft").double()(torch.full((2, 1, 1), 0.5, dtype=torch.float64), return_states=True)
    assert trace.membrane.flatten().tolist() == [0.25, 0.375]


# ------------------------------------------------------------------------------------------------ IF, KLIF, GLIF
def sigmoid_surrogate(x, alpha=4.0):
    """The Sigmoid(α=4) surrogate's derivative α·σ(αx)·(1 − σ(αx)), by hand."""
    s = 1.0 / (1.0 + math.exp(-alpha * x))
    return alpha * s * (1.0 - s)


IF_INPUT = [0.5, 0.75, -0.25, 1.0, 0.25]


@pytest.mark.parametrize("reset, membrane, spikes", [
    # hard: H = V + X; V = 0 after a spike.  H: 0.5 | 0.5+0.75 = 1.25 (fires) | 0−0.25 | −0.25+1 = 0.75 | 0.75+0.25 = 1
    # (fires: Θ(0) = 1)
    ("hard", [0.5, 1.25, -0.25, 0.75, 1.0], [0, 1, 0, 0, 1]),
    # soft: V = H − 1 after a spike.  H: 0.5 | 1.25 (fires, V = 0.25) | 0 | 1 (fires, V = 0) | 0.25
    ("soft", [0.5, 1.25, 0.0, 1.0, 0.25], [0, 1, 0, 1, 0]),
])
def test_if_worked_example(reset, membrane, spikes):
    """docs/neurons.md §2.4: no leak, so the potential is the running sum of the inputs between resets."""
    from pmsn.neurons import IF

    neuron = IF(reset=reset).double()
    x = torch.tensor(IF_INPUT, dtype=torch.float64).reshape(5, 1, 1)
    assert neuron(x).flatten().tolist() == spikes  # the fused sweep
    out, trace = neuron(x, return_states=True)  # the step loop
    assert out.flatten().tolist() == spikes
    assert trace.membrane.flatten().tolist() == membrane  # binary fractions: exact


def test_if_gradient_through_the_hard_reset():
    """S[1] = Θ(H[1] − 1), H[1] = V[0] + X[1], V[0] = H[0]·(1 − S[0]) (V_reset = 0), H[0] = X[0]:
    dS[1]/dX[1] = g(H[1] − 1) and dS[1]/dX[0] = g(H[1] − 1)·(1 − S[0] + (0 − H[0])·g(H[0] − 1)), g the sigmoid
    surrogate; with H[0] = 0.5, H[1] = 1.25: g(0.25)·(1 − 0.5·g(−0.5))."""
    from pmsn.neurons import IF

    x = torch.tensor(IF_INPUT, dtype=torch.float64).reshape(5, 1, 1).requires_grad_(True)
    (grad,) = torch.autograd.grad(IF().double()(x)[1].sum(), x)
    expected = [sigmoid_surrogate(0.25) * (1.0 - 0.5 * sigmoid_surrogate(-0.5)), sigmoid_surrogate(0.25), 0, 0, 0]
    close(grad, expected, rel=1e-12)
    assert expected[0] == pytest.approx(0.621304, abs=1e-6)


KLIF_INPUT = [1.0, 1.5, -2.0, 2.5]


def klif_k15():
    from pmsn.neurons import KLIF

    return KLIF(k_init=1.5).double()


def test_klif_worked_example():
    """docs/neurons.md §9.3, τ = 2, k = 1.5, V_th = 1, hard reset to 0:
    t=0: H = 0 + (1 − 0)/2 = 0.5,            F = ReLU(0.75) = 0.75,    no spike, V = 0.75
    t=1: H = 0.75 + (1.5 − 0.75)/2 = 1.125,  F = 1.6875,               spike,    V = 0
    t=2: H = 0 + (−2 − 0)/2 = −1,            F = ReLU(−1.5) = 0,       no spike, V = 0 (the ReLU drops −1)
    t=3: H = 0 + 2.5/2 = 1.25,               F = 1.875,                spike
    (a LIF would keep V = −1 at t=2 and reach only H = 0.75 at t=3)."""
    neuron = klif_k15()
    spikes, trace = neuron(torch.tensor(KLIF_INPUT, dtype=torch.float64).reshape(4, 1, 1), return_states=True)
    assert spikes.flatten().tolist() == [0, 1, 0, 1]
    assert trace.membrane.flatten().tolist() == [0.5, 1.125, -1.0, 1.25]
    assert trace.scaled.flatten().tolist() == [0.75, 1.6875, 0.0, 1.875]


def test_klif_gradient_of_k():
    """dS[1]/dk with F[t] = k·H[t] (both positive), H[1] = V[0]/2 + X[1]/2, V[0] = F[0]·(1 − S[0]):
    dF[1]/dk = H[1] + (k/2)·dV[0]/dk,  dV[0]/dk = H[0] − F[0]·g(F[0] − 1)·H[0]  (the attached reset), so
    dS[1]/dk = g(F[1] − 1)·(1.125 + 0.75·(0.5 − 0.375·g(−0.25))) = g(0.6875)·(1.5 − 0.28125·g(−0.25))."""
    neuron = klif_k15()
    spikes = neuron(torch.tensor(KLIF_INPUT, dtype=torch.float64).reshape(4, 1, 1))
    (grad,) = torch.autograd.grad(spikes[1].sum(), neuron.k)
    expected = sigmoid_surrogate(0.6875) * (1.5 - 0.28125 * sigmoid_surrogate(-0.25))
    assert grad.item() == pytest.approx(expected, rel=1e-12)
    assert expected == pytest.approx(0.288890, abs=1e-6)


GLIF_INPUT = [1.0, 0.4, 0.8, -0.2]
GLIF_CONDUCTANCE = [0.5, 0.25, 0.75, 0.5]


def glif_example():
    """docs/neurons.md §8.4: one channel, α = β = γ = 0.5 and the default τ = 0.25, V_th = 0.5, E_L = 0.0625,
    V_R = 0.5; g[t] = 0.5, 0.25, 0.75, 0.5."""
    from pmsn.neurons import GLIF

    neuron = GLIF(channels=1, T=4, gate_init=(0.5, 0.5, 0.5)).double()
    with torch.no_grad():  # the logits in float64 (they were made in float32)
        g = torch.tensor(GLIF_CONDUCTANCE, dtype=torch.float64)
        neuron.conductance_logits.copy_(torch.logit(g).reshape(4, 1))
        neuron.dynamics_logits.copy_(torch.logit(torch.tensor([[0.25], [0.5], [0.0625], [0.5]], dtype=torch.float64)))
    return neuron


@pytest.mark.parametrize("path", ["parallel", "serial"])
def test_glif_worked_example(path):
    """decay 1 − α(1 − τ) = 0.625, linear leak (1 − α)·E_L = 0.03125, input scale 1 − β(1 − g[t]) = 0.75, 0.625,
    0.875, 0.75; a spike halves the decayed U (1 − γ) and subtracts (1 − γ)·V_R = 0.25 at the next step:
    t=0: U = −0.03125 + 0.75·1                                   = 0.71875      > 0.5: spike
    t=1: U = 0.625·0.71875·0.5 − 0.03125 + 0.625·0.4 − 0.25       = 0.193359375  no spike
    t=2: U = 0.625·0.193359375 − 0.03125 + 0.875·0.8              = 0.789599609375  spike
    t=3: U = 0.625·0.789599609375·0.5 − 0.03125 − 0.75·0.2 − 0.25 = −0.1845001220703125."""
    neuron = glif_example()
    x = torch.tensor(GLIF_INPUT, dtype=torch.float64).reshape(4, 1, 1)
    spikes, trace = (neuron if path == "parallel" else neuron.serial)(x, return_states=True)
    assert spikes.flatten().tolist() == [1, 0, 1, 0]
    close(trace.membrane, [0.71875, 0.193359375, 0.789599609375, -0.1845001220703125], rel=1e-12)


def test_glif_gradient_through_the_next_step_reset():
    """dS[2]/dX with the rectangle surrogate (1 inside |U − V_th| < 0.5, true at t = 1, 2):
    dS[2]/dX[2] = 0.875 (the input scale); dS[2]/dX[1] = ∂U[2]/∂U[1]·0.625 + ∂U[2]/∂S[1]·1·0.625 with
    ∂U[2]/∂U[1] = 0.625·(1 − γ·S[1]) = 0.625 and ∂U[2]/∂S[1] = −0.625·U[1]·γ − (1 − γ)·V_R = −0.310424804688."""
    neuron = glif_example()
    x = torch.tensor(GLIF_INPUT, dtype=torch.float64).reshape(4, 1, 1).requires_grad_(True)
    (grad,) = torch.autograd.grad(neuron(x)[2].sum(), x)
    d_u2_d_s1 = -0.625 * 0.193359375 * 0.5 - 0.25
    close(grad.flatten()[1:], [0.625 * 0.625 + d_u2_d_s1 * 0.625, 0.875, 0.0], rel=1e-12)


def test_glif_gate_corner_is_a_lif():
    """α = 1, β = 0, γ = 1 (saturated gates): U[t] = τ·U[t−1]·(1 − S[t−1]) + X[t], a hard-reset LIF without input
    decay and k = 1 − τ, firing on U > V_th (docs/neurons.md §8.1)."""
    from pmsn.neurons import GLIF, LIF

    neuron = GLIF(channels=3, T=40).double()
    with torch.no_grad():
        neuron.gate_logits.copy_(torch.tensor([[40.0], [-40.0], [40.0]]))  # σ(±40) = 1 or 4e-18
    lif = LIF(tau=1.0 / 0.75, threshold=0.5, decay_input=False, strict=True, surrogate="rectangle").double()
    x = torch.randn(40, 2, 3, dtype=torch.float64) + 0.3
    spikes, trace = neuron(x, return_states=True)
    lif_spikes, lif_trace = lif(x, return_states=True)
    assert torch.equal(spikes, lif_spikes) and 0 < spikes.mean() < 1
    torch.testing.assert_close(trace.membrane, lif_trace.membrane)


def test_glif_initial_values():
    """docs/neurons.md §8.2: the official code's inits; gate logits ~ U(−0.1, 0.1) per channel; g per step with T."""
    from pmsn.neurons import GLIF
    from pmsn.train.optim import parameter_roles

    torch.manual_seed(0)
    neuron = GLIF(channels=500, T=6)
    c = neuron.coefficients()
    for value, expected in ((c.tau, 0.25), (c.threshold, 0.5), (c.leak, 0.0625), (c.reset, 0.5),
                            (c.conductance, 0.5)):
        torch.testing.assert_close(value, torch.full_like(value, expected))
    assert c.conductance.shape == (6, 500) and GLIF(channels=2).conductance_logits.shape == (1, 2)
    assert neuron.gate_logits.abs().max() <= 0.1 and neuron.gate_logits.std() > 0.05  # random, not constant
    assert GLIF(channels=2, reset_init=0.3, threshold_init=0.7).coefficients().reset[0].item() == pytest.approx(0.3)
    roles = parameter_roles(neuron)
    assert roles[id(neuron.gate_logits)] == "neuron_slow"
    assert roles[id(neuron.dynamics_logits)] == roles[id(neuron.conductance_logits)] == "neuron_fast"
