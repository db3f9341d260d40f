"""``pretrained=PATH``: torchvision-format ResNet-18/34 weights into SEW-ResNet (docs/tasks.md §2.6.1).

The source state dicts are written here from torchvision's ResNet layout by rule (names and shapes), not from
pmsn's model, so a wrong name or shape in either is caught.
"""

import os
import warnings
from pathlib import Path

import pytest
import torch

from pmsn.models import build_model
from pmsn.models.resnet_weights import load_resnet_weights
from pmsn.train.build import build_from_config
from pmsn.train.config import resolve_config

CONFIG_DIR = Path(__file__).resolve().parents[2] / "configs"
DEPTHS = {18: (2, 2, 2, 2), 34: (3, 4, 6, 3)}
DIVISOR = 8  # channels 8, 16, 32, 64: small and fast


def _bn(prefix, channels, generator):
    return {f"{prefix}.weight": torch.rand(channels, generator=generator) + 0.5,
            f"{prefix}.bias": torch.randn(channels, generator=generator),
            f"{prefix}.running_mean": torch.randn(channels, generator=generator),
            f"{prefix}.running_var": torch.rand(channels, generator=generator) + 0.5,
            f"{prefix}.num_batches_tracked": torch.tensor(12345)}


def torchvision_resnet_state(depth, classes=10, divisor=DIVISOR, seed=0):
    """torchvision's ResNet-{18,34} (BasicBlock) state dict with random values, channels divided by ``divisor``."""
    generator = torch.Generator().manual_seed(seed)
    planes = [64 // divisor, 128 // divisor, 256 // divisor, 512 // divisor]
    state = {"conv1.weight": torch.randn(planes[0], 3, 7, 7, generator=generator), **_bn("bn1", planes[0], generator)}
    inplanes = planes[0]
    for stage, (width, blocks) in enumerate(zip(planes, DEPTHS[depth]), start=1):
        for block in range(blocks):
            prefix = f"layer{stage}.{block}"
            state[f"{prefix}.conv1.weight"] = torch.randn(width, inplanes, 3, 3, generator=generator)
            state.update(_bn(f"{prefix}.bn1", width, generator))
            state[f"{prefix}.conv2.weight"] = torch.randn(width, width, 3, 3, generator=generator)
            state.update(_bn(f"{prefix}.bn2", width, generator))
            if block == 0 and stage > 1:
                state[f"{prefix}.downsample.0.weight"] = torch.randn(width, inplanes, 1, 1, generator=generator)
                state.update(_bn(f"{prefix}.downsample.1", width, generator))
            inplanes = width
    state["fc.weight"] = torch.randn(classes, planes[3], generator=generator)
    state["fc.bias"] = torch.randn(classes, generator=generator)
    return state


def _fresh(depth, neuron="pmsn", classes=10):
    torch.manual_seed(1)
    return build_model(f"sew_resnet{depth}", neuron=neuron, num_classes=classes, T=2, width_divisor=DIVISOR)


def _not_loaded(model):
    return {name: tensor.clone() for name, tensor in model.state_dict().items()}


@pytest.mark.parametrize("depth, neuron", [(18, "pmsn"), (34, "psn"), (18, "lif")])
def test_every_tensor_is_copied_and_neurons_keep_their_init(tmp_path, depth, neuron):
    source = torchvision_resnet_state(depth)
    path = tmp_path / "resnet.pth"
    torch.save(source, path)
    before = _not_loaded(_fresh(depth, neuron))
    torch.manual_seed(1)  # as in _fresh: the neurons and pe must come out as without weights
    model = build_model(f"sew_resnet{depth}", neuron=neuron, num_classes=10, T=2, width_divisor=DIVISOR,
                        pretrained=str(path))
    after = model.state_dict()
    assert len(source) == {18: 122, 34: 218}[depth]  # torchvision: 20 / 36 convs, as many BNs (5 each), fc
    for name, tensor in source.items():
        assert torch.equal(after[name], tensor.to(after[name].dtype)), name
    others = set(after) - set(source)
    assert "pe" in others and any(".sn1." in name for name in others) == (neuron != "lif")  # LIF: no parameters
    for name in others:
        assert torch.equal(after[name], before[name]), name


@pytest.mark.parametrize("wrap", ["state_dict", "model", "module."])
def test_wrapped_and_ddp_prefixed_state_dicts(tmp_path, wrap):
    source = torchvision_resnet_state(18)
    stored = {f"module.{k}": v for k, v in source.items()} if wrap == "module." else {wrap: source, "epoch": 90}
    torch.save(stored, tmp_path / "w.pth")
    model = _fresh(18)
    copied = load_resnet_weights(model, tmp_path / "w.pth")
    assert sorted(copied) == sorted(source)
    assert torch.equal(model.layer3[0].downsample[0].weight, source["layer3.0.downsample.0.weight"])


def test_other_class_count_skips_fc_with_a_warning(tmp_path):
    torch.save(torchvision_resnet_state(18, classes=1000), tmp_path / "w.pth")
    model = _fresh(18, classes=10)
    fc_before = model.fc.weight.clone()
    with pytest.warns(UserWarning, match="1000 classes, the model 10: fc keeps its initialisation"):
        copied = load_resnet_weights(model, tmp_path / "w.pth")
    assert not any(name.startswith("fc.") for name in copied)
    assert torch.equal(model.fc.weight, fc_before)
    assert torch.equal(model.conv1.weight, torchvision_resnet_state(18, classes=1000)["conv1.weight"])


def _refused(model, path, match):
    before = _not_loaded(model)
    with pytest.raises(ValueError, match=match) as caught:
        load_resnet_weights(model, path)
    assert "\n" not in str(caught.value)
    assert all(torch.equal(model.state_dict()[name], tensor) for name, tensor in before.items())  # nothing copied


def test_shape_mismatch_is_refused_naming_the_tensor(tmp_path):
    source = torchvision_resnet_state(18)
    source["layer3.1.conv2.weight"] = torch.randn(32, 32, 1, 1)
    torch.save(source, tmp_path / "w.pth")
    _refused(_fresh(18), tmp_path / "w.pth", r"layer3\.1\.conv2\.weight \(32, 32, 1, 1\) vs \(32, 32, 3, 3\)")


def test_full_width_weights_into_a_narrow_model_are_refused(tmp_path):
    torch.save(torchvision_resnet_state(18, divisor=1), tmp_path / "w.pth")
    _refused(_fresh(18), tmp_path / "w.pth", r"shapes \(file vs model\) differ for 101 \[conv1\.weight \(64, 3, 7, 7\)")


def test_missing_and_extra_keys_are_refused(tmp_path):
    source = torchvision_resnet_state(18)
    del source["layer2.0.downsample.1.running_var"]
    source["layer4.2.conv1.weight"] = torch.zeros(1)
    torch.save(source, tmp_path / "w.pth")
    _refused(_fresh(18), tmp_path / "w.pth",
             r"missing 1 \[layer2\.0\.downsample\.1\.running_var\], extra 1 \[layer4\.2\.conv1\.weight\]")


def test_resnet18_weights_into_sew_resnet34_are_refused(tmp_path):
    torch.save(torchvision_resnet_state(18), tmp_path / "w.pth")
    _refused(_fresh(34), tmp_path / "w.pth", r"missing 96 \[layer1\.2\.bn1\.bias")


class _RunsCode:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.mkdir, (self.marker,)


def test_a_code_running_pickle_is_refused_unrun(tmp_path):
    marker = tmp_path / "ran"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.save({"conv1.weight": _RunsCode(str(marker))}, tmp_path / "w.pth")
    assert not marker.exists()
    _refused(_fresh(18), tmp_path / "w.pth", "not a plain tensor state dict that loads with weights_only=True")
    assert not marker.exists()


def test_not_a_torch_file_and_not_tensors(tmp_path):
    (tmp_path / "text.pth").write_text("hello")
    _refused(_fresh(18), tmp_path / "text.pth", "weights_only=True")
    torch.save({"conv1.weight": [1, 2]}, tmp_path / "list.pth")
    _refused(_fresh(18), tmp_path / "list.pth", r"entries \['conv1\.weight'\] are not tensors")
    torch.save([torch.zeros(1)], tmp_path / "seq.pth")
    _refused(_fresh(18), tmp_path / "seq.pth", "should hold a state dict .* got list")


def test_missing_file_names_it_and_where_weights_come_from(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"'.*absent\.pth' not found; .*torchvision's published ImageNet") as e:
        build_model("sew_resnet18", width_divisor=DIVISOR, T=2, pretrained=str(tmp_path / "absent.pth"))
    assert "\n" not in str(e.value) and "resnet18-f37072fd.pth" in str(e.value)
    with pytest.raises(TypeError, match="pretrained expects the path of a ResNet state-dict file, got int"):
        build_model("sew_resnet18", width_divisor=DIVISOR, T=2, pretrained=3)


def test_config_option_model_options_pretrained(tmp_path):
    source = torchvision_resnet_state(18, classes=1000)
    torch.save(source, tmp_path / "w.pth")
    config = resolve_config(str(CONFIG_DIR / "psn_sew18_imagenet.yaml"),
                            overrides=[f"model.options.pretrained={tmp_path / 'w.pth'}",
                                       f"model.options.width_divisor={DIVISOR}"])
    model = build_from_config(config)
    assert torch.equal(model.fc.weight, source["fc.weight"])
    assert torch.equal(model.layer4[1].bn2.running_var, source["layer4.1.bn2.running_var"])


def test_load_run_does_not_need_the_pretrained_file_again(tmp_path):
    from pmsn.io import atomic_torch_save
    from pmsn.train.build import architecture, load_run, model_arguments
    from pmsn.train.checkpoint import FORMAT
    from pmsn.train.config import config_to_dict

    weights = tmp_path / "resnet18.pth"
    torch.save(torchvision_resnet_state(18, classes=1000), weights)
    config = resolve_config(str(CONFIG_DIR / "psn_sew18_imagenet.yaml"),
                            overrides=[f"model.options.pretrained={weights}", f"model.options.width_divisor={DIVISOR}"])
    arguments = model_arguments(config)
    trained = build_from_config(config, arguments)
    with torch.no_grad():
        trained.conv1.weight.add_(1.0)  # "training" moved it away from the pretrained start
    atomic_torch_save({"format": FORMAT, "architecture": architecture(config, arguments),
                       "config": config_to_dict(config), "model": trained.state_dict(), "optimizer": {}, "epoch": 1,
                       "best_test_acc": 0.0, "best_epoch": 1, "history": [], "rng": {}, "wall_seconds": 0.0},
                      tmp_path / "last.pt")
    weights.unlink()  # e.g. evaluated on another machine
    model, _, checkpoint = load_run(tmp_path / "last.pt")
    assert checkpoint["architecture"]["options"]["pretrained"] == str(weights)
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), trained.state_dict().values()))
