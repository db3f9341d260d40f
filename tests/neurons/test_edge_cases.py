"""Edge cases on every path of every neuron (issue 9 "Trust"): empty batch/channel/spatial dims, NaN in the
input, double backward through the fused kernels, a state of another dtype/device, bad constructor arguments.

Paths: the parallel call (on CPU float32/float64 the fused C++ kernels for LIF/PLIF/IF/TC-LIF/PMSN), the
pure-PyTorch reference (``neuron.serial`` — which the LIF family's parallel call also runs for traces and
other dtypes — and PMSN ``path="chunked"``/``"fft"``), ``return_states=True`` and ``step``."""

import math

import pytest
import torch

from pmsn.neurons import ALIF, GLIF, IF, KLIF, LIF, PLIF, PMSN, PSN, TCLIF, MaskedPSN, SlidingPSN, build_pmsn
from pmsn.ops.fused_cpu import fused_available
from pmsn.ops.fused_leaky import fused_leaky_supports
from pmsn.surrogate import Sigmoid

FUSED_PMSN = fused_available()
FUSED_LEAKY = fused_leaky_supports(torch.zeros(1), Sigmoid())


def make_pmsn(channels, **kw):
    neuron = build_pmsn(channels=channels, **kw)
    with torch.no_grad():  # spread Δ so that the kernel reaches far back
        neuron.log_dt.uniform_(math.log(1e-2), math.log(0.5))
    return neuron


# name → factory(channels, T); every neuron and every PMSN path
NEURONS = {
    "lif": lambda C, T: LIF(),
    "lif_soft_detach": lambda C, T: LIF(reset="soft", detach_reset=True),
    "plif": lambda C, T: PLIF(),
    "if": lambda C, T: IF(),
    "klif": lambda C, T: KLIF(),
    "glif": lambda C, T: GLIF(channels=C, T=T),
    "glif_any_length": lambda C, T: GLIF(channels=C),
    "alif": lambda C, T: ALIF(channels=C),
    "tclif": lambda C, T: TCLIF(),
    "tclif_channel": lambda C, T: TCLIF(channels=C, beta_sharing="channel"),
    "psn": lambda C, T: PSN(T=T),
    "masked_psn": lambda C, T: MaskedPSN(T=T, order=2),
    "masked_psn_blend": lambda C, T: MaskedPSN(T=T, order=2, mask_lambda=0.5),
    "sliding_psn": lambda C, T: SlidingPSN(order=2),
    "pmsn": lambda C, T: make_pmsn(C),
    "pmsn_chunked": lambda C, T: make_pmsn(C, path="chunked"),
    "pmsn_fft": lambda C, T: make_pmsn(C, path="fft"),
    "pmsn_serial_soma": lambda C, T: make_pmsn(C, soma_mode="serial"),
}
NO_STEP = {"psn", "masked_psn_blend"}  # non-causal: no step, no serial loop
CHANNEL_FREE = {"lif", "lif_soft_detach", "plif", "if", "klif", "tclif", "psn", "masked_psn", "masked_psn_blend",
                "sliding_psn"}


def _grads(out, x, neuron):
    params = [p for p in neuron.parameters() if p.requires_grad]
    return torch.autograd.grad(out.sum(), [x] + params, allow_unused=True), params


