"""Triton LIF/PLIF and TC-LIF sweeps (pmsn.ops.triton_leaky) against the neurons' step loops (``.serial``):
identical spikes, gradients w.r.t. the input and every parameter equal to 1e-10 of the largest (float64).

Without a GPU the kernels run in Triton's interpreter on CPU tensors (TRITON_INTERPRET=1, set by
tests/ops/conftest.py); with one, on CUDA. Checkpoints every 4 steps: several recomputed blocks, a partial last
one; 24 columns: two tiles of 16, the second partial.
"""

import itertools

import pytest
import torch

from pmsn.neurons import LIF, PLIF, TCLIF
from pmsn.ops import triton_common
from pmsn.surrogate import ATan, MultiGaussian, Rectangle, Sigmoid, Triangle

pytest.importorskip("triton")
from pmsn.ops import triton_leaky  # noqa: E402  (needs triton)

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
if DEVICE == "cpu" and not triton_leaky.INTERPRETED:
    pytest.skip("no GPU, and the kernels were not built for Triton's interpreter (TRITON_INTERPRET=1 must be set "
                "before triton is first imported; tests/ops/conftest.py sets it)", allow_module_level=True)

SURROGATES = [Triangle(0.7), ATan(2.0), Sigmoid(4.0), Rectangle(0.8), MultiGaussian()]
STEPS = [1, 9, 13]
SHAPES = [(2, 3), (2, 3, 2, 2)]  # [B, C, *spatial]: 6 and 24 columns


@pytest.fixture(autouse=True)
def small_blocks(monkeypatch):
    monkeypatch.setattr(triton_common, "BLOCK", 4)


def make_input(steps, shape, seed, dtype=torch.float64):
    """Continuous values plus quarter-integer ones: the latter hit the threshold exactly (tests ≥ vs >)."""
    gen = torch.Generator().manual_seed(seed)
    continuous = 1.5 * torch.randn(steps, *shape, generator=gen, dtype=dtype) + 0.4
    quantised = torch.round(4 * continuous) / 4
    mask = torch.rand(steps, *shape, generator=gen) < 0.5
    return torch.where(mask, quantised, continuous).to(DEVICE)


def compare(neuron, function, x, tolerance=1e-10):
    """``function(x)`` (the Triton path) against ``neuron.serial(x)``: spikes equal, gradients within tolerance·max."""
    x = x.clone().requires_grad_(True)
    weights = torch.randn(x.shape, generator=torch.Generator().manual_seed(1), dtype=x.dtype).to(DEVICE)
    named = [(name, p) for name, p in neuron.named_parameters() if p.requires_grad]
    names, params = [name for name, _ in named], [p for _, p in named]
    results = []
    for fn in (function, neuron.serial):
        spikes = fn(x)
        results.append((spikes.detach(), torch.autograd.grad((spikes * weights).sum(), [x, *params])))
    (spikes, grads), (ref_spikes, ref_grads) = results
    assert torch.equal(spikes, ref_spikes), f"{(spikes != ref_spikes).sum().item()} spikes differ"
    for name, got, want in zip(("x", *names), grads, ref_grads):
        scale = max(want.abs().max().item(), 1e-30)
        torch.testing.assert_close(got, want, rtol=0, atol=tolerance * scale, msg=lambda m: f"grad of {name}: {m}")
    return spikes


def lif_path(neuron):
    return lambda x: triton_leaky.leaky_triton(
        x, neuron.inverse_tau(), threshold=neuron.threshold, reset=neuron.reset, v_reset=neuron.v_reset,
        v_rest=neuron.v_rest, decay_input=neuron.decay_input, detach_reset=neuron.detach_reset,
        surrogate=neuron.surrogate, strict=neuron.strict)


def tclif_path(neuron):
    return lambda x: triton_leaky.tclif_triton(
        x, *neuron.betas(), threshold=neuron.threshold, dendrite_reset=neuron.dendrite_reset,
        pre_reset_coupling=neuron.coupling_uses_pre_reset_soma, detach_reset=neuron.detach_reset,
        surrogate=neuron.surrogate, strict=neuron.strict)


