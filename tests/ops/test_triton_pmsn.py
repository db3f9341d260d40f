"""The Triton PMSN sweeps, over columns (pmsn.ops.triton_pmsn) and over time chunks (pmsn.ops.triton_pmsn_chunked,
docs/kernels.md §11.1), against the neuron's step loop ``PMSN.serial`` (docs/pmsn.md §5.2, §6) and each other:
identical spikes, gradients w.r.t. the input and every PMSN parameter equal to float64 rounding; and the choice
between them (docs/kernels.md §11.2).

Without a GPU the kernels run in Triton's interpreter on CPU tensors (TRITON_INTERPRET=1, set by
tests/ops/conftest.py); with one, on CUDA. Sizes are tiny (the interpreter runs every program in Python) and the
checkpoint interval (the chunk of the chunked sweep) is 4 steps, so that the recompute of several blocks, the
carries over several chunks, a partial last block and several tiles with a partial last tile are all exercised.
"""

from __future__ import annotations

import logging

import pytest
import torch

from pmsn.neurons import pmsn as pmsn_module
from pmsn.neurons.pmsn import PMSN
from pmsn.ops import triton_common
from pmsn.surrogate import Triangle

pytest.importorskip("triton")
from pmsn.ops import triton_pmsn, triton_pmsn_chunked  # noqa: E402  (needs triton)

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


def triton_path(neuron: PMSN, x: torch.Tensor, path: str = "triton_columns") -> torch.Tensor:
    """The neuron's own sweep dispatch with a Triton variant (what ``path=...`` runs on CUDA)."""
    return neuron._fused(x, path)


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


def compare(neuron, x, tolerance, seed=1, path="triton_columns", reference=None):
    """Spikes and gradients of ``path`` against ``reference`` (default: the step loop)."""
    weight = torch.randn(x.shape, dtype=x.dtype, generator=torch.Generator().manual_seed(seed)).to(DEVICE)
    spikes, grads = spikes_and_grads(lambda u: triton_path(neuron, u, path), neuron, x, weight)
    ref_spikes, ref_grads = spikes_and_grads(reference or neuron.serial, neuron, x, weight)
    assert torch.equal(spikes, ref_spikes), f"{(spikes != ref_spikes).sum().item()} spikes differ"
    for name, grad, ref_grad in zip(("x",) + PARAMETERS, grads, ref_grads):
        assert grad.dtype == ref_grad.dtype and grad.shape == ref_grad.shape
        assert_relative(grad, ref_grad, tolerance, name)
    return spikes


def make_input(shape, dtype=torch.float64, seed=0):
    return (torch.randn(shape, dtype=dtype, generator=torch.Generator().manual_seed(seed)) + 0.5).to(DEVICE)


def case_ids(cases) -> list[str]:
    """Readable ids of (n, T, shape, soma_grad, strict) cases, e.g. ``n3-T9-2x3x2-cumsum-strict``."""
    return [f"n{n}-T{t}-{'x'.join(map(str, shape))}-{grad}{'-strict' if strict else ''}"
            for n, t, shape, grad, strict in cases]


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
                         ids=case_ids(CASES))
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


# ------------------------------------------------------------- the chunked variant (docs/kernels.md §11.1)
# (n, T, [B, C, *spatial], soma_grad, strict), chunks of 4 steps: T = 1, T shorter than one chunk, T a multiple of
# the chunk and not, B·C = 1 over many chunks, spatial dims, two tiles, both soma gradient rules, strict firing
CHUNKED_CASES = [
    (2, 1, (1, 1, 1), "cumsum", False),
    (3, 3, (2, 3, 1), "cumsum", True),
    (4, 21, (1, 1, 1), "elementwise", False),
    (5, 13, (1, 2, 2, 3), "cumsum", False),
    (7, 10, (3, 5, 2), "elementwise", False),
    (9, 12, (2, 2, 2), "elementwise", True),
]


@pytest.mark.parametrize("compartments, steps, shape, soma_grad, strict", CHUNKED_CASES,
                         ids=case_ids(CHUNKED_CASES))
def test_chunked_matches_serial_float64(compartments, steps, shape, soma_grad, strict):
    neuron = make_neuron(shape[1], compartments, soma_grad=soma_grad, strict=strict, scale=0.7, seed=compartments)
    x = make_input((steps, *shape), seed=steps)
    spikes = compare(neuron, x, 1e-10, path="triton_chunks")
    assert 0 < spikes.mean() < 1 or steps < 4


