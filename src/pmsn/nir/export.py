"""pmsn network → NIR graph: ``to_nir(model, dt)`` and ``save(model, path)`` (docs/nir.md §1, §4-5).

The network is read as a chain of layers (``nn.Sequential``, ``SpikingSequential``, ``TCLIFNet``, ``SpikingLinear``);
each layer becomes one NIR node, joined in order between an ``Input`` and an ``Output``. A recurrent layer
(``RecurrentSpikingLinear``) adds its recurrent Affine on a feedback edge around its neuron.
Anything NIR cannot express exactly is refused with one line naming the layer and why.
"""

from __future__ import annotations

import io
import math
from pathlib import Path

import nir
import numpy as np
import torch
from torch import nn

from pmsn.io import atomic_write_bytes
from pmsn.models.layers import TiedDropout
from pmsn.models.tclif_nets import RecurrentSpikingLinear, SpikingLinear, TCLIFNet
from pmsn.neurons import PMSN
from pmsn.neurons.base import Neuron, check_real
from pmsn.nir.network import Scale, SpikingSequential
from pmsn.nir.neurons import neuron_to_nir
from pmsn.nir.pmsn_refusal import pmsn_refusal

DEFAULT_DT = 1e-3  # seconds per time step stored in the graph (docs/nir.md §2.2)
_IDENTITIES = (nn.Dropout, TiedDropout, nn.Identity)  # the identity at inference: left out of the graph
_REFUSED = {  # layer types with no exact NIR primitive, and why (docs/nir.md §5)
    nn.modules.batchnorm._BatchNorm: "batch norm is no NIR primitive; fold it into the preceding weights first",
    nn.MaxPool1d: "NIR has no max-pooling primitive",
    nn.MaxPool2d: "NIR has no max-pooling primitive",
}


def to_nir(model: nn.Module, dt: float = DEFAULT_DT, input_shape: tuple[int, ...] | None = None) -> nir.NIRGraph:
    """The NIR graph of ``model`` for simulators stepping its ODEs by forward Euler with ``dt`` (stored in the
    graph's metadata). ``input_shape`` is the per-step input shape without T and B (default: the first Linear's
    input features)."""
    dt = check_real("to_nir", "dt", dt, "> 0")
    for name, module in model.named_modules():
        if isinstance(module, PMSN):
            raise ValueError(pmsn_refusal(name or type(model).__name__, module))
    layers = _chain(model, "")
    if not layers:
        raise ValueError(f"{type(model).__name__} has no layers to export")
    shape = _input_shape(layers, input_shape)
    nodes, edges, previous = {"input": nir.Input(input_type=np.array(shape))}, [], "input"
    for name, layer in layers:
        recurrent = isinstance(layer, RecurrentSpikingLinear)
        for part_name, part in ([(f"{name}.linear", layer.linear), (f"{name}.neuron", layer.neuron)] if recurrent
                                else [(name, layer)]):
            node, shape = _node(part_name, part, shape, dt)
            node_name = part_name.replace(".", "_")
            nodes[node_name] = node
            edges.append((previous, node_name))
            previous = node_name
        if recurrent:  # W_rec·S[t−1] + b_rec: an Affine on a feedback edge, read one step late (docs/nir.md §4.1)
            loop = f"{name}.recurrent".replace(".", "_")
            nodes[loop] = _stateless_node(loop, layer.recurrent, shape)
            edges += [(previous, loop), (loop, previous)]
    nodes["output"] = nir.Output(output_type=np.array(shape))
    edges.append((previous, "output"))
    metadata = {"dt": float(dt), "source": "pmsn", "time_reduction": getattr(model, "time_reduction", None) or ""}
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=metadata)


def save(model: nn.Module, path: str | Path, config=None, dt: float = DEFAULT_DT,
         input_shape: tuple[int, ...] | None = None) -> Path:
    """Write ``to_nir(model, dt, input_shape)`` to ``path`` (HDF5, ``nir.read`` reads it) atomically; returns the
    path. ``config`` (a run's ``TrainConfig``) adds the task and model names to the graph's metadata."""
    graph = to_nir(model, dt, input_shape)
    if config is not None:
        graph.metadata.update(task=config.data.task, model=config.model.name, neuron=config.model.neuron)
    buffer = io.BytesIO()
    nir.write(buffer, graph)
    path = Path(path)
    atomic_write_bytes(path, buffer.getvalue())
    return path


def _chain(module: nn.Module, name: str) -> list[tuple[str, nn.Module]]:
    """The layers of ``module`` in the order they run, as (qualified name, layer)."""
    label = name or type(module).__name__
    for refused, why in _REFUSED.items():
        if isinstance(module, refused):
            raise ValueError(f"layer {label!r} ({type(module).__name__}) cannot be exported to NIR: {why}")
    if isinstance(module, _IDENTITIES):
        return []
    if isinstance(module, TCLIFNet):
        children = [(f"layers.{i}", layer) for i, layer in enumerate(module.layers)] + [("readout", module.readout)]
    elif type(module) is SpikingLinear:  # its subclass RecurrentSpikingLinear is one leaf (three nodes)
        children = [("linear", module.linear), ("neuron", module.neuron)]
    elif type(module) in (nn.Sequential, SpikingSequential):
        children = list(module.named_children())
    elif isinstance(module, (nn.Linear, nn.Conv1d, nn.Conv2d, nn.AvgPool2d, nn.Flatten, Scale, Neuron,
                             RecurrentSpikingLinear)):
        return [(label, module)]
    else:
        raise ValueError(f"layer {label!r} ({type(module).__name__}) cannot be exported to NIR: it is not a chain of "
                         "Linear / Conv1d / Conv2d / AvgPool2d / Flatten layers and LIF / PLIF / IF neurons "
                         "(docs/nir.md §5)")
    return [layer for child, sub in children for layer in _chain(sub, f"{name}.{child}" if name else child)]


