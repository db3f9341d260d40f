"""Weight import from other spiking-network libraries (docs/convert.md)."""

from pmsn.convert.spikingjelly import from_spikingjelly, neuron_from_spikingjelly

__all__ = ["from_spikingjelly", "neuron_from_spikingjelly"]
