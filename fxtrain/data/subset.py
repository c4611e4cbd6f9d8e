"""Building the embedded Fashion-MNIST subset reproducibly (used by scripts/build_embedded_dataset.py).

Selection rule, for each split with its own key stream: draw one 64-bit key per sample,
``keys = PCG64(SeedSequence([seed, split_id])).random_raw(N)`` (split_id 1 = train,
2 = test); within each class take the ``per_class`` samples with the smallest keys (ties
by index, stable sort); output them in ascending original index. Only numpy's
bit-generator raw stream is used, which numpy keeps stable across releases, so the same
source files give the same subset everywhere.

The npz is written byte-for-byte deterministically (fixed member order, timestamps and
permissions; deflate level 9), and atomically (temp file + ``os.replace``).
"""
from __future__ import annotations

import io
import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from .dataset import FASHION_MNIST_CLASSES
from .idx import read_fashion_mnist_arrays

SUBSET_SEED = 0
TRAIN_PER_CLASS = 500
TEST_PER_CLASS = 100
#: sha256 of the shipped npz and the zlib that deflated it: deflate output is stable for a
#: given zlib build, so a rebuild is byte-identical there and array-identical everywhere.
BUILT_FILE_SHA256 = "02c419f7e510f3502a1fd2298c29b771eea15570341e8baa0820f80023e85a67"
BUILT_WITH_ZLIB = "1.2.13"
_SPLIT_IDS = {"train": 1, "test": 2}
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


def select_balanced(labels: np.ndarray, per_class: int, seed: int, split_id: int) -> np.ndarray:
    """Ascending int64 indices: ``per_class`` samples of every class present in ``[0, 10)``.

    ValueError if some class has fewer than ``per_class`` samples.
    """
    labels = np.asarray(labels)
    keys = np.random.PCG64(np.random.SeedSequence([seed, split_id])).random_raw(labels.shape[0])
    chosen = []
    for c in range(len(FASHION_MNIST_CLASSES)):
        members = np.flatnonzero(labels == c)
        if members.shape[0] < per_class:
            raise ValueError(f"class {c} has {members.shape[0]} samples, fewer than {per_class}")
        chosen.append(members[np.argsort(keys[members], kind="stable")[:per_class]])
    return np.sort(np.concatenate(chosen)).astype(np.int64)


def build_subset_arrays(
    src_dir: str | os.PathLike | None = None,
    seed: int = SUBSET_SEED,
    train_per_class: int = TRAIN_PER_CLASS,
    test_per_class: int = TEST_PER_CLASS,
) -> dict[str, np.ndarray]:
    """The arrays of the embedded npz (keys as in :mod:`fxtrain.data.embedded`) from the IDX files."""
    out: dict[str, np.ndarray] = {}
    for split, per_class in (("train", train_per_class), ("test", test_per_class)):
        images, labels = read_fashion_mnist_arrays(src_dir, split)
        idx = select_balanced(labels, per_class, seed, _SPLIT_IDS[split])
        out[f"x_{split}"] = np.ascontiguousarray(images[idx])
        out[f"y_{split}"] = labels[idx].astype(np.uint8)
        out[f"idx_{split}"] = idx.astype(np.uint16)  # Fashion-MNIST has < 65536 samples per split
    return out


def npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    """A deterministic ``.npz`` (readable by ``np.load(allow_pickle=False)``) of ``arrays``."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for key in sorted(arrays):
            member = io.BytesIO()
            np.lib.format.write_array(member, np.ascontiguousarray(arrays[key]), allow_pickle=False)
            info = zipfile.ZipInfo(f"{key}.npy", date_time=_ZIP_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            info.create_system = 3  # unix, whatever the building machine is
            zf.writestr(info, member.getvalue(), compresslevel=9)
    return buf.getvalue()


def write_atomic(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temp file in the same folder and ``os.replace``."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
