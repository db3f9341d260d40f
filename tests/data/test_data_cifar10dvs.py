"""CIFAR10-DVS: AEDAT 2.0 decoding, event-count frames, the 0–99 / 100–999 split, flip + roll augmentation and a
training run of the DVS VGG on fixture files in the released format (docs/tasks.md §5.2)."""

from pathlib import Path

import numpy as np
import pytest
import torch

from pmsn.data import CorruptDataError, MissingDataError, build_dataset
from pmsn.data.cifar10dvs import CLASSES, integrate_frames, read_aedat
from pmsn.data.samples import AEDAT_HEADER as HEADER, write_aedat

FILE_INDICES = (0, 99, 100, 101)  # two test files (< 100) and two train files per class


@pytest.fixture(scope="module")
def dvs_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("dvs")
    rng = np.random.RandomState(0)
    for name in CLASSES:
        (root / name).mkdir()
        for index in FILE_INDICES:
            count = int(rng.randint(30, 60))
            write_aedat(root / name / f"cifar10_{name}_{index}.aedat", rng.randint(0, 128, count),
                        rng.randint(0, 128, count), rng.randint(0, 2, count), np.sort(rng.randint(0, 10**6, count)))
    return root


def test_read_aedat_decodes_the_address_bits_and_skips_the_header(tmp_path):
    path = tmp_path / "events.aedat"
    write_aedat(path, [5, 0, 127], [7, 127, 0], [1, 0, 1], [10, 20, 4_000_000_000])
    events = read_aedat(path)
    # SpikingJelly's orientation: x = 127 − sensor y, y = 127 − sensor x, p = 1 − polarity
    assert events["x"].tolist() == [120, 0, 127]
    assert events["y"].tolist() == [122, 127, 0]
    assert events["p"].tolist() == [0, 1, 0]
    assert events["t"].tolist() == [10, 20, 4_000_000_000]  # unsigned 32-bit timestamps


def test_frames_split_events_by_count_as_computed_by_hand():
    # 7 events, T = 3: ⌊7/3⌋ = 2 events in frames 0 and 1, the remaining 3 in frame 2
    events = {"x": np.array([0, 1, 1, 2, 3, 3, 3]), "y": np.array([0, 0, 0, 1, 2, 2, 2]),
              "p": np.array([0, 1, 1, 0, 1, 1, 0]), "t": np.arange(7)}
    frames = integrate_frames(events, 3, size=4)
    expected = np.zeros((3, 2, 4, 4), np.float32)
    expected[0, 0, 0, 0] = 1  # event 0
    expected[0, 1, 0, 1] = 1  # event 1
    expected[1, 1, 0, 1] = 1  # event 2
    expected[1, 0, 1, 2] = 1  # event 3
    expected[2, 1, 2, 3] = 2  # events 4, 5 (same pixel and polarity)
    expected[2, 0, 2, 3] = 1  # event 6
    np.testing.assert_array_equal(frames, expected)
    fewer = integrate_frames({key: value[:2] for key, value in events.items()}, 3, size=4)
    assert fewer[:2].sum() == 0 and fewer[2].sum() == 2  # N < T: all events in the last frame


def test_split_is_files_0_to_99_test_and_100_up_train_per_class(dvs_root):
    train = build_dataset("cifar10dvs", "train", data_dir=dvs_root)
    test = build_dataset("cifar10dvs", "test", data_dir=dvs_root)
    assert len(train) == len(test) == 2 * len(CLASSES)
    assert [int(path.stem.rsplit("_", 1)[1]) for path in test.files[:2]] == [0, 99]
    assert [int(path.stem.rsplit("_", 1)[1]) for path in train.files[:2]] == [100, 101]
    for dataset in (train, test):
        assert dataset.labels.tolist() == [label for label in range(10) for _ in range(2)]
        assert all(path.parent.name == CLASSES[label] for path, label in zip(dataset.files, dataset.labels))
    assert train.augment and not test.augment


