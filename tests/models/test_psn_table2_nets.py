"""The PSN Table 2 networks (docs/tasks.md §5.3-5.5): layer structure, per-neuron parameter counts, input
encoding, shapes on the papers' input sizes and one-line input errors."""

import pytest
import torch
from torch import nn

from pmsn.models import build_model, count_parameters
from pmsn.neurons import PSN, SlidingPSN


def test_plif_net_structure_and_psn_overhead():
    model = build_model("plif_net", neuron="lif", width=16, T=4)
    assert [conv.in_channels for conv in model.convs] == [3, 16, 16, 16, 16, 16]
    assert all(conv.bias is None and conv.kernel_size == (3, 3) for conv in model.convs)
    assert isinstance(model.pool, nn.AvgPool2d)  # "modified": average pooling
    assert (model.fc1.in_features, model.fc1.out_features) == (16 * 8 * 8, 16 * 16)
    assert model.fc1.bias is not None and model.fc2.out_features == 10
    psn = build_model("plif_net", neuron="psn", width=16, T=4)
    assert sum(isinstance(m, PSN) for m in psn.modules()) == 7
    assert count_parameters(psn) - count_parameters(model) == 7 * (4 * 4 + 4)


def test_plif_net_repeats_the_image_and_averages_over_t():
    torch.manual_seed(0)
    model = build_model("plif_net", neuron="psn", width=8, T=4).eval()
    images = torch.randn(2, 3, 32, 32)
    encoded = model.time_first(images)
    assert encoded.shape == (4, 2, 3, 32, 32) and all(torch.equal(step, images) for step in encoded)
    with torch.no_grad():
        per_step = model(images, per_step=True)
        torch.testing.assert_close(model(images), per_step.mean(0))
    assert per_step.shape == (4, 2, 10)


def test_vgg11_structure_and_the_papers_200_parameter_overhead():
    base = build_model("vgg11", neuron="lif")
    psn = build_model("vgg11", neuron="psn", T=4)
    assert len(base.convs) == 8 and isinstance(base.pool, nn.MaxPool2d)
    assert [conv.out_channels for conv in base.convs] == [64, 128, 256, 256, 512, 512, 512, 512]
    assert count_parameters(base) == 132_868_840  # torchvision's vgg11_bn
    overhead = count_parameters(psn) - count_parameters(base)
    assert overhead == 200  # PSN paper Sec. 3.4: "+200 parameters" for VGG-11 at T = 4
    assert round(100 * overhead / count_parameters(base), 5) == 0.00015  # "... only 0.00015 %"
    plain = build_model("vgg11", neuron="lif", batch_norm=False)
    assert count_parameters(plain) == 132_863_336  # torchvision's vgg11
    assert all(isinstance(norm, nn.Identity) for norm in plain.norms)


def test_vgg11_forward_on_cifar_images():
    model = build_model("vgg11", neuron="psn", T=4, width_divisor=16, num_classes=10)
    assert model(torch.randn(2, 3, 32, 32), per_step=True).shape == (4, 2, 10)


def test_dvs_vgg_structure_and_sliding_psn_k2():
    model = build_model("dvs_vgg")
    assert [conv.out_channels for conv in model.convs] == [64, 128, 256, 256, 512, 512, 512, 512]
    assert model.convs[0].in_channels == 2 and all(conv.bias is not None for conv in model.convs)
    assert isinstance(model.pool, nn.AvgPool2d) and model.pool_after == [1, 3, 5, 7]
    assert (model.fc.in_features, model.fc.out_features) == (512 * 3 * 3, 10)
    neurons = [m for m in model.modules() if isinstance(m, SlidingPSN)]
    assert len(neurons) == 8 and all(n.order == 2 for n in neurons)
    torch.testing.assert_close(neurons[0].weight.detach(), torch.tensor([0.5, 1.0]))  # exp init
    torch.testing.assert_close(neurons[0].bias.detach(), torch.tensor(-1.0))
    # by hand: convs 9,219,904 + BN 2·2,752 + Linear 46,090 + 8 sliding PSN × 3
    assert count_parameters(model) == 9_219_904 + 5_504 + 46_090 + 8 * 3


