"""``pmsn report``'s paper tables on a fixture run tree written with pmsn's own writers: the papers' numbers in
their rows, our mean ± std in the rows whose config matches, "–" elsewhere (docs/tasks.md §6)."""

import json
import re
import statistics
from pathlib import Path

import pytest
import torch
import yaml

from pmsn import papers
from pmsn.bench.energy import COLUMNS as ENERGY_COLUMNS
from pmsn.cli import main
from pmsn.experiments.paper_tables import RunResult, config_value, matching, read_run
from pmsn.tables import csv_text
from pmsn.train.checkpoint import FORMAT, atomic_torch_save
from pmsn.train.config import config_to_dict, resolve_config, save_yaml
from pmsn.train.records import EPOCH_FIELDS

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def write_run(folder: Path, accuracies, config=None, preset=None, overrides=(), seconds=10.0, extra=None):
    """A run folder as ``pmsn train`` leaves it: the resolved config.yaml and metrics.csv (one row per epoch)."""
    folder.mkdir(parents=True)
    resolved = resolve_config(config_file=str(CONFIGS / config) if config else None, preset_name=preset,
                              overrides=list(overrides))
    save_yaml(config_to_dict(resolved), folder / "config.yaml")
    history = [{"epoch": epoch + 1, "train_loss": 1.0, "train_acc": 50.0, "test_loss": 1.0, "test_acc": accuracy,
                "best_test_acc": max(accuracies[:epoch + 1]), "lr": 0.1, "epoch_seconds": seconds,
                "train_samples_per_s": 1.0, "wall_seconds": seconds * (epoch + 1), **(extra or {})}
               for epoch, accuracy in enumerate(accuracies)]
    columns = EPOCH_FIELDS + tuple(extra or {})
    (folder / "metrics.csv").write_text(csv_text(history, columns))
    return folder


def write_checkpoint(folder: Path, weights: int):
    """A minimal last.pt: ``weights`` learned parameters and BN statistics, which are not counted."""
    model = {"layer.weight": torch.zeros(weights), "bn.running_mean": torch.zeros(7),
             "bn.num_batches_tracked": torch.tensor(3)}
    atomic_torch_save({"format": FORMAT, "architecture": {}, "config": {}, "model": model, "optimizer": {},
                       "epoch": 1, "best_test_acc": 0.0, "best_epoch": 1, "history": [], "rng": {},
                       "wall_seconds": 0.0}, folder / "last.pt")


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    # PMSN Table I, S-MNIST 66.3k: three seeds (preset smnist = width 128), peak memory logged in MiB
    for seed, best in zip((1, 2, 3), (98.0, 98.5, 99.0)):
        write_run(root / f"smnist-pmsn-{seed}", [best - 5.0, best, best - 1.0], preset="smnist",
                  overrides=[f"seed={seed}"], seconds=30.0 + seed, extra={"peak_memory_mib": 512.0 * seed})
    write_checkpoint(root / "smnist-pmsn-1", 65_418)
    # PS-MNIST with a validation split: best.pt is epoch 3 (chosen on validation), test 93 there, best test 95
    write_run(root / "psmnist-pmsn-valid", [90.0, 95.0, 93.0], preset="psmnist",
              overrides=["data.valid_fraction=0.1"], extra={"valid_acc": 97.0, "chosen_epoch": 3})
    # pixel sCIFAR-10 (data.task scifar10, model pmsn_scifar_pixel), PMSN with reset
    write_run(root / "pixel-pmsn", [70.0, 81.25], config="pmsn_scifar10_pixel.yaml")
    # column sCIFAR-10: PMSN with reset and without (memoryless soma)
    write_run(root / "column-pmsn", [90.0], config="pmsn_scifar10_column.yaml")
    write_run(root / "column-pmsn-noreset", [88.5], config="pmsn_noreset_scifar10_column.yaml")
    # TC-LIF recurrent S-MNIST, small and large nets; the large one with a measured energy.csv
    write_run(root / "tclif-small", [97.0, 98.0], config="tclif_rec_smnist_small.yaml")
    large = write_run(root / "tclif-large", [99.0], config="tclif_rec_smnist_large.yaml")
    energy = [{"layer": "hidden.0", "kind": "tclif", "neurons": 64, "firing_rate": 0.25},
              {"layer": "hidden.1", "kind": "tclif", "neurons": 256, "firing_rate": 0.5},
              {"layer": "fc", "kind": "linear", "input": "spikes", "input_rate": 0.5},
              {"layer": "total", "kind": "", "energy_pj": 31_500.0}]
    (large / "energy.csv").write_text(csv_text(energy, ENERGY_COLUMNS))
    # the 5k-digit main job: no paper row; a smoke run on 64 S-MNIST digits: left out
    write_run(root / "main", [60.0], preset="smnist5k")
    write_run(root / "smnist-smoke", [100.0], preset="smnist", overrides=["data.limit_train=64"])
    # a compartments ablation: its runs are ordinary run folders under <out>/runs
    ablation = root / "ablations" / "compartments"
    ablation.mkdir(parents=True)
    (ablation / "ablation.json").write_text(json.dumps({"ablation": "compartments", "files": []}))
    (ablation / "compartments_summary.csv").write_text("label,compartments,seeds,acc_mean\nn=3,3,2,89.0\n")
    for seed, best in ((1, 88.0), (2, 90.0)):
        write_run(ablation / "runs" / f"n=3-seed{seed}", [best], preset="scifar10",
                  overrides=[f"seed={seed}", "model.options.neuron_kwargs.compartments=3"])
    assert main(["report", str(root)]) == 0
    return (root / "report.md").read_text()


