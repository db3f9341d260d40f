"""SpikingJelly weight import (docs/convert.md): PSN, MaskedPSN, SlidingPSN, LIFNode, ParametricLIFNode and IFNode
layers of a SpikingJelly 2.0.0 network (``spikingjelly.activation_based.neuron``) into pmsn's neurons (docs/neurons.md §2,
§4), the other layers' tensors passed through by name.

    model = from_spikingjelly("sj_net.pt", target)    # target: the pmsn network, built with the same settings
    model = from_spikingjelly(sj_net, target)         # a live SpikingJelly network: its settings are checked too
    neuron = neuron_from_spikingjelly("ParametricLIFNode", {"w": w}, v_reset=None, detach_reset=True)

Settings are SpikingJelly constructor arguments with SpikingJelly's defaults; the ones a state dict does not hold
(threshold, τ of LIF, decay_input, v_reset, surrogate) come from the target or from ``settings``.
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Mapping

import torch
from torch import nn

from pmsn.neurons import IF, LIF, PLIF, PSN, MaskedPSN, Neuron, SlidingPSN
from pmsn.surrogate import ATan, Sigmoid, Triangle, get_surrogate

# The settings of each SpikingJelly class (its constructor arguments and defaults), docs/convert.md §3. None: read
# from the tensors' shapes. Settings that only set an initial value the state dict overrides are accepted and unused.
SPIKINGJELLY_DEFAULTS = {
    "LIFNode": dict(tau=2.0, decay_input=True, v_threshold=1.0, v_reset=0.0, surrogate_function=Sigmoid(4.0),
                    detach_reset=False),
    "ParametricLIFNode": dict(init_tau=2.0, decay_input=True, v_threshold=1.0, v_reset=0.0,
                              surrogate_function=Sigmoid(4.0), detach_reset=False),
    "IFNode": dict(v_threshold=1.0, v_reset=0.0, surrogate_function=Sigmoid(4.0), detach_reset=False),
    "PSN": dict(T=None, surrogate_function=ATan(2.0)),
    "MaskedPSN": dict(k=None, T=None, lambda_init=0.0, surrogate_function=ATan(2.0)),
    "SlidingPSN": dict(k=None, exp_init=True, surrogate_function=ATan(2.0)),
}
_EXECUTION_OPTIONS = {"step_mode", "store_v_seq", "backend"}  # how SpikingJelly runs, not what it computes
PMSN_CLASS = {"LIFNode": LIF, "ParametricLIFNode": PLIF, "IFNode": IF, "PSN": PSN, "MaskedPSN": MaskedPSN, "SlidingPSN": SlidingPSN}
SPIKINGJELLY_CLASS = {pmsn: kind for kind, pmsn in PMSN_CLASS.items()}
_SURROGATES = {"Sigmoid": Sigmoid, "ATan": ATan}  # same α, same derivative (docs/neurons.md §1.3)


def pmsn_surrogate(surrogate):
    """pmsn's surrogate for a SpikingJelly one (Sigmoid, ATan, PiecewiseQuadratic, read by class name and ``alpha``),
    or a pmsn surrogate (a name or an object with ``derivative``) unchanged."""
    if isinstance(surrogate, str) or callable(getattr(surrogate, "derivative", None)):
        return get_surrogate(surrogate)
    name = type(surrogate).__name__
    if getattr(surrogate, "spiking", True) is not True:
        raise ValueError(f"SpikingJelly surrogate {name} has spiking=False (a smooth forward pass); pmsn neurons "
                         f"always fire with the step function")
    if name in _SURROGATES:
        return _SURROGATES[name](float(surrogate.alpha))
    if name == "PiecewiseQuadratic":  # α − α²·|x| for |x| ≤ 1/α is the triangle of width 1/α
        return Triangle(1.0 / float(surrogate.alpha))
    raise ValueError(f"SpikingJelly surrogate {name} has no pmsn counterpart (expected Sigmoid, ATan or "
                     f"PiecewiseQuadratic, or pass a pmsn surrogate)")


def pmsn_settings(kind: str, settings: Mapping) -> dict:
    """pmsn constructor arguments for a SpikingJelly ``kind`` layer built with ``settings`` (docs/convert.md §3);
    refuses in one line what the pmsn neuron cannot express."""
    _check_kind(kind)
    unknown = sorted(set(settings) - set(SPIKINGJELLY_DEFAULTS[kind]) - _EXECUTION_OPTIONS)
    if unknown:
        raise ValueError(f"SpikingJelly {kind} has no setting {unknown[0]!r}; expected some of "
                         f"{sorted(SPIKINGJELLY_DEFAULTS[kind])}")
    given = {**SPIKINGJELLY_DEFAULTS[kind], **settings}
    pmsn = {"surrogate": pmsn_surrogate(given["surrogate_function"]), "strict": False}  # Θ(0) = 1 in both
    if kind in ("LIFNode", "ParametricLIFNode", "IFNode"):
        pmsn.update(_leaky_settings(kind, given))
    for name, target in (("T", "T"), ("k", "order")):
        if given.get(name) is not None:
            pmsn[target] = given[name]
    return pmsn


def _leaky_settings(kind: str, given: dict) -> dict:
    threshold, v_reset = given["v_threshold"], given["v_reset"]
    if not threshold > 0:
        raise ValueError(f"SpikingJelly {kind} has v_threshold={threshold}; pmsn's {PMSN_CLASS[kind].__name__} "
                         f"needs a threshold > 0")
    leaky = dict(threshold=float(threshold), detach_reset=bool(given["detach_reset"]))
    if kind == "LIFNode":
        leaky["tau"] = float(given["tau"])
    if kind != "IFNode":  # IF has no leak, so neither input decay nor a resting potential (docs/neurons.md §2.4)
        leaky["decay_input"] = bool(given["decay_input"])
    rest = {} if kind == "IFNode" else {"v_rest": 0.0 if v_reset is None else float(v_reset)}
    if v_reset is None:  # soft reset, leak towards 0 (docs/neurons.md §1.4, §2.1)
        return {**leaky, "reset": "soft", **rest}
    if not threshold > v_reset:
        raise ValueError(f"SpikingJelly {kind} has v_threshold={threshold} <= v_reset={v_reset}; pmsn's hard reset "
                         f"needs the threshold above v_reset")
    return {**leaky, "reset": "hard", "v_reset": float(v_reset), **rest}


def _check_kind(kind) -> None:
    if kind not in SPIKINGJELLY_DEFAULTS:
        raise ValueError(f"SpikingJelly layer {kind!r} has no pmsn counterpart; expected one of "
                         f"{sorted(SPIKINGJELLY_DEFAULTS)}")


def _layout(kind: str, tensors: Mapping) -> dict:
    """Each key's expected shape (docs/convert.md §2); T of PSN / MaskedPSN and k of SlidingPSN are read from
    the first dimension of ``weight``."""
    weight = tensors.get("weight")
    n = weight.shape[0] if isinstance(weight, torch.Tensor) and weight.dim() > 0 else 1
    return {"LIFNode": {}, "IFNode": {}, "ParametricLIFNode": {"w": ()}, "PSN": {"weight": (n, n), "bias": (n, 1)},
            "MaskedPSN": {"weight": (n, n), "bias": (n, 1), "_lambda_": (), "mask0": (n, n), "mask1": (n, n)},
            "SlidingPSN": {"weight": (n,), "bias": ()}}[kind]


def _checked(kind: str, prefix: str, tensors: Mapping) -> dict:
    """The layer's tensors, their names, types and shapes checked against ``_layout``."""
    shapes = _layout(kind, tensors)
    for name in tensors:
        if name not in shapes:
            raise ValueError(f"unexpected key {prefix + name!r} for SpikingJelly {kind} (expected {sorted(shapes)})")
    for name, shape in shapes.items():
        if name not in tensors:
            raise ValueError(f"missing key {prefix + name!r} for SpikingJelly {kind}")
        tensor = tensors[name]
        if not isinstance(tensor, torch.Tensor) or not tensor.is_floating_point():
            raise ValueError(f"key {prefix + name!r}: expected a floating-point tensor, got {_describe(tensor)}")
        if tuple(tensor.shape) != shape:
            raise ValueError(f"key {prefix + name!r}: expected shape {shape} for SpikingJelly {kind}, got "
                             f"{tuple(tensor.shape)}")
    return dict(tensors)


