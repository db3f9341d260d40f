"""Parameter counts of every registered model equal the exact counts of docs/tasks.md §2.8."""

import pytest

from pmsn.models import MODELS, build_model, count_parameters

REFERENCES = [(name, ref) for name, spec in MODELS.items() for ref in spec.references]


@pytest.mark.parametrize("name, ref", REFERENCES, ids=[f"{n}-{r.neuron}-{r.label}" for n, r in REFERENCES])
def test_count_equals_spec(name, ref):
    model = build_model(name, neuron=ref.neuron, **dict(ref.options))
    assert count_parameters(model) == ref.ours
    if ref.paper is not None and ref.matches_paper:
        assert abs(ref.ours - ref.paper) <= 0.02 * ref.paper


def test_build_model_defaults_are_the_first_reference():
    for name, spec in MODELS.items():
        first = spec.references[0]
        assert first.neuron == spec.neuron
        assert count_parameters(build_model(name)) == first.ours, name
        assert spec.paper_params == first.paper


def test_per_neuron_parameter_counts_inside_nets():
    # PMSN: 26 per channel (n = 5); TC-LIF: 2 per layer; the rest of the net is neuron-free
    base = count_parameters(build_model("pmsn_smnist", neuron="lif"))
    assert base == 52_106
    assert count_parameters(build_model("pmsn_smnist", neuron="pmsn")) - base == 4 * 26 * 128
    assert count_parameters(build_model("pmsn_smnist", neuron="plif")) - base == 4
    assert count_parameters(build_model("pmsn_smnist", neuron="alif")) - base == 4 * 2 * 128
    assert count_parameters(build_model("pmsn_smnist", neuron="tclif")) - base == 4 * 2
    assert count_parameters(build_model("pmsn_smnist", neuron="sliding_psn")) - base == 4 * 33
    assert count_parameters(build_model("pmsn_smnist", neuron="psn", T=20)) - base == 4 * (20 * 20 + 20)
    pmsn3 = build_model("pmsn_smnist", neuron="pmsn", neuron_kwargs={"compartments": 3})
    assert count_parameters(pmsn3) - base == 4 * (2 + 6 * 2) * 128


def test_column_net_linear_bias_depends_on_neuron():
    pmsn_net, lif_net = build_model("scifar_column", neuron="pmsn"), build_model("scifar_column", neuron="lif")
    assert pmsn_net.fc1.bias is None and pmsn_net.fc2.bias is None
    assert lif_net.fc1.bias is not None and lif_net.fc2.bias is not None
    forced = build_model("scifar_column", neuron="pmsn", linear_bias=True)
    assert count_parameters(forced) == 539_776 + 256 + 10


def test_pixel_net_builds_no_unused_convs():
    model = build_model("pmsn_scifar_pixel", depth=3)
    assert len(model.stage1.convs) == 2 and len(model.stage2.convs) == 2


def test_sew_resnet_uses_torchvision_names():
    names = set(dict(build_model("sew_resnet18", neuron="lif", width_divisor=8).named_parameters()))
    for expected in ("conv1.weight", "bn1.weight", "layer1.0.conv1.weight", "layer2.0.downsample.0.weight",
                     "layer2.0.downsample.1.bias", "layer4.1.bn2.weight", "fc.weight", "fc.bias", "pe"):
        assert expected in names
