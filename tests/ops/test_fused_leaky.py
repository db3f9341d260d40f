"""The fused C++ sweeps of LIF/PLIF and TC-LIF equal the serial autograd path (the neurons' ``step`` loop):
identical spikes, gradients w.r.t. the input and every parameter equal to 1e-9 of the largest (float64)."""

import itertools
import warnings

import pytest
import torch

from pmsn.neurons import LIF, PLIF, TCLIF
from pmsn.ops.cpp_build import load_extension
from pmsn.ops.fused_leaky import fused_leaky_supports, lif_fused, surrogate_code, tclif_fused
from pmsn.surrogate import ATan, MultiGaussian, Rectangle, Sigmoid, Triangle

if not fused_leaky_supports(torch.zeros(1, 1, 1), Sigmoid()):
    pytest.skip("the fused leaky C++ extension cannot be built here (see the warning)", allow_module_level=True)

SURROGATES = [Triangle(0.7), ATan(2.0), Sigmoid(4.0), Rectangle(0.8), MultiGaussian()]
STEPS = [1, 2, 17, 300]
SHAPES = {"flat": (2, 3), "spatial": (2, 3, 2, 2)}  # [B, C, *spatial]


def make_input(steps, shape, seed, dtype=torch.float64):
    """Continuous values plus quarter-integer ones: the latter hit the threshold exactly (tests ≥ vs >)."""
    gen = torch.Generator().manual_seed(seed)
    continuous = 1.5 * torch.randn(steps, *shape, generator=gen, dtype=dtype) + 0.4
    quantised = torch.round(4 * continuous) / 4
    mask = torch.rand(steps, *shape, generator=gen) < 0.5
    return torch.where(mask, quantised, continuous)


def compare(neuron, x, tolerance):
    """Run neuron(x) (the fused path) and neuron.serial(x); spikes equal, gradients within tolerance·max."""
    x = x.clone().requires_grad_(True)
    weights = torch.randn(x.shape, generator=torch.Generator().manual_seed(1), dtype=x.dtype)
    params = [p for p in neuron.parameters() if p.requires_grad]
    results = []
    for fn in (neuron, neuron.serial):
        spikes = fn(x)
        results.append((spikes.detach(), torch.autograd.grad((spikes * weights).sum(), [x] + params)))
    (fused_spikes, fused_grads), (serial_spikes, serial_grads) = results
    assert torch.equal(fused_spikes, serial_spikes), f"{(fused_spikes != serial_spikes).sum().item()} spikes differ"
    for name, got, want in zip(["x"] + [n for n, p in neuron.named_parameters() if p.requires_grad], fused_grads,
                               serial_grads):
        scale = max(want.abs().max().item(), 1e-30)
        torch.testing.assert_close(got, want, rtol=0, atol=tolerance * scale, msg=lambda m: f"grad of {name}: {m}")
    return fused_spikes


LEAKY_CASES = list(itertools.product(["hard", "soft", "none"], [False, True], [False, True], SURROGATES,
                                     [False, True]))


@pytest.mark.parametrize("reset, detach, decay_input, surrogate, strict", LEAKY_CASES,
                         ids=[f"{r}-d{int(d)}-i{int(i)}-{type(s).__name__}-s{int(st)}" for r, d, i, s, st in LEAKY_CASES])
def test_plif_fused_equals_serial(reset, detach, decay_input, surrogate, strict):
    case = LEAKY_CASES.index((reset, detach, decay_input, surrogate, strict))
    shape = SHAPES["spatial" if case % 2 else "flat"]
    # τ₀ = 2 (k = 1/2: exact threshold hits) or 3 (k = 1/3); v_reset ≠ 0 and v_rest ≠ 0 exercise every term
    neuron = PLIF(tau_init=2.0 + case % 2, reset=reset, detach_reset=detach, decay_input=decay_input,
                  surrogate=surrogate, strict=strict, v_reset=-0.25 if reset == "hard" else 0.0,
                  v_rest=0.25 * (case % 3)).double()
    for steps in STEPS:
        spikes = compare(neuron, make_input(steps, shape, seed=case), 1e-9)
    assert 0 < spikes.mean() < 1, "the input must make the neuron fire sometimes"


@pytest.mark.parametrize("shape", SHAPES.values(), ids=SHAPES.keys())
@pytest.mark.parametrize("reset", ["hard", "soft", "none"])
def test_lif_fixed_tau_fused_equals_serial(reset, shape):
    compare(LIF(tau=3.0, reset=reset).double(), make_input(300, shape, seed=7), 1e-9)


