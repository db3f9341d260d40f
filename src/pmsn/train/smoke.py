"""``pmsn train --smoke``: any config, end to end in seconds (docs/training.md §8).

The model, neuron, optimiser, schedule and loss stay exactly as configured; only the amount of work shrinks: one
epoch of ``SMOKE_TRAIN_ITEMS`` training and ``SMOKE_TEST_ITEMS`` test items in batches of ``SMOKE_BATCH``. When no
data directory is set (``data.data_dir``, ``--data-dir`` or ``$PMSN_DATA``) and the task reads files, the run
reads tiny random files in the released format (``pmsn.data.samples``) from a temporary folder. A smoke run says
it trained on part of the data (``data.limit_train``), so ``pmsn report`` never puts it in a paper table.
"""

from __future__ import annotations

import copy
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from pmsn.data.base import DATA_DIR_ENV
from pmsn.data.samples import needs_files, write_samples
from pmsn.train.config import TrainConfig

SMOKE_TRAIN_ITEMS = 8
SMOKE_TEST_ITEMS = 4
SMOKE_BATCH = 4
SMOKE_FOLDER = "smoke"  # run folders go to <out>/smoke/


def smoke_config(config: TrainConfig) -> TrainConfig:
    """A copy of ``config`` with the smoke run's sizes (see the module docstring)."""
    smoke = copy.deepcopy(config)
    smoke.epochs, smoke.batch_size, smoke.eval_batch_size = 1, SMOKE_BATCH, SMOKE_BATCH
    smoke.data.limit_train, smoke.data.limit_test, smoke.data.workers = SMOKE_TRAIN_ITEMS, SMOKE_TEST_ITEMS, 0
    smoke.schedule.t_max = None  # a cosine period of the config's epochs would not anneal in one
    smoke.log_every = 1
    smoke.out = str(Path(config.out) / SMOKE_FOLDER)
    smoke.note = f"smoke run of: {config.note}" if config.note else "smoke run"
    return smoke


@contextmanager
def smoke_run(config: TrainConfig) -> Iterator[tuple[TrainConfig, str]]:
    """``(smoke config, one line saying what it reads)``; sample files, if any, live until the block ends."""
    smoke = smoke_config(config)
    task = config.data.task
    if not needs_files(task):
        yield smoke, f"smoke run: 1 epoch on {SMOKE_TRAIN_ITEMS} training items of the embedded {task}"
        return
    if config.data.data_dir is not None or os.environ.get(DATA_DIR_ENV):
        where = config.data.data_dir or os.environ[DATA_DIR_ENV]
        yield smoke, f"smoke run: 1 epoch on the first {SMOKE_TRAIN_ITEMS} training items of {task} in {where}"
        return
    with tempfile.TemporaryDirectory(prefix=f"pmsn-smoke-{task}-") as folder:
        smoke.data.data_dir = str(write_samples(task, folder))
        yield smoke, (f"smoke run: no data directory set, so 1 epoch on random sample files in {task}'s format "
                      f"(not the data set; pass --data-dir or set {DATA_DIR_ENV} to smoke-test on it)")
