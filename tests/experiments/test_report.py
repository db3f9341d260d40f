"""``pmsn report`` on a fixture tree: a training run, an ablation and an energy table written by hand."""

import json

import pytest

from pmsn.experiments.report import build_report, write_report

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 16


@pytest.fixture
def tree(tmp_path):
    run = tmp_path / "main-run"
    run.mkdir()
    (run / "config.yaml").write_text("task: smnist\nmodel:\n  name: pmsn_smnist\n  neuron: pmsn\n  options:\n"
                                     "    width: 128\ndata:\n  task: smnist\nepochs: 3\n")
    (run / "metrics.csv").write_text("epoch,train_loss,train_acc,test_loss,test_acc,epoch_seconds\n"
                                     "1,1.0,60,0.9,71.5,10.0\n2,0.5,80,0.6,83.25,12.0\n3,0.4,85,0.6,82.0,11.0\n")
    (run / "curves.png").write_bytes(PNG)
    ablation = tmp_path / "ablations" / "compartments"
    (ablation / "runs").mkdir(parents=True)
    (ablation / "ablation.json").write_text(json.dumps({"ablation": "compartments", "files": []}))
    (ablation / "compartments.md").write_text("# Ablation: compartments\n\n| n | acc |\n|---|---|\n| 5 | 42.0 |\n")
    (ablation / "compartments.png").write_bytes(PNG)
    energy = tmp_path / "energy"
    energy.mkdir()
    (energy / "energy.md").write_text("Energy of x\n\n| layer | energy_pj |\n|---|---|\n| total | 12.5 |\n")
    (tmp_path / "dynamics.png").write_bytes(PNG)
    return tmp_path


def test_report_renders_runs_ablations_energy_and_figures(tree):
    path = write_report(tree)
    text = path.read_text()
    assert path == tree / "report.md"
    assert "| main-run | smnist | pmsn_smnist | pmsn | width=128 | 3/3 | 83.25 | 82.00 | 11.0 | 99.40" in text
    assert "### Ablation: compartments" in text and "| 5 | 42.0 |" in text
    assert "![compartments](ablations/compartments/compartments.png)" in text
    assert "| total | 12.5 |" in text and "28.18" in text  # measured table + TC-LIF Table 2 recomputed
    assert "![dynamics](dynamics.png)" in text and "[main-run](main-run/curves.png)" in text
    assert "35.32" in text  # paper speed table


def test_report_elsewhere_links_relative(tree, tmp_path_factory):
    out = tmp_path_factory.mktemp("elsewhere") / "r.md"
    text = build_report(tree, out)
    assert "dynamics.png)" in text and "../" in text
    with pytest.raises(FileNotFoundError, match="folder of runs"):
        write_report(tree / "missing")
