"""CIFAR training augmentation of the column-wise sCIFAR recipe (docs/tasks.md §1.2).

Per image (uint8 [3, H, W] before normalisation): :func:`random_horizontal_flip`, :func:`trivial_augment_wide`;
after normalisation: :func:`random_erasing`. Per batch: :func:`mixup_cutmix` (soft targets). Per-image functions
draw from torch's global RNG, which DataLoader seeds per worker. CIFAR10-DVS frames (docs/tasks.md §5.2):
:func:`random_horizontal_flip` then :func:`random_roll`.
"""

from __future__ import annotations

import math

import numpy as np
import torch

MAGNITUDE_BINS = 31  # TrivialAugment "wide" search space: 31 magnitude levels per operation


def random_horizontal_flip(image: torch.Tensor, p: float = 0.5) -> torch.Tensor:
    """Mirror the last (width) axis with probability ``p``."""
    return image.flip(-1) if torch.rand(()) < p else image


def random_roll(frames: torch.Tensor, max_shift: int = 5) -> torch.Tensor:
    """Shift the last two (height, width) axes cyclically by (dy, dx), each uniform in [−max_shift, max_shift]
    (the TET / TEBN CIFAR10-DVS translation, docs/tasks.md §5.2); one draw for all frames of the sample."""
    if isinstance(max_shift, bool) or not isinstance(max_shift, int) or max_shift < 0:
        raise ValueError(f"max_shift must be an int >= 0, got {max_shift!r}")
    shifts = torch.randint(-max_shift, max_shift + 1, (2,))
    return frames.roll((int(shifts[0]), int(shifts[1])), dims=(-2, -1))


def _wide_space() -> dict[str, tuple[np.ndarray, bool]]:
    """Operation -> (magnitude per bin, signed) of TrivialAugmentWide (Müller & Hutter 2021, wide space;
    translations in absolute pixels)."""
    bins = np.arange(MAGNITUDE_BINS)
    no_magnitude = np.zeros(MAGNITUDE_BINS)
    enhance = np.linspace(0.0, 0.99, MAGNITUDE_BINS)
    return {
        "identity": (no_magnitude, False),
        "shear_x": (np.linspace(0.0, 0.99, MAGNITUDE_BINS), True),
        "shear_y": (np.linspace(0.0, 0.99, MAGNITUDE_BINS), True),
        "translate_x": (np.linspace(0.0, 32.0, MAGNITUDE_BINS), True),
        "translate_y": (np.linspace(0.0, 32.0, MAGNITUDE_BINS), True),
        "rotate": (np.linspace(0.0, 135.0, MAGNITUDE_BINS), True),
        "brightness": (enhance, True),
        "color": (enhance, True),
        "contrast": (enhance, True),
        "sharpness": (enhance, True),
        "posterize": (8 - np.round(bins / ((MAGNITUDE_BINS - 1) / 6)), False),  # 8 bits down to 2
        "solarize": (np.linspace(255.0, 0.0, MAGNITUDE_BINS), False),
        "autocontrast": (no_magnitude, False),
        "equalize": (no_magnitude, False),
    }


WIDE_SPACE = _wide_space()


def _apply_pil_op(picture, operation: str, magnitude: float):
    from PIL import Image, ImageEnhance, ImageOps

    bilinear = Image.Resampling.BILINEAR
    affine = {  # PIL affine data maps an output pixel (x, y) to the input (a x + b y + c, d x + e y + f)
        "shear_x": (1, magnitude, 0, 0, 1, 0),
        "shear_y": (1, 0, 0, magnitude, 1, 0),
        "translate_x": (1, 0, magnitude, 0, 1, 0),
        "translate_y": (1, 0, 0, 0, 1, magnitude),
    }
    enhancers = {"brightness": ImageEnhance.Brightness, "color": ImageEnhance.Color,
                 "contrast": ImageEnhance.Contrast, "sharpness": ImageEnhance.Sharpness}
    if operation in affine:
        return picture.transform(picture.size, Image.Transform.AFFINE, affine[operation], resample=bilinear,
                                 fillcolor=(0, 0, 0))
    if operation == "rotate":
        return picture.rotate(magnitude, resample=bilinear, fillcolor=(0, 0, 0))
    if operation in enhancers:
        return enhancers[operation](picture).enhance(1.0 + magnitude)
    if operation == "posterize":
        return ImageOps.posterize(picture, int(magnitude))
    if operation == "solarize":
        return ImageOps.solarize(picture, int(round(magnitude)))
    if operation == "autocontrast":
        return ImageOps.autocontrast(picture)
    if operation == "equalize":
        return ImageOps.equalize(picture)
    return picture  # identity


