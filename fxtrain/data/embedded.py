"""The default dataset shipped inside the package: a class-balanced Fashion-MNIST subset.

``fashion_mnist_subset.npz`` holds 500 train and 100 test images per class (5,000 /
1,000), picked from Debian's ``dataset-fashion-mnist`` files by
``scripts/build_embedded_dataset.py`` (selection rule in :mod:`fxtrain.data.subset`).
Arrays, all uint8 except the indices:

- ``x_train`` [5000, 28, 28], ``y_train`` [5000], ``idx_train`` uint16 [5000]
- ``x_test`` [1000, 28, 28], ``y_test`` [1000], ``idx_test`` uint16 [1000]

``idx_*`` are the positions of the samples in the original Fashion-MNIST files
(ascending), so provenance is checkable. Licence: MIT, see ``LICENSE.fashion-mnist``.

The file is read with ``allow_pickle=False`` and its content is checked against
:data:`EMBEDDED_CONTENT_SHA256` (a digest of the arrays, independent of how zlib
compressed them), so a damaged or swapped file is an error, never silently new data.
"""
from __future__ import annotations

import functools
import hashlib
from importlib import resources

import numpy as np

from .dataset import FASHION_MNIST_CLASSES, Dataset, DatasetFormatError, check_split

EMBEDDED_FILENAME = "fashion_mnist_subset.npz"
#: content_digest() of the shipped arrays; scripts/build_embedded_dataset.py prints it.
EMBEDDED_CONTENT_SHA256 = "ef13b44c5faeb608fcc2ec6dcac37ff18b52d7a763012f1a27393efbb56e8983"
EMBEDDED_KEYS: tuple[str, ...] = ("idx_test", "idx_train", "x_test", "x_train", "y_test", "y_train")


def content_digest(arrays: dict[str, np.ndarray]) -> str:
    """sha256 hex over each array in key order: its name, dtype, shape and C-order bytes.

    Two npz files with identical arrays have the same digest even if zlib compressed
    them differently.
    """
    h = hashlib.sha256()
    for key in sorted(arrays):
        a = np.ascontiguousarray(arrays[key])
        h.update(f"{key}|{a.dtype.str}|{a.shape}|".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def embedded_file():
    """The shipped npz as an importlib.resources Traversable (works from wheels and zips)."""
    return resources.files(__package__).joinpath(EMBEDDED_FILENAME)


def _check_arrays(arrays: dict[str, np.ndarray], source: str) -> None:
    if tuple(sorted(arrays)) != EMBEDDED_KEYS:
        raise DatasetFormatError(f"{source}: keys {sorted(arrays)} != expected {list(EMBEDDED_KEYS)}")
    for split in ("train", "test"):
        x, y, idx = arrays[f"x_{split}"], arrays[f"y_{split}"], arrays[f"idx_{split}"]
        if x.dtype != np.uint8 or x.ndim != 3 or x.shape[1:] != (28, 28):
            raise DatasetFormatError(f"{source}: x_{split} must be uint8 [N, 28, 28], got {x.dtype} {x.shape}")
        for nm, a, dt in (("y", y, np.uint8), ("idx", idx, np.uint16)):
            if a.dtype != dt or a.shape != (x.shape[0],):
                raise DatasetFormatError(
                    f"{source}: {nm}_{split} must be {np.dtype(dt).name} [{x.shape[0]}], got {a.dtype} {a.shape}"
                )


@functools.lru_cache(maxsize=1)
def _load_verified() -> dict[str, np.ndarray]:
    f = embedded_file()
    source = str(f)
    if not f.is_file():
        raise FileNotFoundError(
            f"embedded dataset {source} is missing from the installed package; rebuild it "
            f"with scripts/build_embedded_dataset.py or reinstall fxtrain"
        )
    with f.open("rb") as fh, np.load(fh, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    _check_arrays(arrays, source)
    digest = content_digest(arrays)
    if digest != EMBEDDED_CONTENT_SHA256:
        raise DatasetFormatError(
            f"{source}: content sha256 {digest} != expected {EMBEDDED_CONTENT_SHA256}; the "
            f"file is damaged or was rebuilt without updating EMBEDDED_CONTENT_SHA256"
        )
    for a in arrays.values():
        a.flags.writeable = False
    return arrays


def load_embedded_arrays() -> dict[str, np.ndarray]:
    """The verified raw arrays of the shipped file (read-only; see the module docstring)."""
    return dict(_load_verified())


def load_embedded(split: str = "train") -> Dataset:
    """The shipped subset as a Dataset: x uint8 ``[N, 1, 28, 28]`` (5000 train / 1000 test)."""
    check_split(split)
    arrays = _load_verified()
    return Dataset(
        x=arrays[f"x_{split}"][:, None, :, :],
        y=arrays[f"y_{split}"].astype(np.int64),
        class_names=FASHION_MNIST_CLASSES,
        name="embedded",
        split=split,
    )
