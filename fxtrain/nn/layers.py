"""Layer descriptions: shapes, hyper-parameters and initialisation.

Layers hold no arrays; the :class:`~fxtrain.nn.network.Network` owns every parameter
under names like ``conv0.weight`` and runs the integer (or float64) kernels, so the
engine, checkpoints and vector bundles share one naming. Weighted layers are bias-free,
like the reference hardware (the ops accept a bias for other designs).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def _check_sizes(layer, **minimum: int) -> None:
    """Every named field is an int (not a bool) at least its minimum; else ValueError."""
    for field_name, lo in minimum.items():
        v = getattr(layer, field_name)
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < lo:
            raise ValueError(f"{type(layer).__name__} {layer.name!r}: {field_name} must be an "
                             f"integer >= {lo}, got {v!r}")


@dataclass(frozen=True)
class Conv2d:
    """K x K convolution, correlation form, stride S, zero padding P; weight [O, C, K, K]."""

    name: str
    in_ch: int
    out_ch: int
    k: int = 3
    stride: int = 1
    pad: int = 1

    weighted = True
    kind = "conv"

    def __post_init__(self) -> None:
        _check_sizes(self, in_ch=1, out_ch=1, k=1, stride=1, pad=0)

    @property
    def weight_shape(self) -> tuple[int, ...]:
        return (self.out_ch, self.in_ch, self.k, self.k)

    @property
    def fan_in(self) -> int:
        return self.in_ch * self.k * self.k

    def out_shape(self, s: tuple[int, ...]) -> tuple[int, ...]:
        c, h, w = s
        if c != self.in_ch:
            raise ValueError(f"{self.name}: expects {self.in_ch} input channels, got {c}")
        ho = (h + 2 * self.pad - self.k) // self.stride + 1
        wo = (w + 2 * self.pad - self.k) // self.stride + 1
        if ho < 1 or wo < 1:
            raise ValueError(f"{self.name}: input {h}x{w} too small for kernel {self.k}")
        return (self.out_ch, ho, wo)


@dataclass(frozen=True)
class Linear:
    """Fully connected layer; weight [out, in] (the FPL'19 FC storage order)."""

    name: str
    in_f: int
    out_f: int

    weighted = True
    kind = "linear"

    def __post_init__(self) -> None:
        _check_sizes(self, in_f=1, out_f=1)

    @property
    def weight_shape(self) -> tuple[int, ...]:
        return (self.out_f, self.in_f)

    @property
    def fan_in(self) -> int:
        return self.in_f

    def out_shape(self, s: tuple[int, ...]) -> tuple[int, ...]:
        if s != (self.in_f,):
            raise ValueError(f"{self.name}: expects {self.in_f} inputs, got shape {s}")
        return (self.out_f,)


@dataclass(frozen=True)
class ReLU:
    """ReLU; its derivative is a 1-bit mask of the pre-activation (rule from the recipe)."""

    name: str
    weighted = False

    def out_shape(self, s):
        return s


@dataclass(frozen=True)
class MaxPool2d:
    """K x K max-pool, stride K; ties go to the first maximum in row-major window order."""

    name: str
    k: int = 2
    weighted = False

    def out_shape(self, s):
        c, h, w = s
        if h < self.k or w < self.k:
            raise ValueError(f"{self.name}: input {h}x{w} smaller than the pool window {self.k}")
        return (c, h // self.k, w // self.k)


@dataclass(frozen=True)
class Flatten:
    """[N, C, H, W] -> [N, C*H*W] in row-major (C, H, W) order."""

    name: str
    weighted = False

    def out_shape(self, s):
        return (int(np.prod(s)),)


Layer = Conv2d | Linear | ReLU | MaxPool2d | Flatten


def init_weight(layer, rng: np.random.Generator) -> np.ndarray:
    """He-uniform float64 weights, bound sqrt(6 / fan_in), drawn in layer order from ``rng``."""
    bound = np.sqrt(6.0 / layer.fan_in)
    return rng.uniform(-bound, bound, size=layer.weight_shape)
