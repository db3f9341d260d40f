"""Triton PMSN sweep (pmsn.ops.triton_pmsn) against the neuron's step loop ``PMSN.serial`` (docs/pmsn.md §5.2, §6):
identical spikes, gradients w.r.t. the input and every PMSN parameter equal to float64 rounding.

Without a GPU the kernels run in Triton's interpreter on CPU tensors (TRITON_INTERPRET=1, set by
tests/ops/conftest.py); with one, on CUDA. Sizes are tiny (the interpreter runs every program in Python) and the
checkpoint interval is 4 steps, so that the recompute of several blocks, a partial last block and several tiles
with a partial last tile are all exercised.
"""

from __future__ import annotations


import pytest
import torch

from pmsn.neurons.pmsn import PMSN
from pmsn.ops import triton_common
from pmsn.surrogate import Triangle

pytest.importorskip("triton")
from pmsn.ops import triton_pmsn  # noqa: E402  (needs triton)

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
PARAMETERS = ("log_dt", "log_A_real", "A_imag", "VinvB_real", "VinvB_imag", "CV_real", "CV_imag", "D")
if DEVICE == "cpu" and not triton_pmsn.INTERPRETED:
    pytest.skip("no GPU, and the kernels were not built for Triton's interpreter (TRITON_INTERPRET=1 must be set "
                "before triton is first imported; tests/ops/conftest.py sets it)", allow_module_level=True)


@pytest.fixture(autouse=True)
def small_blocks(monkeypatch):
    monkeypatch.setattr(triton_common, "BLOCK", 4)


def make_neuron(channels, compartments, dtype=torch.float64, seed=0, **kwargs):
    """A PMSN whose readout is scaled up so that it fires at a moderate rate on N(0.5, 1) input."""
    torch.manual_seed(seed)
    neuron = PMSN(channels, compartments=compartments, **kwargs).to(DEVICE, dtype)
    with torch.no_grad():
        neuron.CV_real.mul_(5)
        neuron.CV_imag.mul_(5)
    return neuron


def triton_path(neuron: PMSN, x: torch.Tensor) -> torch.Tensor:
    """The neuron's own sweep dispatch with the Triton kernel (what ``path="triton"`` runs on CUDA)."""
    return neuron._fused(x, "triton_columns")


def spikes_and_grads(function, neuron, x, weight):
    """Spikes and the gradients of L = Σ weight·S w.r.t. x and every neuron parameter (in PARAMETERS order)."""
    x = x.detach().requires_grad_(True)
    spikes = function(x)
    params = [getattr(neuron, name) for name in PARAMETERS]
    return spikes.detach(), torch.autograd.grad((spikes * weight).sum(), [x] + params)


def assert_relative(actual, expected, tolerance, name):
    scale = expected.abs().max().clamp_min(1e-300)
    error = ((actual - expected).abs().max() / scale).item()
    assert error <= tolerance, f"{name}: relative error {error:.3g} > {tolerance}"


def compare(neuron, x, tolerance, seed=1):
    weight = torch.randn(x.shape, dtype=x.dtype, generator=torch.Generator().manual_seed(seed)).to(DEVICE)
    spikes, grads = spikes_and_grads(lambda u: triton_path(neuron, u), neuron, x, weight)
    ref_spikes, ref_grads = spikes_and_grads(neuron.serial, neuron, x, weight)
    assert torch.equal(spikes, ref_spikes), f"{(spikes != ref_spikes).sum().item()} spikes differ"
    for name, grad, ref_grad in zip(("x",) + PARAMETERS, grads, ref_grads):
        assert grad.dtype == ref_grad.dtype and grad.shape == ref_grad.shape
        assert_relative(grad, ref_grad, tolerance, name)
    return spikes


def make_input(shape, dtype=torch.float64, seed=0):
    return (torch.randn(shape, dtype=dtype, generator=torch.Generator().manual_seed(seed)) + 0.5).to(DEVICE)


# (compartments n, T, [B, C, *spatial], soma_grad, strict): n = 2…9, T = 1, odd T, spatial dims, 30 columns
# (two tiles of 16, the second partial), blocks of 4 with a partial last one
CASES = [
    (2, 1, (2, 3, 1), "elementwise", False),
    (3, 9, (2, 3, 2), "cumsum", True),
    (4, 13, (3, 5, 2), "elementwise", False),
    (5, 17, (1, 2, 2, 3), "cumsum", False),
    (6, 8, (2, 2, 3), "elementwise", True),
    (7, 11, (3, 5, 2), "cumsum", False),
    (8, 5, (1, 3, 1), "elementwise", False),
    (9, 13, (2, 2, 2), "cumsum", True),
]


