"""ImageNet-1K reader (docs/tasks.md §1.6): class folders of JPEGs, static images [3, H, W].

Train: RandomResizedCrop(image_size, scale 0.08–1, ratio 3/4–4/3) + horizontal flip; test (the ``val/`` folder):
resize the shorter side to image_size·256/224, centre crop image_size. Both normalised with the ImageNet mean/std.
The model repeats the image over its T steps (direct encoding).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from .base import resolve_data_dir
from .errors import corrupt_data, missing_data

IMAGENET_SOURCE = ("https://image-net.org/download.php (ILSVRC2012 train and val, each as one sub-folder per "
                   "class, e.g. val/n01440764/*.JPEG)")
IMAGENET_FOLDERS = {"train": "train", "test": "val"}
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
IMAGE_EXTENSIONS = {".jpeg", ".jpg", ".png"}
CROP_SCALE = (0.08, 1.0)
CROP_RATIO = (3.0 / 4.0, 4.0 / 3.0)


def random_resized_crop(picture, size: int):
    """Crop a random area fraction U(0.08, 1) with log-uniform aspect ratio in [3/4, 4/3], resize to size².

    Ten draws are tried; if none fits, the largest centred crop with the aspect ratio clamped to the range is used.
    """
    from PIL import Image

    width, height = picture.size
    area = width * height
    log_ratio = (math.log(CROP_RATIO[0]), math.log(CROP_RATIO[1]))
    for _ in range(10):
        target_area = area * float(torch.empty(()).uniform_(*CROP_SCALE))
        aspect = math.exp(float(torch.empty(()).uniform_(*log_ratio)))
        crop_w = int(round(math.sqrt(target_area * aspect)))
        crop_h = int(round(math.sqrt(target_area / aspect)))
        if 0 < crop_w <= width and 0 < crop_h <= height:
            top = int(torch.randint(height - crop_h + 1, ()))
            left = int(torch.randint(width - crop_w + 1, ()))
            break
    else:
        aspect = min(max(width / height, CROP_RATIO[0]), CROP_RATIO[1])
        if width / height <= aspect:  # too tall (or in range): keep the full width
            crop_w, crop_h = width, int(round(width / aspect))
        else:  # too wide: keep the full height
            crop_w, crop_h = int(round(height * aspect)), height
        top, left = (height - crop_h) // 2, (width - crop_w) // 2
    box = (left, top, left + crop_w, top + crop_h)
    return picture.resize((size, size), Image.Resampling.BILINEAR, box=box)


def resize_centre_crop(picture, size: int):
    """Resize the shorter side to size·256/224 (bilinear), then crop the centred size × size square."""
    from PIL import Image

    width, height = picture.size
    shorter = int(round(size * 256 / 224))
    scale = shorter / min(width, height)
    new_w, new_h = max(shorter, int(round(width * scale))), max(shorter, int(round(height * scale)))
    resized = picture.resize((new_w, new_h), Image.Resampling.BILINEAR)
    left, top = (new_w - size) // 2, (new_h - size) // 2
    return resized.crop((left, top, left + size, top + size))


class ImageFolderDataset(Dataset):
    """``ds[i]`` = (float32 normalised image [3, image_size, image_size], class index of the sorted folders)."""

    def __init__(self, folder: Path, train: bool, image_size: int):
        self.folder, self.train, self.image_size = folder, train, image_size
        self.classes = sorted(entry.name for entry in folder.iterdir() if entry.is_dir())
        self.samples = [
            (path, label)
            for label, name in enumerate(self.classes)
            for path in sorted((folder / name).iterdir())
            if path.suffix.lower() in IMAGE_EXTENSIONS
        ]
        if not self.samples:
            raise missing_data("imagenet", f"class folders of JPEG images inside {folder}", [folder], IMAGENET_SOURCE)
        self.num_classes = len(self.classes)
        self.mean = torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
        self.std = torch.tensor(IMAGENET_STD).view(3, 1, 1)

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        from PIL import Image, UnidentifiedImageError

        path, label = self.samples[index]
        try:
            with Image.open(path) as opened:
                picture = opened.convert("RGB")
        except (UnidentifiedImageError, OSError) as error:
            raise corrupt_data("imagenet", path, f"unreadable image: {error}", IMAGENET_SOURCE) from error
        if self.train:
            picture = random_resized_crop(picture, self.image_size)
            if torch.rand(()) < 0.5:
                picture = picture.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        else:
            picture = resize_centre_crop(picture, self.image_size)
        pixels = torch.from_numpy(np.asarray(picture, dtype=np.float32) / 255.0).permute(2, 0, 1)
        return (pixels - self.mean) / self.std, label


def build_imagenet(split: str, data_dir, image_size: int = 224) -> ImageFolderDataset:
    """Task ``imagenet``: ``train/`` for the train split, ``val/`` for the test split."""
    if not isinstance(image_size, int) or image_size < 1:
        raise ValueError(f"imagenet: image_size must be a positive int, got {image_size!r}")
    folder_name = IMAGENET_FOLDERS[split]
    root = resolve_data_dir(data_dir, "imagenet", f"{folder_name}/ with class folders", IMAGENET_SOURCE)
    for candidate in (root / folder_name, root / "imagenet" / folder_name):
        if candidate.is_dir():
            return ImageFolderDataset(candidate, split == "train", image_size)
    raise missing_data("imagenet", f"folder {folder_name}/ (class sub-folders of JPEGs)",
                       [root, root / "imagenet"], IMAGENET_SOURCE)
