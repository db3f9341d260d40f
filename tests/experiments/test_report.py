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


def write_run(folder, config, best):
    folder.mkdir(parents=True)
    (folder / "config.yaml").write_text(config)
    (folder / "metrics.csv").write_text(f"epoch,train_loss,train_acc,test_loss,test_acc,epoch_seconds\n"
                                        f"1,1.0,60,0.9,{best},10.0\n")


@pytest.mark.parametrize("config, paper", [
    # pixel-by-pixel sCIFAR: data.task is scifar10, the paper row is scifar10_pixel (PMSN Table II, T = 1024)
    ("preset: scifar10_pixel\nmodel: {name: pmsn_scifar_pixel, neuron: pmsn}\n"
     "data: {task: scifar10, options: {mode: pixel}}\n", "82.14 (PMSN Table II)"),
    ("model: {name: pmsn_scifar_pixel, neuron: psn}\ndata: {task: scifar10, options: {mode: pixel}}\n",
     "55.24 (PMSN Table II)"),
    # no neuronal reset: the w/o-reset columns, whichever no-reset soma or LIF reset
    ("preset: scifar10\nmodel: {name: scifar_column, neuron: pmsn, options: {neuron_kwargs: {soma_mode: memoryless}}}"
     "\ndata: {task: scifar10, options: {mode: column}}\n", "89.27 (PMSN Table II, PMSN w/o reset)"),
    ("model: {name: scifar_column, neuron: pmsn, options: {neuron_kwargs: {soma_mode: no_reset}}}\n"
     "data: {task: scifar100, options: {mode: column}}\n", "60.82 (PMSN Table II, PMSN w/o reset)"),
    ("model: {name: pmsn_scifar_pixel, neuron: lif, options: {neuron_kwargs: {reset: none, tau: 2.0}}}\n"
     "data: {task: scifar10, options: {mode: pixel}}\n", "43.30 (PMSN Table II, LIF w/o reset)"),
    ("model: {name: scifar_column, neuron: lif, options: {neuron_kwargs: {reset: none}}}\n"
     "data: {task: scifar10, options: {mode: column}}\n", "79.50 (PSN Table 1, LIF w/o reset)"),
    # with reset, the other soma modes and LIF resets keep the main columns
    ("model: {name: scifar_column, neuron: pmsn, options: {neuron_kwargs: {soma_mode: serial}}}\n"
     "data: {task: scifar10, options: {mode: column}}\n", "90.97 (PMSN Table II)"),
    ("model: {name: scifar_column, neuron: lif, options: {neuron_kwargs: {reset: soft}}}\n"
     "data: {task: scifar10, options: {mode: column}}\n", "81.50 (PSN Table 1)"),
    # the GLIF / KLIF baselines of PSN Table 1
    ("model: {name: scifar_column, neuron: glif}\ndata: {task: scifar100, options: {mode: column}}\n",
     "58.92 (PSN Table 1)"),
    ("model: {name: scifar_column, neuron: klif}\ndata: {task: scifar10, options: {mode: column}}\n",
     "83.26 (PSN Table 1)"),
], ids=["pixel", "pixel-psn", "memoryless", "no-reset-c100", "lif-none-pixel", "lif-none", "serial-soma", "lif-soft",
        "glif", "klif"])
def test_report_finds_the_paper_row_of_a_run(tmp_path, config, paper):
    write_run(tmp_path / "one-run", config, 50.0)
    text = build_report(tmp_path, tmp_path / "report.md")
    row = next(line for line in text.splitlines() if line.startswith("| one-run |"))
    assert row.endswith(f"| {paper} |"), row
