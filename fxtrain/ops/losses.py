"""Loss gradients in fixed point (squared hinge, MSE) and float64 loss values for metrics.

The gradients are bit-exact (part of the contract); the loss values are float64 metrics
summed in numpy order (exact whenever the squared terms and their sum are exact in
float64, e.g. for 16-bit logits of a small batch). The softmax cross-entropy gradient
lives in :mod:`.softmax`.
"""
from __future__ import annotations

import numpy as np

from ..numerics import QFormat, wrap
from ._validate import int_arg, int_array, same_shape

_I64_MAX = (1 << 63) - 1


def _targets_pm1(t_pm1, z: np.ndarray) -> np.ndarray:
    t = int_array(t_pm1, "t_pm1")
    same_shape(z, t, "z", "t_pm1")
    if t.size and not np.all((t == 1) | (t == -1)):
        raise ValueError("t_pm1 must hold only +1 and -1 targets")
    return t


def squared_hinge_grad(z, t_pm1, f_z: int, w: int = 16) -> np.ndarray:
    """Gradient of sum_k max(0, 1 - z_k t_k)**2 / 2, i.e. ``z - t`` where z*t < 1, else 0.

    ``z`` holds logits in Q(., f_z), 0 <= f_z <= 64; ``t_pm1`` the +-1 targets (same
    shape). The target in the logits' format is ``t_q = +-2**f_z`` saturated to the
    ``w``-bit range (2 <= w <= 32); grad = wrap_w(z - t_q), set to 0 where
    ``z * t_sign >= 2**f_z`` (z*t >= 1 exactly, judged on the unsaturated 2**f_z).
    Returns the storage dtype of Q(w, .) (int16 for w = 16).

    Worked example (f_z = 15, w = 16): t = +1 -> t_q = 32767 (2**15 saturated);
    z = 32767 (just below 1) -> grad 0 = 32767 - 32767, not zeroed by the rule but by
    the subtraction; t = -1 -> t_q = -32768, z = -32768 (exactly -1) -> zeroed;
    z = 100 -> wrap(100 + 32768) = -32668 (the 16-bit wrap the hardware performs).
    """
    z = int_array(z, "z")
    t = _targets_pm1(t_pm1, z)
    f_z = int_arg(f_z, "f_z", 0, 64)
    w = int_arg(w, "w", 2, 32)
    one = 1 << f_z
    hi, lo = (1 << (w - 1)) - 1, -(1 << (w - 1))
    tq = np.where(t > 0, np.int64(min(one, hi)), np.int64(max(-one, lo)))
    z64 = z.astype(np.int64)
    g = wrap(z64 - tq, w)  # int64 wraps mod 2**64 first: still exact mod 2**w
    pos_done = (z64 >= one) if one <= _I64_MAX else np.zeros(z.shape, dtype=bool)
    neg_done = (z64 <= -one) if one <= _I64_MAX + 1 else np.zeros(z.shape, dtype=bool)
    done = np.where(t > 0, pos_done, neg_done)
    g[done] = 0
    return g.astype(QFormat(w, 0).dtype)


def squared_hinge_loss(z, t_pm1, f_z: int) -> float:
    """float64 ``sum_k max(0, 1 - z_k t_k)**2`` over all elements, z = z_q * 2**-f_z."""
    z = int_array(z, "z")
    t = _targets_pm1(t_pm1, z)
    f_z = int_arg(f_z, "f_z", -64, 64)
    m = np.maximum(0.0, 1.0 - np.ldexp(z.astype(np.float64), -f_z) * t)
    return float(np.sum(m * m))


def mse_grad(z, t_q, w: int = 16) -> np.ndarray:
    """``wrap_w(z - t_q)`` elementwise: z and t_q in the same format, same shape; storage
    dtype of Q(w, .). Example (w=16): z = -30000, t_q = 32767 -> wrap(-62767) = 2769."""
    z = int_array(z, "z")
    t = int_array(t_q, "t_q")
    same_shape(z, t, "z", "t_q")
    w = int_arg(w, "w", 2, 32)
    return wrap(z.astype(np.int64) - t.astype(np.int64), w).astype(QFormat(w, 0).dtype)


def mse_loss(z, t_q, f: int) -> float:
    """float64 ``sum (z - t)**2 / 2`` with z, t in Q(., f)."""
    z = int_array(z, "z")
    t = int_array(t_q, "t_q")
    same_shape(z, t, "z", "t_q")
    f = int_arg(f, "f", -64, 64)
    d = np.ldexp(z.astype(np.float64) - t.astype(np.float64), -f)
    return float(np.sum(d * d) / 2)


def softmax_xent_loss(z, labels, f_z: int) -> float:
    """float64 ``-sum_n log softmax(z_n)[label_n]`` (exact softmax in float64, a metric)."""
    z = int_array(z, "z", 2)
    lab = int_array(labels, "labels", 1)
    if lab.shape[0] != z.shape[0] or (lab.size and (lab.min() < 0 or lab.max() >= z.shape[1])):
        raise ValueError(f"labels must be [N] = [{z.shape[0]}] class indices in [0, {z.shape[1]})")
    zf = np.ldexp(z.astype(np.float64), -int_arg(f_z, "f_z", -64, 64))
    zs = zf - zf.max(axis=1, keepdims=True)
    lse = np.log(np.sum(np.exp(zs), axis=1))
    return float(np.sum(lse - zs[np.arange(z.shape[0]), lab]))
