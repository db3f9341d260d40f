"""SpikingJelly import against SpikingJelly's own modules (docs/convert.md §1, §6); skipped without spikingjelly.

Each case pairs a SpikingJelly layer with the pmsn neuron written out by hand (docs/convert.md §3), so the
settings translation is checked by ``from_spikingjelly`` reading the live layer; then spikes must be identical in
float64 and the gradients of the input and of every parameter equal.
"""

import pytest
import torch
from torch import nn

from pmsn.convert import from_spikingjelly
from pmsn.neurons import IF, LIF, PLIF, PSN, MaskedPSN, SlidingPSN
from pmsn.surrogate import ATan, Triangle

spikingjelly = pytest.importorskip("spikingjelly")
from spikingjelly.activation_based import functional, layer, neuron, surrogate  # noqa: E402
from spikingjelly_fixture import FIXTURE, make_fixture, randomise  # noqa: E402

T = 8
CASES = {
    "lif_default": (lambda: neuron.LIFNode(), lambda: LIF()),
    "lif_hard_no_decay_input": (lambda: neuron.LIFNode(tau=1.5, v_reset=-0.25, decay_input=False),
                                lambda: LIF(tau=1.5, v_reset=-0.25, decay_input=False)),
    "lif_soft": (lambda: neuron.LIFNode(tau=3.0, v_reset=None, detach_reset=True, v_threshold=0.5,
                                        surrogate_function=surrogate.ATan(alpha=3.0)),
                 lambda: LIF(tau=3.0, reset="soft", detach_reset=True, threshold=0.5, surrogate=ATan(3.0))),
    "if_default": (lambda: neuron.IFNode(), lambda: IF()),
    "if_soft": (lambda: neuron.IFNode(v_reset=None, detach_reset=True, v_threshold=0.5,
                                      surrogate_function=surrogate.ATan(alpha=3.0)),
                lambda: IF(reset="soft", detach_reset=True, threshold=0.5, surrogate=ATan(3.0))),
    "plif_default": (lambda: neuron.ParametricLIFNode(), lambda: PLIF()),
    "plif_soft_piecewise_quadratic": (
        lambda: neuron.ParametricLIFNode(init_tau=4.0, v_reset=None, decay_input=False,
                                         surrogate_function=surrogate.PiecewiseQuadratic(alpha=2.0)),
        lambda: PLIF(reset="soft", decay_input=False, surrogate=Triangle(0.5))),
    "psn": (lambda: neuron.PSN(T=T), lambda: PSN(T)),
    **{f"masked_psn_k{k}_lambda{lam}": (lambda k=k, lam=lam: neuron.MaskedPSN(k=k, T=T, lambda_init=lam),
                                        lambda k=k: MaskedPSN(T, k))
       for k, lam in ((3, 0.0), (3, 0.5), (3, 1.0), (1, 1.0), (T, 1.0), (1, 0.5), (2, 1.5))},
    **{f"sliding_psn_k{k}": (lambda k=k: neuron.SlidingPSN(k=k, exp_init=k != 3), lambda k=k: SlidingPSN(k))
       for k in (1, 3, T + 3)},
}


def spikingjelly_multi_step(module: nn.Module) -> nn.Module:
    functional.set_step_mode(module, "m")
    return module


def outputs(module: nn.Module, x: torch.Tensor, upstream: torch.Tensor, parameter_names: list[str]):
    """Spikes, input gradient and the gradients of ``parameter_names`` (flattened) of sum(spikes · upstream)."""
    functional.reset_net(module)  # SpikingJelly's neurons keep V between calls; pmsn's ignore this
    x = x.clone().requires_grad_()
    spikes = module(x)
    (spikes * upstream).sum().backward()
    parameters = dict(module.named_parameters())
    return spikes, x.grad, [parameters[name].grad.flatten() for name in parameter_names]


