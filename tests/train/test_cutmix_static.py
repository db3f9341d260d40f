"""CutMix in the training loop pastes a box of image rows × columns on static image batches [B, C, H, W]
(docs/tasks.md §1.2), the same box in every channel."""

import torch
from torch import nn

from pmsn.train import loop, resolve_config
from pmsn.train.distributed import Context
from pmsn.train.optim import build_optimizer


def test_cutmix_box_spans_rows_and_columns_of_static_images(monkeypatch):
    config = resolve_config(preset_name="cifar10", overrides=["device=cpu", "amp=false", "batch_size=8"])
    assert config.cutmix_alpha > 0 and config.mixup_alpha > 0
    mixed_batches = []
    real = loop.mixup_cutmix

    def recording(x, labels, *args, **kwargs):
        mixed, targets = real(x, labels, *args, **kwargs)
        mixed_batches.append((x, mixed))
        return mixed, targets
    monkeypatch.setattr(loop, "mixup_cutmix", recording)
    torch.manual_seed(0)
    images = torch.rand(64, 3, 8, 8) + torch.arange(64).view(64, 1, 1, 1)  # every image differs everywhere
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(images, torch.arange(64) % 10), batch_size=8)
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 10))
    loop._train_epoch(model, loader, build_optimizer(model, config.optim), config, torch.device("cpu"), Context(),
                      0, 10, None, None)
    boxes = 0
    for x, mixed in mixed_batches:
        partner = x.roll(1, 0)
        pasted = (mixed == partner) & (mixed != x)
        if not pasted.any() or not torch.equal(pasted | (mixed == x), torch.ones_like(pasted)):
            continue  # a Mixup batch (or an empty box)
        boxes += 1
        per_pixel = pasted[0]  # [C, H, W]
        assert torch.equal(per_pixel, per_pixel[:1].expand_as(per_pixel)), "the box must cover every channel"
        rows, cols = per_pixel[0].any(1).nonzero().flatten(), per_pixel[0].any(0).nonzero().flatten()
        rectangle = torch.zeros(8, 8, dtype=torch.bool)
        rectangle[rows.min():rows.max() + 1, cols.min():cols.max() + 1] = True
        assert torch.equal(per_pixel[0], rectangle)
        assert torch.equal(pasted, pasted[:1].expand_as(pasted))  # one box for the whole batch
    assert boxes >= 1
