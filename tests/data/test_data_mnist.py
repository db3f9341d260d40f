"""S-MNIST / PS-MNIST readers: embedded 5k set, IDX files (raw and gz), pooling, the fixed permutation."""


import numpy as np
import pytest
import torch

from pmsn.data import CorruptDataError, DataError, MissingDataError, build_dataset, pixel_permutation, read_idx
from pmsn.data.mnist import embedded_split_indices, images_to_sequences, load_embedded
from pmsn.data.samples import write_idx


@pytest.fixture
def idx_dir(tmp_path):
    rng = np.random.RandomState(0)
    images = {"train": rng.randint(0, 256, (6, 28, 28)), "test": rng.randint(0, 256, (3, 28, 28))}
    labels = {"train": np.array([0, 1, 2, 3, 4, 9]), "test": np.array([7, 8, 5])}
    # train as .gz, test as raw: both layouts of the official download
    write_idx(tmp_path / "train-images-idx3-ubyte.gz", images["train"], compress=True)
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", labels["train"], compress=True)
    write_idx(tmp_path / "t10k-images-idx3-ubyte", images["test"])
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", labels["test"])
    return tmp_path, images, labels


def test_permutation_first_ten_match_spec():
    assert pixel_permutation(784)[:10].tolist() == [757, 580, 221, 234, 608, 119, 536, 328, 34, 663]
    assert sorted(pixel_permutation(196).tolist()) == list(range(196))


def test_embedded_set_is_the_5000_balanced_digits():
    images, labels = load_embedded()
    assert images.shape == (5000, 28, 28) and images.dtype == np.uint8
    assert np.bincount(labels).tolist() == [500] * 10
    assert int(images.astype(np.int64).sum()) == 131267102  # golden checksum of the converted file


def test_embedded_split_is_fixed_stratified_and_disjoint():
    _, labels = load_embedded()
    train, test = embedded_split_indices(labels, "train"), embedded_split_indices(labels, "test")
    assert len(train) == 4000 and len(test) == 1000
    assert np.bincount(labels[train]).tolist() == [400] * 10
    assert np.bincount(labels[test]).tolist() == [100] * 10
    assert not set(train) & set(test)
    assert test[:8].tolist() == [9, 25, 28, 31, 32, 38, 39, 42]  # golden: the split never changes


@pytest.mark.parametrize("resolution, steps", [(28, 784), (14, 196), (7, 49)])
def test_embedded_dataset_shapes_and_range(resolution, steps):
    train = build_dataset("smnist5k", "train", resolution=resolution)
    x, y = train[0]
    assert x.shape == (steps, 1) and x.dtype == torch.float32 and isinstance(y, int)
    assert len(train) == 4000 and train.inputs.min() >= 0 and train.inputs.max() <= 1
    assert train.labels.bincount().tolist() == [400] * 10


def test_default_resolution_of_5k_tasks_is_14_and_pooling_averages_blocks():
    images, labels = load_embedded()
    test = build_dataset("smnist5k", "test")
    first = embedded_split_indices(labels, "test")[0]
    block_means = images[first].astype(np.float64).reshape(14, 2, 14, 2).mean(axis=(1, 3)) / 255
    np.testing.assert_allclose(test[0][0][:, 0].numpy(), block_means.reshape(-1), atol=1e-6)


def test_psmnist5k_reorders_steps_by_the_permutation():
    plain, permuted = build_dataset("smnist5k", "test", resolution=7), build_dataset("psmnist5k", "test", resolution=7)
    perm = pixel_permutation(49)
    assert torch.equal(permuted.inputs, plain.inputs[:, perm])  # permuted[t] = original[perm[t]]
    assert torch.equal(permuted.labels, plain.labels)


def test_read_idx_raw_and_gz_agree(tmp_path):
    array = np.arange(2 * 28 * 28).reshape(2, 28, 28) % 256
    write_idx(tmp_path / "raw", array)
    write_idx(tmp_path / "packed", array, compress=True)
    assert np.array_equal(read_idx(tmp_path / "raw"), array)
    assert np.array_equal(read_idx(tmp_path / "packed"), array)


def test_smnist_reads_idx_files(idx_dir):
    root, images, labels = idx_dir
    for split in ("train", "test"):
        ds = build_dataset("smnist", split, data_dir=root)
        assert len(ds) == len(labels[split]) and ds.labels.tolist() == labels[split].tolist()
        np.testing.assert_allclose(ds[1][0][:, 0].numpy(), images[split][1].reshape(-1) / 255, atol=1e-7)


def test_psmnist_from_env_var_at_full_resolution(idx_dir, monkeypatch):
    root, images, _ = idx_dir
    monkeypatch.setenv("PMSN_DATA", str(root))
    x, _ = build_dataset("psmnist", "test")[2]
    expected = images["test"][2].reshape(-1)[pixel_permutation(784)] / 255
    np.testing.assert_allclose(x[:, 0].numpy(), expected, atol=1e-7)


def test_bad_idx_magic_is_a_corrupt_data_error(idx_dir):
    root, _, _ = idx_dir
    (root / "t10k-images-idx3-ubyte").write_bytes(b"\x08\x03\x00\x00garbage")
    with pytest.raises(CorruptDataError, match="t10k-images-idx3-ubyte.*magic"):
        build_dataset("smnist", "test", data_dir=root)


def test_truncated_idx_is_a_corrupt_data_error(idx_dir):
    root, _, _ = idx_dir
    path = root / "t10k-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-5])
    with pytest.raises(CorruptDataError, match="bytes but header"):
        build_dataset("smnist", "test", data_dir=root)


def test_missing_idx_file_names_file_source_and_flag(tmp_path):
    with pytest.raises(MissingDataError) as caught:
        build_dataset("smnist", "train", data_dir=tmp_path)
    message = str(caught.value)
    for needed in ("train-images-idx3-ubyte", "yann.lecun.com", "--data-dir", "PMSN_DATA", str(tmp_path)):
        assert needed in message
    assert isinstance(caught.value, FileNotFoundError) and isinstance(caught.value, DataError)


def test_no_data_dir_at_all_names_the_environment_variable(monkeypatch):
    monkeypatch.delenv("PMSN_DATA", raising=False)
    with pytest.raises(MissingDataError, match="PMSN_DATA"):
        build_dataset("psmnist", "test")


@pytest.mark.parametrize("resolution", [0, 5, 13, 2.0])
def test_bad_resolution_is_rejected(resolution):
    with pytest.raises(ValueError, match="divisor of 28"):
        images_to_sequences(np.zeros((1, 28, 28), np.uint8), resolution, permuted=False)
