"""NIR graph → pmsn network: ``load(path_or_graph, dt=None)`` (docs/nir.md §4).

The graph must be one chain from its ``Input`` to its ``Output``, whose only cycles are recurrent Affine loops
around a neuron (imported as ``RecurrentSpikingLinear``); each node becomes one or two pmsn layers of a
``SpikingSequential`` that takes ``[T, B, *input_shape]`` and returns the per-step outputs. The neurons are stepped
as a forward-Euler simulation of NIR's ODEs with step ``dt`` (docs/nir.md §3.3).
"""

from __future__ import annotations

from pathlib import Path

import nir
import numpy as np
import torch
from torch import nn

from pmsn.models.tclif_nets import RecurrentSpikingLinear
from pmsn.neurons.base import check_real
from pmsn.nir.network import Scale, SpikingSequential
from pmsn.nir.neurons import neuron_from_nir

_NEURON_NODES = (nir.LIF, nir.IF)


def load(source: str | Path | nir.NIRGraph, dt: float | None = None) -> SpikingSequential:
    """The pmsn network of a NIR file or graph. ``dt`` (seconds per step) defaults to the graph's ``metadata["dt"]``
    (pmsn writes it); a graph with neurons and no stored ``dt`` needs it."""
    graph = _read(source) if isinstance(source, (str, Path)) else source
    if not isinstance(graph, nir.NIRGraph):
        raise TypeError(f"pmsn.nir.load expects a NIR file path or a nir.NIRGraph, got {type(source).__name__}")
    loops = _feedback_loops(graph)
    chain = _chain(graph, set(loops.values()))
    if any(isinstance(node, _NEURON_NODES) for _, node in chain):
        dt = _step(graph, dt)
    layers: list[nn.Module] = []
    for name, node in chain:
        built = _layers(name, node, dt)
        if name in loops:
            built = [_recurrent(name, layers.pop() if layers else None, built, loops[name], graph.nodes[loops[name]])]
        layers += built
    reduction = graph.metadata.get("time_reduction") if isinstance(graph.metadata, dict) else None
    return SpikingSequential(*layers, time_reduction=reduction if reduction in ("mean", "sum") else None)


def _read(path: str | Path) -> nir.NIRGraph:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no NIR file at {path}")
    try:
        return nir.read(path)
    except (OSError, KeyError, ValueError, TypeError, AssertionError) as error:
        raise ValueError(f"{path} is not a readable NIR graph (HDF5 written by nir.write): "
                         f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}") from None


def _step(graph: nir.NIRGraph, dt: float | None) -> float:
    stored = graph.metadata.get("dt") if isinstance(graph.metadata, dict) else None
    if dt is None and stored is None:
        raise ValueError("the NIR graph stores no dt (metadata['dt']) and none was given: pass dt=, the time step "
                         "the graph's ODEs are simulated with")
    return check_real("pmsn.nir.load", "dt", stored if dt is None else dt, "> 0")


def _feedback_loops(graph: nir.NIRGraph) -> dict[str, str]:
    """{neuron: affine} for every Affine/Linear node whose only input is a LIF/IF neuron and whose only output goes
    back to it: a recurrent weight W_rec·S[t−1] (docs/nir.md §4.1)."""
    sources: dict[str, list[str]] = {name: [] for name in graph.nodes}
    targets: dict[str, list[str]] = {name: [] for name in graph.nodes}
    for source, target in graph.edges:
        if source not in graph.nodes or target not in graph.nodes:
            raise ValueError(f"NIR edge ({source!r}, {target!r}) names a node the graph does not have")
        targets[source].append(target)
        sources[target].append(source)
    return {sources[name][0]: name for name, node in graph.nodes.items()
            if isinstance(node, (nir.Affine, nir.Linear)) and len(sources[name]) == 1 and targets[name] == sources[name]
            and isinstance(graph.nodes[sources[name][0]], _NEURON_NODES)}


def _chain(graph: nir.NIRGraph, loop_nodes: set[str]) -> list[tuple[str, nir.NIRNode]]:
    """The nodes between the graph's one Input and one Output, in order, leaving out the feedback ``loop_nodes``;
    anything but a single path is refused."""
    inputs, outputs = list(graph.inputs), list(graph.outputs)
    if len(inputs) != 1 or len(outputs) != 1:
        raise ValueError(f"pmsn imports NIR graphs with one Input and one Output, got inputs {inputs} and outputs "
                         f"{outputs}")
    following: dict[str, str] = {}
    for source, target in graph.edges:
        if source in loop_nodes or target in loop_nodes:
            continue
        if source in following:
            raise ValueError(f"pmsn imports NIR graphs that are one chain of nodes (with recurrent Affine loops "
                             f"around neurons); edge ({source!r}, {target!r}) branches")
        following[source] = target
    names, current = [], following.get(inputs[0])
    while current is not None and current != outputs[0]:
        if current in names or current == inputs[0]:
            raise ValueError(f"pmsn imports NIR graphs whose only cycles are recurrent Affine loops around a "
                             f"neuron; node {current!r} is reached twice")
        names.append(current)
        current = following.get(current)
    if current is None or len(names) + 2 + len(loop_nodes) != len(graph.nodes):
        raise ValueError(f"pmsn imports NIR graphs that are one chain from {inputs[0]!r} to {outputs[0]!r}; "
                         f"the chain has {len(names)} of the {len(graph.nodes) - 2 - len(loop_nodes)} other nodes")
    return [(name, graph.nodes[name]) for name in names]


