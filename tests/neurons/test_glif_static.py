"""GLIF's layer-wise and time-static forms (docs/neurons.md §8.2): ``channel_wise=False`` shares every coefficient
by the layer's channels (7 + T parameters a layer, the TC-LIF authors' GLIF* baselines), ``time_wise=False`` keeps
one conductance for all steps though built with ``T``. Both keep the neuron contract (parallel == step: the
``glif_*`` entries of test_equivalence.FACTORIES), and a
network's ``neuron_kwargs`` may not set what the network passes itself (``T``, ``channels``)."""

import pytest
import torch
from test_equivalence import make_glif  # GLIF with every gate and coefficient spread over (0, 1)

from pmsn.models import build_model, count_parameters
from pmsn.neurons import GLIF, build_neuron
from pmsn.train.optim import parameter_roles


def test_return_states_match_the_serial_trace():
    torch.manual_seed(1)
    neuron = make_glif(3, 9, channel_wise=False).double()
    x = torch.randn(9, 2, 3, dtype=torch.float64) + 0.5
    spikes, trace = neuron(x, return_states=True)
    serial_spikes, serial_trace = neuron.serial(x, return_states=True)
    assert torch.equal(spikes, serial_spikes)
    torch.testing.assert_close(trace.membrane, serial_trace.membrane, rtol=1e-12, atol=1e-12)


def test_layer_wise_shapes_and_count():
    """One logit per gate and coefficient, one conductance per step: 7 + T parameters whatever the width."""
    neuron = GLIF(channels=256, T=784, channel_wise=False)
    assert neuron.gate_logits.shape == (3, 1) and neuron.dynamics_logits.shape == (4, 1)
    assert neuron.conductance_logits.shape == (784, 1)
    assert sum(p.numel() for p in neuron.parameters()) == 7 + 784
    c = neuron.coefficients()
    assert c.tau.shape == (1,) and c.conductance.shape == (784, 1)
    assert GLIF(channels=5, T=3, channel_wise=False, gate_init=(0.2, 0.5, 0.8)).coefficients().gamma.item() \
        == pytest.approx(0.8)
    assert "channel_wise=False" in repr(neuron)
    roles = parameter_roles(neuron)  # the official training's groups hold for the shared logits too
    assert roles[id(neuron.gate_logits)] == "neuron_slow" and roles[id(neuron.conductance_logits)] == "neuron_fast"


def test_layer_wise_is_the_channel_wise_neuron_with_equal_channels():
    """Same outputs as a channel-wise GLIF whose channels all hold the shared values; the shared logits' gradient
    is the sum of the channel-wise ones."""
    torch.manual_seed(2)
    shared = make_glif(4, 12, channel_wise=False).double()
    wide = GLIF(channels=4, T=12).double()
    with torch.no_grad():
        for name, logits in shared.named_parameters():
            getattr(wide, name).copy_(logits.expand_as(getattr(wide, name)))
    x = torch.randn(12, 3, 4, dtype=torch.float64) + 0.4
    weights = torch.randn(12, 3, 4, dtype=torch.float64)
    out_shared, out_wide = shared(x), wide(x)
    assert torch.equal(out_shared, out_wide) and 0 < out_shared.mean() < 1
    (out_shared * weights).sum().backward()
    (out_wide * weights).sum().backward()
    for name, logits in shared.named_parameters():
        grad_wide = getattr(wide, name).grad.sum(1, keepdim=True)
        assert grad_wide.abs().sum() > 0, name
        torch.testing.assert_close(logits.grad, grad_wide, rtol=1e-10, atol=1e-12)


def test_time_static_ignores_T_and_runs_any_length():
    """time_wise=False: one conductance (per channel), no bound on the length, the T=None neuron."""
    torch.manual_seed(3)
    static = GLIF(channels=3, T=4, time_wise=False).double()
    assert static.T is None and static.conductance_logits.shape == (1, 3)
    free = GLIF(channels=3).double()
    free.load_state_dict(static.state_dict())
    x = torch.randn(40, 2, 3, dtype=torch.float64) + 0.5  # 10 × the T it was built with
    assert torch.equal(static(x), free(x))
    with pytest.raises(ValueError, match="GLIF was built for T=4 steps"):
        GLIF(channels=3, T=4)(x)


def test_time_static_through_build_neuron():
    """A network passes T to GLIF; time_wise=False (a neuron_kwargs key) still gives one conductance."""
    assert build_neuron("glif", 8, T=784).conductance_logits.shape == (784, 8)
    assert build_neuron("glif", 8, T=784, time_wise=False).conductance_logits.shape == (1, 8)
    assert build_neuron("glif", 8, T=784, channel_wise=False).conductance_logits.shape == (784, 1)


@pytest.mark.parametrize("key, value", [("channel_wise", "no"), ("time_wise", None), ("channel_wise", 0)])
def test_flags_must_be_bools(key, value):
    with pytest.raises(ValueError, match=rf"^GLIF: {key} must be a bool, got {value!r}$"):
        GLIF(channels=2, T=3, **{key: value})


# The TC-LIF authors' GLIF* baselines (TC-LIF Table 1; docs/tasks.md §2.8): the LIF net's count + 3 × (7 + 784)
@pytest.mark.parametrize("model, preset, hidden, paper", [
    ("tclif_ff", "smnist_small", None, "47.1k"), ("tclif_ff", "smnist_large", None, "87.5k"),
    ("tclif_rec", "smnist_small", (40, 256, 128), "114.6k"), ("tclif_rec", "smnist_large", None, "157.5k")])
def test_tclif_nets_with_layer_wise_glif_have_the_papers_counts(model, preset, hidden, paper):
    lif = count_parameters(build_model(model, neuron="lif", preset=preset, hidden=hidden))
    glif = count_parameters(build_model(model, neuron="glif", preset=preset, hidden=hidden,
                                        neuron_kwargs={"channel_wise": False}))
    assert glif == lif + 3 * (7 + 784)
    assert f"{glif / 1e3:.1f}k" == paper


@pytest.mark.parametrize("model, neuron, kwargs, key", [
    ("tclif_ff", "glif", {"T": None}, "T"), ("tclif_rec", "glif", {"T": 100}, "T"),
    ("scifar_column", "psn", {"T": 8}, "T"), ("tclif_ff", "tclif", {"channels": 3}, "channels"),
    ("pmsn_smnist", "pmsn", {"channels": 3, "compartments": 3}, "channels")])
def test_neuron_kwargs_may_not_set_what_the_network_passes(model, neuron, kwargs, key):
    """One ValueError line naming the key (it used to be a TypeError about multiple values)."""
    with pytest.raises(ValueError, match=rf"^neuron_kwargs must not set '{key}': the network passes") as raised:
        build_model(model, neuron=neuron, neuron_kwargs=kwargs)
    assert "\n" not in str(raised.value) and f"got {key}={kwargs[key]!r}" in str(raised.value)
    if neuron == "glif":
        assert "time_wise: false" in str(raised.value)
