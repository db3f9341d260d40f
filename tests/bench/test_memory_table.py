"""``pmsn bench memory`` (PSN Supp. Table 4, docs/tasks.md §7): the no-neuron network, the table's arithmetic,
the paper's numbers, the command's files. No memory amounts are asserted (they depend on the machine)."""

import csv

import pytest
import torch
from torch import nn

from pmsn import papers
from pmsn.bench.memory_table import COLUMNS, StepLoop, build_network, replace_neurons, table_row, train_step_peak
from pmsn.cli import main
from pmsn.models import build_model, count_parameters
from pmsn.neurons import Neuron


def test_no_neuron_network_is_vgg11_with_identities_where_the_neurons_were():
    torch.manual_seed(0)
    with_if = build_model("vgg11", neuron="if", num_classes=5, T=2, width_divisor=16)
    torch.manual_seed(0)
    bare = build_network("no", steps=2, num_classes=5, width_divisor=16)
    assert not any(isinstance(module, Neuron) for module in bare.modules())
    assert sum(isinstance(module, Neuron) for module in with_if.modules()) == 10  # 8 convs + 2 hidden Linear
    assert sum(isinstance(module, nn.Identity) for module in bare.modules()) == 10
    assert count_parameters(bare) == count_parameters(with_if)  # IF has no parameters
    # the bare net computes the same layers without the spike function: check by hand on its first conv
    x = torch.randn(2, 3, 32, 32)
    bare.eval()
    captured = {}
    bare.neurons[0].register_forward_hook(lambda module, inputs, output: captured.update(out=output, inp=inputs[0]))
    bare(x)
    assert torch.equal(captured["out"], captured["inp"])
    expected = bare.norms[0](bare.convs[0](x))  # image repeated T = 2: both steps identical, no spike in between
    torch.testing.assert_close(captured["out"][0], expected)
    torch.testing.assert_close(captured["out"][1], expected)


def test_networks_differ_only_in_their_neurons():
    psn = build_network("psn", steps=4, num_classes=5, width_divisor=16)
    bare = build_network("no", steps=4, num_classes=5, width_divisor=16)
    assert count_parameters(psn) - count_parameters(bare) == 10 * (4 * 4 + 4)  # PSN: T² + T per layer
    with pytest.raises(ValueError, match=r"unknown network 'lif'; expected one of \['no', 'if', 'if_loop', 'psn'\]"):
        build_network("lif", steps=4, num_classes=5, width_divisor=16)
    with pytest.raises(ValueError, match="Linear has no spiking neuron to replace"):
        replace_neurons(nn.Linear(2, 2), nn.Identity)


def test_step_loop_network_computes_what_the_fused_one_does():
    torch.manual_seed(0)
    fused = build_network("if", steps=3, num_classes=4, width_divisor=16)
    torch.manual_seed(0)
    loop = build_network("if_loop", steps=3, num_classes=4, width_divisor=16)
    assert sum(isinstance(module, StepLoop) for module in loop.modules()) == 10
    assert not any(isinstance(module, Neuron) and not isinstance(parent, StepLoop)
                   for parent in loop.modules() for module in parent.children())
    fused.eval()
    loop.eval()
    x = torch.randn(2, 3, 32, 32)
    torch.testing.assert_close(loop(x), fused(x))


def test_train_step_peak_measures_a_step_with_gradients():
    model = build_network("if", steps=2, num_classes=3, width_divisor=16)
    mib, method = train_step_peak(model, torch.randn(2, 3, 32, 32), torch.tensor([0, 2]))
    assert method in ("rss-hwm", "ru_maxrss", "unavailable")
    assert mib is None or mib >= 0
    assert all(p.grad is not None for p in model.parameters())


def test_table_row_arithmetic_reproduces_the_papers_derived_columns():
    for reference in papers.psn_table4_memory():
        row = table_row(reference.steps, reference.batch, "x", reference.m_no, reference.m_if, reference.m_psn)
        assert row["delta_IF_NO"] == pytest.approx(reference.delta_if, abs=0.05)
        assert row["delta_PSN_NO"] == pytest.approx(reference.delta_psn, abs=0.05)
        assert row["ratio"] == pytest.approx(reference.ratio, abs=0.05)  # printed with one decimal
        assert row["saving_per_TN"] == pytest.approx(reference.saving_per_step_sample, abs=0.05)
    assert table_row(2, 2, "x", 1.0, None, 2.0)["ratio"] is None
    assert table_row(2, 2, "x", 1.0, 2.0, 1.0)["ratio"] is None  # no PSN increase: no ratio


def test_paper_cells_are_the_papers():
    cells = [(r.steps, r.batch, r.m_no, r.m_if, r.m_psn) for r in papers.psn_table4_memory()]
    assert cells == [(16, 16, 35129.9, 70563.9, 53675.9), (8, 16, 18935.9, 36863.9, 28225.9),
                     (16, 8, 18933.9, 36099.9, 28223.9)]


def test_cli_smoke_writes_both_tables(tmp_path, capsys):
    assert main(["bench", "memory", "--smoke", "--out", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    assert "Ours (MiB)" in printed
    assert "| 16 | 16 | SpikingJelly | 35129.9 | 70563.9 | 53675.9 | 35434.0 | 18546.0 | 1.9 | 66.0 |" in printed
    with open(tmp_path / "memory_table.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["source", *COLUMNS]
    ours = [(cells, kind) for cells in (("2", "2"), ("1", "2"), ("2", "1")) for kind in ("fused sweep", "step loop")]
    assert [((r["T"], r["N"]), r["IF"]) for r in rows if r["source"] == "ours (MiB)"] == ours
    assert [(r["T"], r["N"], r["IF"]) for r in rows if r["source"] == "paper"] == [
        ("16", "16", "SpikingJelly"), ("8", "16", "SpikingJelly"), ("16", "8", "SpikingJelly")]
    for row in rows[:6]:
        if row["M_NO"] and row["M_IF"]:
            assert float(row["delta_IF_NO"]) == pytest.approx(float(row["M_IF"]) - float(row["M_NO"]))
    assert (tmp_path / "memory_table.md").read_text().startswith("PSN Supp. Table 4, measured: VGG-11 (width ÷ 16")