# every reset × detach_reset × decay_input; surrogates, strictness, T and shapes cycle through the cases
PLIF_CASES = [(reset, detach, decay_input, SURROGATES[i % 5], bool(i % 2), STEPS[i % 3], SHAPES[i // 2 % 2])
              for i, (reset, detach, decay_input) in enumerate(itertools.product(["hard", "soft", "none"],
                                                                                 [False, True], [False, True]))]


@pytest.mark.parametrize("reset, detach, decay_input, surrogate, strict, steps, shape", PLIF_CASES,
                         ids=[f"{r}-d{int(d)}-i{int(i)}-{type(s).__name__}-s{int(st)}-T{t}-{len(sh)}d"
                              for r, d, i, s, st, t, sh in PLIF_CASES])
def test_plif_matches_serial(reset, detach, decay_input, surrogate, strict, steps, shape):
    # τ₀ = 2 (k = 1/2: exact threshold hits) or 3; v_reset ≠ 0 and v_rest ≠ 0 exercise every term
    case = PLIF_CASES.index((reset, detach, decay_input, surrogate, strict, steps, shape))
    neuron = PLIF(tau_init=2.0 + case % 2, reset=reset, detach_reset=detach, decay_input=decay_input,
                  v_reset=-0.25 if reset == "hard" else 0.0, v_rest=0.125, surrogate=surrogate,
                  strict=strict).to(DEVICE, torch.float64)
    spikes = compare(neuron, lif_path(neuron), make_input(steps, shape, seed=case))
    assert 0 < spikes.mean() < 1 or steps == 1


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_lif_fixed_tau_matches_serial(dtype):
    """LIF with a float 1/τ (no parameter): float32 spikes equal too (the step's operation order, no FMA)."""
    neuron = LIF(tau=3.0, v_reset=-0.5).to(DEVICE)
    compare(neuron, lif_path(neuron), make_input(13, SHAPES[1], seed=40, dtype=dtype),
            1e-5 if dtype == torch.float32 else 1e-10)


# every coupling order × detach_reset × β sharing; surrogates, strictness, T and shapes cycle through the cases
TCLIF_CASES = [(pre, detach, sharing, SURROGATES[i % 5], bool(i % 2), STEPS[i % 3], SHAPES[i // 2 % 2])
               for i, (pre, detach, sharing) in enumerate(itertools.product([False, True], [False, True],
                                                                            ["layer", "channel"]))]


@pytest.mark.parametrize("pre, detach, sharing, surrogate, strict, steps, shape", TCLIF_CASES,
                         ids=[f"pre{int(p)}-d{int(d)}-{sh}-{type(s).__name__}-s{int(st)}-T{t}-{len(shp)}d"
                              for p, d, sh, s, st, t, shp in TCLIF_CASES])
def test_tclif_matches_serial(pre, detach, sharing, surrogate, strict, steps, shape):
    case = TCLIF_CASES.index((pre, detach, sharing, surrogate, strict, steps, shape))
    torch.manual_seed(case)
    neuron = TCLIF(channels=3, beta_sharing=sharing, coupling_uses_pre_reset_soma=pre, detach_reset=detach,
                   surrogate=surrogate, strict=strict, decay_init=(0.3, -0.2)).to(DEVICE, torch.float64)
    with torch.no_grad():  # different β's per channel
        neuron.decay.add_(0.3 * torch.randn_like(neuron.decay))
    spikes = compare(neuron, tclif_path(neuron), make_input(steps, shape, seed=100 + case))
    assert 0 < spikes.mean() < 1 or steps == 1


def test_tclif_float32_matches_serial():
    neuron = TCLIF(channels=3, beta_sharing="channel", preset="psmnist_rec").to(DEVICE)
    compare(neuron, tclif_path(neuron), make_input(13, SHAPES[1], seed=50, dtype=torch.float32), 1e-5)


def test_inference_empty_and_partial_grads():
    """No grad: no checkpoints, same spikes. B = 0: empty spikes, zero parameter gradients. Only x, or only the
    parameters, requiring grad: the same gradients as the full call."""
    plif = PLIF(v_reset=-0.25).to(DEVICE, torch.float64)
    tclif = TCLIF(channels=3, beta_sharing="channel").to(DEVICE, torch.float64)
    x = make_input(9, SHAPES[1], seed=60)
    weight = make_input(9, SHAPES[1], seed=61)
    for neuron, path in ((plif, lif_path(plif)), (tclif, tclif_path(tclif))):
        params = list(neuron.parameters())
        full = x.clone().requires_grad_(True)
        spikes = path(full)
        grads = torch.autograd.grad((spikes * weight).sum(), [full, *params])
        with torch.no_grad():
            assert torch.equal(path(x), spikes.detach())
        only_x = x.clone().requires_grad_(True)
        for p in params:
            p.requires_grad_(False)
        assert torch.equal(torch.autograd.grad((path(only_x) * weight).sum(), only_x)[0], grads[0])
        for p in params:
            p.requires_grad_(True)
        assert all(torch.equal(g, want) for g, want in zip(torch.autograd.grad((path(x) * weight).sum(), params),
                                                            grads[1:]))
        empty = make_input(5, (0, 3, 2), seed=62).requires_grad_(True)
        spikes = path(empty)
        assert spikes.shape == empty.shape
        assert all(torch.equal(g, torch.zeros_like(g)) for g in torch.autograd.grad(spikes.sum(), params))


def test_double_backward_raises():
    neuron = PLIF().to(DEVICE, torch.float64)
    x = make_input(5, SHAPES[0], seed=70).requires_grad_(True)
    with pytest.raises(RuntimeError, match="double backward"):
        torch.autograd.grad(lif_path(neuron)(x).sum(), x, create_graph=True)


def test_bad_arguments():
    x = make_input(3, SHAPES[0], seed=80)
    with pytest.raises(ValueError, match="reset must be one of"):
        triton_leaky.leaky_triton(x, 0.5, reset="sometimes")
    with pytest.raises(TypeError, match="support the surrogates"):
        triton_leaky.leaky_triton(x, 0.5, surrogate=object())
    with pytest.raises(ValueError, match="one-element tensor"):
        triton_leaky.leaky_triton(x, torch.ones(2, device=DEVICE))
    beta = torch.tensor(0.5, device=DEVICE, dtype=torch.float64)
    with pytest.raises(ValueError, match=r"beta1 must be a 0-dim tensor or have shape \(3,\)"):
        triton_leaky.tclif_triton(x, beta.expand(4), beta)
    with pytest.raises(ValueError, match="the same shape"):
        triton_leaky.tclif_triton(x, beta, beta.expand(3))
    assert not triton_leaky.triton_leaky_supports(x, object())


def test_kernels_compile_for_sm90_without_spills(compile_for_sm90):
    """The kernels the interpreter runs also compile for an H100 (every surrogate, both resets paths, both TC-LIF
    couplings), with the launch geometry of ``_launch``, without register spills (≤ 64 bytes of stack: ptxas may
    park a value or two there)."""
    usage = compile_for_sm90('''
import torch
from pmsn.ops import triton_leaky
_, launch = triton_leaky._launch(torch.empty(1, 10**5))
constants = {key: launch.pop(key) for key in ("BLOCK", "TILE")}
for name in ("fp32", "fp64"):
    compile_sm90(f"lif-forward-{name}", triton_leaky._lif_forward_kernel, name,
                 dict(RESET=0, DECAY_INPUT=True, STRICT=False, SAVE=True, **constants), **launch)
    compile_sm90(f"tclif-forward-{name}", triton_leaky._tclif_forward_kernel, name,
                 dict(PRE=True, STRICT=True, SAVE=True, **constants), **launch)
    for kind in range(5):
        compile_sm90(f"lif-backward-{name}-{kind}", triton_leaky._lif_backward_kernel, name,
                     dict(RESET=kind % 3, DECAY_INPUT=kind % 2 == 0, RESET_PATH=kind % 3 != 2, STRICT=False,
                          KIND=kind, GRAD_X=True, GRAD_K=True, **constants), **launch)
        compile_sm90(f"tclif-backward-{name}-{kind}", triton_leaky._tclif_backward_kernel, name,
                     dict(PRE=kind % 2 == 0, RESET_PATH=True, COUPLING_PATH=kind % 2 == 0, STRICT=False, KIND=kind,
                          GRAD_X=True, GRAD_BETAS=True, **constants), **launch)
''')
    assert len(usage) == 24
    for name, (registers, stack) in usage.items():
        assert stack <= 64, f"{name}: {registers} registers, {stack} bytes of stack (spills)"