def _input_shape(layers, input_shape) -> tuple[int, ...]:
    if input_shape is not None:
        if not (isinstance(input_shape, (tuple, list)) and input_shape
                and all(isinstance(n, int) and not isinstance(n, bool) and n > 0 for n in input_shape)):
            raise ValueError(f"input_shape must be the per-step input shape, a non-empty tuple of positive ints, "
                             f"got {input_shape!r}")
        return tuple(input_shape)
    name, first = layers[0]
    if isinstance(first, (nn.Linear, SpikingLinear)):
        return ((first.linear if isinstance(first, SpikingLinear) else first).in_features,)
    raise ValueError(f"the first layer {name!r} ({type(first).__name__}) does not fix the input shape: pass "
                     "input_shape, the per-step shape without T and B, e.g. (2, 34, 34)")


def _node(name: str, layer: nn.Module, shape: tuple[int, ...], dt: float):
    """(NIR node, per-step output shape) of one layer fed with per-step shape ``shape``."""
    if isinstance(layer, Neuron):
        return neuron_to_nir(name, layer, shape, dt), shape
    try:
        with torch.no_grad():
            out_shape = tuple(layer(torch.zeros(1, *shape)).shape[1:])
    except RuntimeError as error:
        raise ValueError(f"layer {name!r} ({type(layer).__name__}) does not accept per-step input of shape {shape}: "
                         f"{str(error).splitlines()[0]}") from None
    return _stateless_node(name, layer, shape), out_shape


def _array(tensor: torch.Tensor | None, like: torch.Tensor) -> np.ndarray:
    return (torch.zeros(like.shape[0]) if tensor is None else tensor).detach().cpu().double().numpy()


def _stateless_node(name: str, layer: nn.Module, shape: tuple[int, ...]):
    kind = type(layer).__name__
    if isinstance(layer, nn.Linear):
        if len(shape) != 1:
            raise ValueError(f"layer {name!r} (Linear) gets per-step input of shape {shape}; NIR's Affine maps "
                             "vectors, so flatten first")
        weight = layer.weight.detach().cpu().double().numpy()
        if layer.bias is None:
            return nir.Linear(weight=weight)
        return nir.Affine(weight=weight, bias=_array(layer.bias, layer.weight))
    if isinstance(layer, (nn.Conv1d, nn.Conv2d)):
        if layer.padding_mode != "zeros":
            raise ValueError(f"layer {name!r} ({kind}): NIR convolutions pad with zeros, got padding_mode="
                             f"{layer.padding_mode!r}")
        one_d = isinstance(layer, nn.Conv1d)
        node = nir.Conv1d if one_d else nir.Conv2d
        first = (lambda pair: pair[0]) if one_d else tuple  # Conv1d takes ints, Conv2d pairs
        padding = layer.padding if isinstance(layer.padding, str) else first(layer.padding)
        return node(input_shape=shape[1] if one_d else tuple(shape[1:]),
                    weight=layer.weight.detach().cpu().double().numpy(), stride=first(layer.stride),
                    padding=padding, dilation=first(layer.dilation), groups=layer.groups,
                    bias=_array(layer.bias, layer.weight))
    if isinstance(layer, nn.AvgPool2d):
        return _pool_node(name, layer)
    if isinstance(layer, nn.Flatten):
        start, end = (d if d < 0 else d - 1 for d in (layer.start_dim, layer.end_dim))  # NIR: no batch dim
        if layer.start_dim == 0:
            raise ValueError(f"layer {name!r} (Flatten, start_dim={layer.start_dim}) would merge the batch into the "
                             "features; NIR flattens within one sample")
        return nir.Flatten(input_type={"input": np.array(shape)}, start_dim=start, end_dim=end)
    return nir.Scale(scale=layer.scale.detach().cpu().double().numpy() * np.ones(shape))  # Scale


def _pool_node(name: str, layer: nn.AvgPool2d):
    pair = lambda v: np.array(v if isinstance(v, (tuple, list)) else (v, v))  # noqa: E731
    kernel, stride, padding = pair(layer.kernel_size), pair(layer.stride or layer.kernel_size), pair(layer.padding)
    if layer.ceil_mode:
        raise ValueError(f"layer {name!r} (AvgPool2d): ceil_mode=True has no NIR equivalent")
    if layer.divisor_override == 1:  # a sum over the window
        return nir.SumPool2d(kernel_size=kernel, stride=stride, padding=padding)
    if layer.divisor_override is not None or (padding.any() and not layer.count_include_pad):
        raise ValueError(f"layer {name!r} (AvgPool2d): NIR's AvgPool2d divides by the window size "
                         f"{math.prod(kernel)}, got divisor_override={layer.divisor_override}, "
                         f"count_include_pad={layer.count_include_pad}")
    return nir.AvgPool2d(kernel_size=kernel, stride=stride, padding=padding)
