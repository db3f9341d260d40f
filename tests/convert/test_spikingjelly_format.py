"""SpikingJelly import without SpikingJelly (docs/convert.md §6): the fixture saved from SpikingJelly 2.0.0 layers
(exact key names, shapes, dtypes; their spikes and input gradients), converted and run through pmsn; the error
paths on state dicts written in that format."""

import copy
import types

import pytest
import torch
from torch import nn

from pmsn.convert import from_spikingjelly, neuron_from_spikingjelly
from pmsn.convert.spikingjelly import pmsn_surrogate
from pmsn.neurons import IF, LIF, PLIF, PMSN, PSN, MaskedPSN, SlidingPSN
from pmsn.surrogate import ATan, Sigmoid, Triangle
from spikingjelly_fixture import FIXTURE, NETWORK, T

DATA = torch.load(FIXTURE, map_location="cpu", weights_only=True)


def stand_in(name: str, alpha: float, spiking: bool = True):
    """An object shaped like a SpikingJelly surrogate (read by class name, ``alpha`` and ``spiking``)."""
    return type(name, (), {"alpha": alpha, "spiking": spiking})()


def sj_settings(settings: dict) -> dict:
    settings = dict(settings)
    if "surrogate_function" in settings:
        settings["surrogate_function"] = stand_in(*settings["surrogate_function"])
    return settings


def run(module: nn.Module, case: dict) -> tuple[torch.Tensor, torch.Tensor]:
    x = case["input"].clone().requires_grad_()
    spikes = module(x)
    (spikes * case["upstream"]).sum().backward()
    return spikes.detach(), x.grad


# the documented format (docs/convert.md §2): key → shape; every tensor float32 as SpikingJelly saves it
FORMAT = {"LIFNode": {}, "IFNode": {}, "ParametricLIFNode": {"w": ()}, "PSN": {"weight": (T, T), "bias": (T, 1)},
          "MaskedPSN": {"weight": (T, T), "bias": (T, 1), "_lambda_": (), "mask0": (T, T), "mask1": (T, T)}}


@pytest.mark.parametrize("name", sorted(DATA["layers"]))
def test_fixture_is_in_the_documented_format(name):
    case = DATA["layers"][name]
    state = case["state_dict"]
    if case["kind"] == "SlidingPSN":
        expected = {"weight": (case["settings"]["k"],), "bias": ()}
    else:
        expected = FORMAT[case["kind"]]
    assert {key: tuple(value.shape) for key, value in state.items()} == expected
    assert all(value.dtype == torch.float32 for value in state.values())


@pytest.mark.parametrize("name", sorted(DATA["layers"]))
def test_layer_gives_spikingjelly_spikes_and_gradients(name):
    case = DATA["layers"][name]
    neuron = neuron_from_spikingjelly(case["kind"], case["state_dict"], **sj_settings(case["settings"]))
    spikes, grad = run(neuron, case)
    assert case["spikes"].sum() > 0 and (case["spikes"] == 0).any()  # the case exercises both outcomes
    assert torch.equal(spikes, case["spikes"])
    torch.testing.assert_close(grad, case["input_grad"], rtol=1e-5, atol=1e-6)