# ------------------------------------------------------------------------------------------------ empty inputs
EMPTY_SHAPES = {"B=0": (4, 0, 3), "spatial=0": (4, 2, 3, 0), "B=0,spatial": (4, 0, 3, 2), "C=0": (4, 2, 0)}


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("mode", ["parallel", "return_states", "serial", "step"])
@pytest.mark.parametrize("shape", EMPTY_SHAPES.values(), ids=EMPTY_SHAPES.keys())
@pytest.mark.parametrize("name", sorted(NEURONS))
def test_empty_input_gives_empty_output_and_zero_grads(name, shape, mode, dtype):
    if shape[2] == 0 and name not in CHANNEL_FREE:
        pytest.skip("neurons with per-channel parameters need C >= 1 (checked by test_zero_channels_is_refused)")
    if name in NO_STEP and mode in ("serial", "step"):
        pytest.skip("non-causal: no step")
    neuron = NEURONS[name](shape[2], shape[0]).to(dtype)
    x = torch.zeros(shape, dtype=dtype, requires_grad=True)
    trace = None
    if mode == "parallel":
        out = neuron(x)
    elif mode == "return_states":
        out, trace = neuron(x, return_states=True)
    elif mode == "serial":
        out = neuron.serial(x)
    else:
        out, state = neuron.step(x[0])
        out = out.unsqueeze(0)
        out2, _ = neuron.step(x[1], state)  # the returned empty state is accepted again
        assert out2.shape == x.shape[1:]
    expected = x.shape if mode != "step" else (1,) + x.shape[1:]
    assert out.shape == expected and out.dtype == dtype
    if trace is not None:
        for field, value in zip(trace._fields, trace):
            assert value.shape[:x.dim()] == x.shape, f"trace field {field}: {tuple(value.shape)}"
    grads, params = _grads(out, x, neuron)
    assert grads[0].shape == x.shape
    for p, g in zip(params, grads[1:]):
        assert g is not None and g.shape == p.shape and not g.any(), "parameter gradients of an empty batch are 0"


@pytest.mark.parametrize("name", ["alif", "glif", "pmsn"])
def test_zero_channels_is_refused(name):
    with pytest.raises(ValueError, match="channels.*positive int.*0"):
        NEURONS[name](0, 4)


# ------------------------------------------------------------------------------------------------ NaN input
# Neurons with a fused CPU path; the reference is the serial loop (and, for PMSN, the chunked and FFT paths).
FUSED = {
    "lif": lambda: LIF(),
    "lif_triangle": lambda: LIF(surrogate="triangle"),
    "lif_rectangle_detach": lambda: LIF(surrogate="rectangle", detach_reset=True),
    "lif_soft_detach_mg": lambda: LIF(reset="soft", detach_reset=True, surrogate="multi_gaussian"),
    "lif_none_atan": lambda: LIF(reset="none", surrogate="atan", decay_input=False),
    "plif": lambda: PLIF(),
    "if": lambda: IF(),
    "if_soft_atan": lambda: IF(reset="soft", surrogate="atan"),
    "tclif": lambda: TCLIF(),
    "tclif_detach": lambda: TCLIF(detach_reset=True),
    "tclif_pre_reset": lambda: TCLIF(coupling_uses_pre_reset_soma=True),
    "tclif_channel": lambda: TCLIF(channels=3, beta_sharing="channel"),
    "pmsn": lambda: make_pmsn(3, path="fused"),
    "pmsn_cumsum": lambda: make_pmsn(3, path="fused", soma_grad="cumsum"),
    "pmsn_strict_scaled": lambda: make_pmsn(3, path="fused", strict=True, scale=0.5),
}


def _needs_fused(name):
    if name.startswith("pmsn") and not FUSED_PMSN or not name.startswith("pmsn") and not FUSED_LEAKY:
        pytest.skip("the fused C++ kernel cannot be built here")


def _run(fn, x0, weights, params):
    x = x0.clone().requires_grad_(True)
    spikes = fn(x)
    return spikes.detach(), torch.autograd.grad((spikes * weights).sum(), [x] + params)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("name", sorted(FUSED))
