"""What the NIR tests share: an independent NIR consumer, a forward-Euler simulation of a chain graph written from
NIR's own definitions (docs/nir.md §2.1, §3.1) and sharing no code with ``pmsn.nir``; and a recorder of the spikes
each neuron of a pmsn network emits."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from pmsn.models.tclif_nets import RecurrentSpikingLinear
from pmsn.neurons.base import Neuron


def _pairs(value):
    if isinstance(value, str):  # "same" / "valid" padding
        return value
    values = np.asarray(value).reshape(-1)
    return tuple(int(v) for v in np.broadcast_to(values, (2,)))


def _chain(graph):
    """(name, node, feedback Affine or None) along the path from the Input to the Output; a feedback Affine is a
    node whose only input and only output is the same neuron."""
    sources, targets = {}, {}
    for a, b in graph.edges:
        targets.setdefault(a, []).append(b)
        sources.setdefault(b, []).append(a)
    loops = {sources[n][0]: n for n in graph.nodes if sources.get(n, [None]) == targets.get(n) and len(targets[n]) == 1}
    name = targets[next(iter(graph.inputs))][0]
    while name not in graph.outputs:
        yield name, graph.nodes[name], graph.nodes[loops[name]] if name in loops else None
        name = next(t for t in targets[name] if t != loops.get(name))


def _euler(graph, x: torch.Tensor, dt: float, record: dict | None = None) -> torch.Tensor:
    """Run ``graph`` (a nir.NIRGraph chain) on time-first ``x`` [T, B, *shape]: every node once per step, no delay
    along edges; LIF: v += (dt/τ)(v_leak − v + r·I), spike where v > v_threshold, then v = v_reset (v starts at
    0); IF: v += dt·r·I, the same spike and reset."""
    import nir

    dtype = x.dtype
    arr = lambda a: torch.as_tensor(np.asarray(a, dtype=np.float64)).to(dtype)  # noqa: E731
    nodes = list(_chain(graph))
    states = {name: None for name, node, _ in nodes if isinstance(node, (nir.LIF, nir.IF))}
    last_spikes = {}  # what a feedback edge delivers: the neuron's spikes of the previous step (0 before t = 0)
    outputs = []
    for x_t in x:
        for name, node, loop in nodes:
            if loop is not None:
                previous = last_spikes.get(name, torch.zeros_like(x_t))
                x_t = x_t + previous @ arr(loop.weight).T + arr(loop.bias)
            if isinstance(node, nir.Affine):
                x_t = x_t @ arr(node.weight).T + arr(node.bias)
            elif isinstance(node, nir.Linear):
                x_t = x_t @ arr(node.weight).T
            elif isinstance(node, nir.Conv2d):
                x_t = F.conv2d(x_t, arr(node.weight), arr(node.bias), _pairs(node.stride), _pairs(node.padding),
                               _pairs(node.dilation), int(node.groups))
            elif isinstance(node, nir.Conv1d):
                x_t = F.conv1d(x_t, arr(node.weight), arr(node.bias), int(node.stride), _pairs(node.padding)[0],
                               int(node.dilation), int(node.groups))
            elif isinstance(node, nir.SumPool2d):
                x_t = F.avg_pool2d(x_t, _pairs(node.kernel_size), _pairs(node.stride), _pairs(node.padding),
                                   divisor_override=1)
            elif isinstance(node, nir.AvgPool2d):
                x_t = F.avg_pool2d(x_t, _pairs(node.kernel_size), _pairs(node.stride), _pairs(node.padding))
            elif isinstance(node, nir.Flatten):
                start, end = int(node.start_dim), int(node.end_dim)
                x_t = x_t.flatten(start + 1, end if end < 0 else end + 1)  # NIR dims leave out the batch
            elif isinstance(node, nir.Scale):
                x_t = x_t * arr(node.scale)
            elif isinstance(node, (nir.LIF, nir.IF)):
                v = torch.zeros_like(x_t) if states[name] is None else states[name]
                if isinstance(node, nir.LIF):
                    v = v + (dt / arr(node.tau)) * (arr(node.v_leak) - v + arr(node.r) * x_t)
                else:
                    v = v + dt * arr(node.r) * x_t
                spikes = (v > arr(node.v_threshold)).to(dtype)
                states[name] = torch.where(spikes.bool(), arr(node.v_reset).expand_as(v), v)
                x_t = last_spikes[name] = spikes
                if record is not None:
                    record.setdefault(name, []).append(spikes)
            else:
                raise AssertionError(f"the test consumer has no {type(node).__name__}")
        outputs.append(x_t)
    return torch.stack(outputs)


@pytest.fixture
def euler():
    """``euler(graph, x, dt, record=None)``: the reference consumer; ``record`` (a dict) collects each neuron's
    spikes, one [B, ...] tensor per step."""
    return _euler


def spiking_layers(net):
    """The neurons of ``net`` and its recurrent layers (whose neuron is stepped, not called), in order."""
    recurrent = [name for name, m in net.named_modules() if isinstance(m, RecurrentSpikingLinear)]
    return [m for name, m in net.named_modules() if isinstance(m, RecurrentSpikingLinear)
            or isinstance(m, Neuron) and not any(name.startswith(f"{r}.") for r in recurrent)]


def _neuron_spikes(net, x):
    """Every neuron's output spikes [T, B, ...], in the order the neurons run."""
    spikes = []
    hooks = [m.register_forward_hook(lambda m, a, out: spikes.append(out)) for m in spiking_layers(net)]
    try:
        with torch.no_grad():
            output = net(x)
    finally:
        for hook in hooks:
            hook.remove()
    return spikes, output


@pytest.fixture
def neuron_spikes():
    """``neuron_spikes(net, x)``: (every neuron's output spikes [T, B, ...] in the order the neurons run, the output)."""
    return _neuron_spikes
