"""Float64 twins of the integer kernels, for the unquantized accuracy baseline.

Same definitions as fxtrain.ops (correlation form, zero padding, first-maximum pooling),
computed in float64 with im2col + GEMM. Not part of the bit-exact contract.
"""
from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ..ops._threads import RUNNER

#: images per tile; tiles fix the float summation order of WU whatever the thread count
TILE = 8


def _tiled(n: int, fn) -> list:
    """``[fn(n0, n1) for each tile]`` in tile order, tiles run on the ops' worker threads
    with BLAS held to one thread each (BLAS's own threads thrash on a busy 2-core box)."""
    tiles = [(n0, min(n, n0 + TILE)) for n0 in range(0, n, TILE)]
    parts = RUNNER.run(lambda part: [(t, fn(*t)) for t in part], tiles)
    return [r for _, r in sorted((item for part in parts for item in part), key=lambda tr: tr[0])]


def conv2d_fp(a, w, stride=1, pad=0):
    return np.concatenate(_tiled(len(a), lambda n0, n1: _conv2d_fp(a[n0:n1], w, stride, pad)))


def conv2d_bp(e, w, in_hw, stride=1, pad=0):
    return np.concatenate(_tiled(len(e), lambda n0, n1: _conv2d_bp(e[n0:n1], w, in_hw, stride, pad)))


def conv2d_wu(e, a, k, stride=1, pad=0):
    parts = _tiled(len(e), lambda n0, n1: _conv2d_wu(e[n0:n1], a[n0:n1], k, stride, pad))
    g = parts[0]
    for p in parts[1:]:
        g = g + p
    return g


def _im2col(a: np.ndarray, k: int, stride: int, pad: int) -> np.ndarray:
    """[N,C,H,W] -> [N, Ho, Wo, C*K*K] (a view when pad == 0)."""
    if pad:
        a = np.pad(a, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    win = sliding_window_view(a, (k, k), axis=(2, 3))[:, :, ::stride, ::stride]  # N,C,Ho,Wo,K,K
    n, c, ho, wo = win.shape[:4]
    return win.transpose(0, 2, 3, 1, 4, 5).reshape(n, ho, wo, c * k * k)


def _conv2d_fp(a, w, stride=1, pad=0):
    o, c, k, _ = w.shape
    cols = _im2col(a, k, stride, pad)
    y = cols @ w.reshape(o, -1).T  # N,Ho,Wo,O
    return np.ascontiguousarray(y.transpose(0, 3, 1, 2))


def _conv2d_wu(e, a, k, stride=1, pad=0):
    n, o, ho, wo = e.shape
    cols = _im2col(a, k, stride, pad)[:, :ho, :wo]
    g = e.transpose(1, 0, 2, 3).reshape(o, -1) @ cols.reshape(-1, cols.shape[-1])
    return g.reshape(o, a.shape[1], k, k)


def _conv2d_bp(e, w, in_hw, stride=1, pad=0):
    """col2im of e @ W: the adjoint of conv2d_fp."""
    n, o, ho, wo = e.shape
    _, c, k, _ = w.shape
    h, wd = in_hw
    if stride == 1 and pad <= k - 1 and (ho, wo) == (h + 2 * pad - k + 1, wd + 2 * pad - k + 1):
        # full correlation with the transposed, 180-degree-flipped kernel: one GEMM
        wt = np.ascontiguousarray(w.transpose(1, 0, 2, 3)[:, :, ::-1, ::-1])
        return _conv2d_fp(e, wt, 1, k - 1 - pad)
    cols = e.transpose(0, 2, 3, 1).reshape(-1, o) @ w.reshape(o, -1)  # (N*Ho*Wo, C*K*K)
    cols = cols.reshape(n, ho, wo, c, k, k)
    out = np.zeros((n, c, h + 2 * pad, wd + 2 * pad))
    for ky in range(k):
        for kx in range(k):
            out[:, :, ky:ky + stride * ho:stride, kx:kx + stride * wo:stride] += \
                cols[:, :, :, :, ky, kx].transpose(0, 3, 1, 2)
    return out[:, :, pad:pad + h, pad:pad + wd]


def maxpool_fp(a, k):
    n, c, h, w = a.shape
    ho, wo = h // k, w // k
    win = a[:, :, :ho * k, :wo * k].reshape(n, c, ho, k, wo, k).transpose(0, 1, 2, 4, 3, 5)
    win = win.reshape(n, c, ho, wo, k * k)
    arg = np.argmax(win, axis=-1)  # first maximum in row-major window order
    return np.take_along_axis(win, arg[..., None], -1)[..., 0], arg.astype(np.uint8)


def maxpool_bp(e, arg, in_hw, k):
    n, c, ho, wo = e.shape
    onehot = (np.arange(k * k) == arg[..., None]) * e[..., None]  # N,C,Ho,Wo,K*K
    blk = onehot.reshape(n, c, ho, wo, k, k).transpose(0, 1, 2, 4, 3, 5).reshape(n, c, ho * k, wo * k)
    out = np.zeros((n, c) + tuple(in_hw))
    out[:, :, :ho * k, :wo * k] = blk
    return out
