"""A small synthetic dataset for tests: deterministic from a seed and easy to learn.

Each class ``k`` owns a binary template: a random ``ceil(H/4) x ceil(W/4)`` bit grid per
channel, blown up to 4x4 pixel blocks. A sample of class ``k`` is
``160 * template_k + noise`` with noise uniform in 0..95, so pixels lie in 0..255 and
the classes are far apart (a linear classifier separates them) while no two images are
equal. Templates depend on ``seed`` only (train and test share them); samples and labels
depend on ``(seed, split)``. All randomness is numpy bit-generator raw output
(``PCG64(SeedSequence(...)).random_raw``), which numpy keeps stable across releases.
"""
from __future__ import annotations

import numpy as np

from .dataset import Dataset, check_split

DEFAULT_SIZES = {"train": 1000, "test": 200}
_BLOCK = 4
_LEVEL = 160
_NOISE = 96


def _raw_bytes(entropy: list[int], count: int) -> np.ndarray:
    """``count`` uint8 values from PCG64 raw words, little-end byte first (endian-free)."""
    words = np.random.PCG64(np.random.SeedSequence(entropy)).random_raw(-(-count // 8))
    shifts = np.arange(0, 64, 8, dtype=np.uint64)
    return ((words[:, None] >> shifts) & np.uint64(0xFF)).astype(np.uint8).reshape(-1)[:count]


def synthetic_dataset(
    split: str = "train",
    n: int | None = None,
    seed: int = 0,
    num_classes: int = 10,
    image_shape: tuple[int, int, int] = (1, 28, 28),
) -> Dataset:
    """``n`` samples (default 1000 train / 200 test) of ``num_classes`` classes.

    Labels are class-balanced: ``i % num_classes`` for ``i < n``, in a seeded order, so
    every class has ``n // num_classes`` or one more samples.
    """
    check_split(split)
    n = DEFAULT_SIZES[split] if n is None else n
    for nm, v, lo in (("n", n, 0), ("seed", seed, 0), ("num_classes", num_classes, 1)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < lo:
            raise ValueError(f"{nm} must be an int >= {lo}, got {v!r}")
    if len(image_shape) != 3 or any(int(s) < 1 for s in image_shape):
        raise ValueError(f"image_shape must be (C, H, W) with positive sizes, got {image_shape!r}")
    c, h, w = (int(s) for s in image_shape)
    gh, gw = -(-h // _BLOCK), -(-w // _BLOCK)

    bits = _raw_bytes([seed, 0xC1A55], num_classes * c * gh * gw) & 1
    grid = bits.reshape(num_classes, c, gh, gw)
    templates = grid.repeat(_BLOCK, axis=2).repeat(_BLOCK, axis=3)[:, :, :h, :w]

    split_id = 1 if split == "train" else 2
    y = np.arange(n, dtype=np.int64) % num_classes
    order_keys = np.random.PCG64(np.random.SeedSequence([seed, split_id, 0])).random_raw(n)
    y = y[np.argsort(order_keys, kind="stable")] if n else y
    noise = _raw_bytes([seed, split_id, 1], n * c * h * w).reshape(n, c, h, w) % _NOISE
    x = (templates[y].astype(np.uint16) * _LEVEL + noise).astype(np.uint8)
    names = tuple(f"class{k}" for k in range(num_classes))
    return Dataset(x=x, y=y, class_names=names, name="synthetic", split=split)
