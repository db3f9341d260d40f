"""Fused C++ CPU kernel of PMSN (pmsn.ops.fused_cpu) against an autograd float64 reference of docs/pmsn.md §3-6."""

from __future__ import annotations

import math
import warnings

import pytest
import torch

from pmsn.ops import fused_cpu
from pmsn.ops.fused_cpu import fused_available, pmsn_fused
from pmsn.ops.linear_system import discretize

pytestmark = pytest.mark.skipif(not fused_available(), reason="fused C++ CPU kernel could not be built here")

PARAM_NAMES = ("abar_re", "abar_im", "residue_re", "residue_im", "skip")


class _TriangleSpike(torch.autograd.Function):
    """Heaviside forward, triangle surrogate max(0, w − |z|)/w² backward (docs/neurons.md §1.3)."""

    @staticmethod
    def forward(ctx, z, width, strict):
        ctx.save_for_backward(z)
        ctx.width = width
        return (z > 0 if strict else z >= 0).to(z.dtype)

    @staticmethod
    def backward(ctx, grad):
        (z,) = ctx.saved_tensors
        return grad * (ctx.width - z.abs()).clamp_min(0) / ctx.width**2, None, None


def reference(u, abar_re, abar_im, residue_re, residue_im, skip, threshold=1.0, scale=1.0, surrogate_width=1.0,
              soma_grad="elementwise", strict=False):
    """Serial loop over t (modal recurrence, ReLU, serial soma: docs/pmsn.md §3.1, §5.1-5.2); the reset follows
    docs/pmsn.md §6: the floor term is a constant ("cumsum"), or the whole remainder is detached ("elementwise")."""
    decay = torch.complex(abar_re, abar_im)[:, None, :]  # [C, 1, N] against state [B, C, S, N]
    residue = torch.complex(residue_re, residue_im)[:, None, :]
    gain = skip[:, None]
    state = torch.zeros(*u.shape[1:], abar_re.shape[1], dtype=decay.dtype)
    remainder = torch.zeros(u.shape[1:], dtype=u.dtype)
    spikes = []
    for u_t in u:
        state = decay * state + u_t.unsqueeze(-1)
        current = gain * u_t + (residue * state).real.sum(-1)
        potential = remainder + torch.relu(scale * current)
        spikes.append(_TriangleSpike.apply(potential - threshold, surrogate_width, strict))
        remainder = potential - threshold * torch.floor(potential / threshold).detach()
        if soma_grad == "elementwise":
            remainder = remainder.detach()
    return torch.stack(spikes)


def make_case(steps, batch, channels, spatial, modes=4, dtype=torch.float64, seed=0, dt_range=(1e-3, 0.5)):
    generator = torch.Generator().manual_seed(seed)

    def rand(*shape):
        return torch.rand(*shape, generator=generator, dtype=torch.float64)

    log_dt = math.log(dt_range[0]) + rand(channels) * math.log(dt_range[1] / dt_range[0])
    decay, input_gain, readout = discretize(
        log_dt, torch.log(0.3 + rand(channels, modes)), 20 * rand(channels, modes) - 10,
        rand(channels, modes) - 0.5, rand(channels, modes) - 0.5, rand(channels, modes) - 0.5,
        rand(channels, modes) - 0.5)
    residue = readout * input_gain * 20  # a gain that makes the neurons fire at a moderate rate
    params = [decay.real, decay.imag, residue.real, residue.imag, rand(channels) * 2 - 1]
    u = torch.randn(steps, batch, channels, spatial, generator=generator, dtype=torch.float64) + 0.3
    return [t.to(dtype) for t in [u, *params]]


def run(function, tensors, weight, **kwargs):
    """Spikes and gradients of L = Σ weight·S with respect to u and every parameter."""
    leaves = [t.detach().clone().requires_grad_(True) for t in tensors]
    spikes = function(*leaves, **kwargs)
    (spikes * weight).sum().backward()
    return spikes.detach(), [leaf.grad for leaf in leaves]


def assert_relative(actual, expected, tolerance, name):
    scale = expected.abs().max().clamp_min(1e-300)
    error = ((actual - expected).abs().max() / scale).item()
    assert error <= tolerance, f"{name}: relative error {error:.3g} > {tolerance}"


@pytest.mark.parametrize("soma_grad", ["elementwise", "cumsum"])
@pytest.mark.parametrize("steps,batch,channels,spatial", [(1, 1, 3, 1), (2, 2, 3, 4), (17, 1, 5, 1),
                                                          (17, 3, 2, 50), (300, 2, 3, 1), (300, 1, 2, 5)])