def test_nan_input_same_spikes_and_grads_on_fused_and_reference(name, dtype):
    _needs_fused(name)
    torch.manual_seed(0)
    neuron = FUSED[name]().to(dtype)
    x = 2.0 * torch.randn(150, 2, 3, 2, dtype=dtype) + 0.5  # T = 150: more than two checkpoint blocks
    x[70, 1, 2, 1] = float("nan")
    x[3, 0, 0, 0] = float("nan")  # early in the first block
    weights = torch.randn(x.shape, dtype=dtype)
    params = [p for p in neuron.parameters() if p.requires_grad]
    fused_spikes, fused_grads = _run(neuron, x, weights, params)
    serial_spikes, serial_grads = _run(neuron.serial, x, weights, params)
    assert torch.equal(fused_spikes, serial_spikes), f"{(fused_spikes != serial_spikes).sum()} spikes differ"
    tol = dict(rtol=1e-4, atol=1e-4) if dtype == torch.float32 else {}
    for i, (a, b) in enumerate(zip(fused_grads, serial_grads)):
        assert torch.equal(a.isnan(), b.isnan()), f"grad {i}: NaN at {a.isnan().sum()} (fused) vs {b.isnan().sum()}"
        torch.testing.assert_close(a, b, equal_nan=True, **tol)
    if name != "lif_rectangle_detach":  # there the surrogate is 0 at NaN and no reset path carries the NaN
        assert fused_grads[0].isnan().any(), "a NaN input gives a NaN gradient somewhere"
    assert not fused_grads[0][:, 1, 0].isnan().any(), "columns without NaN keep finite gradients"


@pytest.mark.parametrize("soma_grad", ["elementwise", "cumsum"])
def test_nan_input_pmsn_every_path_agrees_on_grads(soma_grad):
    """Chunked/FFT mix a chunk (a whole sequence) in one matmul/FFT, so a NaN also reaches the currents of
    earlier steps there (spikes 0); the gradients of every path are NaN on the same entries."""
    torch.manual_seed(1)
    x = torch.randn(40, 2, 3, dtype=torch.float64) + 0.5
    x[20, 1, 2] = float("nan")
    weights = torch.randn(x.shape, dtype=torch.float64)
    reference = make_pmsn(3, soma_grad=soma_grad).double()
    params = list(reference.parameters())
    serial_spikes, serial_grads = _run(reference.serial, x, weights, params)
    for path in ["chunked", "fft"] + (["fused"] if FUSED_PMSN else []):
        reference.path = path
        spikes, grads = _run(reference, x, weights, params)
        clean = torch.ones(x.shape[1:], dtype=torch.bool)
        clean[1, 2] = False
        assert torch.equal(spikes[:, clean], serial_spikes[:, clean]), path
        assert torch.equal(spikes[20:], serial_spikes[20:]), path
        for a, b in zip(grads, serial_grads):
            torch.testing.assert_close(a, b, equal_nan=True, msg=lambda m: f"path {path}: {m}")


# ------------------------------------------------------------------------------------------------ double backward
@pytest.mark.parametrize("name", ["lif", "plif", "if", "tclif", "tclif_channel", "pmsn"])
def test_double_backward_through_a_fused_kernel_is_refused_clearly(name):
    _needs_fused(name)
    neuron = FUSED[name]().double()
    x = torch.randn(6, 2, 3, dtype=torch.float64, requires_grad=True)
    with pytest.raises(RuntimeError, match=r"double backward.*fused C\+\+ kernel.*neuron\.serial\(x\)") as error:
        (grad,) = torch.autograd.grad(neuron(x).sum(), x, create_graph=True)
        grad.sum().backward()
    assert "\n" not in str(error.value)
    # the named way out works: the reference path supports double backward
    (grad,) = torch.autograd.grad((neuron.serial(x) * x).sum(), x, create_graph=True)
    grad.sum().backward()


def test_first_order_backward_without_create_graph_still_works():
    neuron = FUSED["tclif"]().double()
    x = torch.randn(6, 2, 3, dtype=torch.float64, requires_grad=True)
    neuron(x).sum().backward()
    assert x.grad is not None


# ------------------------------------------------------------------------------------------------ state checks
STEPPING = ["lif", "plif", "if", "klif", "glif", "alif", "tclif", "masked_psn", "sliding_psn", "pmsn"]


@pytest.mark.parametrize("name", STEPPING)
def test_step_with_a_state_of_another_dtype(name):
    neuron = NEURONS[name](3, 4).double()
    _, state = neuron.step(torch.zeros(2, 3, dtype=torch.float64))
    with pytest.raises(TypeError, match=r"state whose '\w+' has dtype torch\.(float64|complex128), expected "
                                        r"torch\.(float32|complex64)"):
        neuron.step(torch.zeros(2, 3, dtype=torch.float32), state)