def test_layer_settings_become_pmsn_settings():
    lif = neuron_from_spikingjelly("LIFNode", {}, **sj_settings(DATA["layers"]["lif_soft"]["settings"]))
    assert (type(lif), lif.tau, lif.threshold, lif.reset, lif.v_rest, lif.decay_input, lif.detach_reset) == \
        (LIF, 2.0, 0.5, "soft", 0.0, False, True)
    assert lif.surrogate == ATan(3.0)
    hard = neuron_from_spikingjelly("LIFNode", {}, tau=1.5, v_reset=-0.25)
    assert (hard.reset, hard.v_reset, hard.v_rest, hard.surrogate) == ("hard", -0.25, -0.25, Sigmoid(4.0))
    plain = neuron_from_spikingjelly("IFNode", {}, v_reset=None, v_threshold=0.5, detach_reset=True)
    assert (type(plain), plain.threshold, plain.reset, plain.detach_reset, plain.surrogate) == \
        (IF, 0.5, "soft", True, Sigmoid(4.0))
    x = torch.tensor([[0.3], [0.3], [-0.1], [0.9]]).unsqueeze(-1)  # IFNode: H = V + X, soft reset V = H − θ·S
    assert plain(x).flatten().tolist() == [0.0, 1.0, 0.0, 1.0]  # H: 0.3, 0.6 → fire, 0.1 − 0.1 = 0.0, 0.9 → fire
    masked = neuron_from_spikingjelly("MaskedPSN", DATA["layers"]["masked_psn_lambda_1.5"]["state_dict"])
    assert (type(masked), masked.T, masked.order, float(masked.mask_lambda)) == (MaskedPSN, T, 2, 1.0)
    masked = neuron_from_spikingjelly("MaskedPSN", DATA["layers"]["masked_psn_lambda_0.5"]["state_dict"])
    assert (masked.order, float(masked.mask_lambda)) == (3, 0.5)
    sliding = neuron_from_spikingjelly("SlidingPSN", DATA["layers"]["sliding_psn_longer_than_T"]["state_dict"])
    assert (type(sliding), sliding.order) == (SlidingPSN, T + 2)
    assert pmsn_surrogate(stand_in("PiecewiseQuadratic", 4.0)) == Triangle(0.25)
    assert pmsn_surrogate("triangle") == Triangle()


def pmsn_network(**lif_settings) -> nn.Sequential:
    """The pmsn twin of spikingjelly_fixture.NETWORK."""
    return nn.Sequential(nn.Linear(3, 8), PLIF(reset="soft", detach_reset=True), nn.Linear(8, 8),
                         LIF(**lif_settings), nn.Linear(8, 4), PSN(T=T))


def network_settings() -> dict:
    return {name: sj_settings(settings) for name, (_, settings) in NETWORK.items()}


def test_network_gives_spikingjelly_output_from_a_state_dict_and_a_path(tmp_path):
    case = DATA["network"]
    target = from_spikingjelly(case["state_dict"], pmsn_network(), settings=network_settings())
    spikes, grad = run(target, case)
    assert torch.equal(spikes, case["spikes"])
    torch.testing.assert_close(grad, case["input_grad"], rtol=1e-5, atol=1e-6)
    assert torch.equal(target[5].bias, case["state_dict"]["5.bias"].reshape(T))
    assert torch.equal(target[0].weight, case["state_dict"]["0.weight"])
    path = tmp_path / "sj.pt"
    torch.save(case["state_dict"], path)
    again = from_spikingjelly(path, pmsn_network())
    assert torch.equal(run(again, case)[0], case["spikes"])


def test_prefixes_rename_modules():
    case = DATA["network"]
    target = nn.Sequential()
    target.add_module("encoder", nn.Sequential(*list(pmsn_network())[:4]))
    target.add_module("readout", nn.Sequential(*list(pmsn_network())[4:]))
    prefixes = {"encoder": "", "readout.0": "4", "readout.1": "5"}
    with pytest.raises(ValueError, match=r"missing key 'encoder\.1\.w' for SpikingJelly ParametricLIFNode"):
        from_spikingjelly(case["state_dict"], copy.deepcopy(target))
    from_spikingjelly(case["state_dict"], target, prefixes=prefixes)
    assert torch.equal(run(target, case)[0], case["spikes"])


def broken(state: dict, key: str, value=None) -> dict:
    state = dict(state)
    if value is None:
        del state[key]
    else:
        state[key] = value
    return state


