"""pmsn's LIF / PLIF ↔ NIR's ``LIF``: the parameter mapping that makes NIR's ODE, stepped by forward Euler with
the stored ``dt``, compute pmsn's discrete update exactly (derivation: docs/nir.md §3).

NIR LIF: τ·dv/dt = (v_leak − v) + r·I, fire when v > v_threshold, then v = v_reset. One Euler step of length dt:
    v[t] = v[t−1] + (dt/τ)·(v_leak − v[t−1] + r·I[t])
pmsn LIF with k = 1/τ_pmsn (docs/neurons.md §2.1):
    decay_input:      H[t] = V[t−1] + k·(V_rest − V[t−1] + X[t])          → τ = dt/k, r = 1,   v_leak = V_rest
    not decay_input:  H[t] = V[t−1] + k·(V_rest − V[t−1] + X[t]/k)       → τ = dt/k, r = 1/k, v_leak = V_rest
"""

from __future__ import annotations

import nir
import numpy as np
import torch
from torch import nn

from pmsn.neurons import LIF, PLIF
from pmsn.neurons.base import Neuron
from pmsn.nir.network import Scale

EXPORTABLE_NEURONS = (LIF, PLIF)


def fires_above(threshold: float, strict: bool) -> float:
    """NIR fires on v > v_threshold; pmsn fires on v ≥ θ unless ``strict`` (docs/neurons.md §1.2). For ``≥`` the
    stored threshold is the largest float32 below θ, so ``v > it`` equals ``v ≥ θ`` for float32 potentials
    (docs/nir.md §2.3)."""
    if strict:
        return threshold
    return float(np.nextafter(np.float32(threshold), np.float32(-np.inf)))


def neuron_to_nir(name: str, neuron: Neuron, shape: tuple[int, ...], dt: float):
    """The ``nir.LIF`` node of a pmsn LIF/PLIF layer of per-step shape ``shape`` (docs/nir.md §3.1-3.2)."""
    kind = type(neuron).__name__
    if not isinstance(neuron, EXPORTABLE_NEURONS):
        raise ValueError(f"layer {name!r} ({kind}): no NIR neuron primitive computes it; NIR export supports "
                         f"{', '.join(c.__name__ for c in EXPORTABLE_NEURONS)} (docs/nir.md §5)")
    if neuron.reset != "hard":
        raise ValueError(f"layer {name!r} ({kind}, reset={neuron.reset!r}): NIR's LIF always resets to v_reset "
                         f"(a hard reset); a subtracting reset or none has no NIR neuron primitive (docs/nir.md §2.4)")
    if neuron.v_reset != 0.0:
        raise ValueError(f"layer {name!r} ({kind}): v_reset must be 0 for NIR export, got {neuron.v_reset}; pmsn "
                         f"starts at v_reset, NIR simulators at 0 (docs/nir.md §2.4)")
    k = neuron.inverse_tau()  # LIF: 1/τ, a float; PLIF: σ(w), a float32 tensor (exact as a float64)
    k = float(k.detach()) if isinstance(k, torch.Tensor) else float(k)
    tau = dt / k
    resistance = 1.0 if neuron.decay_input else 1.0 / k

    def full(value: float) -> np.ndarray:
        return np.full(shape, value, dtype=np.float64)

    return nir.LIF(tau=full(tau), r=full(resistance), v_leak=full(neuron.v_rest),
                   v_threshold=full(fires_above(neuron.threshold, neuron.strict)), v_reset=full(0.0))


def _uniform(name: str, node, field: str) -> float:
    values = np.unique(np.asarray(getattr(node, field), dtype=np.float64))
    if values.size != 1:
        raise ValueError(f"NIR node {name!r} ({type(node).__name__}): pmsn neurons share {field} over a layer, "
                         f"got {values.size} different values")
    if not np.isfinite(values[0]):
        raise ValueError(f"NIR node {name!r} ({type(node).__name__}): {field} must be finite, got {values[0]}")
    return float(values[0])


def neuron_from_nir(name: str, node, dt: float) -> list[nn.Module]:
    """pmsn layers computing a ``nir.LIF`` node stepped by forward Euler with ``dt`` (docs/nir.md §3.3): a LIF,
    preceded by a ``Scale`` when the resistance r is neither 1 nor τ/dt."""
    tau, v_leak = _uniform(name, node, "tau"), _uniform(name, node, "v_leak")
    threshold, v_reset = _uniform(name, node, "v_threshold"), _uniform(name, node, "v_reset")
    if v_reset != 0.0:
        raise ValueError(f"NIR node {name!r} (LIF): pmsn's LIF starts at v_reset, NIR simulators at 0, so only "
                         f"v_reset = 0 imports exactly; got {v_reset} (docs/nir.md §2.4)")
    steps = tau / dt  # τ in time steps (pmsn's τ)
    if not steps >= 1.0:
        raise ValueError(f"NIR node {name!r} (LIF): tau/dt must be >= 1 (an Euler step of dt/τ > 1 overshoots "
                         f"v_leak; pmsn's LIF needs τ >= 1 step), got tau={tau}, dt={dt}")
    resistance = np.asarray(node.r, dtype=np.float64)
    layers: list[nn.Module] = []
    if np.all(resistance == 1.0):
        decay_input = True
    elif np.allclose(resistance, steps, rtol=1e-6, atol=0.0):  # r·dt/τ = 1: the input is added undecayed
        decay_input = False
    else:
        layers.append(Scale(resistance))
        decay_input = True
    layers.append(LIF(tau=steps, threshold=threshold, reset="hard", v_reset=0.0, v_rest=v_leak,
                      decay_input=decay_input, strict=True))
    return layers
