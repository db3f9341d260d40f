"""Tiny forward/backward passes of every network with every neuron kind (shapes, per-step outputs, gradients)."""

import pytest
import torch

from pmsn.models import MODELS, build_model
from pmsn.neurons import NEURONS

# tiny configurations: (options, batch-first input); T is the number of steps the input has
TINY = {
    "pmsn_smnist": (dict(width=8, depth=2, T=12), lambda: torch.rand(3, 12, 1), 10),
    "pmsn_scifar_pixel": (dict(width=8, depth=2, T=16), lambda: torch.randn(3, 3, 4, 4), 10),
    "scifar_column": (dict(width=4, T=8, rows=8, num_classes=7), lambda: torch.randn(3, 8, 3, 8), 7),
    "pmsn_shd": (dict(width=8, T=10, input_size=20, pool=5, num_classes=35), lambda: torch.rand(3, 10, 20), 35),
    "tclif_ff": (dict(hidden=(8, 6, 5), T=10), lambda: torch.rand(3, 10, 1), 10),
    "tclif_rec": (dict(preset="shd", hidden=(6, 5), T=10, input_size=9), lambda: torch.rand(3, 10, 9) * 2, 20),
    "sew_resnet18": (dict(width_divisor=16, T=2, num_classes=5), lambda: torch.randn(2, 3, 16, 16), 5),
    "sew_resnet34": (dict(width_divisor=32, T=2, num_classes=5), lambda: torch.randn(2, 3, 8, 8), 5),
    "plif_net": (dict(width=4, T=2, num_classes=5), lambda: torch.randn(2, 3, 32, 32), 5),
    "vgg11": (dict(width_divisor=32, T=2, num_classes=5), lambda: torch.randn(2, 3, 32, 32), 5),
    "dvs_vgg": (dict(width_divisor=16, T=3, image_size=16), lambda: torch.rand(2, 3, 2, 16, 16), 10),
}
CASES = [(name, neuron) for name in TINY for neuron in sorted(NEURONS)
         if not (name == "tclif_rec" and neuron in ("psn", "masked_psn"))  # cannot be stepped while training
         and not (name == "sew_resnet34" and neuron != "pmsn")]  # SEW-18 covers the block code


def build_tiny(name, neuron):
    options, make_input, classes = TINY[name]
    kwargs = {"path": "fft"} if neuron == "pmsn" else {}  # no C++ build inside the test run
    torch.manual_seed(0)
    return build_model(name, neuron=neuron, neuron_kwargs=kwargs, **options), make_input(), classes


def steps_of(name, x, model):
    return model.steps if name.startswith(("sew", "plif_net", "vgg11")) else (x.shape[1] if name == "scifar_column" else
                                                      x.shape[2] * x.shape[3] if x.dim() == 4 else x.shape[1])


NON_SPIKING = {"lstm"}  # no neuron to vary: tests/models/test_lstm.py


def test_every_model_is_covered():
    assert set(TINY) | NON_SPIKING == set(MODELS)


@pytest.mark.parametrize("name, neuron", CASES)
def test_forward_shapes_per_step_and_backward(name, neuron):
    model, x, classes = build_tiny(name, neuron)
    logits = model(x)
    per_step = model(x, per_step=True)
    assert logits.shape == (x.shape[0], classes)
    assert per_step.shape == (steps_of(name, x, model), x.shape[0], classes)
    logits.square().mean().backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)
    first_weight = next(p for n, p in model.named_parameters() if n.endswith("weight"))
    assert first_weight.grad is not None  # gradient reaches the input layer through every neuron


@pytest.mark.parametrize("name", sorted(TINY))
def test_logits_are_the_time_reduction_of_per_step_outputs(name):
    model, x, _ = build_tiny(name, "lif")
    model.eval()
    with torch.no_grad():
        logits, per_step = model(x), model(x, per_step=True)
    reduced = per_step.sum(0) if name.startswith("tclif") else per_step.mean(0)
    torch.testing.assert_close(logits, reduced)


def test_pixel_net_reads_images_in_raster_order():
    model, _, _ = build_tiny("pmsn_scifar_pixel", "lif")
    model.eval()
    images = torch.randn(2, 3, 4, 4)
    sequence = images.permute(0, 2, 3, 1).reshape(2, 16, 3)  # step t = RGB of pixel t, row-major
    torch.testing.assert_close(model(images), model(sequence))


def test_sew_input_is_the_image_repeated_plus_a_per_step_offset():
    model, x, _ = build_tiny("sew_resnet18", "lif")
    with torch.no_grad():
        model.pe.copy_(torch.tensor([0.5, -1.0]).view(2, 1, 1, 1, 1))
    encoded = model.time_first(x)
    assert encoded.shape == (2, *x.shape)
    torch.testing.assert_close(encoded[0], x + 0.5)
    torch.testing.assert_close(encoded[1], x - 1.0)


@pytest.mark.parametrize("name, bad", [
    ("pmsn_smnist", torch.rand(2, 12, 3)),
    ("pmsn_shd", torch.rand(2, 700, 10)[:, :, :7]),
    ("scifar_column", torch.rand(2, 32, 1, 32)),
    ("sew_resnet18", torch.rand(2, 32, 32)),
    ("tclif_ff", torch.rand(2, 5, 40)),
])
def test_wrong_input_shape_is_a_clear_value_error(name, bad):
    with pytest.raises(ValueError, match="expects"):
        build_model(name, neuron="lif")(bad)


def test_build_errors_name_what_was_expected():
    with pytest.raises(ValueError, match="unknown model"):
        build_model("resnet")
    with pytest.raises(ValueError, match="unknown neuron"):
        build_model("pmsn_smnist", neuron="izhikevich")
    with pytest.raises(TypeError, match="does not take"):
        build_model("pmsn_smnist", width_divisor=2)
    with pytest.raises(ValueError, match="multiple of 4"):
        build_model("pmsn_scifar_pixel", width=10)
    for neuron in ("psn", "masked_psn"):
        with pytest.raises(ValueError, match=f"{neuron} cannot be stepped"):
            build_model("tclif_rec", neuron=neuron)
    with pytest.raises(ValueError, match="unknown TC-LIF net preset"):
        build_model("tclif_ff", preset="timit")
    with pytest.raises(ValueError, match="hidden"):
        build_model("tclif_ff", preset="gsc", hidden=(4, 4, 4))
    with pytest.raises(TypeError, match="torch.Tensor"):
        build_model("pmsn_shd", neuron="lif")([[0.0]])