def tables(text: str) -> dict[str, list[dict]]:
    """Every Markdown table of the report under its ``###`` heading, as rows of {header: cell}."""
    found, heading, lines = {}, None, []
    for line in text.splitlines() + [""]:
        if line.startswith("|"):
            lines.append([cell.strip() for cell in line.strip().strip("|").split("|")])
            continue
        if lines and heading is not None and len(lines) > 2:
            found.setdefault(heading, [dict(zip(lines[0], cells)) for cells in lines[2:]])
        lines = []
        if line.startswith("### "):
            heading = line[4:]
    return found


def table(parsed: dict, title: str) -> list[dict]:
    """The table whose heading starts with ``title`` and a colon ("PMSN Table I: ...")."""
    (key,) = [key for key in parsed if key.split(":")[0] == title]
    return parsed[key]


def row(rows: list[dict], setting: str, method: str, params: str | None = None) -> dict:
    found = [r for r in rows if r["setting"] == setting and r["method"] == method
             and (params is None or r["params (paper)"] == params)]
    assert len(found) == 1, (setting, method, params, found)
    return found[0]


def test_report_opens_with_the_paper_tables(report):
    assert report.index("## Paper tables") < report.index("## Training runs")
    assert "selected on the test set as the papers' code does" in report.split("##")[0]
    assert "chosen on valid" in report.split("##")[0]
    assert "Left out, trained or tested on part of the data set (data.limit_train / limit_test): smnist-smoke." \
        in report
    titles = [key for key in tables(report) if key.split(":")[0] in
              ("PMSN Table I", "PMSN Table II", "PMSN Table III", "PMSN Table V", "PMSN Table VII",
               "TC-LIF Table 1", "TC-LIF Table 2", "PSN Table 1", "PSN Table 2")]
    assert len(titles) == 9


