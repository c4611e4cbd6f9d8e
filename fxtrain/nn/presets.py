"""Recipe presets: ``fpl19`` (the FPL'19 group's bit-accurate model), the ``calibrated``
family (any word length 2..16, fractions calibrated from a float64 step, rounding and
overflow per role), its 16-bit stochastic member ``sr16``, and ``float64`` (the
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


#: the roles whose rounding ``calibrated(update_rounding=...)`` sets: the update path
UPDATE_ROLES = ("weight_gradient", "momentum", "update")
ROLES = ("activation", "local_gradient", "weight_gradient", "momentum", "update", "input", "constant")


def calibrated(word: int = 16, lr: float = 0.01, momentum: float = 0.5, batch: int = 40,
               groups: int = 1, lr_start: float | None = None, calib=None,
               update_rounding: str | dict = "stochastic", overflow: str | dict = "saturate",
               headroom_bits: int = 3, weight_headroom_bits: int = 2, name: str | None = None) -> Recipe:
    """The calibrated family: ``word``-bit data (2..16; 4..16 is the studied range), every
    fraction calibrated from one float64 step on ``calib = (x, labels)`` as sr16 does
    (docs/training.md, "The sr16 plan, rule by rule", with 15 replaced by ``word - 1``).

    ``update_rounding`` is the rounding of weight gradients, momentum and updates (a mode
    name), or a full ``{role: mode}`` table for every role. Otherwise the input, the
    constants, activations and local gradients round half_even. ``overflow`` is one
    mode for every role, or a ``{role: mode}`` table. The lr/scale/momentum constants stay
    16-bit (``const_word``), like the registers that hold them. Accumulators are 32 bits.
    ``name`` defaults to ``cal{word}-{update_rounding}`` (e.g. ``cal8-half_even``);
    ``sr16()`` is ``calibrated(16, update_rounding="stochastic", name="sr16")``, word for word.
    """
    if calib is not None:
        x, y = calib
        calib = (np.asarray(x, dtype=np.float64), np.asarray(y))
    if isinstance(update_rounding, dict):
        rounding = _role_table(update_rounding, "update_rounding")
        tag = "custom"
    else:
        rounding = {r: "half_even" for r in ROLES}
        rounding.update(dict.fromkeys(UPDATE_ROLES, update_rounding))
        tag = update_rounding
    ovf = _role_table(overflow, "overflow") if isinstance(overflow, dict) else dict.fromkeys(ROLES, overflow)
    return Recipe(
        name or f"cal{word}-{tag}", lr=lr, momentum=momentum, batch=batch, groups=groups,
        lr_start=lr if lr_start is None else lr_start, word=word, frac_rule="calibrated",
        scale_rule="half", headroom_bits=headroom_bits, weight_headroom_bits=weight_headroom_bits,
        calibration=calib, rounding=rounding, overflow=ovf)


def _role_table(table: dict, what: str) -> dict:
    missing, unknown = set(ROLES) - set(table), set(table) - set(ROLES)
    if missing or unknown:
        raise ValueError(f"{what} table needs exactly the roles {ROLES}; missing {sorted(missing)}, "
                         f"unknown {sorted(unknown)}")
    return dict(table)


def sr16(lr: float = 0.01, momentum: float = 0.5, batch: int = 40, groups: int = 1,
         lr_start: float | None = None, calib=None, headroom_bits: int = 3,
         weight_headroom_bits: int = 2) -> Recipe:
    """16-bit training with stochastic rounding on weight gradients, momentum and updates:
    the 16-bit, stochastic member of :func:`calibrated`.

    Every tensor's fraction is calibrated from one float64 step on ``calib = (x, labels)``
    (x floats [N, C, H, W]; the first training batch is a good choice) with
    ``headroom_bits`` spare integer bits (``weight_headroom_bits`` for weights). Three bits:
    activations and local gradients grow several-fold over the first epoch from their
    values at initialisation, and with one bit cnn1x saturated its local gradients and
    diverged on Fashion-MNIST, while three tracked the float64 run. Activations and local
    gradients round half-even; weight gradients, momentum and weight updates round
    stochastically (keys from ``sr_key``); everything saturates. lr/batch is split as
    ``lr_q = 0.5`` (Q16.15) times ``s_q = 2 * lr_start / batch``.
    """
    return calibrated(16, lr=lr, momentum=momentum, batch=batch, groups=groups, lr_start=lr_start,
                      calib=calib, update_rounding="stochastic", overflow="saturate",
                      headroom_bits=headroom_bits, weight_headroom_bits=weight_headroom_bits, name="sr16")


def float64(recipe: Recipe) -> Recipe:
    """The float64 baseline of ``recipe``: same network, init (the recipe's quantized
    weights, dequantized), data order and hyper-parameters; no quantization."""
    return replace(recipe, name=f"{recipe.name}-float64", float64=True)


PRESETS = {"fpl19": fpl19, "sr16": sr16, "calibrated": calibrated}
