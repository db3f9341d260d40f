"""SHD / SSC: spike binning by np.digitize (docs/tasks.md §1.4) and the HDF5 reader on files with the real schema."""

import gzip
import pickle

import h5py
import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from pmsn.data import CorruptDataError, MissingDataError, bin_spikes, build_dataset, spike_bins
from pmsn.data.samples import write_spike_h5


def random_samples(count, seed, max_events=60):
    rng = np.random.RandomState(seed)
    sizes = rng.randint(1, max_events, count)
    times = [np.sort(rng.uniform(0, 1.4, n)).astype(np.float32) for n in sizes]
    units = [rng.randint(0, 700, n).astype(np.uint16) for n in sizes]
    return times, units


@pytest.fixture
def spike_root(tmp_path):
    samples = {}
    for name, count, classes, seed in [("shd_train", 16, 20, 0), ("shd_test", 4, 20, 1), ("ssc_valid", 5, 35, 2)]:
        times, units = random_samples(count, seed)
        labels = np.arange(count) % classes
        write_spike_h5(tmp_path / f"{name}.h5", times, units, labels)
        samples[name] = (times, units, labels)
    return tmp_path, samples


def test_digitize_edge_cases():
    assert spike_bins(np.array([0.0]))[0] == 1  # t = 0 falls in bin 1; bin 0 is never used
    assert spike_bins(np.array([1.4 - 1e-9]))[0] == 249
    assert spike_bins(np.array([1.4 / 249 * 1.5]))[0] == 2
    assert spike_bins(np.array([0.0, 0.7]), steps=50).tolist() == [1, 25]


def test_duplicates_are_summed_and_late_events_dropped():
    counts = bin_spikes(np.array([0.0, 0.001, 0.0, 0.5, 1.4, 2.0]), np.array([3, 3, 3, 699, 10, 10]))
    assert counts.shape == (250, 700) and counts.dtype == torch.float32
    assert counts[1, 3] == 3  # three events of channel 3 in the first bin, summed
    assert counts[0].sum() == 0 and counts.sum() == 4  # t ≥ 1.4 s falls past the last bin and is dropped
    assert counts[int(np.digitize(0.5, np.linspace(0, 1.4, 250))), 699] == 1


@given(st.lists(st.tuples(st.floats(0, 1.399), st.integers(0, 699)), max_size=40),
       st.sampled_from([50, 250]), st.sampled_from([1, 5]))
def test_binning_matches_a_plain_loop(events, steps, pool):
    times = np.array([t for t, _ in events], dtype=np.float64)
    units = np.array([u for _, u in events], dtype=np.int64)
    expected = np.zeros((steps, 700 // pool), dtype=np.float32)
    edges = np.linspace(0, 1.4, steps)
    for t, u in events:
        expected[np.digitize(t, edges), u // pool] += 1
    np.testing.assert_array_equal(bin_spikes(times, units, steps=steps, pool=pool).numpy(), expected)


def test_shd_reader_preloads_and_matches_binning(spike_root):
    root, samples = spike_root
    train = build_dataset("shd", "train", data_dir=root)
    times, units, labels = samples["shd_train"]
    assert len(train) == 16 and train.num_classes == 20
    for index in (0, 7, 15):
        x, y = train[index]
        assert y == labels[index] and x.shape == (250, 700)
        assert torch.equal(x, bin_spikes(times[index], units[index]))
        assert x.sum() == len(times[index])


def test_steps_and_pool_options(spike_root):
    root, samples = spike_root
    times, units, _ = samples["shd_test"]
    x, _ = build_dataset("shd", "test", data_dir=root, steps=50, pool=5)[3]
    assert x.shape == (50, 140)
    full = bin_spikes(times[3], units[3], steps=50)
    assert torch.equal(x, full.view(50, 140, 5).sum(-1))  # 5 adjacent channels summed


def test_ssc_reads_lazily_and_gz_files_work(spike_root):
    root, samples = spike_root
    times, units, labels = samples["ssc_valid"]
    lazy = build_dataset("ssc", "valid", data_dir=root)
    assert lazy._events is None and lazy.num_classes == 35
    x, y = lazy[4]
    assert torch.equal(x, bin_spikes(times[4], units[4])) and y == labels[4]
    assert torch.equal(pickle.loads(pickle.dumps(lazy))[4][0], x)  # open handle dropped, reopened on use
    (root / "ssc_valid.h5.gz").write_bytes(gzip.compress((root / "ssc_valid.h5").read_bytes()))
    (root / "ssc_valid.h5").unlink()
    packed = build_dataset("ssc", "valid", data_dir=root, preload=True)
    for index in range(5):
        assert torch.equal(packed[index][0], bin_spikes(times[index], units[index]))
        assert packed[index][1] == labels[index]
    lazy._file.close()
    lazy._file = None  # force a re-open, as a fresh DataLoader worker does: the file is gone now
    with pytest.raises(MissingDataError, match="ssc_valid.h5"):
        lazy[0]


def test_wrong_schema_and_bad_units_are_corrupt(tmp_path):
    with h5py.File(tmp_path / "shd_test.h5", "w") as h5:
        h5.create_dataset("labels", data=np.zeros(2, dtype=np.uint8))
    with pytest.raises(CorruptDataError, match="spikes/times"):
        build_dataset("shd", "test", data_dir=tmp_path)
    write_spike_h5(tmp_path / "shd_test.h5", [np.array([0.1], np.float32)], [np.array([700], np.uint16)], [0])
    with pytest.raises(CorruptDataError, match="unit ids"):
        build_dataset("shd", "test", data_dir=tmp_path)


def test_missing_file_names_it_and_the_source(tmp_path):
    with pytest.raises(MissingDataError, match=r"ssc_test\.h5.*zenkelab\.org.*--data-dir.*PMSN_DATA"):
        build_dataset("ssc", "test", data_dir=tmp_path)


@pytest.mark.parametrize("option", [{"pool": 3}, {"steps": 1}])
def test_bad_options_are_rejected(spike_root, option):
    root, _ = spike_root
    with pytest.raises(ValueError):
        build_dataset("shd", "test", data_dir=root, **option)