def trivial_augment_wide(image: torch.Tensor) -> torch.Tensor:
    """TrivialAugmentWide on a uint8 RGB image [3, H, W]: one uniformly drawn operation at a uniformly drawn
    magnitude bin, sign flipped with probability 0.5 for signed operations; bilinear, black fill."""
    if image.dtype != torch.uint8 or image.ndim != 3 or image.shape[0] != 3:
        raise ValueError(f"trivial_augment_wide expects a uint8 [3, H, W] image, got {image.dtype} {list(image.shape)}")
    from PIL import Image

    operation = list(WIDE_SPACE)[int(torch.randint(len(WIDE_SPACE), ()))]
    magnitudes, signed = WIDE_SPACE[operation]
    magnitude = float(magnitudes[int(torch.randint(MAGNITUDE_BINS, ()))])
    if signed and torch.rand(()) < 0.5:
        magnitude = -magnitude
    picture = Image.fromarray(image.permute(1, 2, 0).numpy())
    result = np.asarray(_apply_pil_op(picture, operation, magnitude))
    return torch.from_numpy(result.copy()).permute(2, 0, 1).contiguous()


def random_erasing(
    image: torch.Tensor, p: float = 0.1, scale=(0.02, 0.33), ratio=(0.3, 3.3), value: float = 0.0
) -> torch.Tensor:
    """With probability ``p`` set one random rectangle of a [C, H, W] image to ``value`` (Zhong et al. 2020).

    The rectangle covers a fraction U(scale) of the image with aspect ratio log-uniform in ``ratio``; up to 10
    draws are tried until it fits, else the image is returned unchanged.
    """
    if torch.rand(()) >= p:
        return image
    height, width = image.shape[-2:]
    area = height * width
    log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
    for _ in range(10):
        erase_area = area * float(torch.empty(()).uniform_(*scale))
        aspect = math.exp(float(torch.empty(()).uniform_(*log_ratio)))
        box_h = int(round(math.sqrt(erase_area * aspect)))
        box_w = int(round(math.sqrt(erase_area / aspect)))
        if box_h < height and box_w < width:
            top = int(torch.randint(height - box_h + 1, ()))
            left = int(torch.randint(width - box_w + 1, ()))
            erased = image.clone()
            erased[..., top:top + box_h, left:left + box_w] = value
            return erased
    return image


def _beta_sample(alpha: float, generator: torch.Generator | None) -> float:
    # torch has no generator-aware Beta sampler: seed a NumPy stream from the torch generator instead
    seed = int(torch.randint(2**31 - 1, (1,), generator=generator))
    return float(np.random.RandomState(seed).beta(alpha, alpha))


def mixup_cutmix(
    x: torch.Tensor,
    y: torch.Tensor,
    num_classes: int,
    generator: torch.Generator | None = None,
    mixup_alpha: float = 0.2,
    cutmix_alpha: float = 1.0,
    height_dim: int = 3,
    width_dim: int = 1,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Batch-level RandomChoice{Mixup(α=0.2), CutMix(α=1.0)}, each with probability 0.5 (docs/tasks.md §1.2).

    ``x`` is a collated batch [B, *sample] (batch first); each sample is mixed with its neighbour in the batch
    rolled by one. ``y`` holds int labels [B] or soft targets [B, num_classes]. Returns (mixed x, soft targets
    [B, num_classes]) where targets = λ·own + (1−λ)·partner, λ ~ Beta(α, α); for CutMix λ is corrected to the
    pasted box's true area. ``height_dim``/``width_dim`` locate the image axes; the defaults fit the column-mode
    batch [B, W, C, H].
    """
    if y.ndim == 1:
        targets = torch.nn.functional.one_hot(y.long(), num_classes).to(x.dtype)
    elif y.ndim == 2 and y.shape[1] == num_classes:
        targets = y.to(x.dtype)
    else:
        raise ValueError(f"y must be labels [B] or soft targets [B, {num_classes}], got {list(y.shape)}")
    if x.shape[0] != targets.shape[0]:
        raise ValueError(f"x has {x.shape[0]} samples but y has {targets.shape[0]}")
    partner_x, partner_targets = x.roll(1, 0), targets.roll(1, 0)
    use_cutmix = bool(torch.rand((), generator=generator) < 0.5)
    lam = _beta_sample(cutmix_alpha if use_cutmix else mixup_alpha, generator)
    if use_cutmix:
        height, width = x.shape[height_dim], x.shape[width_dim]
        centre_row = int(torch.randint(height, (), generator=generator))
        centre_col = int(torch.randint(width, (), generator=generator))
        half_side = 0.5 * math.sqrt(1.0 - lam)
        half_h, half_w = int(half_side * height), int(half_side * width)
        top, bottom = max(centre_row - half_h, 0), min(centre_row + half_h, height)
        left, right = max(centre_col - half_w, 0), min(centre_col + half_w, width)
        mixed = x.clone()
        box = mixed.narrow(height_dim, top, bottom - top).narrow(width_dim, left, right - left)
        box.copy_(partner_x.narrow(height_dim, top, bottom - top).narrow(width_dim, left, right - left))
        lam = 1.0 - (bottom - top) * (right - left) / (height * width)
    else:
        mixed = lam * x + (1.0 - lam) * partner_x
    return mixed, lam * targets + (1.0 - lam) * partner_targets
