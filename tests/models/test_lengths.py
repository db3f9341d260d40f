"""Variable-length batches: a right-padded batch with ``lengths`` gives, on each sequence's valid steps, what that
sequence gives run alone on its first L steps — for every neuron and every sequence network, spikes/logits and the
gradients of a loss on the valid outputs (float64). "Alone" is the same network built for T = L with the top-left
blocks of its T-sized tensors (PSN's W[:L, :L], b[:L], mask[:L, :L]), docs/variable_length.md §1."""

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from pmsn.models import build_model
from pmsn.models.layers import norm_rows, valid_rows
from pmsn.neurons import NEURONS, build_neuron

T, B, C = 6, 3, 4
LENGTHS = torch.tensor([T, 2, 4])  # one full, one short, one in between
CLASSES = 3

# (neuron name, neuron kwargs): every registered neuron with its defaults, plus the PSN-family cases that mask
# differently (narrow band, blended non-causal band, sliding window) and PMSN's non-causal global input
NEURON_CASES = [(name, {}) for name in sorted(NEURONS)] + [
    ("masked_psn", {"order": 2}), ("masked_psn", {"order": 2, "mask_lambda": 0.5}), ("sliding_psn", {"order": 3}),
    ("pmsn", {"global_mode": "sum"})]

# the sequence networks, tiny: (options, one sample's step shape)
SEQUENCE_MODELS = {
    "pmsn_smnist": (dict(width=8, depth=2, dropout=0.0), (1,)),
    "pmsn_scifar_pixel": (dict(width=8, depth=1, dropout=0.0), (3,)),
    "scifar_column": (dict(width=4, rows=4), (3, 4)),
    "pmsn_shd": (dict(width=8, input_size=10, pool=5, dropout=0.0), (10,)),
    "tclif_ff": (dict(preset="shd", hidden=(8, 8), input_size=6, dropout=0.0), (6,)),
    "tclif_rec": (dict(preset="shd", hidden=(8, 8), input_size=6, dropout=0.0), (6,)),
}


def case_id(case):
    name, kwargs = case
    return name + "".join(f"-{k}={v}" for k, v in kwargs.items())


def for_steps(name: str, kwargs: dict, steps: int) -> dict:
    """The kwargs of the same neuron built for ``steps``: a masked-PSN band never wider than T (its mask buffer is
    then loaded from the full one)."""
    return {**kwargs, "order": min(kwargs["order"], steps)} if name == "masked_psn" and "order" in kwargs else kwargs


def load_top_left(target: torch.nn.Module, source: torch.nn.Module) -> None:
    """``target`` gets ``source``'s tensors, cut to its own (smaller) shapes: the top-left block."""
    state = {key: value[tuple(slice(0, n) for n in target.state_dict()[key].shape)]
             for key, value in source.state_dict().items()}
    target.load_state_dict(state)


def embed(gradient: torch.Tensor, shape) -> torch.Tensor:
    """A gradient of a top-left block placed in a zero tensor of the full shape."""
    full = gradient.new_zeros(shape)
    full[tuple(slice(0, n) for n in gradient.shape)] = gradient
    return full


def padded_batch(shape) -> torch.Tensor:
    """Random float64 data of ``shape`` with its padded entries replaced by large garbage; ``shape`` is
    [T, B, ...] (time first) or [B, T, ...] (batch first, ``LENGTHS`` along dim 0)."""
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(shape, generator=generator, dtype=torch.float64)
    padding = torch.arange(T).unsqueeze(1) >= LENGTHS.unsqueeze(0)  # [T, B]
    if shape[0] == B and shape[1] == T:
        padding = padding.t()
    garbage = 50.0 * torch.randn(shape, generator=generator, dtype=torch.float64)
    return torch.where(padding.reshape(padding.shape + (1,) * (len(shape) - 2)), garbage, x)


def check_parameter_gradients(full: torch.nn.Module, alone_models) -> None:
    """The batch's parameter gradients = the sum of the single runs' gradients (blocks placed top-left)."""
    for name, p in full.named_parameters():
        expected = torch.zeros_like(p)
        for alone in alone_models:
            grad = dict(alone.named_parameters())[name].grad
            if grad is not None:
                expected += embed(grad, p.shape)
        got = p.grad if p.grad is not None else torch.zeros_like(p)
        torch.testing.assert_close(got, expected, msg=lambda m: f"gradient of {name}: {m}")