def test_item_is_the_integrated_file_resized(dvs_root):
    test = build_dataset("cifar10dvs", "test", data_dir=dvs_root, steps=4, size=128)
    frames, label = test[5]
    expected = integrate_frames(read_aedat(test.files[5]), 4)
    assert label == 2 and frames.dtype == torch.float32
    torch.testing.assert_close(frames, torch.from_numpy(expected))
    small, _ = build_dataset("cifar10dvs", "test", data_dir=dvs_root, steps=4)[5]
    assert small.shape == (4, 2, 48, 48)
    # antialiased resize: a 128 → 48 average keeps the total count up to the boundary weights
    assert abs(float(small.sum()) * (128 / 48) ** 2 - float(frames.sum())) < 0.25 * float(frames.sum())


def test_augmentation_is_a_flip_and_a_roll_of_at_most_5_pixels(dvs_root):
    plain = build_dataset("cifar10dvs", "train", data_dir=dvs_root, steps=2, augment=False)
    augmented = build_dataset("cifar10dvs", "train", data_dir=dvs_root, steps=2)
    base, _ = plain[3]
    candidates = [base.flip(-1) if flip else base for flip in (False, True)]
    seen_flip = set()
    for seed in range(12):
        torch.manual_seed(seed)
        frames, _ = augmented[3]
        torch.manual_seed(seed)
        assert torch.equal(augmented[3][0], frames)  # deterministic under the seed
        matches = [(flip, dy, dx) for flip in (0, 1) for dy in range(-5, 6) for dx in range(-5, 6)
                   if torch.equal(candidates[flip].roll((dy, dx), dims=(-2, -1)), frames)]
        assert matches, "not a flip + roll of the plain frames"
        seen_flip.add(matches[0][0])
    assert seen_flip == {0, 1}


def test_missing_and_corrupt_files_name_the_file_and_the_source(tmp_path):
    with pytest.raises(MissingDataError, match=r"airplane/.*figshare.*--data-dir"):
        build_dataset("cifar10dvs", "train", data_dir=tmp_path)
    (tmp_path / "airplane").mkdir()
    with pytest.raises(MissingDataError, match=r"airplane/cifar10_airplane_<i>\.aedat"):  # an empty class folder
        build_dataset("cifar10dvs", "train", data_dir=tmp_path)
    write_aedat(tmp_path / "airplane" / "cifar10_airplane_3.aedat", [1], [2], [0], [5])
    with pytest.raises(MissingDataError, match=r"automobile/cifar10_automobile_<i>\.aedat"):
        build_dataset("cifar10dvs", "train", data_dir=tmp_path)
    broken = tmp_path / "broken.aedat"
    broken.write_bytes(HEADER + b"\0" * 12)
    with pytest.raises(CorruptDataError, match=r"broken\.aedat.*multiple of 8"):
        read_aedat(broken)
    broken.write_bytes(b"#!AER-DAT3.1\r\n" + b"\0" * 8)
    with pytest.raises(CorruptDataError, match="AER-DAT2.0"):
        read_aedat(broken)


@pytest.mark.parametrize("options, message", [({"steps": 0}, "steps must be a positive int"),
                                              ({"size": 200}, "size must be at most"),
                                              ({"frames": 4}, "unknown option")])
def test_bad_options_are_one_line_errors(dvs_root, options, message):
    with pytest.raises((ValueError, TypeError), match=message):
        build_dataset("cifar10dvs", "train", data_dir=dvs_root, **options)


def test_dvs_vgg_trains_one_epoch_on_the_fixture_files(dvs_root, tmp_path):
    from pmsn.train.config import resolve_config
    from pmsn.train.loop import train

    config_file = Path(__file__).resolve().parents[2] / "configs" / "sliding_psn_cifar10dvs_t4.yaml"
    config = resolve_config(str(config_file), overrides=[
        f"data.data_dir={dvs_root}", "model.options.width_divisor=16", "batch_size=5", "epochs=1", "amp=false",
        "device=cpu", "threads=1", f"out={tmp_path}", "name=dvs"])
    assert config.loss == "tet" and config.optim.weight_decay == 5e-4
    result = train(config, quiet=True)
    assert result.epochs_done == 1 and np.isfinite(result.history[-1]["train_loss"])
    assert 0.0 <= result.final_test_acc <= 100.0
