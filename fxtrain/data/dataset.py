"""The in-memory dataset record every loader returns, and the data errors.

A :class:`Dataset` is images ``x`` as uint8 ``[N, C, H, W]`` (raw pixel codes 0..255,
not yet scaled) and labels ``y`` as int64 ``[N]`` in ``[0, len(class_names))``. Loaders
hand out read-only views so a training loop cannot silently change the inputs that a
golden-vector run is meant to reproduce.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

FASHION_MNIST_CLASSES: tuple[str, ...] = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)

CIFAR10_CLASSES: tuple[str, ...] = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)

SPLITS: tuple[str, ...] = ("train", "test")


class DatasetFormatError(ValueError):
    """A dataset file exists but its contents are malformed (wrong magic, truncated, bad keys...)."""


def check_split(split: str) -> str:
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {SPLITS}")
    return split


def _read_only(a: np.ndarray) -> np.ndarray:
    # A view, so the caller's own array keeps its flags.
    v = a.view()
    v.flags.writeable = False
    return v


@dataclass(frozen=True, eq=False)
class Dataset:
    """Images and labels of one split.

    x: uint8 ``[N, C, H, W]`` pixel codes 0..255 (C = 1 for Fashion-MNIST, 3 for CIFAR-10).
    y: int64 ``[N]`` class ids, each in ``[0, len(class_names))``.
    class_names: one name per class id.
    name: the dataset's name (``"embedded"``, ``"fashion-mnist"``, ``"cifar10"``, ``"synthetic"``).
    split: ``"train"`` or ``"test"``.

    Construction validates all of the above (ValueError/TypeError naming the problem) and
    stores read-only views of the arrays.
    """

    x: np.ndarray
    y: np.ndarray
    class_names: tuple[str, ...]
    name: str
    split: str = field(default="train")

    def __post_init__(self) -> None:
        x, y = self.x, self.y
        if not isinstance(x, np.ndarray) or x.dtype != np.uint8 or x.ndim != 4:
            raise TypeError(
                f"Dataset.x must be a uint8 array [N, C, H, W], got "
                f"{type(x).__name__} {getattr(x, 'dtype', '')} ndim={getattr(x, 'ndim', '?')}"
            )
        if not isinstance(y, np.ndarray) or y.dtype != np.int64 or y.ndim != 1:
            raise TypeError(
                f"Dataset.y must be an int64 array [N], got "
                f"{type(y).__name__} {getattr(y, 'dtype', '')} ndim={getattr(y, 'ndim', '?')}"
            )
        if x.shape[0] != y.shape[0]:
            raise ValueError(f"Dataset has {x.shape[0]} images but {y.shape[0]} labels")
        names = tuple(self.class_names)
        if not names or not all(isinstance(n, str) for n in names):
            raise TypeError("Dataset.class_names must be a non-empty sequence of str")
        if y.size and (int(y.min()) < 0 or int(y.max()) >= len(names)):
            raise ValueError(
                f"Dataset labels must lie in [0, {len(names)}), got range "
                f"[{int(y.min())}, {int(y.max())}]"
            )
        check_split(self.split)
        object.__setattr__(self, "x", _read_only(x))
        object.__setattr__(self, "y", _read_only(y))
        object.__setattr__(self, "class_names", names)

    def __len__(self) -> int:
        return int(self.y.shape[0])

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """``(C, H, W)`` of one image."""
        return tuple(int(s) for s in self.x.shape[1:])  # type: ignore[return-value]

    def take(self, n: int) -> "Dataset":
        """The first ``n`` samples (all of them if ``n >= len(self)``); ``n`` must be >= 0."""
        if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 0:
            raise ValueError(f"take(n) needs an int n >= 0, got {n!r}")
        return replace(self, x=self.x[:n], y=self.y[:n])

    def class_counts(self) -> np.ndarray:
        """int64 ``[num_classes]``: how many samples carry each label."""
        return np.bincount(self.y, minlength=self.num_classes).astype(np.int64)