def test_seeds_of_one_row_give_mean_and_std(report):
    rows = table(tables(report), "PMSN Table I")
    pmsn = row(rows, "S-MNIST", "PMSN", "66.3k")
    std = statistics.stdev([98.0, 98.5, 99.0])
    assert pmsn["paper (%)"] == "99.40" and pmsn["ours (%)"] == f"98.50 ± {std:.2f}"
    assert pmsn["runs"] == "3" and pmsn["epochs"] == "3" and pmsn["params (ours)"] == "65.4k"
    # the 156.4k net (width 208), PS-MNIST and SHD have no runs: the paper's number and "–"
    wide = row(rows, "S-MNIST", "PMSN", "156.4k")
    assert (wide["paper (%)"], wide["ours (%)"], wide["runs"], wide["params (ours)"]) == ("99.53", "–", "–", "–")
    assert row(rows, "PS-MNIST", "PLIF (FF)")["paper (%)"] == "–"  # "N.A." in the paper
    assert pmsn["ours, chosen on valid (%)"] == "–"  # chosen on test: no validation split
    honest = row(rows, "PS-MNIST", "PMSN", "66.3k")
    assert (honest["ours (%)"], honest["ours, chosen on valid (%)"]) == ("95.00", "93.00")
    # the TC-LIF large recurrent net also fills PMSN Table I's TC-LIF row
    assert row(rows, "S-MNIST", "TC-LIF (Rec)")["ours (%)"] == "99.00"


def test_pixel_and_no_reset_runs_find_their_own_rows(report):
    rows = table(tables(report), "PMSN Table II")
    assert row(rows, "sCIFAR-10 T = 1024", "PMSN")["ours (%)"] == "81.25"
    assert row(rows, "sCIFAR-10 T = 1024", "PMSN")["paper (%)"] == "82.14"
    assert row(rows, "sCIFAR-10 T = 32", "PMSN")["ours (%)"] == "90.00"  # not the pixel run, not the no-reset one
    memoryless = row(rows, "sCIFAR-10 T = 32", "PMSN w/o reset (memoryless soma)")
    assert (memoryless["paper (%)"], memoryless["ours (%)"], memoryless["runs"]) == ("89.27", "88.50", "1")
    assert row(rows, "sCIFAR-10 T = 32", "PMSN w/o reset (integrator soma)")["ours (%)"] == "–"
    filled = [(r["setting"], r["method"]) for r in rows if r["ours (%)"] != "–"]
    assert filled == [("sCIFAR-10 T = 32", "PMSN"), ("sCIFAR-10 T = 32", "PMSN w/o reset (memoryless soma)"),
                      ("sCIFAR-10 T = 1024", "PMSN")]


def test_ablation_runs_fill_table_5_only_for_their_n(report):
    rows = table(tables(report), "PMSN Table V")
    n3 = row(rows, "sCIFAR-10", "n = 3")
    assert (n3["paper (%)"], n3["ours (%)"], n3["runs"]) == ("90.49", f"89.00 ± {statistics.stdev([88, 90]):.2f}", "2")
    assert row(rows, "sCIFAR-10", "n = 5")["ours (%)"] == "90.00"  # the default n: the PMSN column run
    assert [r["ours (%)"] for r in rows if r["method"] not in ("n = 3", "n = 5") or r["setting"] == "sCIFAR-100"] \
        == ["–"] * 10


def test_tclif_small_and_large_nets_are_separate_rows(report):
    rows = table(tables(report), "TC-LIF Table 1")
    small, large = row(rows, "S-MNIST", "TC-LIF (Rec, small)"), row(rows, "S-MNIST", "TC-LIF (Rec, large)")
    assert (small["params (paper)"], small["paper (%)"], small["ours (%)"]) == ("63.6k", "98.79", "98.00")
    assert (large["params (paper)"], large["paper (%)"], large["ours (%)"]) == ("155.1k", "99.20", "99.00")
    assert sum(r["ours (%)"] != "–" for r in rows) == 2