def test_chunked_float32_matches_columns_and_serial():
    """Float32: the same spikes as the column sweep and the step loop (the carries round differently, so spikes
    are compared on an input without near-ties; gradients to the tolerance of the float32 column test)."""
    neuron = make_neuron(3, 5, dtype=torch.float32, soma_grad="cumsum", seed=2)
    x = make_input((17, 2, 3, 2), dtype=torch.float32, seed=4)
    compare(neuron, x, 1e-4, path="triton_chunks")
    spikes = compare(neuron, x, 1e-4, path="triton_chunks", reference=lambda u: triton_path(neuron, u))
    assert 0 < spikes.mean() < 1


@pytest.mark.parametrize("soma_grad", ["elementwise", "cumsum"])
def test_chunked_golden_example(soma_grad, pmsn_golden):
    """docs/pmsn.md §10 in 3 chunks of 4 steps: the remainder carried over a chunk boundary right after the v ≥ 2θ
    step (t = 7), the cumsum gradient's sum over later chunks."""
    u = torch.tensor(pmsn_golden["input"], dtype=torch.float64, device=DEVICE).reshape(12, 1, 1, 1).requires_grad_(True)
    weight = torch.arange(1, 13, dtype=torch.float64, device=DEVICE).reshape(12, 1, 1, 1)
    spikes = triton_pmsn_chunked.pmsn_triton_chunked(u, *(p.to(DEVICE) for p in pmsn_golden["params"]),
                                                     soma_grad=soma_grad)
    (spikes * weight).sum().backward()
    assert spikes.flatten().tolist() == pmsn_golden["spikes"]
    expected = torch.tensor(pmsn_golden["input_gradient"][soma_grad], dtype=torch.float64)
    torch.testing.assert_close(u.grad.flatten().cpu(), expected, rtol=2e-5, atol=2e-6)


def test_chunked_inference_partial_grads_nan_and_empty():
    """No grad: same spikes, nothing saved; gradients of u alone / of one parameter alone equal the full call's; a NaN
    in u gives the step loop's spikes and gradient NaN pattern; B = 0 gives empty spikes and zero gradients."""
    neuron = make_neuron(3, 4, soma_grad="cumsum")
    x = make_input((10, 2, 3, 2), seed=5)
    decay, input_gain, readout = (t.detach() for t in neuron.modal_system(torch.float64))
    residue = readout * input_gain
    params = [decay.real, decay.imag, residue.real, residue.imag, neuron.D.detach()]
    weight = make_input(x.shape, seed=7)
    chunked = triton_pmsn_chunked.pmsn_triton_chunked
    with torch.no_grad():
        spikes = chunked(x, *params, soma_grad="cumsum")
    assert spikes.grad_fn is None
    leaves = [t.clone().requires_grad_(True) for t in [x, *params]]
    full = torch.autograd.grad((chunked(*leaves, soma_grad="cumsum") * weight).sum(), leaves)
    u = x.clone().requires_grad_(True)
    out = chunked(u, *params, soma_grad="cumsum")
    assert torch.equal(out.detach(), spikes)
    assert torch.equal(torch.autograd.grad((out * weight).sum(), u)[0], full[0])
    skip = params[4].clone().requires_grad_(True)
    out = chunked(x, *params[:4], skip, soma_grad="cumsum")
    assert torch.equal(torch.autograd.grad((out * weight).sum(), skip)[0], full[5])

    x[6, 1, 2, 1] = float("nan")  # in the second chunk: carried into the later chunks, forwards and backwards
    got, got_grads = spikes_and_grads(lambda v: triton_path(neuron, v, "triton_chunks"), neuron, x, weight)
    ref, ref_grads = spikes_and_grads(neuron.serial, neuron, x, weight)
    assert torch.equal(got, ref)
    for name, grad, ref_grad in zip(("x",) + PARAMETERS, got_grads, ref_grads):
        assert torch.equal(grad.isnan(), ref_grad.isnan()), name
        assert_relative(grad.nan_to_num(), ref_grad.nan_to_num(), 1e-10, name)
    empty = make_input((6, 0, 3, 2))
    got, got_grads = spikes_and_grads(lambda v: triton_path(neuron, v, "triton_chunks"), neuron, empty,
                                      torch.ones_like(empty))
    assert got.shape == empty.shape and all(torch.equal(g, torch.zeros_like(g)) for g in got_grads)


@pytest.mark.parametrize("steps, columns, processors, expected", [
    (16384, 256, 132, "chunks"),  # one sequence of 256 channels on an H100: 16 programs for 132 SMs
    (16384, 64 * 256, 132, "columns"),  # B = 64: 1024 programs of 16 columns
    (512, 4208, 132, "chunks"),  # the smallest T, the most columns with < 2 programs per SM (263 of 16)
    (512, 4209, 132, "columns"),
    (511, 256, 132, "columns"),  # fewer than 8 chunks of 64 steps
    (4096, 16, 1, "chunks"),  # the interpreter's "one SM"
    (4096, 17, 1, "columns"),
])
def test_variant_choice(steps, columns, processors, expected, monkeypatch):
    monkeypatch.setattr(triton_common, "BLOCK", 64)
    assert triton_common.choose_pmsn_triton_variant(steps, columns, processors) == expected