@pytest.mark.parametrize("name", STEPPING)
def test_step_with_a_state_on_another_device(name):
    neuron = NEURONS[name](3, 4)
    _, state = neuron.step(torch.zeros(2, 3))
    moved = type(state)(*(v.to("meta") if isinstance(v, torch.Tensor) else v for v in state))
    with pytest.raises(ValueError, match=r"state whose '\w+' is on device meta, expected cpu"):
        neuron.step(torch.zeros(2, 3), moved)


def test_pmsn_state_dtype_follows_the_compute_dtype():
    """bf16 input runs in float32: a float32 state from a float32 step is accepted, the bf16 input's own dtype
    is not what a state is checked against."""
    neuron = make_pmsn(3)
    _, state = neuron.step(torch.zeros(2, 3))
    s_t, _ = neuron.step(torch.zeros(2, 3, dtype=torch.bfloat16), state)
    assert s_t.dtype == torch.bfloat16


# ------------------------------------------------------------------------------------------------ constructors
nan, inf = float("nan"), float("inf")
BAD_ARGUMENTS = [
    (lambda: LIF(tau=nan), r"LIF: tau must be a finite number >= 1, got nan"),
    (lambda: LIF(tau=0.5), r"LIF: tau must be a finite number >= 1, got 0.5"),
    (lambda: LIF(tau=-2.0), r"LIF: tau .* got -2.0"),
    (lambda: LIF(tau="2"), r"LIF: tau must be a finite number >= 1, got '2'"),
    (lambda: LIF(threshold=0.0), r"LIF: threshold must be a finite number > 0, got 0.0"),
    (lambda: LIF(threshold=nan), r"LIF: threshold .* got nan"),
    (lambda: LIF(reset="hard", v_reset=1.5), r"LIF: threshold must be above v_reset .*got threshold=1.0, "
                                            r"v_reset=1.5"),
    (lambda: LIF(v_reset=inf), r"LIF: v_reset must be a finite number, got inf"),
    (lambda: LIF(v_rest=nan), r"LIF: v_rest must be a finite number, got nan"),
    (lambda: LIF(reset="hardest"), r"LIF: reset must be one of \('hard', 'soft', 'none'\), got 'hardest'"),
    (lambda: LIF(detach_reset="yes"), r"LIF: detach_reset must be a bool, got 'yes'"),
    (lambda: LIF(strict=None), r"LIF: strict must be a bool, got None"),
    (lambda: PLIF(tau_init=1.0), r"PLIF: tau_init must be a finite number > 1, got 1.0"),
    (lambda: PLIF(tau_init=nan), r"PLIF: tau_init .* got nan"),
    (lambda: PLIF(tau_init=inf), r"PLIF: tau_init .* got inf"),
    (lambda: IF(threshold=-1.0), r"IF: threshold must be a finite number > 0, got -1.0"),
    (lambda: IF(v_reset=1.0), r"IF: threshold must be above v_reset .*got threshold=1.0, v_reset=1.0"),
    (lambda: IF(reset="subtract"), r"IF: reset must be one of \('hard', 'soft', 'none'\), got 'subtract'"),
    (lambda: IF(detach_reset=0), r"IF: detach_reset must be a bool, got 0"),
    (lambda: KLIF(tau=0.5), r"KLIF: tau must be a finite number >= 1, got 0.5"),
    (lambda: KLIF(k_init=0.0), r"KLIF: k_init must be a finite number > 0, got 0.0"),
    (lambda: KLIF(k_init=nan), r"KLIF: k_init .* got nan"),
    (lambda: KLIF(threshold=inf), r"KLIF: threshold .* got inf"),
    (lambda: KLIF(decay_input="no"), r"KLIF: decay_input must be a bool, got 'no'"),
    (lambda: GLIF(channels=0), r"GLIF: channels must be a positive int, got 0"),
    (lambda: GLIF(channels=3, T=0), r"GLIF: T must be None or a positive int, got 0"),
    (lambda: GLIF(channels=3, T=4.0), r"GLIF: T must be None or a positive int, got 4.0"),
    (lambda: GLIF(channels=3, tau_init=1.0), r"GLIF: tau_init must be a number in \(0, 1\) .*got 1.0"),
    (lambda: GLIF(channels=3, threshold_init=0.0), r"GLIF: threshold_init must be a number in \(0, 1\) .*got 0.0"),
    (lambda: GLIF(channels=3, leak_init=nan), r"GLIF: leak_init .* got nan"),
    (lambda: GLIF(channels=3, reset_init=True), r"GLIF: reset_init .* got True"),
    (lambda: GLIF(channels=3, conductance_init=-0.5), r"GLIF: conductance_init .* got -0.5"),
    (lambda: GLIF(channels=3, gate_init=(0.5, 0.5)), r"GLIF: gate_init must be None or three numbers .*"
                                                     r"got \(0.5, 0.5\)"),
    (lambda: GLIF(channels=3, gate_init=(0.5, 1.5, 0.5)), r"GLIF: gate_init β must be a number in \(0, 1\) .*got 1.5"),
    (lambda: GLIF(channels=3, strict="yes"), r"GLIF: strict must be a bool, got 'yes'"),
    (lambda: ALIF(channels=0), r"ALIF: channels must be a positive int, got 0"),
    (lambda: ALIF(channels=3.0), r"ALIF: channels must be a positive int, got 3.0"),
    (lambda: ALIF(channels=3, tau_m=(nan, 5.0)), r"ALIF: tau_m must be \(mean, std\) .* got \(nan, 5.0\)"),
    (lambda: ALIF(channels=3, tau_m=(20.0, -1.0)), r"ALIF: tau_m .* got \(20.0, -1.0\)"),
    (lambda: ALIF(channels=3, tau_adp=20.0), r"ALIF: tau_adp .* got 20.0"),
    (lambda: ALIF(channels=3, base_threshold=0.0), r"ALIF: base_threshold must be a finite number > 0, got 0.0"),
    (lambda: ALIF(channels=3, adaptation_strength=-1.0), r"ALIF: adaptation_strength .* >= 0, got -1.0"),
    (lambda: TCLIF(threshold=-1.0), r"TCLIF: threshold must be a finite number > 0, got -1.0"),
    (lambda: TCLIF(threshold=inf), r"TCLIF: threshold .* got inf"),
    (lambda: TCLIF(dendrite_reset=nan), r"TCLIF: dendrite_reset must be a finite number >= 0, got nan"),
    (lambda: TCLIF(decay_init=(0.0, nan)), r"TCLIF: decay_init must be two finite numbers .*got \(0.0, nan\)"),
    (lambda: TCLIF(decay_init=(1.0,)), r"TCLIF: decay_init .* got \(1.0,\)"),
    (lambda: TCLIF(channels=-1), r"TCLIF: channels must be None or a positive int, got -1"),
    (lambda: TCLIF(beta_sharing="neuron"), r"TCLIF: beta_sharing must be one of .*got 'neuron'"),
    (lambda: TCLIF(preset="cifar"), r"TCLIF: preset must be one of .*got 'cifar'"),
    (lambda: TCLIF(coupling_uses_pre_reset_soma=1), r"TCLIF: coupling_uses_pre_reset_soma must be a bool, got 1"),
    (lambda: PSN(T=0), r"PSN: T must be a positive int, got 0"),
    (lambda: PSN(T=True), r"PSN: T must be a positive int, got True"),
    (lambda: PSN(T=4, threshold=nan), r"PSN: threshold must be a finite number, got nan"),
    (lambda: MaskedPSN(T=4, order=0), r"MaskedPSN: order must be an int in \[1, T=4\], got 0"),
    (lambda: MaskedPSN(T=4, order=5), r"MaskedPSN: order must be an int in \[1, T=4\], got 5"),
    (lambda: MaskedPSN(T=4, order=2, mask_lambda=1.5), r"MaskedPSN: mask_lambda must be a finite number in "
                                                       r"\[0, 1\], got 1.5"),
    (lambda: MaskedPSN(T=4, order=2, mask_lambda=nan), r"MaskedPSN: mask_lambda .* got nan"),
    (lambda: MaskedPSN(T=4, order=2, mask_lambda=-0.1), r"MaskedPSN: mask_lambda .* got -0.1"),
    (lambda: MaskedPSN(T=4, order=2).set_lambda(nan), r"MaskedPSN: mask_lambda .* got nan"),
    (lambda: SlidingPSN(order=0), r"SlidingPSN: order must be a positive int, got 0"),
    (lambda: SlidingPSN(order=2, threshold=inf), r"SlidingPSN: threshold must be a finite number, got inf"),
    (lambda: SlidingPSN(order=2, exp_init="no"), r"SlidingPSN: exp_init must be a bool, got 'no'"),
    (lambda: PMSN(channels=0), r"PMSN: channels must be a positive int, got 0"),
    (lambda: PMSN(channels=3, compartments=1), r"PMSN: compartments must be an int >= 2 .*got 1"),
    (lambda: PMSN(channels=3, threshold=inf), r"PMSN: threshold must be a finite number > 0, got inf"),
    (lambda: PMSN(channels=3, threshold=nan), r"PMSN: threshold .* got nan"),
    (lambda: PMSN(channels=3, scale=0.0), r"PMSN: scale must be a finite number > 0, got 0.0"),
    (lambda: PMSN(channels=3, coupling=nan), r"PMSN: coupling must be a finite number, got nan"),
    (lambda: PMSN(channels=3, dt_min=0.0), r"PMSN: dt_min must be a finite number > 0, got 0.0"),
    (lambda: PMSN(channels=3, dt_max=inf), r"PMSN: dt_max must be a finite number > 0, got inf"),
    (lambda: PMSN(channels=3, dt_min=0.5, dt_max=0.1), r"PMSN: dt_min must be <= dt_max, got dt_min=0.5, "
                                                       r"dt_max=0.1"),
    (lambda: PMSN(channels=3, output_init="first"), r"PMSN: output_init must be one of .*got 'first'"),
    (lambda: PMSN(channels=3, chunk=0), r"PMSN: chunk must be a positive int, got 0"),
    (lambda: build_pmsn(channels=3, soma_mode="bogus"), r"PMSN: soma_mode must be one of .*got 'bogus'"),
    (lambda: PMSN(channels=3, strict="false"), r"PMSN: strict must be a bool, got 'false'"),
]


