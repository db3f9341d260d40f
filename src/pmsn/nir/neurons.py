"""pmsn's LIF / PLIF / IF ↔ NIR's ``LIF`` / ``IF``: the parameter mapping that makes NIR's ODE, stepped by forward
Euler with the stored ``dt``, compute pmsn's discrete update exactly (derivation: docs/nir.md §3).

NIR LIF: τ·dv/dt = (v_leak − v) + r·I, fire when v > v_threshold, then v = v_reset. One Euler step of length dt:
    v[t] = v[t−1] + (dt/τ)·(v_leak − v[t−1] + r·I[t])
pmsn LIF with k = 1/τ_pmsn (docs/neurons.md §2.1):
    decay_input:      H[t] = V[t−1] + k·(V_rest − V[t−1] + X[t])          → τ = dt/k, r = 1,   v_leak = V_rest
    not decay_input:  H[t] = V[t−1] + k·(V_rest − V[t−1] + X[t]/k)       → τ = dt/k, r = 1/k, v_leak = V_rest
NIR IF: dv/dt = r·I, one Euler step v[t] = v[t−1] + dt·r·I[t]; pmsn IF H[t] = V[t−1] + X[t]   → r = 1/dt
"""

from __future__ import annotations

import nir
import numpy as np
import torch
from torch import nn

from pmsn.neurons import IF, LIF, PLIF
from pmsn.neurons.base import Neuron
from pmsn.nir.network import Scale

EXPORTABLE_NEURONS = (LIF, PLIF, IF)


def fires_above(threshold: float, strict: bool) -> float:
    """NIR fires on v > v_threshold; pmsn fires on v ≥ θ unless ``strict`` (docs/neurons.md §1.2). For ``≥`` the
    stored threshold is the largest float32 below θ, so ``v > it`` equals ``v ≥ θ`` for float32 potentials
    (docs/nir.md §2.3)."""
    if strict:
        return threshold
    return float(np.nextafter(np.float32(threshold), np.float32(-np.inf)))


def neuron_to_nir(name: str, neuron: Neuron, shape: tuple[int, ...], dt: float):
    """The ``nir.LIF`` (LIF, PLIF) or ``nir.IF`` (IF) node of a pmsn neuron layer of per-step shape ``shape``
    (docs/nir.md §3.1-3.2, §3.4)."""
    kind = type(neuron).__name__
    if type(neuron) not in EXPORTABLE_NEURONS:  # not isinstance: a subclass may change the update (KLIF)
        raise ValueError(f"layer {name!r} ({kind}): no NIR neuron primitive computes it; NIR export supports "
                         f"{', '.join(c.__name__ for c in EXPORTABLE_NEURONS)} (docs/nir.md §5)")
    if neuron.reset != "hard":
        raise ValueError(f"layer {name!r} ({kind}, reset={neuron.reset!r}): NIR's neurons always reset to v_reset "
                         f"(a hard reset); a subtracting reset or none has no NIR neuron primitive (docs/nir.md §2.4)")
    if neuron.v_reset != 0.0:
        raise ValueError(f"layer {name!r} ({kind}): v_reset must be 0 for NIR export, got {neuron.v_reset}; pmsn "
                         f"starts at v_reset, NIR simulators at 0 (docs/nir.md §2.4)")

    def full(value: float) -> np.ndarray:
        return np.full(shape, value, dtype=np.float64)

    threshold = full(fires_above(neuron.threshold, neuron.strict))
    if type(neuron) is IF:
        return nir.IF(r=full(1.0 / dt), v_threshold=threshold, v_reset=full(0.0))
    k = neuron.inverse_tau()  # LIF: 1/τ, a float; PLIF: σ(w), a float32 tensor (exact as a float64)
    k = float(k.detach()) if isinstance(k, torch.Tensor) else float(k)
    resistance = 1.0 if neuron.decay_input else 1.0 / k
    return nir.LIF(tau=full(dt / k), r=full(resistance), v_leak=full(neuron.v_rest), v_threshold=threshold,
                   v_reset=full(0.0))


def _uniform(name: str, node, field: str) -> float:
    values = np.unique(np.asarray(getattr(node, field), dtype=np.float64))
    if values.size != 1:
        raise ValueError(f"NIR node {name!r} ({type(node).__name__}): pmsn neurons share {field} over a layer, "
                         f"got {values.size} different values")
    if not np.isfinite(values[0]):
        raise ValueError(f"NIR node {name!r} ({type(node).__name__}): {field} must be finite, got {values[0]}")
    return float(values[0])


def neuron_from_nir(name: str, node, dt: float) -> list[nn.Module]:
    """pmsn layers computing a ``nir.LIF`` or ``nir.IF`` node stepped by forward Euler with ``dt`` (docs/nir.md
    §3.3-3.4): the neuron, preceded by a ``Scale`` when the input gain is not one of the neuron's own forms."""
    kind = type(node).__name__
    threshold, v_reset = _uniform(name, node, "v_threshold"), _uniform(name, node, "v_reset")
    if v_reset != 0.0:
        raise ValueError(f"NIR node {name!r} ({kind}): pmsn's neurons start at v_reset, NIR simulators at 0, so "
                         f"only v_reset = 0 imports exactly; got {v_reset} (docs/nir.md §2.4)")
    resistance = np.asarray(node.r, dtype=np.float64)
    if isinstance(node, nir.IF):  # v += dt·r·I: pmsn's IF adds its input, so the gain is dt·r
        gain = dt * resistance
        scale = [] if np.allclose(gain, 1.0, rtol=1e-6, atol=0.0) else [Scale(gain)]
        return scale + [IF(threshold=threshold, reset="hard", v_reset=0.0, strict=True)]
    tau, v_leak = _uniform(name, node, "tau"), _uniform(name, node, "v_leak")
    steps = tau / dt  # τ in time steps (pmsn's τ)
    if not steps >= 1.0:
        raise ValueError(f"NIR node {name!r} (LIF): tau/dt must be >= 1 (an Euler step of dt/τ > 1 overshoots "
                         f"v_leak; pmsn's LIF needs τ >= 1 step), got tau={tau}, dt={dt}")
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
