"""Losses at the network level: the fixed-point gradient (an fxtrain.ops kernel) and a
float64 loss value for metrics.

- ``squared_hinge``: targets +-1 (one-vs-all); gradient ``z - t`` where ``z*t < 1``, else 0
  (the factor 2 of the derivative is folded into the learning rate, as in FPL'19);
  loss ``sum_k max(0, 1 - z_k t_k)**2``.
- ``mse``: gradient ``z - t`` with +-1 targets; loss ``sum_k (z_k - t_k)**2 / 2``.
- ``softmax_xent``: gradient ``softmax(z) - onehot`` (integer exp2-table approximation in
  fixed point, see docs/ops.md); loss ``-log softmax(z)[label]``.
"""
from __future__ import annotations

import numpy as np

from .. import ops
from ..numerics import dequantize
from .recipe import TensorSpec

LOSSES = ("squared_hinge", "mse", "softmax_xent")


def targets_pm1(labels: np.ndarray, k: int) -> np.ndarray:
    t = -np.ones((len(labels), k), dtype=np.int8)
    t[np.arange(len(labels)), labels] = 1
    return t


def _float_loss(loss: str, z: np.ndarray, labels: np.ndarray, k: int):
    t = targets_pm1(labels, k).astype(np.float64)
    if loss == "squared_hinge":
        m = np.maximum(0.0, 1.0 - z * t)
        return (z - t) * (m > 0), float(np.sum(m * m))
    if loss == "mse":
        return z - t, float(np.sum((z - t) ** 2) / 2)
    zs = z - z.max(axis=1, keepdims=True)
    p = np.exp(zs)
    p /= p.sum(axis=1, keepdims=True)
    onehot = (t > 0).astype(np.float64)
    return p - onehot, float(-np.sum(np.log(np.maximum(p[t > 0], 1e-300))))


def check_labels(labels, k: int, n: int | None = None) -> np.ndarray:
    """``labels`` as int64 class indices in [0, k) (and ``n`` of them if given), or a
    ValueError that names what is wrong: floats, bools or out-of-range values are refused,
    never truncated or used as masks."""
    a = np.asarray(labels)
    if a.dtype.kind not in "iu":
        raise ValueError(f"labels must be integer class indices, got dtype {a.dtype}"
                         + (" (bool labels would be read as a mask)" if a.dtype.kind == "b" else ""))
    if a.ndim != 1 or (n is not None and a.shape[0] != n):
        want = f"[{n}]" if n is not None else "[N]"
        raise ValueError(f"labels must have shape {want}, got {list(a.shape)}")
    if a.size and (int(a.min()) < 0 or int(a.max()) >= k):
        raise ValueError(f"labels must lie in [0, {k}), got range [{int(a.min())}, {int(a.max())}]")
    return a.astype(np.int64, copy=False)


def loss_and_grad(loss: str, z, labels, k: int, spec: TensorSpec | None):
    """(gradient, summed loss). ``spec`` is the logits' spec (None in float64 mode)."""
    if loss not in LOSSES:
        raise ValueError(f"unknown loss {loss!r}; expected one of {LOSSES}")
    labels = check_labels(labels, k)
    if spec is None:
        return _float_loss(loss, z, labels, k)
    zf = dequantize(z, spec.fmt)
    _, value = _float_loss(loss, zf, labels, k)
    t = targets_pm1(labels, k)
    if loss == "squared_hinge":
        g = ops.squared_hinge_grad(z, t, spec.f, spec.fmt.w)
    elif loss == "mse":
        tq = t.astype(np.int64) << spec.f
        g = ops.mse_grad(z, tq, spec.fmt.w)
    else:
        g = ops.softmax_xent_grad(z, labels, spec.f, spec.fmt)
    return g, value