@pytest.mark.parametrize("case", NEURON_CASES, ids=case_id)
def test_neuron_padded_batch_equals_each_sequence_alone(case):
    name, kwargs = case
    torch.manual_seed(0)
    neuron = build_neuron(name, C, T=T, **kwargs).double()
    x = padded_batch((T, B, C)).requires_grad_(True)
    spikes = neuron(x, lengths=LENGTHS)
    weights = torch.randn(spikes.shape, dtype=torch.float64)  # loss on the valid steps only
    valid = (torch.arange(T).unsqueeze(1) < LENGTHS).unsqueeze(-1)
    (weights * spikes * valid).sum().backward()
    alone_models = []
    for b, length in enumerate(LENGTHS.tolist()):
        alone = build_neuron(name, C, T=length, **for_steps(name, kwargs, length)).double()
        load_top_left(alone, neuron)
        x_b = x.detach()[:length, b:b + 1].clone().requires_grad_(True)
        spikes_b = alone(x_b)
        (weights[:length, b:b + 1] * spikes_b).sum().backward()
        assert torch.equal(spikes[:length, b], spikes_b[:, 0])
        torch.testing.assert_close(x.grad[:length, b], x_b.grad[:, 0])
        assert torch.all(x.grad[length:, b] == 0), "no gradient reaches padded inputs"
        alone_models.append(alone)
    check_parameter_gradients(neuron, alone_models)


@given(steps=st.integers(1, 8), lengths=st.lists(st.integers(1, 8), min_size=1, max_size=4), seed=st.integers(0, 99))
@pytest.mark.parametrize("case", [("psn", {}), ("masked_psn", {"order": 2, "mask_lambda": 0.5}),
                                  ("pmsn", {"global_mode": "sum"}), ("pmsn", {}), ("tclif", {})], ids=case_id)
def test_neuron_random_lengths(case, steps, lengths, seed):
    """Any T and lengths in [1, T] (1 and T included): the valid steps equal the sequence run alone."""
    name, kwargs = case
    lengths = torch.tensor([min(length, steps) for length in lengths])
    torch.manual_seed(seed)
    neuron = build_neuron(name, 2, T=steps, **for_steps(name, kwargs, steps)).double()
    x = torch.randn(steps, len(lengths), 2, dtype=torch.float64)
    spikes = neuron(x + 100.0 * (torch.arange(steps).unsqueeze(1) >= lengths).unsqueeze(-1), lengths=lengths)
    for b, length in enumerate(lengths.tolist()):
        alone = build_neuron(name, 2, T=length, **for_steps(name, kwargs, length)).double()
        load_top_left(alone, neuron)
        assert torch.equal(spikes[:length, b], alone(x[:length, b:b + 1])[:, 0])


def build_sequence_model(name, neuron, kwargs, steps):
    options, _ = SEQUENCE_MODELS[name]
    return build_model(name, neuron=neuron, num_classes=CLASSES, T=steps, neuron_kwargs=for_steps(neuron, kwargs, steps),
                       **options).double().eval()


def randomise_batch_norms(model):
    """Non-trivial running statistics, so an eval-mode BN does something to compare."""
    generator = torch.Generator().manual_seed(2)
    for module in model.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            module.running_mean.copy_(torch.randn(module.running_mean.shape, generator=generator))
            module.running_var.copy_(torch.rand(module.running_var.shape, generator=generator) + 0.5)


# The two slowest networks run the neurons that mask (PSN family, global PMSN) and two causal ones; every causal
# neuron behaves alike inside a network (nothing to mask), and each one is checked alone above and in the others.
REPRESENTATIVE = {"psn", "masked_psn-order=2-mask_lambda=0.5", "sliding_psn-order=3", "pmsn-global_mode=sum", "pmsn",
                  "lif"}
MODEL_CASES = [(model, case) for model in SEQUENCE_MODELS for case in NEURON_CASES
               # recurrent layers step through time: only neurons with a step (causal ones)
               if not (model == "tclif_rec" and (case[0] in ("psn", "masked_psn") or case[1].get("global_mode")))
               and (model not in ("scifar_column", "pmsn_scifar_pixel") or case_id(case) in REPRESENTATIVE)]


@pytest.mark.parametrize("model_name, case", MODEL_CASES, ids=[f"{m}-{case_id(c)}" for m, c in MODEL_CASES])
def test_network_padded_batch_equals_each_sequence_alone(model_name, case):
    neuron_name, kwargs = case
    torch.manual_seed(0)
    model = build_sequence_model(model_name, neuron_name, kwargs, T)
    randomise_batch_norms(model)
    step_shape = SEQUENCE_MODELS[model_name][1]
    x = padded_batch((B, T) + step_shape).requires_grad_(True)
    logits = model(x, lengths=LENGTHS)
    per_step = model(x.detach(), per_step=True, lengths=LENGTHS)
    weights = torch.randn(logits.shape, dtype=torch.float64)
    (weights * logits).sum().backward()
    alone_models = []
    for b, length in enumerate(LENGTHS.tolist()):
        alone = build_sequence_model(model_name, neuron_name, kwargs, length)
        load_top_left(alone, model)
        x_b = x.detach()[b:b + 1, :length].clone().requires_grad_(True)
        logits_b = alone(x_b)
        (weights[b:b + 1] * logits_b).sum().backward()
        torch.testing.assert_close(logits[b], logits_b[0])
        torch.testing.assert_close(per_step[:length, b], alone(x_b.detach(), per_step=True)[:, 0])
        assert torch.all(per_step[length:, b] == 0), "padded per-step logits are 0"
        torch.testing.assert_close(x.grad[b, :length], x_b.grad[0])
        assert torch.all(x.grad[b, length:] == 0), "no gradient reaches padded inputs"
        alone_models.append(alone)
    check_parameter_gradients(model, alone_models)


