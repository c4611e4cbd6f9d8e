"""The weight update of one batch, in fixed point and in float64.

Fixed point (the FPL'19 scheme, any fractions): for each on-chip group g
``V += round(G_g * lr_q)`` to the momentum fraction; after the last group
``W -= round(s_q * V)`` to the weight fraction, then ``V = round(V * m_q)`` with m_q in
Q16.16. Products are exact; rounding and overflow follow the plan's ``momentum`` and
``update`` specs (fpl19: half_up, 16-bit wrap). Keys for stochastic rounding treat the
groups as slices of one stacked tensor.

Float64: classic momentum in weight units, ``U = m*U + (lr/batch) * sum_g G_g; W -= U``,
which is what the fixed-point scheme computes with U = s_q * V.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from .. import ops
from ..numerics import QFormat, quantize
from .recipe import LayerPlan, Plan, Recipe



def lr_constants(recipe: Recipe, plan: Plan, lp: LayerPlan) -> dict:
    """The 16-bit constants of one layer at the recipe's current lr.

    fpl19: ``scale = 1.05 * 2**(f_lr - 15) * lr_start / batch``; otherwise
    ``scale = 2 * lr_start / batch``. Then ``lr_q = lr / (scale * batch)`` in Q16.f_lr,
    ``s_q = scale`` in Q16.f_s and ``m_q = momentum`` in Q16.16, each quantized with the
    plan's ``constants`` rounding and overflow (fpl19: half_even, saturate: 0.5 -> 32767).

    The real-valued expressions are evaluated in IEEE float64 exactly as written (left to
    right), and only that double is quantized; this differs from exact rational arithmetic
    only when the double lands on a rounding tie (e.g. batch 49, lr = 5 * 2**-15,
    lr_start = 1 under "half" gives lr_q = 3, not 2). The constants are also recorded in
    every vector bundle, so hardware never has to re-derive them. Returns a new dict on
    every call; the values are cached per distinct input (they change only with lr).
    """
    return dict(_constants(plan.scale_rule, plan.constants, lp.lr_frac, lp.scale_frac,
                           float(recipe.lr), float(recipe.lr_start), int(recipe.batch),
                           float(recipe.momentum)))


@lru_cache(maxsize=1024)
def _constants(scale_rule: str, spec, lr_frac: int, scale_frac: int, lr: float, lr_start: float,
               batch: int, momentum: float) -> tuple:
    w = spec.fmt.w
    if scale_rule == "fpl19":
        scale = 1.05 * 2.0 ** (lr_frac - 15) * lr_start / batch
    else:
        scale = 2.0 * lr_start / batch

    def q(v, f):
        return int(quantize(np.float64(v), QFormat(w, f), spec.rounding, spec.overflow))

    return (("lr_q", q(lr / (scale * batch), lr_frac)), ("lr_frac", lr_frac),
            ("s_q", q(scale, scale_frac)), ("scale_frac", scale_frac),
            ("m_q", q(momentum, 16)), ("m_frac", 16))


def int_update(W, V, grads: list, lp: LayerPlan, c: dict, keys: dict):
    """One batch's fixed-point update; returns (W, V, {role: overflow count}).

    One pass of :func:`fxtrain.ops.fpl19_step`: the same bits and counts as
    ``fpl19_accumulate`` per group, then ``fpl19_apply`` and ``fpl19_decay``.
    """
    mspec, uspec = lp.momentum, lp.update
    W, V, n_m, n_u = ops.fpl19_step(
        W, V, grads, c["lr_q"], c["s_q"], c["m_q"], lp.weight_gradient.f, c["lr_frac"], mspec.f,
        c["scale_frac"], uspec.f, (mspec.rounding, mspec.overflow, mspec.fmt.w),
        (uspec.rounding, uspec.overflow, uspec.fmt.w), keys["momentum"], keys["update"])
    return W, V, {"momentum": n_m, "update": n_u}


def float_update(W, U, grads: list, lr_per_image: float, momentum: float):
    """Classic momentum SGD in float64; returns (W, U)."""
    U = momentum * U + lr_per_image * np.sum(grads, axis=0)
    return W - U, U
