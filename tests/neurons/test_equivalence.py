"""The heart of the project: for every neuron the parallel call equals the loop of ``step`` (float64):
identical spikes, gradients w.r.t. the input and every parameter equal to 1e-6 of the largest gradient."""

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from pmsn.neurons import ALIF, GLIF, IF, KLIF, LIF, PLIF, TCLIF, MaskedPSN, SlidingPSN, build_pmsn

SHAPES = [(1, 3), (2, 3), (3, 2, 4), (2, 2, 2, 3)]  # [B, C, *spatial]


def make_pmsn(C, T, **kw):
    neuron = build_pmsn(channels=C, compartments=kw.pop("compartments", 5), **kw)
    with torch.no_grad():  # spread Δ so the kernel reaches far back, scale D so the soma fires often
        neuron.log_dt.uniform_(math.log(1e-2), math.log(0.5))
    return neuron


def make_glif(C, T, **kw):
    neuron = GLIF(channels=C, T=T, **kw)
    with torch.no_grad():  # spread every gate and coefficient over (0, 1), per channel (if any) and step (if any)
        for logits in neuron.parameters():
            logits.uniform_(-2.0, 2.0)
    return neuron


FACTORIES = {
    "lif_hard": lambda C, T: LIF(),
    "lif_soft_detach": lambda C, T: LIF(reset="soft", detach_reset=True, decay_input=False),
    "lif_no_reset": lambda C, T: LIF(reset="none", surrogate="atan"),
    "plif": lambda C, T: PLIF(tau_init=3.0),
    "if_hard": lambda C, T: IF(),
    "if_soft_detach": lambda C, T: IF(reset="soft", detach_reset=True, surrogate="atan"),
    "klif": lambda C, T: KLIF(k_init=1.3, tau=3.0),
    "klif_soft_no_decay": lambda C, T: KLIF(reset="soft", decay_input=False, k_init=0.7, surrogate="triangle"),
    "glif_time_wise": lambda C, T: make_glif(C, T),
    "glif_any_length": lambda C, T: make_glif(C, None),
    "glif_layer_wise": lambda C, T: make_glif(C, T, channel_wise=False),  # docs/neurons.md §8.2
    "glif_layer_wise_static": lambda C, T: make_glif(C, T, channel_wise=False, time_wise=False),
    "glif_channel_wise_static": lambda C, T: make_glif(C, T, time_wise=False),
    "alif": lambda C, T: ALIF(channels=C, tau_m=(5.0, 1.0), tau_adp=(20.0, 2.0)),
    "tclif_layer": lambda C, T: TCLIF(decay_init=(1.5, -0.5)),
    "tclif_channel": lambda C, T: TCLIF(channels=C, beta_sharing="channel", decay_init=(0.3, 0.2)),
    "tclif_paper_order": lambda C, T: TCLIF(coupling_uses_pre_reset_soma=True, detach_reset=True),
    "tclif_free_betas": lambda C, T: TCLIF(parametrization="free", decay_init=(0.4, -0.3)),
    "masked_psn": lambda C, T: MaskedPSN(T=T, order=min(3, T), threshold=0.05),
    "sliding_psn": lambda C, T: SlidingPSN(order=4),
    "sliding_psn_kaiming": lambda C, T: SlidingPSN(order=2, exp_init=False, threshold=0.3),
    "pmsn_fft": lambda C, T: make_pmsn(C, T, path="fft"),
    "pmsn_fft_cumsum_grad": lambda C, T: make_pmsn(C, T, path="fft", soma_grad="cumsum"),
    "pmsn_chunked": lambda C, T: make_pmsn(C, T, path="chunked", chunk=4),
    "pmsn_chunked_cumsum_grad": lambda C, T: make_pmsn(C, T, path="chunked", soma_grad="cumsum"),
    "pmsn_n2": lambda C, T: make_pmsn(C, T, path="fft", compartments=2, output_init="ones"),
    "pmsn_n3_strict": lambda C, T: make_pmsn(C, T, path="fft", compartments=3, strict=True),
    "pmsn_scaled": lambda C, T: make_pmsn(C, T, path="fft", scale=0.2, threshold=0.5),
    "pmsn_serial_soma": lambda C, T: make_pmsn(C, T, soma_mode="serial"),
    "pmsn_serial_soft": lambda C, T: make_pmsn(C, T, soma_mode="serial_soft"),
    "pmsn_no_reset": lambda C, T: make_pmsn(C, T, soma_mode="no_reset"),
    "pmsn_memoryless": lambda C, T: make_pmsn(C, T, soma_mode="memoryless"),
}


def _fused_available():
    try:
        from pmsn.ops.fused_cpu import fused_available
    except ImportError:
        return False
    return fused_available()


if _fused_available():
    FACTORIES["pmsn_fused"] = lambda C, T: make_pmsn(C, T, path="fused")
    FACTORIES["pmsn_fused_cumsum_grad"] = lambda C, T: make_pmsn(C, T, path="fused", soma_grad="cumsum")


