"""Sequential CIFAR readers (python pickles), sequence layouts, augmentation and batch mixing."""

import pickle

import numpy as np
import pytest
import torch

from pmsn.data import (CorruptDataError, MissingDataError, build_dataset, mixup_cutmix, random_erasing,
                       trivial_augment_wide)
from pmsn.data.samples import write_cifar_batch as write_pickle

CIFAR10_MEAN, CIFAR10_STD = (0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010)


@pytest.fixture
def cifar_root(tmp_path):
    rng = np.random.RandomState(0)
    images = {}
    ten = tmp_path / "cifar-10-batches-py"
    ten.mkdir()
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        images[name] = rng.randint(0, 256, (3, 3, 32, 32)).astype(np.uint8)
        write_pickle(ten / name, images[name], [1, 5, 9], b"labels")
    hundred = tmp_path / "cifar-100-python"
    hundred.mkdir()
    for name in ("train", "test"):
        images["100" + name] = rng.randint(0, 256, (2, 3, 32, 32)).astype(np.uint8)
        write_pickle(hundred / name, images["100" + name], [42, 99], b"fine_labels")
    return tmp_path, images


def normalised(image, mean, std):
    return (torch.from_numpy(image).float() / 255 - torch.tensor(mean).view(3, 1, 1)) / torch.tensor(std).view(3, 1, 1)


def test_column_mode_layout_is_step_equals_column(cifar_root):
    root, images = cifar_root
    test = build_dataset("scifar10", "test", data_dir=root)
    x, y = test[2]
    assert x.shape == (32, 3, 32) and y == 9 and len(test) == 3
    expected = normalised(images["test_batch"][2], CIFAR10_MEAN, CIFAR10_STD)
    torch.testing.assert_close(x, expected.permute(2, 0, 1))  # x[t, c, r] = image[c, r, t]


def test_pixel_mode_layout_is_raster_scan(cifar_root):
    root, images = cifar_root
    x, _ = build_dataset("scifar10", "test", data_dir=root, mode="pixel")[0]
    expected = normalised(images["test_batch"][0], CIFAR10_MEAN, CIFAR10_STD)
    assert x.shape == (1024, 3)
    torch.testing.assert_close(x[32 * 5 + 7], expected[:, 5, 7])  # step t = pixel (row t // 32, column t % 32)


def test_train_split_concatenates_five_batches_and_augments(cifar_root):
    root, _ = cifar_root
    train = build_dataset("scifar10", "train", data_dir=root)
    assert len(train) == 15 and train.augment and train.labels.tolist() == [1, 5, 9] * 5
    torch.manual_seed(0)
    for index in range(len(train)):
        x, _ = train[index]
        assert x.shape == (32, 3, 32) and torch.isfinite(x).all()
    assert not build_dataset("scifar10", "train", data_dir=root, augment=False).augment


def test_cifar100_uses_fine_labels_and_its_statistics(cifar_root):
    root, images = cifar_root
    ds = build_dataset("scifar100", "train", data_dir=root, augment=False)
    x, y = ds[1]
    assert y == 99 and ds.num_classes == 100
    expected = normalised(images["100train"][1], (0.50708, 0.48655, 0.44092), (0.26733, 0.25644, 0.27615))
    torch.testing.assert_close(x, expected.permute(2, 0, 1))


def test_missing_and_corrupt_pickles(cifar_root, tmp_path_factory):
    root, _ = cifar_root
    empty = tmp_path_factory.mktemp("empty")
    with pytest.raises(MissingDataError, match=r"cifar-10-batches-py/data_batch_1.*cs\.toronto\.edu.*--data-dir"):
        build_dataset("scifar10", "train", data_dir=empty)
    (root / "cifar-10-batches-py" / "test_batch").write_bytes(b"not a pickle")
    with pytest.raises(CorruptDataError, match="test_batch"):
        build_dataset("scifar10", "test", data_dir=root)


def test_trivial_augment_keeps_shape_and_dtype():
    torch.manual_seed(1)
    image = torch.randint(0, 256, (3, 32, 32), dtype=torch.uint8)
    for _ in range(40):  # 14 operations: every one is drawn at least once with high probability
        out = trivial_augment_wide(image)
        assert out.shape == image.shape and out.dtype == torch.uint8


def test_random_erasing_blanks_one_rectangle():
    torch.manual_seed(0)
    image = torch.ones(3, 32, 32)
    assert random_erasing(image, p=0.0) is image
    erased = random_erasing(image, p=1.0)
    zero_rows, zero_cols = (erased[0] == 0).nonzero(as_tuple=True)
    area = len(zero_rows)
    assert 0.02 * 1024 * 0.5 <= area <= 0.33 * 1024 * 1.5
    box = (zero_rows.max() - zero_rows.min() + 1) * (zero_cols.max() - zero_cols.min() + 1)
    assert box == area and torch.equal(erased[0] == 0, erased[2] == 0)  # a filled rectangle, all channels


