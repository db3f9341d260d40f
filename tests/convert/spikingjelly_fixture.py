"""The SpikingJelly 2.0.0 fixture of docs/convert.md §6: real SpikingJelly layers' state dicts (exact key names,
shapes, dtypes), their settings, an input, SpikingJelly's output spikes and input gradient.

    python tests/convert/spikingjelly_fixture.py     # rewrites data/spikingjelly_2_0_0.pt (needs spikingjelly)

Settings are plain values (weights_only loading); a surrogate is stored as (class name, α).
"""

from __future__ import annotations

from pathlib import Path

import torch

FIXTURE = Path(__file__).parent / "data" / "spikingjelly_2_0_0.pt"
T, BATCH, FEATURES = 6, 2, 3

# name → (SpikingJelly class, its constructor settings); the surrogate as (class name, α), None for the default
LAYERS = {
    "lif_hard": ("LIFNode", dict(tau=1.5, v_reset=-0.25)),
    "lif_soft": ("LIFNode", dict(tau=2.0, decay_input=False, v_threshold=0.5, v_reset=None, detach_reset=True,
                                 surrogate_function=("ATan", 3.0))),
    "plif": ("ParametricLIFNode", dict(v_reset=None, surrogate_function=("Sigmoid", 2.0))),
    "psn": ("PSN", dict(T=T)),
    "masked_psn_lambda_0": ("MaskedPSN", dict(k=3, T=T, lambda_init=0.0)),
    "masked_psn_lambda_0.5": ("MaskedPSN", dict(k=3, T=T, lambda_init=0.5)),
    "masked_psn_lambda_1": ("MaskedPSN", dict(k=3, T=T, lambda_init=1.0)),
    "masked_psn_lambda_1.5": ("MaskedPSN", dict(k=2, T=T, lambda_init=1.5)),
    "masked_psn_k1": ("MaskedPSN", dict(k=1, T=T, lambda_init=1.0)),
    "masked_psn_kT": ("MaskedPSN", dict(k=T, T=T, lambda_init=1.0)),
    "sliding_psn": ("SlidingPSN", dict(k=3, exp_init=False)),
    "sliding_psn_longer_than_T": ("SlidingPSN", dict(k=T + 2)),
}
# nn.Sequential(layer.Linear(3, 8), <1>, layer.Linear(8, 8), <3>, layer.Linear(8, 4), <5>)
NETWORK = {"1": ("ParametricLIFNode", dict(v_reset=None, detach_reset=True)), "3": ("LIFNode", dict(tau=2.0)),
           "5": ("PSN", dict(T=T))}


def spikingjelly_layer(kind: str, settings: dict):
    """The SpikingJelly module for (class name, fixture settings), multi-step."""
    from spikingjelly.activation_based import neuron, surrogate

    settings = dict(settings)
    if "surrogate_function" in settings:
        name, alpha = settings["surrogate_function"]
        settings["surrogate_function"] = getattr(surrogate, name)(alpha=alpha)
    if kind != "PSN":
        settings["step_mode"] = "m"
    return getattr(neuron, kind)(**settings)


def spikingjelly_network():
    from spikingjelly.activation_based import functional, layer

    sizes = [(FEATURES, 8), (8, 8), (8, 4)]
    modules = []
    for index, (n_in, n_out) in enumerate(sizes):
        modules += [layer.Linear(n_in, n_out), spikingjelly_layer(*NETWORK[str(2 * index + 1)])]
    network = torch.nn.Sequential(*modules)
    functional.set_step_mode(network, "m")
    return network


def randomise(module: torch.nn.Module) -> None:
    """New parameter values (trained weights differ from the init): N(0, 4/fan-in) for linear weights, N(0, 0.5²)
    for everything else."""
    with torch.no_grad():
        for owner in module.modules():
            for name, parameter in owner.named_parameters(recurse=False):
                linear = isinstance(owner, torch.nn.Linear) and name == "weight"
                parameter.copy_(torch.randn_like(parameter) * (2.0 / owner.in_features ** 0.5 if linear else 0.5))


def record(module: torch.nn.Module, x: torch.Tensor) -> dict:
    """SpikingJelly's spikes and the input gradient of sum(spikes · upstream), from a fresh state."""
    from spikingjelly.activation_based import functional

    functional.reset_net(module)
    x = x.clone().requires_grad_()
    spikes = module(x)
    upstream = torch.randn_like(spikes)
    (spikes * upstream).sum().backward()
    functional.reset_net(module)
    return {"input": x.detach(), "spikes": spikes.detach(), "upstream": upstream, "input_grad": x.grad}


def make_fixture() -> dict:
    torch.manual_seed(2026)
    fixture = {"layers": {}, "network": {}}
    for name, (kind, settings) in LAYERS.items():
        module = spikingjelly_layer(kind, settings)
        randomise(module)
        x = torch.randn(T, BATCH, FEATURES) * 3.0
        fixture["layers"][name] = {"kind": kind, "settings": settings, "state_dict": module.state_dict(),
                                   **record(module, x)}
    network = spikingjelly_network()
    randomise(network)
    fixture["network"] = {"layers": NETWORK, "state_dict": network.state_dict(),
                          **record(network, torch.randn(T, BATCH, FEATURES) * 3.0)}
    return fixture


if __name__ == "__main__":
    from pmsn.io import atomic_torch_save

    atomic_torch_save(make_fixture(), FIXTURE)
    print(f"wrote {FIXTURE} ({FIXTURE.stat().st_size} bytes)")
