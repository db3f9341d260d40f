"""Data readers of pmsn: one entry point ``build_dataset(task, split, data_dir, **options)`` and the ``TASKS`` registry.

Items are ``(x, y)`` with x float32 time first ([T, *features]) and y an int label. No downloads at run time: the
5,000-digit MNIST subset is embedded (tasks ``smnist5k``/``psmnist5k``); other tasks read the official files from
``data_dir`` or ``$PMSN_DATA``.
"""

from .augment import mixup_cutmix, random_erasing, random_horizontal_flip, trivial_augment_wide
from .base import SequenceDataset
from .collate import pad_collate
from .errors import CorruptDataError, DataError, MissingDataError
from .mnist import pixel_permutation, read_idx
from .registry import TASKS, TaskInfo, build_dataset
from .speech import log_mel_features, mel_filterbank, read_wav
from .spikes import bin_spikes, spike_bins

__all__ = [
    "TASKS", "TaskInfo", "build_dataset", "DataError", "MissingDataError", "CorruptDataError", "SequenceDataset",
    "mixup_cutmix", "random_erasing", "random_horizontal_flip", "trivial_augment_wide", "pixel_permutation",
    "read_idx", "bin_spikes", "spike_bins", "mel_filterbank", "log_mel_features", "read_wav", "pad_collate",
]