def test_dvs_vgg_forward_on_48x48_event_frames():
    model = build_model("dvs_vgg", T=4, width_divisor=4)
    frames = torch.rand(2, 4, 2, 48, 48)  # [B, T, 2, 48, 48] as the cifar10dvs task yields it
    assert model(frames).shape == (2, 10) and model(frames, per_step=True).shape == (4, 2, 10)


@pytest.mark.parametrize("name, options, x, message", [
    ("plif_net", {"width": 4}, torch.zeros(2, 3, 16, 16), "expects 32×32 images"),
    ("plif_net", {"width": 4}, torch.zeros(2, 1, 32, 32), r"expects batch-first images \[B, 3, H, W\]"),
    ("dvs_vgg", {"width_divisor": 16}, torch.zeros(2, 4, 2, 32, 32), r"expects event frames \[B, T, 2, 48, 48\]"),
    ("vgg11", {"width_divisor": 32}, torch.zeros(2, 4, 32, 32), r"expects batch-first images \[B, 3, H, W\]"),
])
def test_wrong_input_shapes_are_one_line_errors(name, options, x, message):
    with pytest.raises(ValueError, match=message):
        build_model(name, **options)(x)


@pytest.mark.parametrize("name, options, message", [
    ("dvs_vgg", {"image_size": 40}, "multiple of 16"),
    ("vgg11", {"width_divisor": 3}, "width_divisor must divide 64"),
    ("plif_net", {"T": 0}, "T must be a positive int"),
])
def test_bad_options_are_one_line_errors(name, options, message):
    with pytest.raises(ValueError, match=message):
        build_model(name, **options)


@pytest.mark.parametrize("stem, steps, parameters", [
    ("psn_cifar10_plifnet", None, 70_113_174), ("sliding_psn_cifar10dvs_t4", 4, 9_271_522),
    ("sliding_psn_cifar10dvs_t8", 8, 9_271_522), ("sliding_psn_cifar10dvs_t10", 10, 9_271_522),
])
def test_table2_configs_resolve_to_the_paper_recipe_and_build(stem, steps, parameters):
    from pathlib import Path

    from pmsn.train.build import build_from_config
    from pmsn.train.config import resolve_config

    config = resolve_config(str(Path(__file__).resolve().parents[2] / "configs" / f"{stem}.yaml"))
    assert "PSN paper Table 2" in config.note
    assert config.optim.name == "sgd" and config.optim.lr == 0.1 and config.optim.momentum == 0.9 and config.amp
    if steps is None:  # static CIFAR-10: docs/training.md §4.3
        assert (config.data.task, config.epochs, config.batch_size, config.loss) == ("cifar10", 1024, 128, "ce")
        assert config.optim.weight_decay == 0.0 and config.model.options["T"] == 4
    else:  # CIFAR10-DVS
        assert (config.data.task, config.epochs, config.batch_size, config.loss) == ("cifar10dvs", 200, 32, "tet")
        assert config.optim.weight_decay == 5e-4
        assert config.data.options["steps"] == config.model.options["T"] == steps
    assert count_parameters(build_from_config(config)) == parameters


@pytest.mark.parametrize("depth, batch", [(18, 64), (34, 32)])
def test_table2_imagenet_psn_configs(depth, batch):
    from pathlib import Path

    from pmsn.train.config import resolve_config

    config = resolve_config(str(Path(__file__).resolve().parents[2] / "configs" / f"psn_sew{depth}_imagenet.yaml"))
    assert (config.model.name, config.model.neuron, config.batch_size) == (f"sew_resnet{depth}", "psn", batch)
    assert config.loss == "tet" and config.epochs == 320 and config.optim.neuron_groups == "none"