def test_mixup_and_cutmix_targets_match_the_mixed_inputs():
    batch, classes = 4, 10
    # sample i is the constant i + 1, so each mixed entry tells which samples it came from
    x = (torch.arange(batch, dtype=torch.float32) + 1).view(batch, 1, 1, 1).expand(batch, 32, 3, 32).contiguous()
    y = torch.tensor([0, 1, 2, 3])
    seen = set()
    for seed in range(20):
        mixed, targets = mixup_cutmix(x, y, classes, torch.Generator().manual_seed(seed))
        assert targets.shape == (batch, classes)
        torch.testing.assert_close(targets.sum(1), torch.ones(batch))
        own_weight = targets[torch.arange(batch), y]
        partner_weight = targets[torch.arange(batch), y.roll(1)]
        partner_value = x.roll(1, 0)
        if torch.all((mixed == x) | (mixed == partner_value)):  # CutMix (or Mixup with λ ≈ 1, same check)
            seen.add("cutmix")
            from_partner = ((mixed == partner_value) & (x != partner_value)).float().mean(dim=(1, 2, 3))
            torch.testing.assert_close(from_partner, partner_weight)
        else:
            seen.add("mixup")
            expected = own_weight * x[:, 0, 0, 0] + partner_weight * partner_value[:, 0, 0, 0]
            torch.testing.assert_close(mixed[:, 0, 0, 0], expected)
        again, again_targets = mixup_cutmix(x, y, classes, torch.Generator().manual_seed(seed))
        assert torch.equal(again, mixed) and torch.equal(again_targets, targets)
    assert seen == {"cutmix", "mixup"}


def test_mixup_cutmix_rejects_mismatched_targets():
    with pytest.raises(ValueError, match="soft targets"):
        mixup_cutmix(torch.zeros(2, 32, 3, 32), torch.zeros(2, 3, 4), 10)


class _RunsCode:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return exec, (f"open({self.marker!r}, 'w').close()",)


@pytest.mark.parametrize("content", ["payload", "not_a_dict"])
def test_cifar_batch_with_foreign_objects_is_refused_unrun(cifar_root, content):
    root, _ = cifar_root
    marker, batch = root / "ran", root / "cifar-10-batches-py" / "test_batch"
    payload = {b"data": np.zeros((1, 3072), np.uint8), b"labels": [0], b"x": _RunsCode(marker)}
    batch.write_bytes(pickle.dumps(payload if content == "payload" else [1, 2]))
    with pytest.raises(CorruptDataError, match=rf"{batch}"):
        build_dataset("scifar10", "test", data_dir=root)
    assert not marker.exists()


def test_static_tasks_yield_the_normalised_image(cifar_root):
    root, images = cifar_root
    test = build_dataset("cifar10", "test", data_dir=root)
    x, y = test[1]
    assert x.shape == (3, 32, 32) and y == 5 and not test.augment
    torch.testing.assert_close(x, normalised(images["test_batch"][1], CIFAR10_MEAN, CIFAR10_STD))
    hundred = build_dataset("cifar100", "test", data_dir=root)
    x, y = hundred[0]
    assert y == 42 and hundred.num_classes == 100
    torch.testing.assert_close(x, normalised(images["100test"][0], (0.50708, 0.48655, 0.44092),
                                             (0.26733, 0.25644, 0.27615)))


def test_static_train_augmentation_is_on_by_default_and_seeded(cifar_root):
    root, images = cifar_root
    train = build_dataset("cifar10", "train", data_dir=root)
    assert train.augment and len(train) == 15
    assert not build_dataset("cifar10", "train", data_dir=root, augment=False).augment
    draws = []
    for seed in (0, 0, 1):
        torch.manual_seed(seed)
        draws.append(torch.stack([train[index][0] for index in range(len(train))]))
    assert draws[0].shape == (15, 3, 32, 32) and torch.isfinite(draws[0]).all()
    assert torch.equal(draws[0], draws[1]) and not torch.equal(draws[0], draws[2])
    plain = build_dataset("cifar10", "train", data_dir=root, augment=False)
    assert not torch.equal(draws[0], torch.stack([plain[index][0] for index in range(len(plain))]))


def test_static_task_missing_files_name_the_folder(tmp_path):
    with pytest.raises(MissingDataError, match=r"cifar10: cifar-10-batches-py/test_batch.*cs\.toronto\.edu"):
        build_dataset("cifar10", "test", data_dir=tmp_path)


@pytest.mark.parametrize("config_name, options", [
    ("psn_cifar10_plifnet", ["model.options.width=4"]),
    ("psn_cifar10_plifnet", ["model.name=vgg11", "model.options={width_divisor: 32, T: 2}"]),
])
def test_static_cifar_networks_train_one_epoch_on_fixture_batches(cifar_root, tmp_path, config_name, options):
    from pathlib import Path

    from pmsn.train.config import resolve_config
    from pmsn.train.loop import train

    root, _ = cifar_root
    config_file = Path(__file__).resolve().parents[2] / "configs" / f"{config_name}.yaml"
    config = resolve_config(str(config_file), overrides=options + [
        f"data.data_dir={root}", "batch_size=4", "epochs=1", "amp=false", "device=cpu", "threads=1",
        f"out={tmp_path}", "name=static"])
    assert config.mixup_alpha == 0.2 and config.cutmix_alpha == 1.0 and config.label_smoothing == 0.1
    result = train(config, quiet=True)
    assert result.epochs_done == 1 and np.isfinite(result.history[-1]["train_loss"])