def test_matches_reference_float64(steps, batch, channels, spatial, soma_grad):
    tensors = make_case(steps, batch, channels, spatial, seed=steps + spatial)
    weight = torch.randn(tensors[0].shape, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    spikes, grads = run(pmsn_fused, tensors, weight, soma_grad=soma_grad)
    ref_spikes, ref_grads = run(reference, tensors, weight, soma_grad=soma_grad)
    assert torch.equal(spikes, ref_spikes)
    assert 0 < spikes.mean() < 1 or steps == 1
    for name, grad, ref_grad in zip(("u",) + PARAM_NAMES, grads, ref_grads):
        assert grad.dtype == torch.float64 and grad.shape == ref_grad.shape
        assert_relative(grad, ref_grad, 1e-9, name)


@pytest.mark.parametrize("soma_grad", ["elementwise", "cumsum"])
def test_many_tiles_and_blocks(monkeypatch, soma_grad):
    """Small tiles and checkpoint blocks: partial last tile and block, tiles spanning channel boundaries."""
    monkeypatch.setattr(fused_cpu, "_TILE", 7)
    monkeypatch.setattr(fused_cpu, "_BLOCK", 5)
    tensors = make_case(23, 2, 3, 4, modes=3, seed=5)
    kwargs = dict(soma_grad=soma_grad, threshold=0.7, scale=0.5, surrogate_width=0.6)
    weight = torch.randn(tensors[0].shape, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    spikes, grads = run(pmsn_fused, tensors, weight, **kwargs)
    ref_spikes, ref_grads = run(reference, tensors, weight, **kwargs)
    assert torch.equal(spikes, ref_spikes)
    for name, grad, ref_grad in zip(("u",) + PARAM_NAMES, grads, ref_grads):
        assert_relative(grad, ref_grad, 1e-9, name)


@pytest.mark.parametrize("soma_grad", ["elementwise", "cumsum"])
@pytest.mark.parametrize("modes", [1, 2, 5, 9])
def test_mode_counts_and_sweep_passes(monkeypatch, modes, soma_grad):
    """Mode groups of the register passes (kModeGroup = 4: 9 modes run 4 + 4 + 1, the soma in the last group's
    pass), passes longer and shorter than a checkpoint block, partial vectors of columns."""
    monkeypatch.setattr(fused_cpu, "_TILE", 21)
    monkeypatch.setattr(fused_cpu, "_BLOCK", 6)
    tensors = make_case(70, 2, 3, 5, modes=modes, seed=modes)
    kwargs = dict(soma_grad=soma_grad, threshold=0.8, scale=0.7, surrogate_width=0.9)
    weight = torch.randn(tensors[0].shape, dtype=torch.float64, generator=torch.Generator().manual_seed(6))
    spikes, grads = run(pmsn_fused, tensors, weight, **kwargs)
    ref_spikes, ref_grads = run(reference, tensors, weight, **kwargs)
    assert torch.equal(spikes, ref_spikes)
    assert 0 < spikes.mean() < 1
    for name, grad, ref_grad in zip(("u",) + PARAM_NAMES, grads, ref_grads):
        assert_relative(grad, ref_grad, 1e-9, name)
    with torch.no_grad():  # inference: one pass of 64 steps, then the rest, no checkpoints
        assert torch.equal(pmsn_fused(*tensors, **kwargs), spikes)


def test_nan_input_propagates_like_the_reference():
    """A NaN in u: its column's remainder is NaN from then on (no spikes: NaN ≥ θ is false), and the gradients
    are NaN exactly where autograd's are (selects, not multiplications by 0, in the soma and G)."""
    tensors = make_case(40, 1, 2, 3, modes=2, seed=8)
    tensors[0][10, 0, 1, 2] = float("nan")
    weight = torch.randn(tensors[0].shape, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    for soma_grad in ("elementwise", "cumsum"):
        spikes, grads = run(pmsn_fused, tensors, weight, soma_grad=soma_grad)
        ref_spikes, ref_grads = run(reference, tensors, weight, soma_grad=soma_grad)
        assert torch.equal(spikes, ref_spikes) and spikes[11:, 0, 1, 2].sum() == 0
        assert torch.equal(grads[0].isnan(), ref_grads[0].isnan()) and grads[0].isnan().any()


def test_spatial_dims_and_noncontiguous_input():
    tensors = make_case(12, 2, 3, 6, seed=3)
    u = tensors[0].reshape(12, 2, 3, 2, 3).transpose(3, 4)  # [T, B, C, H, W], not contiguous
    weight = torch.randn(u.shape, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    spikes, grads = run(pmsn_fused, [u, *tensors[1:]], weight)
    ref_spikes, ref_grads = run(reference, [u.reshape(12, 2, 3, 6), *tensors[1:]], weight.reshape(12, 2, 3, 6))
    assert spikes.shape == u.shape and torch.equal(spikes.reshape(12, 2, 3, 6), ref_spikes)
    assert_relative(grads[0].reshape(12, 2, 3, 6), ref_grads[0], 1e-9, "u")
    for name, grad, ref_grad in zip(PARAM_NAMES, grads[1:], ref_grads[1:]):
        assert_relative(grad, ref_grad, 1e-9, name)


@pytest.mark.parametrize("soma_grad", ["elementwise", "cumsum"])
def test_golden_example(soma_grad, pmsn_golden):
    u = torch.tensor(pmsn_golden["input"], dtype=torch.float64)
    weight = torch.arange(1, 13, dtype=torch.float64).reshape(12, 1, 1, 1)  # L = Σ (t+1)·S[t]
    spikes, grads = run(pmsn_fused, [u.reshape(12, 1, 1, 1), *pmsn_golden["params"]], weight, soma_grad=soma_grad)
    assert spikes.flatten().tolist() == pmsn_golden["spikes"]
    expected = torch.tensor(pmsn_golden["input_gradient"][soma_grad], dtype=torch.float64)
    torch.testing.assert_close(grads[0].flatten(), expected, rtol=2e-5, atol=2e-6)


def linear_current(u, abar_re, abar_im, residue_re, residue_im, skip):
    """Y[t] of docs/pmsn.md §3.1 by the plain real recurrence (no autograd), for finite differences."""
    state_re = torch.zeros(*u.shape[1:], abar_re.shape[1], dtype=u.dtype)
    state_im = torch.zeros_like(state_re)
    a_re, a_im, r_re, r_im = (p[:, None, :] for p in (abar_re, abar_im, residue_re, residue_im))
    currents = []
    for u_t in u:
        state_re, state_im = a_re * state_re - a_im * state_im + u_t.unsqueeze(-1), a_re * state_im + a_im * state_re
        currents.append(skip[:, None] * u_t + (r_re * state_re - r_im * state_im).sum(-1))
    return torch.stack(currents)


def test_adjoint_matches_finite_differences():
    """Gradient check independent of the reference's autograd. With the element-wise rule the fused gradient
    is that of the smooth L_lin = Σ_t G[t]·Y[t] with G = dL/dS·tri(v − θ)·κ·[κY > 0] held fixed, so the
    kernel's adjoint (ν, ζ) must match central differences of L_lin in every input entry."""
    tensors = make_case(9, 2, 2, 1, modes=2, seed=11)
    weight = torch.randn(tensors[0].shape, dtype=torch.float64, generator=torch.Generator().manual_seed(12))
    _, grads = run(pmsn_fused, tensors, weight)
    current = linear_current(*tensors)
    remainder, factors = torch.zeros_like(current[0]), []
    for y_t in current:  # the same soma, to get v and the fixed factor G
        v = remainder + torch.relu(y_t)
        factors.append((1 - (v - 1).abs()).clamp_min(0) * (y_t > 0))
        remainder = v - torch.floor(v)
    fixed = weight * torch.stack(factors)
    step = 1e-6
    for index, (tensor, grad) in enumerate(zip(tensors, grads)):
        numeric = torch.zeros_like(tensor)
        for flat in range(tensor.numel()):
            shifted = [t.clone() for t in tensors]
            shifted[index].view(-1)[flat] += step
            plus = (fixed * linear_current(*shifted)).sum()
            shifted[index].view(-1)[flat] -= 2 * step
            minus = (fixed * linear_current(*shifted)).sum()
            numeric.view(-1)[flat] = (plus - minus) / (2 * step)
        torch.testing.assert_close(grad, numeric, rtol=1e-6, atol=1e-8)


def test_float32_agrees_with_float64():
    """Spikes: ≥ 99.9 % equal at T = 256. Gradients: compared where every spike agrees (T = 64), since one
    flipped spike shifts that column's remainder by ≈ θ and so its surrogate factors for the rest of time."""
    weight = torch.randn(256, 4, 8, 15, dtype=torch.float64, generator=torch.Generator().manual_seed(22))
    for steps in (256, 64):  # 480 columns: the last tile is partial
        tensors64 = make_case(steps, 4, 8, 15, seed=21, dt_range=(1e-3, 0.1))
        spikes64, grads64 = run(pmsn_fused, tensors64, weight[:steps])
        spikes32, grads32 = run(pmsn_fused, [t.float() for t in tensors64], weight[:steps].float())
        assert spikes32.dtype == torch.float32 and all(g.dtype == torch.float32 for g in grads32)
        assert (spikes32.double() == spikes64).double().mean() >= 0.999
    assert torch.equal(spikes32.double(), spikes64)
    for name, g32, g64 in zip(("u",) + PARAM_NAMES, grads32, grads64):
        assert_relative(g32.double(), g64, 1e-4, name)


def test_strict_threshold():
    """v reaches θ exactly at t = 1 (D = 1, no modal current): fires unless strict."""
    u = torch.tensor([0.5, 0.5, 0.25, 0.75], dtype=torch.float64).reshape(4, 1, 1, 1)
    params = [torch.full((1, 1), 0.5, dtype=torch.float64), torch.zeros(1, 1, dtype=torch.float64),
              torch.zeros(1, 1, dtype=torch.float64), torch.zeros(1, 1, dtype=torch.float64),
              torch.ones(1, dtype=torch.float64)]
    assert pmsn_fused(u, *params).flatten().tolist() == [0, 1, 0, 1]
    assert pmsn_fused(u, *params, strict=True).flatten().tolist() == [0, 0, 0, 0]
    assert torch.equal(pmsn_fused(u, *params, strict=True), reference(u, *params, strict=True))


def test_inference_saves_nothing_and_matches():
    tensors = [t.requires_grad_(True) for t in make_case(40, 2, 3, 2, seed=31)]
    with torch.no_grad():
        spikes = pmsn_fused(*tensors)
    assert spikes.grad_fn is None
    assert torch.equal(spikes, pmsn_fused(*tensors).detach())


def test_only_some_inputs_require_grad():
    tensors = make_case(30, 2, 3, 2, seed=41)
    weight = torch.randn(tensors[0].shape, dtype=torch.float64, generator=torch.Generator().manual_seed(42))
    _, full = run(pmsn_fused, tensors, weight, soma_grad="cumsum")
    u = tensors[0].clone().requires_grad_(True)
    (pmsn_fused(u, *tensors[1:], soma_grad="cumsum") * weight).sum().backward()
    torch.testing.assert_close(u.grad, full[0], rtol=0, atol=0)
    decay_re = tensors[1].clone().requires_grad_(True)
    (pmsn_fused(tensors[0], decay_re, *tensors[2:], soma_grad="cumsum") * weight).sum().backward()
    torch.testing.assert_close(decay_re.grad, full[1], rtol=0, atol=0)


def test_bad_input():
    u, *params = make_case(5, 1, 3, 1)
    with pytest.raises(ValueError, match=r"abar_im must have shape \(3, 4\).*got \(3, 5\)"):
        pmsn_fused(u, params[0], torch.zeros(3, 5, dtype=torch.float64), *params[2:])
    with pytest.raises(ValueError, match=r"skip must have shape \(3,\).*got \(4,\)"):
        pmsn_fused(u, *params[:4], torch.zeros(4, dtype=torch.float64))
    with pytest.raises(TypeError, match="float32 or float64, got torch.int64"):
        pmsn_fused(u.long(), *params)
    with pytest.raises(TypeError, match="residue_re must have u's dtype torch.float64, got torch.float32"):
        pmsn_fused(u, params[0], params[1], params[2].float(), *params[3:])
    with pytest.raises(ValueError, match=r"\[T, B, C, \*spatial\], got shape \(5, 3\)"):
        pmsn_fused(u[:, 0, :, 0], *params)
    with pytest.raises(ValueError, match="soma_grad must be one of"):
        pmsn_fused(u, *params, soma_grad="sum")


def test_failed_build_warns_once(monkeypatch):
    import torch.utils.cpp_extension

    def failing_load(**kwargs):
        raise OSError("no compiler here")

    monkeypatch.setattr(fused_cpu, "_EXTENSION_NAME", "pmsn_fused_cpu_failing_build_test")
    monkeypatch.setattr(torch.utils.cpp_extension, "load", failing_load)
    with pytest.warns(RuntimeWarning, match="could not be built.*no compiler here"):
        assert fused_available() is False
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert fused_available() is False  # no second warning, no second build attempt
    u, *params = make_case(3, 1, 2, 1)
    with pytest.raises(RuntimeError, match="not available"):
        pmsn_fused(u, *params)
