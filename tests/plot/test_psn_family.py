"""PSN paper Fig. 2: counts read from the modules equal the papers' formulas; masks are the causal structures."""

import pytest
import torch

from pmsn.cli import main
from pmsn.plot.psn_family import parameter_counts, plot_psn_family, time_masks


def test_counts_follow_the_paper():
    for row in parameter_counts([1, 4, 16, 64], order=4):
        t = row["T"]
        assert row["psn"] == row["masked_psn"] == t * t + t  # PSN eq. 8 / 11: W [T, T] and b [T]
        assert row["sliding_psn"] == 5  # PSN eq. 14: k weights and one bias


def test_masks():
    masks = time_masks(6, order=3)
    rows, cols = torch.arange(6).unsqueeze(1), torch.arange(6).unsqueeze(0)
    band = (cols <= rows) & (rows - cols < 3)
    assert torch.equal(masks["PSN"] != 0, torch.ones(6, 6, dtype=torch.bool))
    assert torch.equal(masks["masked PSN (λ = 1)"] != 0, band)
    sliding = masks["sliding PSN"]
    assert torch.equal(sliding != 0, band)
    assert all(torch.unique(torch.diagonal(sliding, -lag)).numel() == 1 for lag in range(3))  # shared per diagonal


def test_figure_and_command(tmp_path):
    png, svg = plot_psn_family(tmp_path / "fig", max_steps=16, order=2, mask_steps=4)
    assert png.read_bytes().startswith(b"\x89PNG") and "n_param per layer" in svg.read_text()
    with pytest.raises(ValueError, match="order <= mask T"):
        plot_psn_family(tmp_path / "bad", order=9, mask_steps=4)
    assert main(["plot", "psn-family", "--max-T", "8", "--formats", "svg", "--out", str(tmp_path / "cli")]) == 0
    assert (tmp_path / "cli.svg").exists()
