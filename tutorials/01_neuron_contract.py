"""Tutorial 1: the neuron contract, one parallel call and one step, equal to the last spike.

Every neuron in pmsn has two ways to run (docs/neurons.md §1.1):

    spikes = neuron(x)                     # x: [T, B, C, *spatial], all T steps at once (the fast path)
    s_t, state = neuron.step(x_t, state)   # x_t: [B, C, *spatial], one step (the definition)

This script builds each causal neuron, runs both ways on the same input and checks that they agree: the same
spikes and the same gradients. It then shows the typed state that ``step`` carries, and the PMSN-specific
views (the hidden linear system and its impulse response, docs/pmsn.md §2-3).

Run:  python tutorials/01_neuron_contract.py [--smoke]
"""

from __future__ import annotations

import argparse

import torch

from pmsn.neurons import NEURONS, PMSN, build_neuron


def compare(name: str, steps: int, batch: int, channels: int) -> None:
    """Run ``name`` in parallel and step by step on one input; the spikes and input gradients must agree."""
    torch.manual_seed(0)
    neuron = build_neuron(name, channels=channels, T=steps).double()
    x = (torch.randn(steps, batch, channels, dtype=torch.float64) * 1.5).requires_grad_()

    spikes = neuron(x)                               # parallel: [T, B, C]
    (grad_parallel,) = torch.autograd.grad(spikes.sum(), x)

    state, serial = None, []
    for x_t in x.unbind(0):                          # unbind, not x[t]: keeps backward linear in T
        s_t, state = neuron.step(x_t, state)
        serial.append(s_t)
    serial = torch.stack(serial)
    (grad_serial,) = torch.autograd.grad(serial.sum(), x)

    assert torch.equal(spikes, serial), f"{name}: parallel and step spikes differ"
    assert torch.allclose(grad_parallel, grad_serial, atol=1e-10), f"{name}: gradients differ"
    print(f"{name:12s} rate {spikes.mean().item():.3f}  spikes equal, gradients equal  "
          f"state: {type(state).__name__}({', '.join(state._fields)})")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes (seconds), as the tests run it")
    args = parser.parse_args(argv)
    steps, batch, channels = (12, 2, 3) if args.smoke else (128, 8, 16)

    # PSN is not causal (its T x T weight looks ahead), so it has no step; every other neuron does.
    for name in NEURONS:
        if name != "psn":
            compare(name, steps, batch, channels)

    # PMSN's hidden compartments are a linear system (docs/pmsn.md §2): n-1 complex modes per channel.
    pmsn = PMSN(channels=channels, compartments=5)
    decay, input_gain, readout = pmsn.modal_system()   # Ā, B̄, C̃: [C, n-1] complex (docs/pmsn.md §3.1)
    print(f"PMSN modes per channel: {decay.shape[-1]}, |decay| in "
          f"[{decay.abs().min().item():.3f}, {decay.abs().max().item():.3f}] (all < 1: stable)")
    kernel = pmsn.kernel(steps)                      # the impulse response the FFT path convolves with
    print(f"PMSN kernel shape {tuple(kernel.shape)}; the parallel path's choice on this input: "
          f"{pmsn.chosen_path(torch.zeros(steps, batch, channels))}")


if __name__ == "__main__":
    main()