NET = DATA["network"]["state_dict"]
MASKED = DATA["layers"]["masked_psn_lambda_1"]["state_dict"]
STATE_ERRORS = [
    (broken(NET, "5.bias", torch.zeros(T)), r"key '5\.bias': expected shape \(6, 1\) for SpikingJelly PSN, got \(6,\)"),
    (broken(NET, "5.weight", torch.zeros(T, T + 1)), r"key '5\.weight': expected shape \(6, 6\) for SpikingJelly "
                                                    r"PSN, got \(6, 7\)"),
    (broken(NET, "1.w", torch.zeros(1)), r"key '1\.w': expected shape \(\) for SpikingJelly ParametricLIFNode, "
                                         r"got \(1,\)"),
    (broken(NET, "2.weight", torch.zeros(8, 9)), r"key '2\.weight': expected shape \(8, 8\), got \(8, 9\)"),
    (broken(NET, "1.w"), r"missing key '1\.w' for SpikingJelly ParametricLIFNode"),
    (broken(NET, "4.bias"), r"missing key '4\.bias' in the SpikingJelly state dict"),
    (broken(NET, "3.v", torch.zeros(())), r"unexpected key '3\.v' for SpikingJelly LIFNode"),
    (broken(NET, "6.weight", torch.zeros(2)), r"unexpected key '6\.weight' in the SpikingJelly state dict"),
    (broken(NET, "1.w", torch.zeros((), dtype=torch.long)), r"key '1\.w': expected a floating-point tensor"),
]


@pytest.mark.parametrize("state, message", STATE_ERRORS)
def test_bad_state_dicts_are_refused_before_anything_changes(state, message):
    target = pmsn_network()
    before = copy.deepcopy(target.state_dict())
    with pytest.raises(ValueError, match=message):
        from_spikingjelly(state, target)
    assert all(torch.equal(before[key], value) for key, value in target.state_dict().items())


def band(order: int) -> torch.Tensor:
    return MaskedPSN(T, order).mask


MASKED_ERRORS = [
    (broken(MASKED, "mask0", band(3).t().contiguous()), r"key 'mask0': expected the causal band M_k"),
    (broken(MASKED, "mask0", torch.zeros(T, T)), r"key 'mask0': expected the causal band M_k"),
    (broken(MASKED, "mask1", band(3)), r"key 'mask1': expected the all-one matrix"),
    (broken(MASKED, "_lambda_", torch.tensor(-0.5)), r"key '_lambda_': λ = -0\.5; pmsn's MaskedPSN needs λ in "
                                                     r"\[0, 1\]"),
    (broken(MASKED, "mask1"), r"missing key 'mask1' for SpikingJelly MaskedPSN"),
    (broken(MASKED, "mask", band(3)), r"unexpected key 'mask' for SpikingJelly MaskedPSN"),
]


SLIDING = DATA["layers"]["sliding_psn"]["state_dict"]
LAYER_ERRORS = [("MaskedPSN", state, message) for state, message in MASKED_ERRORS] + [
    ("SlidingPSN", broken(SLIDING, "weight", torch.zeros(3, 3)), r"key 'weight': expected shape \(3,\) for "
                                                                 r"SpikingJelly SlidingPSN, got \(3, 3\)"),
    ("SlidingPSN", broken(SLIDING, "bias", torch.zeros(1)), r"key 'bias': expected shape \(\) .*got \(1,\)"),
    ("PSN", {"bias": torch.zeros(T, 1)}, r"missing key 'weight' for SpikingJelly PSN"),
]


@pytest.mark.parametrize("kind, state, message", LAYER_ERRORS)
def test_bad_layer_state_dicts_are_refused(kind, state, message):
    with pytest.raises(ValueError, match=message):
        neuron_from_spikingjelly(kind, state)


