"""Recipe presets: ``fpl19`` (the FPL'19 group's bit-accurate model), ``sr16``
(16-bit with stochastic rounding and calibrated fractions) and ``float64`` (the
unquantized baseline of any recipe)."""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from .recipe import Recipe

#: the golden model's accumulators: exact convolution sums, 32-bit FC
FPL19_ACC = {"conv": 64, "linear": 32}


def fpl19(lr: float = 0.01, momentum: float = 0.5, batch: int = 40, groups: int = 1,
          lr_start: float | None = None) -> Recipe:
    """The reference hardware's numerics, exactly.

    16-bit words; convolution sums (FP, BP, WU) exact (64-bit accumulators), fully
    connected sums in 32-bit wrapping accumulators, as the group's golden model
    (PSTonFPGA_demo op.py: conv2D_fixed sums int64 products, matmul_fixed wraps its
    32-bit register after every addition); layer outputs (activations, local and
    weight gradients) round half-up then saturate; inputs Q16.15 (half_even, saturate);
    weight fractions 15,15,15,16,16,16,16 and momentum 19,19,19,20,20,20,20 (conv0..conv5,
    fc); every output fraction = operand fractions - 16; ReLU mask ``pre-activation >= 0``;
    squared hinge on +-1 targets; per group ``V += round_half_up(G_g * lr_q)``, after the
    batch ``W -= round_half_up(s_q * V)`` and ``V = round_half_up(V * m_q)``, all 16-bit wrap.
    """
    return Recipe("fpl19", lr=lr, momentum=momentum, batch=batch, groups=groups,
                  lr_start=lr if lr_start is None else lr_start, acc_bits=dict(FPL19_ACC))


def sr16(lr: float = 0.01, momentum: float = 0.5, batch: int = 40, groups: int = 1,
         lr_start: float | None = None, calib=None, headroom_bits: int = 3,
         weight_headroom_bits: int = 2) -> Recipe:
    """16-bit training with stochastic rounding on weight gradients, momentum and updates.

    Every tensor's fraction is calibrated from one float64 step on ``calib = (x, labels)``
    (x floats [N, C, H, W]; the first training batch is a good choice) with
    ``headroom_bits`` spare integer bits (``weight_headroom_bits`` for weights). Three bits:
    activations and local gradients grow several-fold over the first epoch from their
    values at initialisation, and with one bit cnn1x saturated its local gradients and
    diverged on Fashion-MNIST, while three tracked the float64 run. Activations and local gradients round half-even; weight gradients,
    momentum and weight updates round stochastically (keys from ``sr_key``) and saturate.
    lr/batch is split as ``lr_q = 0.5`` (Q16.15) times ``s_q = 2 * lr_start / batch``.
    """
    if calib is not None:
        x, y = calib
        calib = (np.asarray(x, dtype=np.float64), np.asarray(y))
    return Recipe(
        "sr16", lr=lr, momentum=momentum, batch=batch, groups=groups,
        lr_start=lr if lr_start is None else lr_start, frac_rule="calibrated", scale_rule="half",
        headroom_bits=headroom_bits, weight_headroom_bits=weight_headroom_bits, calibration=calib,
        rounding={"activation": "half_even", "local_gradient": "half_even",
                  "weight_gradient": "stochastic", "momentum": "stochastic", "update": "stochastic",
                  "input": "half_even", "constant": "half_even"},
        overflow={"activation": "saturate", "local_gradient": "saturate", "weight_gradient": "saturate",
                  "momentum": "saturate", "update": "saturate", "input": "saturate",
                  "constant": "saturate"},
    )


def float64(recipe: Recipe) -> Recipe:
    """The float64 baseline of ``recipe``: same network, init (the recipe's quantized
    weights, dequantized), data order and hyper-parameters; no quantization."""
    return replace(recipe, name=f"{recipe.name}-float64", float64=True)


PRESETS = {"fpl19": fpl19, "sr16": sr16}
