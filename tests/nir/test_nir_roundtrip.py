"""pmsn → NIR: the graph holds the documented parameters (docs/nir.md §3.1-3.2, §4), an independent forward-Euler
consumer of the graph fires exactly pmsn's spikes, and pmsn → NIR file → pmsn gives the same spikes."""

import numpy as np
import pytest
import torch
from torch import nn

nir = pytest.importorskip("nir")

from pmsn.models.tclif_nets import RecurrentSpikingLinear  # noqa: E402
from pmsn.neurons import IF, LIF, PLIF  # noqa: E402
from pmsn.neurons.base import Neuron  # noqa: E402
from pmsn.nir import SpikingSequential, load, save, to_nir  # noqa: E402


def lif_linear_net():
    return nn.Sequential(nn.Linear(5, 12), LIF(tau=2.0), nn.Dropout(0.3), nn.Linear(12, 7),
                         LIF(tau=3.7, decay_input=False, v_rest=0.2), nn.Linear(7, 3))


def plif_conv2d_net():
    net = SpikingSequential(nn.Conv2d(2, 4, 3, padding=1), PLIF(tau_init=2.5), nn.AvgPool2d(2),
                            nn.Conv2d(4, 6, 3, padding="same", bias=False), PLIF(decay_input=False, strict=True),
                            nn.AvgPool2d(2, divisor_override=1), nn.Flatten(), nn.Linear(6 * 2 * 2, 5),
                            LIF(tau=1.5, threshold=0.7))
    with torch.no_grad():
        net[1].w.fill_(0.37)  # a "trained" 1/τ = σ(0.37), not a round number
        net[4].w.fill_(-1.3)
    return net


def lif_conv1d_net():
    return SpikingSequential(nn.Conv1d(3, 4, 3, padding=1, stride=1, dilation=1), LIF(tau=4.0, v_rest=-0.1),
                             nn.Flatten(), nn.Linear(4 * 10, 6), PLIF(tau_init=1.8))


def recurrent_net():
    return SpikingSequential(RecurrentSpikingLinear(5, 8, LIF(tau=2.5, decay_input=False), 0.0),
                             RecurrentSpikingLinear(8, 6, IF(), 0.0), nn.Linear(6, 4), PLIF(), nn.Linear(4, 3))


def if_linear_net():
    return nn.Sequential(nn.Linear(5, 10), IF(), nn.Linear(10, 6), IF(threshold=0.5, strict=True))


NETS = {  # name: (builder, per-step input shape)
    "lif_linear": (lif_linear_net, (5,)),
    "if_linear": (if_linear_net, (5,)),
    "recurrent": (recurrent_net, (5,)),
    "plif_conv2d_sumpool": (plif_conv2d_net, (2, 8, 8)),
    "lif_conv1d": (lif_conv1d_net, (3, 10)),
}


def built(name, seed=0):
    """(network in eval mode, per-step input shape, input [T, B, *shape]); weights scaled up from PyTorch's
    init so that every layer fires on 5-40 % of its steps."""
    torch.manual_seed(seed)
    builder, shape = NETS[name]
    net = builder().eval()
    with torch.no_grad():
        for layer in net.modules():
            if isinstance(layer, (nn.Linear, nn.Conv1d, nn.Conv2d)):
                layer.weight.mul_(8.0)
    x = 2.0 * torch.randn(24, 3, *shape)
    return net, shape, x


def test_graph_holds_the_documented_lif_parameters():
    net, shape, _ = built("lif_linear")
    dt = 1e-3
    graph = to_nir(net, dt=dt)
    assert graph.metadata["dt"] == dt and graph.metadata["source"] == "pmsn"
    assert [type(n).__name__ for n in graph.nodes.values()] == ["Input", "Affine", "LIF", "Affine", "LIF", "Affine",
                                                                "Output"]  # dropout left out
    first, second = graph.nodes["1"], graph.nodes["4"]
    below_one = np.float32(0.99999994)  # largest float32 below θ = 1: NIR fires on v > it (docs/nir.md §2.3)
    assert np.all(first.tau == 2.0 * dt) and np.all(first.r == 1.0) and np.all(first.v_leak == 0.0)
    assert np.allclose(second.tau, 3.7 * dt, rtol=1e-15, atol=0) and np.allclose(second.r, 3.7)
    assert np.all(second.v_leak == 0.2)
    for node in (first, second):
        assert np.all(node.v_threshold == below_one) and np.all(node.v_reset == 0.0)
    assert first.tau.shape == (12,) and second.tau.shape == (7,)
    np.testing.assert_array_equal(graph.nodes["0"].weight, net[0].weight.detach().double().numpy())


def test_graph_holds_the_documented_if_parameters():
    net, _, _ = built("if_linear")
    graph = to_nir(net, dt=2e-3)
    first, second = graph.nodes["1"], graph.nodes["3"]
    assert isinstance(first, nir.IF) and isinstance(second, nir.IF)
    for node in (first, second):  # dt·r = 1: one Euler step adds the input (docs/nir.md §3.4)
        assert np.all(node.r == 500.0) and np.all(node.v_reset == 0.0)
    assert np.all(first.v_threshold == np.float32(0.99999994)) and np.all(second.v_threshold == 0.5)


