"""ImageNet folder reader on tiny JPEG class folders."""

import numpy as np
import pytest
import torch
from PIL import Image

from pmsn.data import MissingDataError, build_dataset
from pmsn.data.imagenet import IMAGENET_MEAN, IMAGENET_STD, random_resized_crop, resize_centre_crop

COLOURS = {"n01": (200, 30, 60), "n02": (20, 180, 90)}


@pytest.fixture
def imagenet_root(tmp_path):
    for split in ("train", "val"):
        for wnid, colour in COLOURS.items():
            folder = tmp_path / split / wnid
            folder.mkdir(parents=True)
            for index, size in enumerate([(40, 30), (30, 52)]):
                Image.new("RGB", size, colour).save(folder / f"{wnid}_{index}.JPEG", quality=95)
            (folder / "notes.txt").write_text("ignored")
    return tmp_path


def expected_pixel(colour):
    return (torch.tensor(colour) / 255 - torch.tensor(IMAGENET_MEAN)) / torch.tensor(IMAGENET_STD)


@pytest.mark.parametrize("split", ["train", "test"])
def test_images_are_normalised_static_frames(imagenet_root, split):
    torch.manual_seed(0)
    ds = build_dataset("imagenet", split, data_dir=imagenet_root, image_size=16)
    assert len(ds) == 4 and ds.classes == ["n01", "n02"] and ds.num_classes == 2
    for index in range(4):
        x, y = ds[index]
        assert x.shape == (3, 16, 16) and x.dtype == torch.float32 and y == index // 2
        colour = COLOURS[ds.classes[y]]
        torch.testing.assert_close(x.mean(dim=(1, 2)), expected_pixel(colour), atol=0.05, rtol=0)


def test_crop_geometry():
    torch.manual_seed(0)
    picture = Image.fromarray(np.arange(60 * 80 * 3, dtype=np.uint8).reshape(60, 80, 3))
    assert random_resized_crop(picture, 24).size == (24, 24)
    centred = resize_centre_crop(picture, 14)  # shorter side -> 16, then the centred 14 × 14
    assert centred.size == (14, 14)


def test_missing_val_folder(tmp_path):
    (tmp_path / "train").mkdir()
    with pytest.raises(MissingDataError, match=r"val/.*image-net\.org.*--data-dir"):
        build_dataset("imagenet", "test", data_dir=tmp_path)
