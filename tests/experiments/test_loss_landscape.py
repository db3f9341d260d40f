"""``pmsn ablate loss_landscape``: filter normalisation, which parameters move, the grid against closed forms and
against ``pmsn.train.loop.evaluate``, the files, the CLI end to end and its one-line errors."""

import csv
import json

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from pmsn.experiments import Options, run_ablation
from pmsn.experiments.loss_landscape import (filter_normalize, grid_coordinates, landscape, local_minima,
                                             perturbed_parameters, random_direction)
from pmsn.neurons import PMSN, TCLIF

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@settings(max_examples=40, deadline=None)
@given(shape=st.lists(st.integers(1, 5), min_size=2, max_size=4), seed=st.integers(0, 2 ** 16))
def test_filter_normalize_gives_every_filter_the_norm_of_the_weight_filter(shape, seed):
    generator = torch.Generator().manual_seed(seed)
    weight = torch.randn(shape, generator=generator, dtype=torch.float64)
    direction = torch.randn(shape, generator=generator, dtype=torch.float64)
    normalized = filter_normalize(direction, weight)
    for i in range(shape[0]):  # filter i: output channel / row i
        assert torch.allclose(normalized[i].norm(), weight[i].norm(), rtol=1e-12, atol=1e-12)
        cosine = (normalized[i] * direction[i]).sum() / (normalized[i].norm() * direction[i].norm())
        assert cosine == pytest.approx(1.0, abs=1e-12)  # rescaled, not turned


class _Mixed(nn.Module):
    """Conv, BN, Linear and two neurons whose parameters are 2-D (PMSN modes, per-channel TC-LIF β)."""

    def __init__(self):
        super().__init__()
        self.conv, self.norm = nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4)
        self.linear = nn.Linear(4, 5)
        self.pmsn, self.tclif = PMSN(channels=4), TCLIF(channels=5, beta_sharing="channel")


def test_direction_moves_only_weights_outside_neurons_with_per_filter_norms():
    model = _Mixed()
    direction = random_direction(model, torch.Generator().manual_seed(1))
    assert sorted(perturbed_parameters(model)) == ["conv.weight", "linear.weight"]
    for name, parameter in model.named_parameters():
        if name in ("conv.weight", "linear.weight"):
            assert torch.allclose(direction[name].flatten(1).norm(dim=1), parameter.detach().flatten(1).norm(dim=1))
        else:  # biases, BN, PMSN's [C, N] modal parameters, TC-LIF's [C, 2] β logits
            assert direction[name].shape == parameter.shape and not direction[name].any(), name
    assert model.pmsn.log_A_real.dim() == 2 and model.tclif.decay.dim() == 2  # fixed although 2-D
    with pytest.raises(ValueError, match="same shape with >= 2 dims, got \\(3,\\) and \\(3,\\)"):
        filter_normalize(torch.ones(3), torch.ones(3))


def test_equal_shaped_nets_get_the_same_directions_up_to_filter_norms():
    from pmsn.models import build_model

    nets = [build_model("tclif_ff", neuron=neuron, num_classes=10, hidden=[6, 5, 4], T=8)
            for neuron in ("lif", "tclif")]
    unit = [{name: d.flatten(1) / d.flatten(1).norm(dim=1, keepdim=True)
             for name, d in random_direction(net, torch.Generator().manual_seed(0)).items() if d.any()} for net in nets]
    assert unit[0].keys() == unit[1].keys() and len(unit[0]) == 4
    assert all(torch.allclose(unit[0][name], unit[1][name]) for name in unit[0])


class _Quadratic(nn.Module):
    def __init__(self):
        super().__init__()
        generator = torch.Generator().manual_seed(3)
        self.weight = nn.Parameter(torch.randn(3, 4, generator=generator, dtype=torch.float64))
        self.bias = nn.Parameter(torch.randn(3, generator=generator, dtype=torch.float64))
        self.target = torch.randn(3, 4, generator=generator, dtype=torch.float64)
        self.curvature = torch.rand(3, 4, generator=generator, dtype=torch.float64) + 0.5


def _quadratic_loss(model):
    """L = Σ c ⊙ (W − W*)² + Σ b² (the bias never moves)."""
    with torch.no_grad():
        return {"loss": float((model.curvature * (model.weight - model.target) ** 2).sum() + (model.bias ** 2).sum())}