@pytest.mark.parametrize("compartments, steps, shape, soma_grad, strict", CASES,
                         ids=[f"n{n}-T{t}-{'x'.join(map(str, s))}-{g}{'-strict' if st else ''}"
                              for n, t, s, g, st in CASES])
def test_matches_serial_float64(compartments, steps, shape, soma_grad, strict):
    neuron = make_neuron(shape[1], compartments, soma_grad=soma_grad, strict=strict, scale=0.7, seed=compartments)
    spikes = compare(neuron, make_input((steps, *shape), seed=steps), 1e-10)
    assert 0 < spikes.mean() < 1 or steps == 1


def test_float32_matches_serial():
    neuron = make_neuron(3, 5, dtype=torch.float32, soma_grad="cumsum")
    compare(neuron, make_input((17, 2, 3, 2), dtype=torch.float32), 1e-4)


def test_threshold_scale_and_width():
    """θ, κ and γ other than 1 (κ = 0.2 is not a float32 number: the constants travel in the input's dtype)."""
    neuron = make_neuron(3, 4, threshold=0.7, scale=0.2, surrogate=Triangle(0.6))
    spikes = compare(neuron, make_input((15, 2, 3, 2), seed=3), 1e-10)
    assert 0 < spikes.mean() < 1


@pytest.mark.parametrize("soma_grad", ["elementwise", "cumsum"])
def test_golden_example(soma_grad, pmsn_golden):
    """The worked example of docs/pmsn.md §10 (shared with tests/ops/test_fused_cpu.py through conftest)."""
    u = torch.tensor(pmsn_golden["input"], dtype=torch.float64, device=DEVICE).reshape(12, 1, 1, 1).requires_grad_(True)
    weight = torch.arange(1, 13, dtype=torch.float64, device=DEVICE).reshape(12, 1, 1, 1)  # L = Σ (t+1)·S[t]
    spikes = triton_pmsn.pmsn_triton(u, *(p.to(DEVICE) for p in pmsn_golden["params"]), soma_grad=soma_grad)
    (spikes * weight).sum().backward()
    assert spikes.flatten().tolist() == pmsn_golden["spikes"]
    expected = torch.tensor(pmsn_golden["input_gradient"][soma_grad], dtype=torch.float64)
    torch.testing.assert_close(u.grad.flatten().cpu(), expected, rtol=2e-5, atol=2e-6)


def test_strict_threshold():
    """v reaches θ exactly at t = 1 (D = 1, no modal current): fires unless strict."""
    u = torch.tensor([0.5, 0.5, 0.25, 0.75], dtype=torch.float64, device=DEVICE).reshape(4, 1, 1, 1)
    params = [torch.full((1, 1), 0.5), torch.zeros(1, 1), torch.zeros(1, 1), torch.zeros(1, 1), torch.ones(1)]
    params = [p.to(DEVICE, torch.float64) for p in params]
    assert triton_pmsn.pmsn_triton(u, *params).flatten().tolist() == [0, 1, 0, 1]
    assert triton_pmsn.pmsn_triton(u, *params, strict=True).flatten().tolist() == [0, 0, 0, 0]


def test_inference_and_partial_grads_match():
    """No grad: no checkpoints, same spikes; gradients of u alone / of one parameter alone equal the full call's."""
    neuron = make_neuron(3, 4, soma_grad="cumsum")
    x = make_input((10, 2, 3, 2), seed=5)
    decay, input_gain, readout = (t.detach() for t in neuron.modal_system(torch.float64))
    residue = readout * input_gain
    params = [decay.real, decay.imag, residue.real, residue.imag, neuron.D.detach()]
    weight = make_input(x.shape, seed=7)
    with torch.no_grad():
        spikes = triton_pmsn.pmsn_triton(x, *params, soma_grad="cumsum")
    assert spikes.grad_fn is None
    leaves = [t.clone().requires_grad_(True) for t in [x, *params]]
    full = torch.autograd.grad((triton_pmsn.pmsn_triton(*leaves, soma_grad="cumsum") * weight).sum(), leaves)
    u = x.clone().requires_grad_(True)
    out = triton_pmsn.pmsn_triton(u, *params, soma_grad="cumsum")
    assert torch.equal(out.detach(), spikes)
    assert torch.equal(torch.autograd.grad((out * weight).sum(), u)[0], full[0])
    decay_re = params[0].clone().requires_grad_(True)
    out = triton_pmsn.pmsn_triton(x, decay_re, *params[1:], soma_grad="cumsum")
    assert torch.equal(torch.autograd.grad((out * weight).sum(), decay_re)[0], full[1])