def test_variant_choice_is_logged_once_per_shape_and_drives_the_neuron(caplog):
    """PMSN's path="triton" resolves through the chooser (here with the CPU's "one SM" and chunks of 4 steps);
    the choice is logged at info level once per shape."""
    triton_common._log_choice.cache_clear()
    x_long, x_short = torch.zeros(32, 1, 3), torch.zeros(31, 1, 3)
    with caplog.at_level(logging.INFO, logger="pmsn.ops.triton_common"):
        assert [pmsn_module._triton_variant(x) for x in (x_long, x_long, x_short)] == \
            ["triton_chunks", "triton_chunks", "triton_columns"]
    messages = [r.getMessage() for r in caplog.records if r.name == "pmsn.ops.triton_common"]
    assert messages == ["PMSN Triton sweep: chunks variant for T=32, B·C·spatial=3 columns, 1 SMs",
                        "PMSN Triton sweep: columns variant for T=31, B·C·spatial=3 columns, 1 SMs"]


@pytest.mark.parametrize("path", ["triton_columns", "triton_chunks"])
def test_forced_variant_on_the_wrong_device_is_one_clear_error(path):
    neuron = PMSN(channels=3, path=path)
    wrong = "cpu" if DEVICE == "cuda" else "meta"
    with pytest.raises(ValueError, match=rf"PMSN path='{path}' runs on cuda tensors.*got device={wrong}"):
        neuron.chosen_path(torch.zeros(4, 2, 3, device=wrong))


@pytest.mark.skipif(DEVICE != "cuda", reason="PMSN(path='triton') runs on CUDA tensors")
def test_neuron_triton_path_picks_the_variant_on_cuda():
    neuron = PMSN(channels=4, path="triton").to(DEVICE)
    processors = torch.cuda.get_device_properties(DEVICE).multi_processor_count
    assert neuron.chosen_path(torch.zeros(64 * 64, 1, 4, device=DEVICE)) == "triton_chunks"
    assert neuron.chosen_path(torch.zeros(64, 1, 4, device=DEVICE)) == "triton_columns"
    assert neuron.chosen_path(torch.zeros(64 * 64, 32 * processors, 4, device=DEVICE)) == "triton_columns"


def test_chunked_kernels_compile_for_sm90_without_spills(compile_for_sm90):
    """Every pass and carry of the chunked sweep compiles for an H100 with the launch geometry of ``geometry``, its
    state in registers (the final backward pass, the heaviest, up to N = 16 modes)."""
    usage = compile_for_sm90('''
import torch
from pmsn.ops import triton_pmsn, triton_pmsn_chunked as chunked
for dtype in (torch.float32, torch.float64):
    name = str(dtype)[-7:].replace("float", "fp")
    for modes in (1, 8, 16):
        _, launch = triton_pmsn.geometry(torch.empty(1, 10**5, dtype=dtype), modes)
        constants = {key: launch.pop(key) for key in ("BLOCK", "TILE", "MODES")}
        compile_sm90(f"backward-final-{name}-N{modes}", chunked._backward_kernel, name,
                     dict(PHASE=chunked.FINAL, CARRY=True, ZETA=True, SUMS=True, GRAD_U=True, **constants), **launch)
        if modes != 16:
            continue
        for label, phase in (("recompute", chunked.RECOMPUTE), ("local", chunked.LOCAL)):
            compile_sm90(f"backward-{label}-{name}", chunked._backward_kernel, name,
                         dict(PHASE=phase, CARRY=True, ZETA=True, SUMS=False, GRAD_U=False, **constants), **launch)
        for label, phase in (("modal", chunked.MODAL), ("soma", chunked.SOMA), ("spikes", chunked.SPIKES)):
            compile_sm90(f"forward-{label}-{name}", chunked._forward_kernel, name,
                         dict(PHASE=phase, STRICT=False, **constants), **launch)
        for label, kind in (("state", chunked.STATE), ("remainder", chunked.REMAINDER),
                            ("adjoint", chunked.ADJOINT)):
            compile_sm90(f"carry-{label}-{name}", chunked._carry_kernel, name,
                         dict(KIND=kind, ZETA=True, **constants), **launch)
''')
    assert len(usage) == 22
    for name, (registers, stack) in usage.items():
        assert stack <= 64, f"{name}: {registers} registers, {stack} bytes of stack (spills)"