def assert_parallel_equals_serial(neuron, x, seed=0):
    """Spikes identical; every gradient (input and parameters) equal to 1e-6 relative to its largest entry."""
    neuron = neuron.double()
    x = x.double().requires_grad_(True)
    weights = torch.randn(x.shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    params = [p for p in neuron.parameters() if p.requires_grad]

    def run(fn):
        spikes = fn(x)
        grads = torch.autograd.grad((spikes * weights).sum(), [x] + params, allow_unused=True)
        return spikes.detach(), grads

    parallel_spikes, parallel_grads = run(neuron)
    serial_spikes, serial_grads = run(neuron.serial)
    assert torch.equal(parallel_spikes, serial_spikes), (
        f"{(parallel_spikes != serial_spikes).sum().item()} of {x.numel()} spikes differ")
    names = ["input"] + [name for name, p in neuron.named_parameters() if p.requires_grad]
    for name, gp, gs in zip(names, parallel_grads, serial_grads):
        if gp is None or gs is None:
            assert gp is None and gs is None, f"gradient of {name} missing on one path only"
            continue
        scale = max(gs.abs().max().item(), 1e-12)
        torch.testing.assert_close(gp, gs, rtol=1e-6, atol=1e-6 * scale, msg=lambda m: f"grad of {name}: {m}")
    return parallel_spikes, parallel_grads


@pytest.mark.parametrize("kind", sorted(FACTORIES))
@pytest.mark.parametrize("steps", [1, 2, 7])
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_parallel_equals_serial(kind, steps, shape):
    torch.manual_seed(steps * 100 + len(shape))
    neuron = FACTORIES[kind](shape[1], steps)
    x = 1.5 * torch.randn(steps, *shape) + 0.5
    assert_parallel_equals_serial(neuron, x)


@pytest.mark.parametrize("kind", sorted(FACTORIES))
def test_parallel_equals_serial_long(kind):
    """T ≥ 500: the kernel reaches far back, the soma fires and resets many times."""
    torch.manual_seed(5)
    neuron = FACTORIES[kind](2, 517)
    x = torch.randn(517, 2, 2) + 0.3
    spikes, grads = assert_parallel_equals_serial(neuron, x)
    assert 0 < spikes.mean() < 1, "the test input must make the neuron fire sometimes"
    assert grads[0].abs().sum() > 0, "the test input must give a non-zero surrogate gradient"


@given(
    kind=st.sampled_from(sorted(FACTORIES)),
    steps=st.integers(1, 40),
    batch=st.integers(1, 3),
    channels=st.integers(1, 4),
    spatial=st.lists(st.integers(1, 3), max_size=2),
    input_scale=st.floats(0.05, 20.0),
    offset=st.floats(-1.0, 2.0),
    seed=st.integers(0, 2**16),
)
def test_parallel_equals_serial_fuzzed(kind, steps, batch, channels, spatial, input_scale, offset, seed):
    torch.manual_seed(seed)
    neuron = FACTORIES[kind](channels, steps)
    x = input_scale * torch.randn(steps, batch, channels, *spatial) + offset
    assert_parallel_equals_serial(neuron, x, seed)


@pytest.mark.parametrize("kind", ["lif_hard", "if_hard", "klif", "glif_time_wise", "tclif_layer", "alif", "pmsn_fft",
                                  "sliding_psn", "masked_psn"])
def test_return_states_matches_serial_trace(kind):
    torch.manual_seed(1)
    neuron = FACTORIES[kind](3, 9).double()
    x = torch.randn(9, 2, 3, dtype=torch.float64) + 0.5
    spikes, trace = neuron(x, return_states=True)
    serial_spikes, serial_trace = neuron.serial(x, return_states=True)
    assert torch.equal(spikes, serial_spikes)
    assert type(trace) is type(serial_trace)
    for name, a, b in zip(trace._fields, trace, serial_trace):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-9, msg=lambda m: f"trace field {name}: {m}")


def test_step_streams_state():
    """Feeding the steps one by one with the returned state gives the parallel spikes."""
    torch.manual_seed(2)
    neuron = make_pmsn(4, 20, path="fft").double()
    x = torch.randn(20, 3, 4, 5, dtype=torch.float64) + 0.5
    state, out = None, []
    for x_t in x.unbind(0):
        s_t, state = neuron.step(x_t, state)
        out.append(s_t)
    assert torch.equal(torch.stack(out), neuron(x))
    assert state.hidden.shape == (3, 4, 5, 4) and state.hidden.is_complex()
    assert ((state.soma >= 0) & (state.soma < neuron.threshold)).all(), "the remainder stays in [0, θ)"


def test_forward_is_stateless():
    neuron = LIF()
    x = torch.rand(6, 2, 3) * 3
    assert torch.equal(neuron(x), neuron(x))


def test_automatic_path_equals_every_forced_path(caplog):
    """The automatic choice gives the same outputs as each forced path, and says which one ran."""
    torch.manual_seed(3)
    x = torch.randn(300, 2, 4, 3) + 0.4
    reference = make_pmsn(4, 300, path="fft")
    paths = ["fft", "chunked"] + (["fused"] if _fused_available() else [])
    outputs = {}
    for path in paths + [None]:
        neuron = make_pmsn(4, 300, path=path)
        neuron.load_state_dict(reference.state_dict())
        with caplog.at_level("DEBUG", logger="pmsn.neurons.pmsn"):
            caplog.clear()
            outputs[path] = neuron(x)
        assert any("path=" in r.getMessage() for r in caplog.records)
    for path in paths + [None]:  # float32: identical up to a few near-threshold ties
        agreement = (outputs[path] == outputs["fft"]).float().mean().item()
        assert agreement >= 0.999, f"path {path}: {agreement}"


@pytest.mark.parametrize("path", ["fft", "chunked"])
def test_bf16_autocast_keeps_the_kernel_in_float32(path):
    torch.manual_seed(4)
    neuron = make_pmsn(4, 64, path=path)
    x = torch.randn(64, 2, 4) + 0.4
    reference = neuron(x)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        under_autocast = neuron(x)
    assert torch.equal(under_autocast.float(), reference)
    spikes_bf16 = neuron(x.bfloat16())
    assert spikes_bf16.dtype == torch.bfloat16 and (spikes_bf16.float() == neuron(x.bfloat16().float())).all()