TCLIF_CASES = list(itertools.product([False, True], [False, True], ["layer", "channel"], SURROGATES, [False, True]))


@pytest.mark.parametrize("pre_reset, detach, sharing, surrogate, strict", TCLIF_CASES,
                         ids=[f"pre{int(p)}-d{int(d)}-{s}-{type(g).__name__}-s{int(st)}"
                              for p, d, s, g, st in TCLIF_CASES])
def test_tclif_fused_equals_serial(pre_reset, detach, sharing, surrogate, strict):
    case = TCLIF_CASES.index((pre_reset, detach, sharing, surrogate, strict))
    shape = SHAPES["spatial" if case % 2 else "flat"]
    neuron = TCLIF(channels=shape[1], beta_sharing=sharing, coupling_uses_pre_reset_soma=pre_reset,
                   detach_reset=detach, surrogate=surrogate, strict=strict, decay_init=(0.3, -0.2),
                   dendrite_reset=0.6).double()
    with torch.no_grad():  # different β's per channel, so a wrong channel mapping shows
        neuron.decay.add_(0.5 * torch.randn(neuron.decay.shape, generator=torch.Generator().manual_seed(case),
                                            dtype=torch.float64))
    for steps in STEPS:
        spikes = compare(neuron, make_input(steps, shape, seed=case), 1e-9)
    assert 0 < spikes.mean() < 1, "the input must make the neuron fire sometimes"


def test_tclif_free_parametrization():
    neuron = TCLIF(parametrization="free", decay_init=(0.4, -0.3)).double()
    compare(neuron, make_input(300, SHAPES["spatial"], seed=3), 1e-9)


@pytest.mark.parametrize("make", [lambda C: PLIF(tau_init=3.0, reset="soft"),
                                  lambda C: TCLIF(channels=C, beta_sharing="channel", decay_init=(0.2, 0.1))],
                         ids=["plif", "tclif"])
def test_float32_equal_spikes_close_gradients(make):
    """The sweep rounds like the PyTorch step (no FMA contraction), so float32 spikes are identical too."""
    x = make_input(300, (3, 4, 5), seed=11, dtype=torch.float32)
    compare(make(4), x, 1e-4)


def test_inference_path_saves_nothing_and_matches_training_path():
    neuron = PLIF()
    x = make_input(70, (2, 3), seed=2, dtype=torch.float32)
    saved = []
    with torch.autograd.graph.saved_tensors_hooks(lambda t: saved.append(t) or t, lambda t: t):
        with torch.no_grad():
            inference = neuron(x)
        assert saved == []
        training = neuron(x.requires_grad_(True))
    assert torch.equal(inference, training.detach())
    # what backward keeps: the input itself plus one state row per 64 steps (not T × B × C of potentials)
    extra = sum(t.numel() for t in saved if t.untyped_storage().data_ptr() != x.untyped_storage().data_ptr())
    assert extra <= 2 * 6 + 1  # two checkpoint rows of B·C = 6, and σ(w) kept by the sigmoid of PLIF


def test_unknown_surrogate_and_traces_use_the_serial_path():
    class Custom:
        def derivative(self, x):
            return torch.ones_like(x)

    x = make_input(9, (2, 3), seed=4)
    assert surrogate_code(Custom()) is None and not fused_leaky_supports(x, Custom())
    assert not fused_leaky_supports(x.to(torch.bfloat16), Sigmoid())
    neuron = LIF(surrogate=Custom()).double()
    assert torch.equal(neuron(x), neuron.serial(x))
    spikes, trace = LIF().double()(x, return_states=True)  # traces come from the step loop
    assert torch.equal(spikes, LIF().double().serial(x)) and trace.membrane.shape == x.shape


def test_kernel_functions_reject_bad_arguments():
    x = torch.zeros(3, 2, 4)
    with pytest.raises(ValueError, match="reset"):
        lif_fused(x, 0.5, reset="bounce")
    with pytest.raises(TypeError, match="surrogates"):
        lif_fused(x, 0.5, surrogate=object())
    with pytest.raises(ValueError, match=r"beta1 .*\(4,\)"):
        tclif_fused(x, torch.zeros(3), torch.zeros(3))


def test_loader_warns_once_and_returns_none(tmp_path):
    missing = tmp_path / "missing.cpp"
    with pytest.warns(RuntimeWarning, match="could not be built"):
        assert load_extension("pmsn_test_missing_source", missing) is None
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert load_extension("pmsn_test_missing_source", missing) is None
    with pytest.raises(ValueError, match="identifier"):
        load_extension("not a name", missing)