@pytest.mark.parametrize("make, message", BAD_ARGUMENTS, ids=[m[:40] for _, m in BAD_ARGUMENTS])
def test_bad_constructor_argument_is_named_in_one_line(make, message):
    with pytest.raises(ValueError, match=message) as error:
        make()
    assert "\n" not in str(error.value)


def test_valid_edge_values_are_accepted():
    LIF(tau=1.0)  # k = 1: no memory, still well defined
    IF(reset="soft", v_reset=5.0)  # v_reset only matters for the hard reset
    KLIF(tau=1.0, k_init=1e-3)
    GLIF(channels=1, T=1, gate_init=(1e-6, 0.5, 1 - 1e-6), leak_init=1e-6)
    LIF(reset="soft", v_reset=5.0)  # v_reset only matters for the hard reset
    MaskedPSN(T=4, order=4, mask_lambda=0.0)
    MaskedPSN(T=1, order=1)
    PSN(T=3, threshold=-0.5)  # the initial bias of a learnable map: any finite value
    TCLIF(dendrite_reset=0.0, parametrization="free", decay_init=(0.3, 1.2))
    PMSN(channels=1, compartments=2, coupling=0.0, dt_min=0.1, dt_max=0.1)
    ALIF(channels=1, tau_m=(20.0, 0.0), adaptation_strength=0.0)
