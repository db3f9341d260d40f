"""pmsn: parallel spiking neurons (PMSN, TC-LIF, PSN family, LIF baselines) for PyTorch.

Every neuron maps ``x`` of shape ``[T, B, C, *spatial]`` to spikes of the same shape in one parallel call,
and offers ``neuron.step(x_t, state)`` as its serial definition; the two are tested equal.
"""

__version__ = "0.1.0"