def test_cost_and_energy_tables(report):
    parsed = tables(report)
    cost = {r[""]: r for r in table(parsed, "PMSN Table VII")}
    assert cost["PMSN s/epoch"]["S-MNIST (T = 784): paper"] == "35.32"
    assert cost["PMSN s/epoch"]["S-MNIST (T = 784): ours"] == "32.00 ± 1.00"  # 31, 32, 33 s
    assert cost["PMSN peak memory (GB)"]["S-MNIST (T = 784): ours"] == "1.00 ± 0.50"  # 0.5, 1, 1.5 GiB
    assert cost["PMSN accuracy (%)"]["sCIFAR-10 T = 1024: ours"] == "81.25"
    assert cost["PMSN s/epoch"]["sCIFAR-10 T = 32: ours"] == "10.00"
    assert cost["PSN s/epoch"]["sCIFAR-10 T = 32: ours"] == "–" and cost["PSN s/epoch"]["sCIFAR-10 T = 32: paper"] == "49.02"
    energy = {r["neuron"]: r for r in table(parsed, "TC-LIF Table 2")}
    assert energy["tclif"]["paper (nJ)"] == "28.2" and energy["tclif"]["paper rates"] == "0.294, 0.146, 0.030"
    assert energy["tclif"]["ours: measured rates"] == "0.250, 0.500" and energy["tclif"]["ours: measured (nJ)"] == "31.5"
    assert energy["lif"]["ours: measured (nJ)"] == "–" and energy["LSTM (non-spiking)"]["paper (nJ)"] == "2834.7"
    assert energy["lif"]["ours from the paper's rates (nJ)"] == "23.9"  # the paper: 23.8 (docs/training.md §6)


# (table title, setting, method, paper params, paper %) typed from the papers' text
GOLDEN = [
    ("PMSN Table I", "S-MNIST", "PSN*", "2.5M", "97.90"),
    ("PMSN Table I", "PS-MNIST", "SPSN* (k = 32)", "52.4k", "82.84"),
    ("PMSN Table I", "SHD", "PMSN", "199.3k", "95.10"),
    ("PMSN Table I", "SHD", "RadLIF (FF)", "3.9M", "94.62"),
    ("PMSN Table II", "sCIFAR-100 T = 32", "LIF w/o reset", "0.51M", "53.33"),
    ("PMSN Table II", "sCIFAR-10 T = 1024", "PSN", "6.47M", "55.24"),
    ("PMSN Table II", "sCIFAR-10 T = 1024", "masked PSN (k = 32)", "0.38M", "57.83"),
    ("PMSN Table III", "ImageNet global", "PMSN global (SEW-ResNet-34)", "–", "70.98"),
    ("PMSN Table III", "ImageNet local", "InfLoR (ResNet-18)", "–", "64.78"),
    ("PMSN Table V", "sCIFAR-100", "n = 17", "–", "66.81"),
    ("TC-LIF Table 1", "S-MNIST", "GLIF* (FF, small)", "47.1k", "94.80"),
    ("TC-LIF Table 1", "PS-MNIST", "LTMD* (Rec, large)", "155.1k", "54.93"),
    ("TC-LIF Table 1", "GSC", "SNN (Salaj et al.)", "4304.9k", "89.04"),
    ("TC-LIF Table 1", "SSC", "TC-LIF (FF)", "110.8k", "63.46"),
    ("PSN Table 1", "sCIFAR-10", "GLIF", "–", "83.66"),
    ("PSN Table 1", "sCIFAR-100", "KLIF", "–", "57.37"),
    ("PSN Table 2", "CIFAR-10", "PSN (modified PLIF-Net, T = 4)", "–", "95.32"),
    ("PSN Table 2", "ImageNet", "Dspike (VGG-16, T = 5)", "–", "71.24"),
    ("PSN Table 2", "CIFAR10-DVS", "sliding PSN (k = 2, VGG, T = 8)", "–", "85.30"),
]


@pytest.mark.parametrize("title, setting, method, params, paper", GOLDEN)
def test_paper_numbers_are_the_papers(report, title, setting, method, params, paper):
    found = row(table(tables(report), title), setting, method, params)
    assert found["paper (%)"] == paper


NOTE_NUMBER = re.compile(r":\s*(?:([\d.]+)\s*%|N\.A\.)")  # "N.A.": a row whose paper prints no number


