"""Datasets: the embedded default, full Fashion-MNIST (IDX), CIFAR-10 batches, synthetic.

Every loader returns a :class:`Dataset` of uint8 images ``[N, C, H, W]`` and int64
labels; the transforms (padding, exact scaling, +-1 targets) and the deterministic
batch order are separate functions so each step is exact and testable on its own.
"""
from .batching import batches, shuffle_order
from .cifar import (RestrictedUnpickler, UnsafePickleError, load_cifar10, parse_cifar_batch,
                    read_cifar_batch)
from .dataset import (
    CIFAR10_CLASSES,
    FASHION_MNIST_CLASSES,
    Dataset,
    DatasetFormatError,
)
from .embedded import load_embedded
from .idx import find_fashion_mnist_dir, load_fashion_mnist, parse_idx, read_idx
from .load import DATASET_NAMES, load_dataset
from .synthetic import synthetic_dataset
from .transforms import one_hot_pm1, pad_to, to_fixed, to_unit_float

__all__ = [
    "CIFAR10_CLASSES",
    "DATASET_NAMES",
    "FASHION_MNIST_CLASSES",
    "Dataset",
    "DatasetFormatError",
    "RestrictedUnpickler",
    "UnsafePickleError",
    "batches",
    "find_fashion_mnist_dir",
    "load_cifar10",
    "load_dataset",
    "load_embedded",
    "load_fashion_mnist",
    "one_hot_pm1",
    "pad_to",
    "parse_cifar_batch",
    "parse_idx",
    "read_cifar_batch",
    "read_idx",
    "shuffle_order",
    "synthetic_dataset",
    "to_fixed",
    "to_unit_float",
]