def _recurrent(name: str, feed: nn.Module | None, neuron: list[nn.Module], loop_name: str, loop) -> nn.Module:
    """``RecurrentSpikingLinear`` from the Linear before a neuron, the neuron and its feedback Affine: NIR sums the
    neuron's two inputs, W_in·x[t] + b_in + W_rec·S[t−1] + b_rec (docs/nir.md §4.1)."""
    if not isinstance(feed, nn.Linear) or len(neuron) != 1:
        raise ValueError(f"NIR node {name!r} ({type(neuron[-1]).__name__}) has a recurrent loop through "
                         f"{loop_name!r}; pmsn imports one only around a neuron fed straight by an Affine or Linear "
                         f"node with r that needs no Scale (a RecurrentSpikingLinear)")
    layer = RecurrentSpikingLinear(feed.in_features, feed.out_features, neuron[0], dropout=0.0)
    recurrent = _layers(loop_name, loop, None)[0]
    if recurrent.weight.shape != layer.recurrent.weight.shape:
        raise ValueError(f"NIR node {loop_name!r}: a recurrent weight of {tuple(layer.recurrent.weight.shape)} "
                         f"expected around {name!r}, got {tuple(recurrent.weight.shape)}")
    with torch.no_grad():
        for target, origin in ((layer.linear, feed), (layer.recurrent, recurrent)):
            target.weight.copy_(origin.weight)
            target.bias.copy_(origin.bias if origin.bias is not None else torch.zeros_like(target.bias))
    return layer


def _tensor(array) -> torch.Tensor:
    return torch.as_tensor(np.asarray(array, dtype=np.float64), dtype=torch.float32)


def _pair(name: str, node, field: str) -> tuple[int, int]:
    values = np.asarray(getattr(node, field)).reshape(-1)
    if values.size not in (1, 2):
        raise ValueError(f"NIR node {name!r} ({type(node).__name__}): {field} must hold 1 or 2 ints, got {values}")
    return tuple(int(v) for v in np.broadcast_to(values, (2,)))


def _layers(name: str, node: nir.NIRNode, dt: float | None) -> list[nn.Module]:
    """The pmsn layers computing ``node`` at one time step (docs/nir.md §4)."""
    if isinstance(node, _NEURON_NODES):
        return neuron_from_nir(name, node, dt)
    if isinstance(node, (nir.Affine, nir.Linear)):
        weight = _tensor(node.weight)
        if weight.dim() != 2:
            raise ValueError(f"NIR node {name!r} ({type(node).__name__}): pmsn imports 2-D weights, got shape "
                             f"{tuple(weight.shape)}")
        bias = isinstance(node, nir.Affine)
        layer = nn.Linear(weight.shape[1], weight.shape[0], bias=bias)
        with torch.no_grad():
            layer.weight.copy_(weight)
            if bias:
                layer.bias.copy_(_tensor(node.bias).reshape(-1))
        return [layer]
    if isinstance(node, (nir.Conv1d, nir.Conv2d)):
        return [_conv(name, node)]
    if isinstance(node, (nir.SumPool2d, nir.AvgPool2d)):
        divisor = 1 if isinstance(node, nir.SumPool2d) else None  # a sum is an average without the division
        return [nn.AvgPool2d(_pair(name, node, "kernel_size"), _pair(name, node, "stride"),
                             _pair(name, node, "padding"), divisor_override=divisor)]
    if isinstance(node, nir.Flatten):
        start, end = (int(d) if int(d) < 0 else int(d) + 1 for d in (node.start_dim, node.end_dim))  # + batch dim
        return [nn.Flatten(start, end)]
    if isinstance(node, nir.Scale):
        return [Scale(_tensor(node.scale))]
    raise ValueError(f"NIR node {name!r} ({type(node).__name__}) has no pmsn import; supported: Affine, Linear, "
                     "Conv1d, Conv2d, SumPool2d, AvgPool2d, Flatten, Scale, LIF, IF (docs/nir.md §4)")


def _conv(name: str, node) -> nn.Module:
    weight = _tensor(node.weight)
    one_d = isinstance(node, nir.Conv1d)
    if weight.dim() != (3 if one_d else 4):
        raise ValueError(f"NIR node {name!r} ({type(node).__name__}): weight of shape {tuple(weight.shape)} is not "
                         f"[C_out, C_in, {'N' if one_d else 'N_x, N_y'}]")
    padding = node.padding
    if isinstance(padding, bytes):
        padding = padding.decode()
    if not isinstance(padding, str):
        padding = _pair(name, node, "padding")[:1 if one_d else 2]
    layer_type = nn.Conv1d if one_d else nn.Conv2d
    size = 1 if one_d else 2
    layer = layer_type(weight.shape[1] * int(node.groups), weight.shape[0], tuple(weight.shape[2:]),
                       stride=_pair(name, node, "stride")[:size], padding=padding,
                       dilation=_pair(name, node, "dilation")[:size], groups=int(node.groups))
    with torch.no_grad():
        layer.weight.copy_(weight)
        layer.bias.copy_(_tensor(node.bias).reshape(-1))
    return layer
