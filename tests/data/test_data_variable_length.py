"""Variable-length data (docs/variable_length.md §5): SHD / SSC lengths on files with the real schema, and the padded
collate."""

import numpy as np
import pytest
import torch
from test_data_spikes import random_samples  # the random spike trains of the reader's tests

from pmsn.data import build_dataset, spike_bins
from pmsn.data.collate import pad_collate
from pmsn.data.samples import write_spike_h5


@pytest.fixture
def spike_files(tmp_path):
    times, units = random_samples(6, seed=3)
    times[2], units[2] = times[2][:0], units[2][:0]  # a sample without spikes
    times[4] = times[4] * 0.3  # a short one
    for name in ("shd_train", "ssc_test"):
        write_spike_h5(tmp_path / f"{name}.h5", times, units, np.arange(6) % 20)
    return tmp_path, times


@pytest.mark.parametrize("task, split", [("shd", "train"), ("ssc", "test")])  # preloaded / read per item
def test_spike_lengths_are_one_past_the_last_spike_bin(spike_files, task, split):
    root, times = spike_files
    fixed = build_dataset(task, split, data_dir=root, steps=50)
    varied = build_dataset(task, split, data_dir=root, steps=50, variable_length=True)
    for index, sample_times in enumerate(times):
        bins = spike_bins(sample_times, 50)
        expected = int(bins[bins < 50].max()) + 1 if bins.size else 1  # no spikes: one (empty) step
        x, label, length = varied[index]
        assert length == expected and label == fixed[index][1]
        assert torch.equal(x, fixed[index][0]) and torch.all(x[length:] == 0) and x[:length].sum() == bins.size
    assert varied[2][2] == 1 and varied[4][2] < 25


def test_pad_collate_pads_at_the_end_and_returns_lengths():
    items = [(torch.ones(3, 2), 1, 3), (torch.full((5, 2), 2.0), 0, 2), (torch.full((4, 2), 3.0), 7, 4)]
    x, labels, lengths = pad_collate(items)
    assert x.shape == (3, 5, 2) and labels.tolist() == [1, 0, 7] and lengths.tolist() == [3, 2, 4]
    assert lengths.dtype == labels.dtype == torch.long
    expected = torch.zeros(3, 5, 2)
    expected[0, :3], expected[1, :2], expected[2, :4] = 1.0, 2.0, 3.0  # steps past a length are 0, not x's values
    assert torch.equal(x, expected)
    x, _, lengths = pad_collate([(torch.ones(2, 1), 0, torch.tensor(1))])  # a length as a 0-dim tensor
    assert lengths.tolist() == [1] and torch.equal(x, torch.tensor([[[1.0], [0.0]]]))


@pytest.mark.parametrize("batch, message", [
    ([], "non-empty batch, got 0 items"),
    ([(torch.ones(3, 2), 1)], r"items \(x, label, length\) from a variable-length reader, got 2 elements at batch "
                               "index 0"),
    ([(torch.ones(3, 2), 1, 3), (torch.ones(3, 2), 1, 4)], r"length in \[1, T=3\] at batch index 1, got 4"),
    ([(torch.ones(3, 2), 1, 0)], r"length in \[1, T=3\] at batch index 0, got 0"),
    ([(torch.ones(3, 2), 1, 2.0)], r"length in \[1, T=3\] at batch index 0, got 2.0"),
    ([(torch.ones(3, 2), 1, 3), (torch.ones(3, 4), 1, 3)], r"every x of shape \[T, 2\], got \(3, 4\) at batch index 1"),
    ([("abc", 1, 3)], "x as a time-first tensor"),
])
def test_pad_collate_bad_items_raise_one_line(batch, message):
    with pytest.raises(ValueError, match=message) as raised:
        pad_collate(batch)
    assert "\n" not in str(raised.value)