def matched_rows(config: dict) -> list[tuple[str, str, str, str | None, float | None]]:
    """(table key, setting, method, paper params, paper %) of every paper row a run with ``config`` fills."""
    run = RunResult(Path("run"), "run", config, 50.0, None, 1, None, None, None)
    return [(key, r.setting, r.method, r.params, r.accuracy) for key, t in papers.paper_tables().items()
            for r in t.rows if matching([run], r.match)]


def config_file(name: str, overrides=()) -> dict:
    return config_to_dict(resolve_config(config_file=str(CONFIGS / name), overrides=list(overrides)))


@pytest.mark.parametrize("path", sorted(p.name for p in CONFIGS.glob("*.yaml") if not p.name.startswith("main_")))
def test_every_paper_config_fills_rows_with_its_own_number(path):
    """Each configs/ file (one paper row, its number in ``note``) matches at least one table row, and every row it
    matches carries that number: the matching picks rows by config, not by preset name."""
    config = config_file(path)
    number = NOTE_NUMBER.search(config["note"])
    assert number, f"{path}: its note gives no ': <number> %' (or ': N.A.')"
    expected = None if number.group(1) is None else float(number.group(1))
    rows = matched_rows(config)
    assert rows, f"{path} matches no paper row"
    assert {r[4] for r in rows} == {expected}, rows


# The configs of the TC-LIF authors' baselines, PMSN global and the integrator soma: each fills exactly its own
# rows, (table key, setting, method, paper params).
OWN_ROWS = {
    "lif_ff_smnist_small.yaml": {("tclif_table1", "S-MNIST", "LIF* (FF, small)", "44.8k")},
    "lif_ff_smnist_large.yaml": {("pmsn_table1", "S-MNIST", "LIF (TC-LIF net, FF)", "85.1k"),
                                 ("tclif_table1", "S-MNIST", "LIF* (FF, large)", "85.1k")},
    "plif_ff_smnist_small.yaml": {("tclif_table1", "S-MNIST", "PLIF* (FF, small)", "44.8k")},
    "plif_ff_smnist_large.yaml": {("pmsn_table1", "S-MNIST", "PLIF (FF)", "85.1k"),
                                  ("tclif_table1", "S-MNIST", "PLIF* (FF, large)", "85.1k")},
    "glif_ff_smnist_small.yaml": {("tclif_table1", "S-MNIST", "GLIF* (FF, small)", "47.1k")},
    "glif_ff_smnist_large.yaml": {("pmsn_table1", "S-MNIST", "GLIF (FF)", "87.5k"),
                                  ("tclif_table1", "S-MNIST", "GLIF* (FF, large)", "87.5k")},
    "glif_rec_smnist_small.yaml": {("tclif_table1", "S-MNIST", "GLIF* (Rec, small)", "114.6k")},
    "glif_rec_smnist_large.yaml": {("tclif_table1", "S-MNIST", "GLIF* (Rec, large)", "157.5k")},
    "lif_ff_psmnist_small.yaml": {("tclif_table1", "PS-MNIST", "LIF* (FF, small)", "44.8k")},
    "lif_ff_psmnist_large.yaml": {("pmsn_table1", "PS-MNIST", "LIF (TC-LIF net, FF)", "85.1k"),
                                  ("tclif_table1", "PS-MNIST", "LIF* (FF, large)", "85.1k")},
    "plif_ff_psmnist_large.yaml": {("pmsn_table1", "PS-MNIST", "PLIF (FF)", "85.1k")},
    "glif_ff_psmnist_large.yaml": {("pmsn_table1", "PS-MNIST", "GLIF (FF)", "87.5k")},
    "glif_rec_psmnist_small.yaml": {("tclif_table1", "PS-MNIST", "GLIF* (Rec, small)", "114.6k")},
    "glif_rec_psmnist_large.yaml": {("tclif_table1", "PS-MNIST", "GLIF* (Rec, large)", "157.5k")},
    "alif_rec_psmnist.yaml": {("pmsn_table1", "PS-MNIST", "ALIF (Rec)", "156.3k"),
                              ("tclif_table1", "PS-MNIST", "SRNN + ALIF (Rec, large)", "156.3k")},
    "pmsn_global_sew18_imagenet.yaml": {("pmsn_table3", "ImageNet global", "PMSN global (SEW-ResNet-18)", None)},
    "pmsn_global_sew34_imagenet.yaml": {("pmsn_table3", "ImageNet global", "PMSN global (SEW-ResNet-34)", None)},
    "pmsn_noreset_integrator_scifar10_column.yaml": {
        ("pmsn_table2", "sCIFAR-10 T = 32", "PMSN w/o reset (integrator soma)", "0.54M")},
    "pmsn_noreset_integrator_scifar100_column.yaml": {
        ("pmsn_table2", "sCIFAR-100 T = 32", "PMSN w/o reset (integrator soma)", "0.54M")},
    "pmsn_noreset_integrator_scifar10_pixel.yaml": {
        ("pmsn_table2", "sCIFAR-10 T = 1024", "PMSN w/o reset (integrator soma)", "0.21M")},
}


