"""One entry point for every dataset: :func:`load_dataset`."""
from __future__ import annotations

import os

from .cifar import load_cifar10
from .dataset import Dataset, check_split
from .embedded import load_embedded
from .idx import load_fashion_mnist
from .synthetic import synthetic_dataset

DATASET_NAMES: tuple[str, ...] = ("embedded", "fashion-mnist", "cifar10", "synthetic")


def load_dataset(
    name: str = "embedded",
    split: str = "train",
    data_dir: str | os.PathLike | None = None,
    *,
    seed: int = 0,
) -> Dataset:
    """Load one split of a dataset by name.

    - ``"embedded"`` (default): the Fashion-MNIST subset shipped in the package, 5,000
      train / 1,000 test, x ``[N, 1, 28, 28]``; needs no files.
    - ``"fashion-mnist"``: the full IDX files, from ``data_dir`` if given, else
      ``/usr/share/datasets/fashion-mnist`` (``apt-get install dataset-fashion-mnist``).
    - ``"cifar10"``: python batches in ``data_dir`` (the ``cifar-10-batches-py`` folder or
      its parent), x ``[N, 3, 32, 32]``; ``data_dir`` is required.
    - ``"synthetic"``: 1,000 train / 200 test easy images ``[N, 1, 28, 28]`` from ``seed``.

    ``seed`` is used by ``"synthetic"`` only. Images stay uint8 codes 0..255: use
    :func:`~fxtrain.data.pad_to` for 28 -> 32 and :func:`~fxtrain.data.to_fixed` /
    :func:`~fxtrain.data.to_unit_float` to scale them exactly.
    """
    check_split(split)
    if name == "embedded":
        return load_embedded(split)
    if name == "fashion-mnist":
        return load_fashion_mnist(data_dir, split)
    if name == "cifar10":
        return load_cifar10(data_dir, split)
    if name == "synthetic":
        return synthetic_dataset(split, seed=seed)
    raise ValueError(f"unknown dataset {name!r}; expected one of {DATASET_NAMES}")
