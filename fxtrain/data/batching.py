"""Deterministic mini-batch order.

The shuffle is defined only by numpy's bit generators, whose raw streams numpy keeps
stable across releases (``Generator`` methods such as ``permutation`` carry no such
promise): ``order = argsort(PCG64(SeedSequence([seed, epoch])).random_raw(n), stable)``.
So the same (seed, epoch, n) gives the same order on every machine and numpy version,
which golden-vector runs and resumed trainings rely on.
"""
from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from .dataset import Dataset


def _check_nonneg_int(name: str, v) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 0:
        raise ValueError(f"{name} must be an int >= 0, got {v!r}")
    return int(v)


def shuffle_order(n: int, seed: int, epoch: int = 0) -> np.ndarray:
    """A permutation of ``range(n)`` as int64, fixed by ``(seed, epoch)``.

    Ties between equal 64-bit keys (astronomically rare) keep index order (stable sort),
    so the result is fully specified.
    """
    n = _check_nonneg_int("n", n)
    seed = _check_nonneg_int("seed", seed)
    epoch = _check_nonneg_int("epoch", epoch)
    bitgen = np.random.PCG64(np.random.SeedSequence([seed, epoch]))
    keys = bitgen.random_raw(n) if n else np.zeros(0, dtype=np.uint64)
    return np.argsort(keys, kind="stable").astype(np.int64)


def batches(
    ds: Dataset,
    batch_size: int,
    seed: int = 0,
    shuffle: bool = True,
    *,
    epoch: int = 0,
    drop_last: bool = False,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield ``(x, y)`` mini-batches of ``ds`` (uint8 ``[B, C, H, W]``, int64 ``[B]``).

    ``shuffle=False`` keeps dataset order; otherwise the order is
    :func:`shuffle_order(len(ds), seed, epoch) <shuffle_order>`, so pass the epoch number to
    get a fresh, reproducible order each epoch. Every batch has ``batch_size`` samples
    except possibly the last, which is shorter (or dropped when ``drop_last``); e.g. 10
    samples in batches of 4 give sizes 4, 4, 2 (or 4, 4 with ``drop_last``).
    """
    if not isinstance(ds, Dataset):
        raise TypeError(f"batches() needs a Dataset, got {type(ds).__name__}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size must be an int >= 1, got {batch_size!r}")
    n = len(ds)
    order = shuffle_order(n, seed, epoch) if shuffle else np.arange(n, dtype=np.int64)
    stop = n - n % batch_size if drop_last else n
    for start in range(0, stop, int(batch_size)):
        idx = order[start : start + batch_size]
        yield ds.x[idx], ds.y[idx]