def test_batch_norm_statistics_cover_valid_steps_only():
    """Training-mode BN on a padded batch = BN on the valid rows alone (output and running averages); padded rows 0."""
    torch.manual_seed(3)
    norm, reference = torch.nn.BatchNorm1d(C).double(), torch.nn.BatchNorm1d(C).double()
    x = padded_batch((T, B, C))
    rows = valid_rows(LENGTHS, T, x.device)
    out = norm_rows(norm, x.flatten(0, 1), rows).unflatten(0, (T, B))
    valid = torch.cat([x[:length, b] for b, length in enumerate(LENGTHS.tolist())])
    expected = reference(valid)
    torch.testing.assert_close(torch.cat([out[:length, b] for b, length in enumerate(LENGTHS.tolist())]), expected)
    torch.testing.assert_close(norm.running_mean, reference.running_mean)
    torch.testing.assert_close(norm.running_var, reference.running_var)
    assert all(torch.all(out[length:, b] == 0) for b, length in enumerate(LENGTHS.tolist()))


@pytest.mark.parametrize("model_name", ["pmsn_smnist", "scifar_column"])
@pytest.mark.parametrize("neuron_name", ["psn", "pmsn"])
def test_padding_never_leaks_in_training_mode(model_name, neuron_name):
    """Batch statistics in training mode: other padding values change no valid output, gradient or running average."""
    runs = []
    for garbage in (0.0, 1e3):
        torch.manual_seed(0)
        model = build_sequence_model(model_name, neuron_name, {}, T).train()
        x = padded_batch((B, T) + SEQUENCE_MODELS[model_name][1])
        padding = (torch.arange(T).unsqueeze(0) >= LENGTHS.unsqueeze(1)).reshape(B, T, *[1] * (x.dim() - 2))
        x = torch.where(padding, garbage * torch.ones_like(x), x).requires_grad_(True)
        logits = model(x, lengths=LENGTHS)
        logits.sum().backward()
        norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
        runs.append((logits, x.grad, [p.grad for p in model.parameters()], [n.running_mean for n in norms]))
    (logits, grad_x, grads, means), (logits2, grad_x2, grads2, means2) = runs
    torch.testing.assert_close(logits, logits2)
    torch.testing.assert_close(grad_x, grad_x2)
    for first, second in zip(grads + means, grads2 + means2):
        torch.testing.assert_close(first, second)


@pytest.mark.parametrize("model_name", list(SEQUENCE_MODELS))
def test_full_lengths_equal_no_lengths(model_name):
    torch.manual_seed(0)
    model = build_sequence_model(model_name, "lif", {}, T)
    x = torch.randn((B, T) + SEQUENCE_MODELS[model_name][1], dtype=torch.float64)
    full = torch.full((B,), T)
    torch.testing.assert_close(model(x, lengths=full), model(x))
    assert torch.equal(model(x, per_step=True, lengths=full), model(x, per_step=True))


@pytest.mark.parametrize("lengths, error, message", [
    ([6, 2, 4], TypeError, r"integer torch.Tensor of shape \[B=3\], got list"),
    (torch.tensor([6.0, 2.0, 4.0]), TypeError, "got a tensor of dtype torch.float32"),
    (torch.tensor([True, True, True]), TypeError, "got a tensor of dtype torch.bool"),
    (torch.tensor([6, 2]), ValueError, r"shape \[B=3\] \(one per sequence\), got shape \(2,\)"),
    (torch.tensor([[6, 2, 4]]), ValueError, r"got shape \(1, 3\)"),
    (torch.tensor([6, 0, 4]), ValueError, r"lengths in \[1, T=6\], got values from 0 to 6"),
    (torch.tensor([7, 2, 4]), ValueError, r"lengths in \[1, T=6\], got values from 2 to 7"),
])
def test_bad_lengths_raise_one_line(lengths, error, message):
    model = build_sequence_model("pmsn_shd", "lif", {}, T)
    x = torch.randn(B, T, 10, dtype=torch.float64)
    neuron = build_neuron("psn", C, T=T)
    for call in (lambda: model(x, lengths=lengths), lambda: neuron(torch.randn(T, B, C), lengths=lengths)):
        with pytest.raises(error, match=message) as raised:
            call()
        assert "\n" not in str(raised.value)


def test_image_network_refuses_lengths():
    model = build_model("sew_resnet18", neuron="lif", num_classes=CLASSES, T=2, width_divisor=64)
    with pytest.raises(ValueError, match="SEWResNet is not a variable-length sequence network"):
        model(torch.randn(1, 3, 8, 8), lengths=torch.tensor([1]))