def convert_layer(kind: str, tensors: Mapping, prefix: str = "") -> tuple[dict, dict]:
    """One SpikingJelly layer's tensors (names without the layer prefix) → (the pmsn settings its shapes fix,
    the pmsn neuron's state dict). Names and shapes: docs/convert.md §2."""
    _check_kind(kind)
    found = _checked(kind, prefix, tensors)
    if kind == "PSN":
        steps = found["weight"].shape[0]
        return {"T": steps}, {"weight": found["weight"], "bias": found["bias"].reshape(steps)}
    if kind == "MaskedPSN":
        return _masked(prefix, found)
    if kind == "SlidingPSN":
        return {"order": found["weight"].shape[0]}, found
    return {}, found  # LIFNode, IFNode: no tensors; ParametricLIFNode: w, 1/τ = σ(w) in both (docs/neurons.md §2.2)


def _masked(prefix: str, found: dict) -> tuple[dict, dict]:
    """MaskedPSN: mask0 is M_k (its order k is the band's height), mask1 the all-one J, λ as stored
    (PSN eq. 11-13, docs/neurons.md §4.2)."""
    steps = found["weight"].shape[0]
    order = int(found["mask0"][:, 0].sum().item())
    reference = MaskedPSN(steps, order).mask if 1 <= order <= steps else None
    if reference is None or not torch.equal(found["mask0"].to(reference.dtype), reference):
        raise ValueError(f"key {prefix + 'mask0'!r}: expected the causal band M_k of a SpikingJelly MaskedPSN, "
                         f"got another {steps}x{steps} matrix")
    if not bool((found["mask1"] == 1).all()):
        raise ValueError(f"key {prefix + 'mask1'!r}: expected the all-one matrix of a SpikingJelly MaskedPSN")
    lam = float(found["_lambda_"])
    if not lam >= 0:
        raise ValueError(f"key {prefix + '_lambda_'!r}: λ = {lam}; pmsn's MaskedPSN needs λ in [0, 1]")
    # SpikingJelly uses W ⊙ M_k for every λ ≥ 1, which is pmsn's λ = 1
    state = {"weight": found["weight"], "bias": found["bias"].reshape(steps), "mask": reference,
             "mask_lambda": torch.tensor(min(lam, 1.0))}
    return {"T": steps, "order": order}, state


