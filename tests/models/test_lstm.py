"""The non-spiking LSTM baseline (TC-LIF Table 1 "LSTM", docs/tasks.md §2.9): count, readout, lengths, training."""

import re
from pathlib import Path

import pytest
import torch

from pmsn.models import build_model, count_parameters
from pmsn.papers import paper_tables

CONFIG_DIR = Path(__file__).resolve().parents[2] / "configs"


def lstm_by_hand(model, x):
    """The LSTM equations stepped by hand from the module's weights (PyTorch's gate order i, f, g, o)."""
    cell = model.lstm
    hidden = torch.zeros(x.shape[0], cell.hidden_size, dtype=x.dtype)
    memory = torch.zeros_like(hidden)
    outputs = []
    for t in range(x.shape[1]):
        gates = x[:, t] @ cell.weight_ih_l0.T + cell.bias_ih_l0 + hidden @ cell.weight_hh_l0.T + cell.bias_hh_l0
        i, f, g, o = gates.chunk(4, dim=1)
        memory = torch.sigmoid(f) * memory + torch.sigmoid(i) * torch.tanh(g)
        hidden = torch.sigmoid(o) * torch.tanh(memory)
        outputs.append(model.readout(hidden))
    return torch.stack(outputs)  # [T, B, K]


def test_parameter_counts_by_formula():
    # nn.LSTM: 4·(h·F + h·h + 2h); readout h·K + K
    for hidden, expected in ((128, 68_362), (126, 66_286)):
        assert 4 * (hidden * 1 + hidden * hidden + 2 * hidden) + hidden * 10 + 10 == expected
        assert count_parameters(build_model("lstm", hidden=hidden)) == expected
    assert 4 * (128 * 129 + 128) == 66_560  # the paper's 66.5k: one bias per gate, no readout
    two = build_model("lstm", hidden=8, layers=2, input_size=3, num_classes=4)
    assert count_parameters(two) == 4 * (8 * 3 + 64 + 16) + 4 * (8 * 8 + 64 + 16) + 8 * 4 + 4


def test_logits_are_the_readout_of_the_last_step_and_per_step_matches_the_equations():
    torch.manual_seed(0)
    model = build_model("lstm", hidden=6, input_size=2, num_classes=3).double()
    x = torch.randn(4, 9, 2, dtype=torch.float64)
    expected = lstm_by_hand(model, x)
    torch.testing.assert_close(model(x, per_step=True), expected)
    torch.testing.assert_close(model(x), expected[-1])


def test_padded_batch_reads_each_sequence_at_its_own_last_step():
    torch.manual_seed(0)
    model = build_model("lstm", hidden=5, num_classes=4).double()
    lengths = torch.tensor([7, 3, 1])
    x = torch.randn(3, 7, 1, dtype=torch.float64)
    x[1, 3:] = 1e3  # padding garbage must not matter
    x[2, 1:] = -1e3
    logits = model(x, lengths=lengths)
    per_step = model(x, per_step=True, lengths=lengths)
    for b, length in enumerate(lengths.tolist()):
        alone = model(x[b:b + 1, :length])
        torch.testing.assert_close(logits[b:b + 1], alone)
        torch.testing.assert_close(per_step[:length, b], model(x[b:b + 1, :length], per_step=True)[:, 0])
        assert torch.all(per_step[length:, b] == 0)
    with pytest.raises(ValueError, match=r"lengths in \[1, T=7\], got values from 0 to 7"):
        model(x, lengths=torch.tensor([7, 0, 1]))


def test_neuron_is_ignored_but_a_typo_fails():
    torch.manual_seed(0)
    reference = build_model("lstm")
    for neuron in (None, "none", "pmsn", "lif"):
        torch.manual_seed(0)
        other = build_model("lstm", neuron=neuron)
        assert all(torch.equal(a, b) for a, b in zip(reference.parameters(), other.parameters()))
    with pytest.raises(ValueError, match="unknown neuron 'pmns'"):
        build_model("lstm", neuron="pmns")
    with pytest.raises(ValueError, match="hidden must be a positive int, got 0"):
        build_model("lstm", hidden=0)
    with pytest.raises(ValueError, match=r"expects a batch-first sequence \[B, T, 1\]"):
        build_model("lstm")(torch.randn(2, 5, 3))


def test_paper_rows_match_lstm_runs_without_a_neuron():
    # an LSTM run says model.neuron: none (train/config.py check_names accepts it for networks without neurons)
    rows = [row for table in paper_tables().values() for row in table.rows if row.method.startswith("LSTM")]
    assert len(rows) == 2 and {row.accuracy for row in rows} == {98.20, 88.00}
    for row in rows:
        assert row.match["model.name"] == ("lstm",) and row.match["model.neuron"] == ("none",)


def test_config_takes_neuron_none_only_for_networks_without_neurons():
    from pmsn.train.config import resolve_config

    assert resolve_config(overrides=["model.name=lstm", "model.neuron=none"]).model.neuron == "none"
    with pytest.raises(ValueError, match="unknown model.neuron 'none'"):
        resolve_config(overrides=["model.neuron=none"])


def test_smoke_training_reduces_the_loss():
    torch.manual_seed(0)
    model = build_model("lstm", hidden=16, num_classes=2)
    x = torch.randn(32, 12, 1)
    y = (x[:, 0, 0] > 0).long()  # the label is the sign of the first step: needs memory over 11 steps
    optimiser = torch.optim.Adam(model.parameters(), lr=0.02)
    losses = []
    for _ in range(60):
        loss = torch.nn.functional.cross_entropy(model(x), y)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    assert losses[-1] < 0.2 * losses[0]
    assert (model(x).argmax(1) == y).float().mean() > 0.9


def test_pmsn_train_runs_the_lstm_config_and_evaluates_it(tmp_path):
    from pmsn.train.build import load_run
    from pmsn.train.config import resolve_config
    from pmsn.train.loop import train

    config = resolve_config(str(CONFIG_DIR / "lstm_smnist.yaml"), overrides=[
        "data.task=smnist5k", "data.options.resolution=7", "data.limit_train=64", "data.limit_test=32",
        "model.options.hidden=8", "batch_size=32", "epochs=1", "device=cpu", "threads=1", f"out={tmp_path}"])
    result = train(config, quiet=True)
    assert result.run_dir is not None and (result.run_dir / "last.pt").is_file()
    model, _, _ = load_run(result.run_dir)
    assert type(model).__name__ == "LSTMClassifier" and model.lstm.hidden_size == 8
    assert model(torch.rand(2, 49, 1)).shape == (2, 10)


def test_energy_refuses_the_lstm_in_one_line():
    from pmsn.bench.energy import measure_energy

    model = build_model("lstm", hidden=4)
    with pytest.raises(ValueError, match=r"'lstm' is a LSTM, whose gate operations it does not count"):
        measure_energy(model, [(torch.rand(2, 5, 1), torch.zeros(2, dtype=torch.long))])


def test_models_command_explains_the_lstm_count(capsys):
    from pmsn.cli import main

    assert main(["models", "lstm"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"h=128 +68,362 +66,500 \* +ok", out) and re.search(r"h=126 \(nearest count\) +66,286 +66,500 +ok", out)
    assert "* lstm: paper: 4·(128·129 + 128) = 66,560, the 128-unit cell with one bias per gate" in out