def test_empty_and_nan_inputs_match_serial():
    """B = 0: empty spikes, zero gradients. A NaN in u: spikes and the NaN pattern of every gradient as in the loop."""
    neuron = make_neuron(3, 4)
    empty = make_input((6, 0, 3, 2))
    spikes, grads = spikes_and_grads(lambda u: triton_path(neuron, u), neuron, empty, torch.ones_like(empty))
    assert spikes.shape == empty.shape and all(torch.equal(g, torch.zeros_like(g)) for g in grads)
    x = make_input((7, 2, 3, 2), seed=6)
    x[3, 1, 2, 1] = float("nan")
    spikes, grads = spikes_and_grads(lambda u: triton_path(neuron, u), neuron, x, torch.ones_like(x))
    ref_spikes, ref_grads = spikes_and_grads(neuron.serial, neuron, x, torch.ones_like(x))
    assert torch.equal(spikes, ref_spikes)
    for name, grad, ref_grad in zip(("x",) + PARAMETERS, grads, ref_grads):
        assert torch.equal(grad.isnan(), ref_grad.isnan()), name
        assert_relative(grad.nan_to_num(), ref_grad.nan_to_num(), 1e-10, name)


def test_double_backward_raises():
    neuron = make_neuron(2, 3)
    x = make_input((5, 1, 2, 1)).requires_grad_(True)
    with pytest.raises(RuntimeError, match="double backward"):
        torch.autograd.grad(triton_path(neuron, x).sum(), x, create_graph=True)


def test_bad_input():
    u = make_input((5, 1, 3, 1))
    params = [torch.zeros(3, 4, dtype=torch.float64, device=DEVICE) for _ in range(4)]
    skip = torch.zeros(3, dtype=torch.float64, device=DEVICE)
    with pytest.raises(ValueError, match=r"abar_im must have shape \(3, 4\).*got \(3, 5\)"):
        triton_pmsn.pmsn_triton(u, params[0], params[1].new_zeros(3, 5), *params[2:], skip)
    with pytest.raises(ValueError, match=r"skip must have shape \(3,\).*got \(4,\)"):
        triton_pmsn.pmsn_triton(u, *params, skip.new_zeros(4))
    with pytest.raises(TypeError, match="float32 or float64, got torch.int64"):
        triton_pmsn.pmsn_triton(u.long(), *params, skip)
    with pytest.raises(TypeError, match="residue_re must have u's dtype torch.float64, got torch.float32"):
        triton_pmsn.pmsn_triton(u, params[0], params[1], params[2].float(), params[3], skip)
    with pytest.raises(ValueError, match=r"\[T, B, C, \*spatial\], got shape \(5, 3\)"):
        triton_pmsn.pmsn_triton(u[:, 0, :, 0], *params, skip)
    with pytest.raises(ValueError, match="soma_grad must be one of"):
        triton_pmsn.pmsn_triton(u, *params, skip, soma_grad="sum")


def test_kernels_compile_for_sm90_without_spills(compile_for_sm90):
    """The kernels the interpreter runs also compile for an H100, with the launch geometry of ``geometry`` (the
    widest tiles), and keep their state in registers up to N = 16 modes (≤ 64 bytes of stack: ptxas may park a value
    or two there; the spilling geometries measured before ``geometry`` bounded the block size used 400+)."""
    usage = compile_for_sm90('''
import torch
from pmsn.ops import triton_pmsn
for dtype in (torch.float32, torch.float64):
    name = str(dtype)[-7:].replace("float", "fp")
    for modes in (1, 8, 16):
        _, launch = triton_pmsn.geometry(torch.empty(1, 10**5, dtype=dtype), modes)
        constants = {key: launch.pop(key) for key in ("BLOCK", "TILE", "MODES")}
        compile_sm90(f"forward-{name}-N{modes}", triton_pmsn._forward_kernel, name,
                     dict(STRICT=False, SAVE=True, **constants), **launch)
        compile_sm90(f"backward-{name}-N{modes}", triton_pmsn._backward_kernel, name,
                     dict(CARRY=True, GRAD_U=True, GRAD_PARAMS=True, **constants), **launch)
''')
    assert len(usage) == 12
    for name, (registers, stack) in usage.items():
        assert stack <= 64, f"{name}: {registers} registers, {stack} bytes of stack (spills)"