def neuron_from_spikingjelly(kind: str, state_dict: Mapping, **settings) -> Neuron:
    """A pmsn neuron equal to the SpikingJelly ``kind`` layer built with ``settings`` and holding ``state_dict``
    (that layer's own state dict, e.g. ``{"w": w}`` for a ParametricLIFNode)."""
    from_shapes, state = convert_layer(kind, state_dict)
    built = _merge(kind, "", pmsn_settings(kind, settings), from_shapes)
    neuron = PMSN_CLASS[kind](**built)
    neuron.load_state_dict(state)
    return neuron


def _merge(kind: str, layer: str, given: dict, from_shapes: dict) -> dict:
    for name, value in from_shapes.items():
        if name in given and given[name] != value:
            raise ValueError(f"{_layer(layer)}SpikingJelly {kind}: {name}={given[name]} given, but its tensors have "
                             f"{name}={value}")
    return {**given, **from_shapes}


def _layer(name: str) -> str:
    return f"layer {name!r}: " if name else ""


def _describe(value) -> str:
    return f"shape {tuple(value.shape)} {value.dtype}" if isinstance(value, torch.Tensor) else type(value).__name__


def spikingjelly_settings(network: nn.Module) -> dict[str, tuple[str, dict]]:
    """Each SpikingJelly neuron layer of a live network: name → (class name, its settings read from the layer);
    refuses a neuron class pmsn cannot import."""
    found = {}
    for name, module in network.named_modules():
        kind = type(module).__name__
        if not type(module).__module__.startswith("spikingjelly.activation_based.neuron"):
            continue
        if kind not in SPIKINGJELLY_DEFAULTS:
            raise ValueError(f"{_layer(name)}SpikingJelly {kind} has no pmsn counterpart; expected one of "
                             f"{sorted(SPIKINGJELLY_DEFAULTS)}")
        found[name] = (kind, {key: getattr(module, key) for key in SPIKINGJELLY_DEFAULTS[kind]
                              if hasattr(module, key)})
    return found


def load_spikingjelly(source) -> tuple[dict, dict[str, tuple[str | None, dict]]]:
    """(state dict, settings by layer) from a SpikingJelly network, a state dict, or a file holding one
    (read with ``weights_only=True``: tensors and plain containers only)."""
    if isinstance(source, nn.Module):
        return source.state_dict(), spikingjelly_settings(source)
    if isinstance(source, (str, os.PathLike)):
        try:
            source = torch.load(source, map_location="cpu", weights_only=True)
        except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError) as error:
            raise ValueError(f"{os.fspath(source)!r} is not a plain tensor file ({type(error).__name__}: "
                             f"{str(error).splitlines()[0][:160]})") from None
    if not isinstance(source, Mapping):
        raise TypeError(f"expected a SpikingJelly network, a state dict or a path to one, got {_describe(source)}")
    for key, value in source.items():
        if not isinstance(value, torch.Tensor):
            raise ValueError(f"expected a state dict (names → tensors), but {key!r} holds {_describe(value)}; pass "
                             f"the network's state dict itself (e.g. checkpoint[{key!r}])")
    return dict(source), {}