@pytest.mark.parametrize("name", sorted(CASES))
def test_layer_equals_spikingjelly(name):
    make_sj, make_pmsn = CASES[name]
    torch.manual_seed(0)
    source = spikingjelly_multi_step(make_sj()).double()
    randomise(source)
    target = from_spikingjelly(source, make_pmsn().double())
    x = torch.randn(T, 3, 4, 2, 2, dtype=torch.float64) * 3.0  # [T, B, C, H, W]
    upstream = torch.randn_like(x)
    names = [parameter for parameter, _ in source.named_parameters()]
    assert names == [parameter for parameter, _ in target.named_parameters()]  # same names, same order
    spikes, input_grad, grads = outputs(source, x, upstream, names)
    got_spikes, got_input_grad, got_grads = outputs(target, x, upstream, names)
    assert 0 < spikes.mean() < 1
    assert torch.equal(got_spikes, spikes)
    torch.testing.assert_close(got_input_grad, input_grad, rtol=1e-9, atol=1e-12)
    for got, expected in zip(got_grads, grads):
        torch.testing.assert_close(got, expected, rtol=1e-9, atol=1e-12)


def spikingjelly_network() -> nn.Sequential:
    return spikingjelly_multi_step(nn.Sequential(
        layer.Linear(5, 16), neuron.ParametricLIFNode(v_reset=None, detach_reset=True), layer.Linear(16, 16),
        neuron.LIFNode(tau=2.0), layer.Linear(16, 8), neuron.MaskedPSN(k=3, T=T, lambda_init=0.5),
        layer.Linear(8, 4), neuron.PSN(T=T)))


