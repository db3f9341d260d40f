"""NIR → pmsn: a graph written with the ``nir`` package's own API (as another library would) imports into pmsn and
fires the spikes of an independent forward-Euler simulation of NIR's ODEs (docs/nir.md §3.3, §4)."""

import numpy as np
import pytest
import torch

nir = pytest.importorskip("nir")

from pmsn.neurons import IF, LIF  # noqa: E402
from pmsn.nir import Scale, SpikingSequential, load  # noqa: E402

DT = 1e-4  # the time step the "other library" simulated with (snnTorch's exporter uses 1e-4)


def full(shape, value):
    return np.full(shape, value, dtype=np.float64)


def foreign_graph(seed=0, metadata=None):
    """Conv2d → LIF (snnTorch-style r = τ/dt) → SumPool2d → Flatten → Affine → LIF (leak 0.1, r per neuron) →
    Affine → IF (r = 1/dt)."""
    rng = np.random.default_rng(seed)
    conv_shape, pooled = (4, 6, 6), (4, 3, 3)
    nodes = {
        "in": nir.Input(input_type=np.array([2, 6, 6])),
        "conv": nir.Conv2d(input_shape=(6, 6), weight=rng.normal(0, 0.8, (4, 2, 3, 3)), stride=1, padding=1,
                           dilation=1, groups=1, bias=rng.normal(0, 0.1, 4)),
        "lif1": nir.LIF(tau=full(conv_shape, 3 * DT), r=full(conv_shape, 3.0), v_leak=full(conv_shape, 0.0),
                        v_threshold=full(conv_shape, 0.8), v_reset=full(conv_shape, 0.0)),
        "pool": nir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.array([0, 0])),
        "flat": nir.Flatten(input_type={"input": np.array(pooled)}, start_dim=0, end_dim=-1),
        "fc": nir.Affine(weight=rng.normal(0, 0.6, (5, 36)), bias=rng.normal(0, 0.1, 5)),
        "lif2": nir.LIF(tau=full(5, 2.5 * DT), r=rng.uniform(0.5, 2.0, 5), v_leak=full(5, 0.1),
                        v_threshold=full(5, 1.0), v_reset=full(5, 0.0)),
        "fc2": nir.Affine(weight=rng.normal(0, 1.0, (3, 5)), bias=rng.normal(0.2, 0.1, 3)),
        "if": nir.IF(r=full(3, 1 / DT), v_threshold=full(3, 0.9), v_reset=full(3, 0.0)),
        "out": nir.Output(output_type=np.array([3])),
    }
    names = list(nodes)
    return nir.NIRGraph(nodes=nodes, edges=list(zip(names, names[1:])), metadata=metadata or {})


def imported_spikes(net, x):
    spikes = []
    hooks = [m.register_forward_hook(lambda m, a, out: spikes.append(out)) for m in net.modules()
             if isinstance(m, (LIF, IF))]
    try:
        with torch.no_grad():
            net(x)
    finally:
        for hook in hooks:
            hook.remove()
    return spikes


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_graph_built_with_the_nir_api_fires_the_euler_spikes(tmp_path, seed, euler):
    graph = foreign_graph(seed)
    path = tmp_path / "foreign.nir"
    nir.write(path, graph)
    net = load(path, dt=DT).double()  # float64 on both sides: the comparison is of the dynamics, not of rounding
    x = torch.from_numpy(np.random.default_rng(10 + seed).normal(0, 1.5, (30, 2, 2, 6, 6)))
    record = {}
    expected = euler(graph, x, DT, record)
    ours = imported_spikes(net, x)
    assert len(ours) == 3
    for spikes, (name, steps) in zip(ours, record.items()):
        reference = torch.stack(steps)
        assert 0.02 < reference.mean() < 0.98, name
        torch.testing.assert_close(spikes, reference, rtol=0, atol=0)
    torch.testing.assert_close(net(x), expected, rtol=0, atol=0)


def test_imported_layers_follow_the_documented_mapping():
    net = load(foreign_graph(), dt=DT)
    assert isinstance(net, SpikingSequential) and net.time_reduction is None
    kinds = [type(layer).__name__ for layer in net]
    assert kinds == ["Conv2d", "LIF", "AvgPool2d", "Flatten", "Linear", "Scale", "LIF", "Linear", "IF"]
    first, second = net[1], net[6]
    assert first.tau == pytest.approx(3.0) and not first.decay_input  # r = τ/dt: input added undecayed
    assert second.tau == pytest.approx(2.5) and second.decay_input and second.v_rest == pytest.approx(0.1)
    assert first.threshold == pytest.approx(0.8) and first.strict and second.strict  # NIR fires on v > threshold
    assert net[2].divisor_override == 1  # SumPool2d
    assert isinstance(net[5], Scale) and net[5].scale.shape == (5,)
    assert net[8].threshold == pytest.approx(0.9) and net[8].strict  # IF with dt·r = 1: no input gain


def test_dt_comes_from_the_graph_metadata_or_the_caller():
    x = torch.randn(12, 2, 2, 6, 6).double()
    stored = load(foreign_graph(metadata={"dt": DT})).double()
    given = load(foreign_graph(), dt=DT).double()
    torch.testing.assert_close(stored(x), given(x), rtol=0, atol=0)
    halved = load(foreign_graph(metadata={"dt": DT}), dt=DT / 2)  # the caller's dt wins over the stored one
    first_lif = next(layer for layer in halved if isinstance(layer, LIF))
    assert first_lif.tau == pytest.approx(6.0)
    assert isinstance(halved[1], Scale)  # r = 3 is no longer τ/dt = 6: an explicit input gain
    assert isinstance(halved[-2], Scale) and torch.allclose(halved[-2].scale, torch.tensor(0.5))  # IF: dt·r = 1/2