def _renamer(prefixes: Mapping[str, str]):
    """pmsn name → SpikingJelly name: the longest pmsn prefix in ``prefixes`` is replaced by its SpikingJelly one."""
    ordered = sorted(prefixes, key=len, reverse=True)

    def renamed(name: str) -> str:
        for prefix in ordered:
            if prefix == "" or name == prefix or name.startswith(prefix + "."):
                rest = name[len(prefix):].lstrip(".") if prefix else name
                return ".".join(part for part in (prefixes[prefix], rest) if part)
        return name

    return renamed


def from_spikingjelly(source, target: nn.Module, *, prefixes: Mapping[str, str] | None = None,
                      settings: Mapping[str, Mapping] | None = None) -> nn.Module:
    """Load a SpikingJelly network's weights into the pmsn network ``target`` and return it (docs/convert.md §4).

    ``source``: a SpikingJelly network (its neurons' settings are checked against ``target``), its state dict, or
    a path to one. ``prefixes``: pmsn module name → SpikingJelly module name where they differ. ``settings``:
    SpikingJelly layer name → its constructor arguments, checked against the target neuron (state-dict sources).
    Neuron layers are converted (docs/convert.md §2), every other tensor is copied by name; everything is checked
    before ``target`` is changed.
    """
    state, layer_settings = load_spikingjelly(source)
    if settings is not None:
        if isinstance(source, nn.Module):
            raise TypeError("settings are read from the SpikingJelly network itself; pass settings only with a "
                            "state dict")
        layer_settings = {name: (None, dict(given)) for name, given in settings.items()}
    renamed = _renamer(prefixes or {})
    converted, used = {}, set()
    for name, neuron in target.named_modules():
        if not isinstance(neuron, Neuron):
            continue
        layer = renamed(name)
        kind = SPIKINGJELLY_CLASS.get(type(neuron))
        if kind is None:
            raise ValueError(f"{_layer(name)}pmsn {type(neuron).__name__} has no SpikingJelly counterpart; "
                             f"expected one of {sorted(cls.__name__ for cls in SPIKINGJELLY_CLASS)}")
        found_kind, given = layer_settings.pop(layer, (kind, None))
        if found_kind not in (None, kind):
            raise ValueError(f"{_layer(name)}SpikingJelly has a {found_kind} at {layer!r}, the pmsn network a "
                             f"{type(neuron).__name__} (expected a {kind})")
        keys = {key for key in state if not layer or key.startswith(layer + ".")}
        tensors = {key[len(layer) + 1:] if layer else key: state[key] for key in keys}
        from_shapes, neuron_state = convert_layer(kind, tensors, prefix=f"{layer}." if layer else "")
        _check_neuron(name, kind, neuron, _merge(kind, layer, pmsn_settings(kind, given) if given is not None else {},
                                                 from_shapes))
        converted.update({f"{name}.{key}" if name else key: value for key, value in neuron_state.items()})
        used |= keys
    if layer_settings:
        layer = next(iter(layer_settings))
        raise ValueError(f"SpikingJelly neuron layer {layer!r} has no pmsn neuron at that name (pass prefixes= "
                         f"if the names differ)")
    for key, expected in target.state_dict().items():
        if key not in converted:
            source_key = renamed(key)
            if source_key not in state:
                raise ValueError(f"missing key {source_key!r} in the SpikingJelly state dict (for pmsn's {key!r})")
            converted[key] = state[source_key]
            used.add(source_key)
        _check_shape(key, expected, converted[key])
    unused = sorted(set(state) - used)
    if unused:
        raise ValueError(f"unexpected key {unused[0]!r} in the SpikingJelly state dict: no pmsn layer maps to it "
                         f"({len(unused)} such key(s); pass prefixes= if the names differ)")
    target.load_state_dict(converted)
    return target


def _check_neuron(name: str, kind: str, neuron: Neuron, expected: dict) -> None:
    for setting, value in expected.items():
        if getattr(neuron, setting) != value:
            raise ValueError(f"{_layer(name)}SpikingJelly {kind} gives {setting}={value!r}, the pmsn "
                             f"{type(neuron).__name__} has {setting}={getattr(neuron, setting)!r}")


def _check_shape(key: str, expected: torch.Tensor, got) -> None:
    if tuple(got.shape) != tuple(expected.shape):
        raise ValueError(f"key {key!r}: expected shape {tuple(expected.shape)}, got {tuple(got.shape)}")
