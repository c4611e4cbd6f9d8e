"""Model zoo: the FPL'19 CIFAR-10 CNN (1X/2X/4X) and a small LeNet-style net."""
from __future__ import annotations

import numpy as np

from .layers import Conv2d, Flatten, Linear, MaxPool2d, ReLU
from .network import Network
from .recipe import Recipe


def _default_recipe(recipe: Recipe | None) -> Recipe:
    if recipe is None:
        from .presets import fpl19

        return fpl19()
    if not isinstance(recipe, Recipe):
        raise TypeError(f"recipe must be a fxtrain Recipe, got {type(recipe).__name__}")
    return recipe


def _check_model_args(in_channels, image_size, num_classes) -> None:
    for what, v, lo in (("in_channels", in_channels, 1), ("image_size", image_size, 1),
                        ("num_classes", num_classes, 2)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < lo:
            raise ValueError(f"{what} must be an integer >= {lo}, got {v!r}")


def cnn_layers(width: int = 1, in_channels: int = 3, image_size: int = 32, num_classes: int = 10,
               widths: tuple[int, ...] | None = None) -> list:
    """conv3-16, conv3-16, pool, conv3-32, conv3-32, pool, conv3-64, conv3-64, pool, FC.

    ``width`` multiplies every conv width (2X, 4X); ``widths`` gives all six explicitly
    (CGaP's grown or pruned nets). No ReLU after the FC.
    """
    _check_model_args(in_channels, image_size, num_classes)
    ws = tuple(widths) if widths is not None else tuple(c * width for c in (16, 16, 32, 32, 64, 64))
    if len(ws) != 6 or min(ws) < 1:
        raise ValueError(f"need six positive conv widths, got {ws}")
    if image_size % 8:
        raise ValueError(f"image_size must be a multiple of 8 (three 2x2 pools), got {image_size}")
    layers, c = [], in_channels
    for i, o in enumerate(ws):
        layers += [Conv2d(f"conv{i}", c, o, 3, 1, 1), ReLU(f"relu{i}")]
        if i % 2:
            layers.append(MaxPool2d(f"pool{i // 2}", 2))
        c = o
    side = image_size // 8
    layers += [Flatten("flatten"), Linear("fc", c * side * side, num_classes)]
    return layers


def _cnn(width, in_channels, image_size, num_classes, recipe, seed, widths=None):
    return Network(cnn_layers(width, in_channels, image_size, num_classes, widths),
                   _default_recipe(recipe), (in_channels, image_size, image_size), seed,
                   name=f"cnn{width}x" if widths is None else "cnn")


def cnn1x(in_channels: int = 3, image_size: int = 32, num_classes: int = 10,
          recipe: Recipe | None = None, seed: int = 0) -> Network:
    """The FPL'19 "1X" CIFAR-10 CNN (widths 16, 16, 32, 32, 64, 64)."""
    return _cnn(1, in_channels, image_size, num_classes, recipe, seed)


def cnn2x(in_channels: int = 3, image_size: int = 32, num_classes: int = 10,
          recipe: Recipe | None = None, seed: int = 0) -> Network:
    """The 2X CNN: every width doubled."""
    return _cnn(2, in_channels, image_size, num_classes, recipe, seed)


def cnn4x(in_channels: int = 3, image_size: int = 32, num_classes: int = 10,
          recipe: Recipe | None = None, seed: int = 0) -> Network:
    """The 4X CNN: every width quadrupled."""
    return _cnn(4, in_channels, image_size, num_classes, recipe, seed)


def lenet(in_channels: int = 1, image_size: int = 28, num_classes: int = 10,
          recipe: Recipe | None = None, seed: int = 0) -> Network:
    """Small LeNet-style net: conv3-8, pool, conv3-16, pool, FC-64, FC-classes."""
    _check_model_args(in_channels, image_size, num_classes)
    if image_size % 4:
        raise ValueError(f"image_size must be a multiple of 4, got {image_size}")
    side = image_size // 4
    layers = [Conv2d("conv0", in_channels, 8), ReLU("relu0"), MaxPool2d("pool0"),
              Conv2d("conv1", 8, 16), ReLU("relu1"), MaxPool2d("pool1"), Flatten("flatten"),
              Linear("fc0", 16 * side * side, 64), ReLU("relu2"), Linear("fc", 64, num_classes)]
    return Network(layers, _default_recipe(recipe), (in_channels, image_size, image_size), seed,
                   name="lenet")


MODELS = {"cnn1x": cnn1x, "cnn2x": cnn2x, "cnn4x": cnn4x, "lenet": lenet}