def pmsn_network() -> nn.Sequential:
    return nn.Sequential(nn.Linear(5, 16), PLIF(reset="soft", detach_reset=True), nn.Linear(16, 16), LIF(),
                         nn.Linear(16, 8), MaskedPSN(T, 3), nn.Linear(8, 4), PSN(T))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_network_equals_spikingjelly(dtype, tmp_path):
    torch.manual_seed(1)
    source = spikingjelly_network().to(dtype)
    randomise(source)
    x = torch.randn(T, 6, 5, dtype=dtype) * 3.0
    upstream = torch.randn(T, 6, 4, dtype=dtype)
    names = [parameter for parameter, _ in source.named_parameters()]
    spikes, input_grad, grads = outputs(source, x, upstream, names)
    torch.save(source.state_dict(), tmp_path / "net.pt")
    for loaded in (from_spikingjelly(source, pmsn_network().to(dtype)),
                   from_spikingjelly(tmp_path / "net.pt", pmsn_network().to(dtype))):
        got_spikes, got_input_grad, got_grads = outputs(loaded, x, upstream, names)
        assert 0 < spikes.mean() < 1
        assert torch.equal(got_spikes, spikes)
        tolerance = dict(rtol=1e-9, atol=1e-12) if dtype == torch.float64 else dict(rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(got_input_grad, input_grad, **tolerance)
        for got, expected in zip(got_grads, grads):
            torch.testing.assert_close(got, expected, **tolerance)


class PerStep(nn.Sequential):
    """pmsn side of SpikingJelly's SeqToANNContainer: the layers run on [T·B, ...] (same state-dict names)."""

    def forward(self, x):
        return super().forward(x.flatten(0, 1)).unflatten(0, x.shape[:2])


def test_conv_batchnorm_network_equals_spikingjelly():
    """Conv1d + BatchNorm1d tensors (running statistics and the int64 batch counter too) pass through by name."""
    torch.manual_seed(2)
    source = spikingjelly_multi_step(nn.Sequential(
        layer.SeqToANNContainer(nn.Conv1d(2, 6, 3, padding=1, bias=False), nn.BatchNorm1d(6)),
        neuron.ParametricLIFNode(v_reset=None),
        layer.SeqToANNContainer(nn.Conv1d(6, 6, 3, padding=1), nn.BatchNorm1d(6)),
        neuron.SlidingPSN(k=4))).double()
    randomise(source)
    with torch.no_grad():
        for module in source.modules():
            if isinstance(module, nn.BatchNorm1d):
                module.running_mean.normal_()
                module.running_var.uniform_(0.5, 2.0)
                module.num_batches_tracked.fill_(17)
    source.eval()
    target = nn.Sequential(PerStep(nn.Conv1d(2, 6, 3, padding=1, bias=False), nn.BatchNorm1d(6)),
                           PLIF(reset="soft"), PerStep(nn.Conv1d(6, 6, 3, padding=1), nn.BatchNorm1d(6)),
                           SlidingPSN(4))
    from_spikingjelly(source, target.double()).eval()
    assert int(target[0][1].num_batches_tracked) == 17
    x = torch.randn(T, 3, 2, 5, dtype=torch.float64) * 3.0  # [T, B, C, L]
    upstream = torch.randn(T, 3, 6, 5, dtype=torch.float64)
    names = [parameter for parameter, _ in source.named_parameters()]
    spikes, input_grad, grads = outputs(source, x, upstream, names)
    got_spikes, got_input_grad, got_grads = outputs(target, x, upstream, names)
    assert 0 < spikes.mean() < 1
    assert torch.equal(got_spikes, spikes)
    torch.testing.assert_close(got_input_grad, input_grad, rtol=1e-9, atol=1e-12)
    for got, expected in zip(got_grads, grads):
        torch.testing.assert_close(got, expected, rtol=1e-9, atol=1e-12)


def test_live_network_settings_are_checked():
    target = pmsn_network()
    target[3] = LIF(tau=3.0)
    with pytest.raises(ValueError, match=r"layer '3': SpikingJelly LIFNode gives tau=2\.0, the pmsn LIF has tau=3\.0"):
        from_spikingjelly(spikingjelly_network(), target)
    target = pmsn_network()
    target[1] = LIF()
    with pytest.raises(ValueError, match=r"layer '1': SpikingJelly has a ParametricLIFNode at '1', the pmsn network a "
                                         r"LIF"):
        from_spikingjelly(spikingjelly_network(), target)
    with pytest.raises(TypeError, match="settings are read from the SpikingJelly network itself"):
        from_spikingjelly(spikingjelly_network(), pmsn_network(), settings={"3": {}})


def test_live_network_refuses_what_pmsn_cannot_express():
    source = spikingjelly_network()
    source[3] = neuron.SimpleLIFNode(tau=2.0, decay_input=True, step_mode="m")
    with pytest.raises(ValueError, match=r"layer '3': SpikingJelly SimpleLIFNode has no pmsn counterpart"):
        from_spikingjelly(source, pmsn_network())
    source = spikingjelly_network()
    source[3] = neuron.LIFNode(surrogate_function=surrogate.PiecewiseExp(), step_mode="m")
    with pytest.raises(ValueError, match=r"SpikingJelly surrogate PiecewiseExp has no pmsn counterpart"):
        from_spikingjelly(source, pmsn_network())
    source[3] = neuron.LIFNode(v_threshold=-1.0, step_mode="m")
    with pytest.raises(ValueError, match=r"v_threshold=-1\.0; pmsn's LIF needs a threshold > 0"):
        from_spikingjelly(source, pmsn_network())
    source = spikingjelly_network()
    target = pmsn_network()
    del target[7]
    with pytest.raises(ValueError, match=r"SpikingJelly neuron layer '7' has no pmsn neuron"):
        from_spikingjelly(source, target)


def same(a, b) -> bool:
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b)
    if isinstance(a, dict):
        return isinstance(b, dict) and list(a) == list(b) and all(same(a[key], b[key]) for key in a)
    return type(a) is type(b) and a == b


def test_saved_fixture_is_what_spikingjelly_gives():
    """The no-SpikingJelly tests' fixture still matches the installed SpikingJelly (regenerate it if not)."""
    assert same(make_fixture(), torch.load(FIXTURE, map_location="cpu", weights_only=True))
