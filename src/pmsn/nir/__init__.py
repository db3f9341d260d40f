"""NIR (neuromorphic intermediate representation) export and import of pmsn networks (docs/nir.md).

    from pmsn.nir import to_nir, save, load
    graph = to_nir(model, dt=1e-3)              # a nir.NIRGraph: LIF / PLIF / IF, Linear / Conv / pooling
    save(model, "model.nir")                    # the same, written atomically (nir.read reads it)
    net = load("model.nir")                     # a SpikingSequential: net(x) with x of shape [T, B, *input_shape]

PMSN layers are refused with the reason and the measured gap of the closest NIR encoding (docs/nir.md §6).
Needs the ``nir`` package (the ``nir`` extra).
"""

from __future__ import annotations

try:
    import nir  # noqa: F401  (the optional dependency: fail here with the install hint)
except ModuleNotFoundError as error:  # pragma: no cover - the extra is installed in CI
    raise ModuleNotFoundError("pmsn.nir needs the `nir` package: pip install 'pmsn[nir]'") from error

from pmsn.nir.export import DEFAULT_DT, save, to_nir
from pmsn.nir.load import load
from pmsn.nir.network import Scale, SpikingSequential

__all__ = ["DEFAULT_DT", "to_nir", "save", "load", "SpikingSequential", "Scale"]
