"""Why a PMSN layer is not exported to NIR, and how far the closest NIR encoding is from it (docs/nir.md §6).

The hidden compartments are a linear system, which NIR expresses exactly (an integrator with affine feedback over
2(n − 1) real states). The soma, v[t] = r[t−1] + ReLU(κ·Y[t]), S[t] = [v ≥ θ], r[t] = v mod θ (docs/pmsn.md
§5.2), is not: NIR has no ReLU, and its neurons reset to a fixed v_reset. The closest NIR encoding integrates κ·Y
and subtracts θ one step after each spike (an integrator, a threshold and a feedback edge), which is PMSN eq. 11,
``SoftResetPMSN``. ``encoding_agreement`` measures how far its spikes are from PMSN's.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from pmsn.neurons import PMSN, SoftResetPMSN

# encoding_agreement on the shipped network and its 1,000 test digits (docs/nir.md §6.2)
MEASURED = ("on the shipped S-MNIST network it keeps only 10-48 % of each layer's spikes and 87 % of the test "
            "digits change class")


def pmsn_refusal(name: str, neuron: PMSN) -> str:
    """The one-line error for exporting the PMSN layer (or ablation variant) ``neuron`` named ``name``."""
    if type(neuron) is not PMSN:
        return (f"layer {name!r} ({type(neuron).__name__}, a PMSN ablation variant) cannot be exported to NIR: the "
                f"exporter writes no PMSN hidden system (an integrator with an affine feedback loop) and maps only "
                f"the paper's PMSN soma, which it refuses (docs/nir.md §6)")
    return (f"layer {name!r} (PMSN) cannot be exported to NIR: its hidden compartments map onto NIR exactly, but its "
            f"soma (ReLU clamp of the input, at most one spike per step, keep the remainder v mod θ) has no NIR "
            f"primitive; the closest NIR encoding (integrate κ·Y, subtract θ after a spike, PMSN eq. 11) computes "
            f"other spikes ({MEASURED}), so pmsn refuses instead of exporting them (docs/nir.md §6)")


def nir_encodable_twin(neuron: PMSN) -> SoftResetPMSN:
    """The same neuron (same parameters) with the soma the closest NIR encoding computes (PMSN eq. 11)."""
    twin = SoftResetPMSN(neuron.channels, neuron.compartments, threshold=neuron.threshold, scale=neuron.scale,
                         surrogate=neuron.surrogate, strict=neuron.strict)
    twin.load_state_dict(neuron.state_dict())
    return twin


@torch.no_grad()
def encoding_agreement(model: nn.Module, inputs: torch.Tensor) -> dict:
    """How close the NIR encoding of every PMSN layer of ``model`` (in eval mode) comes, on batch-first ``inputs``:

    * ``layers[name]``: with the PMSN layer's own input, ``equal`` = fraction of entries (steps × samples ×
      channels) where both fire or both stay silent; ``pmsn_rate`` / ``encoding_rate`` = fraction of entries that
      fire; ``kept`` = fraction of PMSN's spikes the encoding also fires;
    * ``predictions``: fraction of samples whose predicted class is unchanged when every PMSN layer is replaced.
    """
    model = model.eval()
    neurons = {name: module for name, module in model.named_modules() if type(module) is PMSN}
    if not neurons:
        raise ValueError(f"{type(model).__name__} has no PMSN layer to compare")
    layer_inputs = {}
    hooks = [module.register_forward_hook(lambda module, args, out, name=name: layer_inputs.__setitem__(name, args[0]))
             for name, module in neurons.items()]
    try:
        reference = model(inputs).argmax(-1)
    finally:
        for hook in hooks:
            hook.remove()
    layers = {}
    for name, module in neurons.items():
        pmsn_spikes = module(layer_inputs[name]).bool()
        encoded = nir_encodable_twin(module)(layer_inputs[name]).bool()
        layers[name] = {"equal": (encoded == pmsn_spikes).double().mean().item(),
                        "pmsn_rate": pmsn_spikes.double().mean().item(),
                        "encoding_rate": encoded.double().mean().item(),
                        "kept": (encoded & pmsn_spikes).sum().item() / max(pmsn_spikes.sum().item(), 1)}
    encoded_model = copy.deepcopy(model)
    for name in neurons:
        parent, _, child = name.rpartition(".")
        setattr(encoded_model.get_submodule(parent) if parent else encoded_model, child,
                nir_encodable_twin(neurons[name]))
    predictions = (encoded_model(inputs).argmax(-1) == reference).double().mean().item()
    return {"layers": layers, "predictions": predictions}
