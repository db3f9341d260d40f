"""Networks of the three papers, for any neuron of ``pmsn.neurons``.

    from pmsn.models import build_model, MODELS, count_parameters
    model = build_model("pmsn_smnist", neuron="pmsn", width=128)
    logits = model(x)                    # x batch-first, as a DataLoader yields it → [B, num_classes]
    per_step = model(x, per_step=True)   # [T, B, num_classes] (TET loss); logits = their mean (TC-LIF nets: sum)
"""

from pmsn.models.registry import MODELS, ModelSpec, ReferenceCount, build_model, count_parameters, model_options

__all__ = ["MODELS", "ModelSpec", "ReferenceCount", "build_model", "count_parameters", "model_options"]