def test_quadratic_landscape_matches_its_closed_form_and_restores_the_weights():
    model = _Quadratic()
    before = [p.detach().clone() for p in model.parameters()]
    d1, d2 = (random_direction(model, torch.Generator().manual_seed(seed)) for seed in (5, 6))
    coordinates = grid_coordinates(0.75, 4)
    assert coordinates.tolist() == pytest.approx([-0.75, -0.25, 0.25, 0.75])
    rows = landscape(model, (d1, d2), coordinates, _quadratic_loss)
    residual, u, v = (model.weight - model.target).detach(), d1["weight"], d2["weight"]
    c, bias = model.curvature, float((model.bias.detach() ** 2).sum())
    for index, row in enumerate(rows):
        alpha, beta = coordinates[index % 4].item(), coordinates[index // 4].item()  # β outer, α inner
        # Σ c (r + αu + βv)² expanded term by term
        expected = (bias + (c * residual ** 2).sum() + 2 * alpha * (c * residual * u).sum()
                    + 2 * beta * (c * residual * v).sum() + alpha ** 2 * (c * u * u).sum()
                    + beta ** 2 * (c * v * v).sum() + 2 * alpha * beta * (c * u * v).sum())
        assert (row["alpha"], row["beta"]) == (alpha, beta)
        assert row["loss"] == pytest.approx(float(expected), rel=1e-12)
    assert all(torch.equal(b, p) for b, p in zip(before, model.parameters()))
    assert grid_coordinates(1.0, 5)[2].item() == 0.0  # odd resolution: θ itself is on the grid


def test_local_minima_counts_interior_basins():
    bowl = [[(i - 3) ** 2 + (j - 3) ** 2 for i in range(7)] for j in range(7)]
    assert local_minima(bowl) == 1
    bowl[1][5] = -1.0  # a second pit, not next to the first
    assert local_minima(bowl) == 2
    assert local_minima([[1.0] * 5] * 5) == 0  # a plateau has no strict minimum


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    """The CLI end to end: train the smoke LIF and TC-LIF nets, a 5 × 5 grid on their whole 64-sample train split."""
    from pmsn.cli import main

    out = tmp_path_factory.mktemp("landscape")
    assert main(["ablate", "loss_landscape", "--smoke", "--samples", "1000", "--out", str(out)]) == 0
    return out


def _csv(path):
    with path.open() as handle:
        return list(csv.DictReader(handle))


def test_smoke_files_and_the_centre_equals_evaluate(smoke_run):
    from pmsn.train.build import build_datasets, load_run
    from pmsn.train.distributed import Context
    from pmsn.train.loop import evaluate

    meta = json.loads((smoke_run / "ablation.json").read_text())
    assert meta["ablation"] == "loss_landscape" and meta["grid"] == {"span": 1.0, "resolution": 5, "samples": 1000}
    assert {"loss_landscape.png", "loss_landscape.svg", "loss_landscape.csv"} <= set(meta["files"])
    assert (smoke_run / "loss_landscape.png").read_bytes().startswith(PNG_MAGIC)
    svg = (smoke_run / "loss_landscape.svg").read_text()
    assert "<svg" in svg and "α (direction 1, filter-normalised)" in svg and "log scale" in svg
    grid, summary = _csv(smoke_run / "loss_landscape.csv"), _csv(smoke_run / "loss_landscape_summary.csv")
    assert [row["network"] for row in summary] == ["LIF", "TC-LIF"]
    for line in summary:
        mine = [row for row in grid if row["network"] == line["network"]]
        assert len(mine) == 25
        centre = [row for row in mine if float(row["alpha"]) == 0.0 and float(row["beta"]) == 0.0]
        model, config, _ = load_run(line["checkpoint"])
        dataset = build_datasets(config, splits=("train",))["train"]
        loader = torch.utils.data.DataLoader(dataset, batch_size=7)  # another batching than the ablation's
        loss, accuracy, count = evaluate(model, loader, config, torch.device("cpu"), Context())
        assert count == len(dataset) > 32  # the smoke set's 64 digits less the validation hold-out
        assert float(centre[0]["loss"]) == pytest.approx(loss, rel=1e-5)
        assert float(line["loss_at_theta"]) == pytest.approx(loss, rel=1e-5)
        assert float(centre[0]["accuracy"]) == pytest.approx(accuracy)
        assert min(float(row["loss"]) for row in mine) == pytest.approx(float(line["grid_min_loss"]))
    tclif = [float(row["loss"]) for row in grid if row["network"] == "TC-LIF"]
    assert max(tclif) > min(tclif)  # the directions do move the trained weights
    assert "| network |" in (smoke_run / "loss_landscape.md").read_text()


def test_checkpoints_resume_and_pretrained(smoke_run, tmp_path):
    run = smoke_run / "runs" / "TC-LIF-seed0"
    stamp = (run / "last.pt").stat().st_mtime_ns
    result = run_ablation("loss_landscape", Options(out=tmp_path, smoke=True, checkpoints=(str(run),),
                                                    pretrained=True, resolution=3, samples=16,
                                                    say=lambda *a, **k: None))
    assert (run / "last.pt").stat().st_mtime_ns == stamp  # an existing network is read, not retrained
    first, shipped = result["summary"]
    assert first["network"] == "TC-LIF-seed0" and shipped["neuron"] == "pmsn" and len(result["results"]) == 18
    # the shipped PMSN net: only its 3 block weights [64, 64], the encoder [64, 1] and the decoder [10, 64] move
    assert shipped["moved_parameters"] == 3 * 64 * 64 + 64 + 640
    assert 0.0 < shipped["loss_at_theta"] < 0.5  # 96.5 % test accuracy: a low training loss at θ


@pytest.mark.parametrize("arguments, message", [
    (["--checkpoint", "no/such/run"], "does not exist"),
    (["--smoke", "--resolution", "1"], "resolution must be an int >= 2"),
    (["--smoke", "--span", "0"], "expected a finite number > 0"),
    (["--smoke", "--samples", "0"], "expected"),
])
def test_bad_input_is_one_line(tmp_path, capsys, arguments, message):
    from pmsn.cli import main

    assert main(["ablate", "loss_landscape", "--out", str(tmp_path), *arguments]) == 2
    error = capsys.readouterr().err.strip().splitlines()  # argparse's own errors come after the usage lines
    assert error[-1].startswith("pmsn ablate: error:") and message in error[-1]
    assert not any(tmp_path.iterdir())  # nothing written
    with pytest.raises(ValueError, match="span must be a finite number > 0"):
        run_ablation("loss_landscape", Options(out=tmp_path, smoke=True, span=float("nan")))


def test_landscape_figure_needs_a_grid():
    from pmsn.plot.landscape import landscape_figure

    with pytest.raises(ValueError, match="at least one network's grid"):
        landscape_figure({})