@pytest.mark.parametrize("path", sorted(OWN_ROWS))
def test_baseline_global_and_integrator_configs_fill_exactly_their_own_rows(path):
    assert {row[:4] for row in matched_rows(config_file(path))} == OWN_ROWS[path]


def test_glif_star_rows_take_the_layer_wise_glif_on_the_baseline_nets():
    """GLIF* (Rec, small) is 114.6k, the 40r-256r-128 baseline net with a layer-wise GLIF (as LIF*/PLIF* small),
    not TC-LIF's 40r-200r-64 net; a channel-wise GLIF (one parameter set per channel, 540.7k on the large FF net)
    or a time-static one is another net and fills no GLIF* row."""
    on_tclif_small = config_file("tclif_rec_smnist_small.yaml", ["model.neuron=glif"])
    assert [r[2] for r in matched_rows(on_tclif_small)] == []
    layer_wise = ["model.neuron=glif", "model.options.neuron_kwargs.channel_wise=false"]
    assert [r[2] for r in matched_rows(config_file("tclif_rec_smnist_small.yaml", layer_wise))] == []
    assert [r[2] for r in matched_rows(config_file("lif_rec_smnist_small.yaml", layer_wise))] == ["GLIF* (Rec, small)"]
    assert [r[2] for r in matched_rows(config_file("lif_rec_psmnist_small.yaml", layer_wise))] \
        == ["GLIF* (Rec, small)"]
    assert [r[2] for r in matched_rows(config_file("lif_rec_smnist_small.yaml", ["model.neuron=glif"]))] == []
    assert matched_rows(config_file("glif_ff_smnist_large.yaml", ["model.options.neuron_kwargs.channel_wise=true"])) \
        == []
    assert matched_rows(config_file("glif_ff_smnist_large.yaml", ["model.options.neuron_kwargs.time_wise=false"])) \
        == []


def test_config_value_reads_dotted_keys_and_absent_ones():
    config = {"model": {"options": {"neuron_kwargs": {"soma_mode": "memoryless"}}, "name": "x"}}
    assert config_value(config, "model.options.neuron_kwargs.soma_mode") == "memoryless"
    assert config_value(config, "model.options.width") is None and config_value(config, "model.name.deeper") is None


def test_read_run_counts_learned_parameters_only(tmp_path):
    run = write_run(tmp_path / "r", [1.0, 3.0, 2.0], preset="smnist5k")
    write_checkpoint(run, 1500)
    result = read_run(run, tmp_path)
    assert (result.run, result.best_test_acc, result.epochs, result.parameters) == ("r", 3.0, 3, 1500)
    assert result.peak_memory_gib is None and result.energy is None
    assert yaml.safe_load((run / "config.yaml").read_text())["data"]["task"] == result.config["data"]["task"]