SETTING_ERRORS = [
    ("LIFNode", dict(v_threshold=0.0), r"v_threshold=0\.0; pmsn's LIF needs a threshold > 0"),
    ("ParametricLIFNode", dict(v_threshold=0.5, v_reset=0.5), r"v_threshold=0\.5 <= v_reset=0\.5"),
    ("LIFNode", dict(surrogate_function=stand_in("ATan", 2.0, spiking=False)), r"spiking=False"),
    ("LIFNode", dict(surrogate_function=stand_in("PiecewiseExp", 1.0)), r"PiecewiseExp has no pmsn counterpart"),
    ("LIFNode", dict(tua=2.0), r"SpikingJelly LIFNode has no setting 'tua'"),
    ("SimpleLIFNode", {}, r"SpikingJelly layer 'SimpleLIFNode' has no pmsn counterpart"),
    ("IFNode", dict(decay_input=False), r"SpikingJelly IFNode has no setting 'decay_input'"),
    ("PSN", dict(T=T + 1), r"T=7 given, but its tensors have T=6"),
]


@pytest.mark.parametrize("kind, settings, message", SETTING_ERRORS)
def test_settings_pmsn_cannot_express_are_refused(kind, settings, message):
    state = {"PSN": DATA["layers"]["psn"]["state_dict"], "ParametricLIFNode": DATA["layers"]["plif"]["state_dict"]}
    state = state.get(kind, {})
    with pytest.raises(ValueError, match=message):
        neuron_from_spikingjelly(kind, state, **settings)


def test_target_settings_are_checked_against_given_settings():
    state = DATA["network"]["state_dict"]
    with pytest.raises(ValueError, match=r"layer '3': SpikingJelly LIFNode gives tau=3\.0, the pmsn LIF has tau=2\.0"):
        from_spikingjelly(state, pmsn_network(), settings={**network_settings(), "3": {"tau": 3.0}})
    with pytest.raises(ValueError, match=r"layer '1': SpikingJelly ParametricLIFNode gives reset='hard', the pmsn "
                                         r"PLIF has reset='soft'"):
        from_spikingjelly(state, pmsn_network(), settings={"1": {"detach_reset": True}})  # default v_reset=0.0
    with pytest.raises(ValueError, match=r"SpikingJelly neuron layer '7' has no pmsn neuron"):
        from_spikingjelly(state, pmsn_network(), settings={"7": {}})


def test_targets_pmsn_cannot_fill_are_refused(tmp_path):
    state = DATA["network"]["state_dict"]
    target = pmsn_network()
    target[3] = PMSN(channels=8)
    with pytest.raises(ValueError, match=r"layer '3': pmsn PMSN has no SpikingJelly counterpart"):
        from_spikingjelly(state, target)
    target = pmsn_network()
    target[5] = MaskedPSN(T, 2)
    with pytest.raises(ValueError, match=r"missing key '5\._lambda_' for SpikingJelly MaskedPSN"):
        from_spikingjelly(state, target)
    target[5] = PSN(T + 2)
    with pytest.raises(ValueError, match=r"layer '5': SpikingJelly PSN gives T=6, the pmsn PSN has T=8"):
        from_spikingjelly(state, target)


def test_files_and_wrappers_are_refused(tmp_path):
    wrapped = tmp_path / "checkpoint.pt"
    torch.save({"net": DATA["network"]["state_dict"], "epoch": 3}, wrapped)
    with pytest.raises(ValueError, match=r"'net' holds OrderedDict; pass the network's state dict itself"):
        from_spikingjelly(wrapped, pmsn_network())
    unsafe = tmp_path / "object.pt"
    torch.save({"0.weight": types.SimpleNamespace()}, unsafe)
    with pytest.raises(ValueError, match=r"object\.pt' is not a plain tensor file \(UnpicklingError"):
        from_spikingjelly(unsafe, pmsn_network())
    with pytest.raises(FileNotFoundError):
        from_spikingjelly(tmp_path / "missing.pt", pmsn_network())
    with pytest.raises(TypeError, match="expected a SpikingJelly network, a state dict or a path"):
        from_spikingjelly([1, 2], pmsn_network())