def test_graph_holds_the_trained_plif_constant_and_strict_threshold():
    net, shape, _ = built("plif_conv2d_sumpool")
    dt = 0.5
    graph = to_nir(net, dt=dt, input_shape=shape)
    plif, strict_plif = graph.nodes["1"], graph.nodes["4"]
    k = float(torch.sigmoid(torch.tensor(0.37)))
    assert plif.tau.shape == (4, 8, 8) and np.allclose(plif.tau, dt / k, rtol=1e-15) and np.all(plif.r == 1.0)
    assert np.all(strict_plif.v_threshold == 1.0)  # strict: fires on v > θ, NIR's own rule
    assert np.allclose(strict_plif.r, 1.0 / float(torch.sigmoid(torch.tensor(-1.3))))
    assert isinstance(graph.nodes["5"], nir.SumPool2d) and isinstance(graph.nodes["2"], nir.AvgPool2d)
    assert graph.nodes["6"].start_dim == 0  # torch's start_dim 1 counts the batch, NIR's does not
    assert graph.output_type["output"].tolist() == [5]


@pytest.mark.parametrize("dt", [1e-3, 1.0, 1e-4])
@pytest.mark.parametrize("name", sorted(NETS))
def test_an_euler_consumer_of_the_graph_fires_pmsn_spikes(name, dt, euler, neuron_spikes):
    net, shape, x = built(name)
    graph = to_nir(net, dt=dt, input_shape=shape)
    record = {}
    euler(graph, x, dt, record)
    expected, _ = neuron_spikes(net, x)
    simulated = [torch.stack(steps) for steps in record.values()]
    assert len(simulated) == len(expected) >= 2
    for ours, theirs in zip(expected, simulated):
        assert 0.02 < ours.mean() < 0.98  # the layer fires, but not always: the comparison means something
        torch.testing.assert_close(theirs, ours, rtol=0, atol=0)


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("name", sorted(NETS))
def test_round_trip_through_a_file_gives_the_same_spikes(tmp_path, name, seed, neuron_spikes):
    net, shape, x = built(name, seed)
    path = save(net, tmp_path / "net.nir", input_shape=shape)
    assert isinstance(nir.read(path), nir.NIRGraph)  # the nir package's own reader takes the file
    loaded = load(path)
    assert isinstance(loaded, SpikingSequential)
    assert all(m.strict for m in loaded.modules() if isinstance(m, Neuron))
    ours, out = neuron_spikes(net, x)
    theirs, loaded_out = neuron_spikes(loaded, x)
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs):
        torch.testing.assert_close(b, a, rtol=0, atol=0)
    torch.testing.assert_close(loaded_out, out, rtol=1e-6, atol=1e-6)


def test_exporting_the_imported_network_gives_the_same_graph(tmp_path):
    net, shape, _ = built("plif_conv2d_sumpool")
    graph = to_nir(net, input_shape=shape)
    again = to_nir(load(graph), input_shape=shape)
    assert [type(n) for n in again.nodes.values()] == [type(n) for n in graph.nodes.values()]
    for name, node in graph.nodes.items():
        if isinstance(node, nir.LIF):
            twin = again.nodes[name]
            for field in ("tau", "r", "v_leak", "v_threshold", "v_reset"):
                np.testing.assert_allclose(getattr(twin, field), getattr(node, field), rtol=1e-12, atol=0)


def test_a_recurrent_layer_is_an_affine_on_a_feedback_edge():
    net, _, _ = built("recurrent")
    graph = to_nir(net)
    assert ("0_neuron", "0_recurrent") in graph.edges and ("0_recurrent", "0_neuron") in graph.edges
    np.testing.assert_array_equal(graph.nodes["0_recurrent"].weight, net[0].recurrent.weight.detach().double())
    loaded = load(graph)
    assert [type(m).__name__ for m in loaded[:2]] == ["RecurrentSpikingLinear"] * 2


@pytest.mark.parametrize("neuron", ["lif", "plif", "if"])
def test_tclif_nets_round_trip_with_their_readout(neuron, neuron_spikes):
    """The TC-LIF paper's nets (docs/neurons.md §3.3), feed-forward and recurrent, with LIF-family neurons."""
    from pmsn.models import build_model

    for name in ("tclif_ff", "tclif_rec"):
        torch.manual_seed(3)
        model = build_model(name, neuron=neuron, num_classes=4, preset="smnist_small", hidden=(6, 7, 5), T=16,
                            input_size=3).eval()
        with torch.no_grad():
            for parameter in model.parameters():
                parameter.mul_(5.0)
        x = torch.randn(2, 16, 3)  # batch first, as the model takes it
        loaded = load(to_nir(model))
        assert loaded.time_reduction == "sum"
        ours, logits = neuron_spikes(model, x)
        theirs, per_step = neuron_spikes(loaded, x.transpose(0, 1))
        assert len(ours) == len(theirs) == 3 and all(0.02 < s.mean() < 0.98 for s in ours)
        for a, b in zip(ours, theirs):
            torch.testing.assert_close(b, a, rtol=0, atol=0)
        torch.testing.assert_close(per_step.sum(0), logits, rtol=1e-5, atol=1e-5)


def test_save_writes_atomically_and_records_the_run(tmp_path):
    from pmsn.train import resolve_config

    net, _, _ = built("lif_linear")
    config = resolve_config(overrides=["model.name=tclif_ff", "model.neuron=lif", "data.task=smnist5k"])
    target = tmp_path / "deep" / "net.nir"
    assert save(net, target, config=config) == target
    assert sorted(p.name for p in target.parent.iterdir()) == ["net.nir"]  # no temporary file left
    metadata = nir.read(target).metadata
    assert metadata["task"] == "smnist5k" and metadata["model"] == "tclif_ff" and metadata["neuron"] == "lif"
