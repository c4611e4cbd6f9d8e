"""2-D convolution in fixed point: forward (FP), input gradient (BP), weight gradient (WU).

Correlation form, square kernel K, stride S, zero padding P (docs/ops.md):

- FP  ``acc[n,o,y,x] = sum_{c,ky,kx} a[n,c,yS+ky-P, xS+kx-P] * w[o,c,ky,kx]``
  (+ ``bias[o] << bias_shift``), Ho = (H + 2P - K)//S + 1, Wo likewise.
- BP  ``e_in[n,c,i,j] = sum over (o,ky,kx) with i+P-ky = yS, j+P-kx = xS of
  e[n,o,y,x] * w[o,c,ky,kx]`` (0 <= y < Ho, 0 <= x < Wo). When (H + 2P - K) % S != 0
  the last input rows/cols no window reaches get only what they receive (possibly 0).
- WU  ``g[o,c,ky,kx] = sum_{n,y,x} e[n,o,y,x] * a[n,c,yS+ky-P, xS+kx-P]``.

Out-of-range input positions read as 0. Products are exact; every result is the exact
sum wrapped to ``acc_bits`` (two's complement, default 32), returned as int64. The
caller requantizes (fxtrain.numerics.requantize). Computed as im2col + exact float64
GEMM (+ col2im for BP); wrap makes the summation order irrelevant.
"""
from __future__ import annotations

import numpy as np

from . import _conv_kernels as CK
from ._gemm import exact_matmul, operand_dtype
from ._validate import acc_bits_arg, bias_terms, hw_arg, int_arg, int_array, max_abs


def _geometry(h: int, w: int, k: int, stride, pad) -> tuple[int, int, int, int]:
    s = int_arg(stride, "stride", 1)
    p = int_arg(pad, "pad", 0)
    if h + 2 * p < k or w + 2 * p < k:
        raise ValueError(f"kernel {k}x{k} does not fit the padded input {h + 2 * p}x{w + 2 * p} "
                         f"(H={h}, W={w}, pad={p})")
    return s, p, (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1


def _weights(w) -> np.ndarray:
    w = int_array(w, "w", 4)
    if w.shape[2] != w.shape[3] or w.shape[2] < 1:
        raise ValueError(f"w must be [O, C, K, K] with a square kernel, got shape {w.shape}")
    return w


def _columns(a: np.ndarray, k: int, s: int, p: int, ho: int, wo: int, dtype) -> np.ndarray:
    n, c = a.shape[:2]
    cols = np.empty((c * k * k, n * ho * wo), dtype=dtype)
    CK.im2col(np.ascontiguousarray(a), k, s, p, ho, wo, cols)
    return cols


def conv2d_fp(a, w, stride: int = 1, pad: int = 0, acc_bits: int = 32, bias=None,
              bias_shift: int = 0) -> np.ndarray:
    """Forward accumulators, int64 [N, O, Ho, Wo], wrapped to ``acc_bits``.

    ``a`` [N, C, H, W] and ``w`` [O, C, K, K] are integer arrays (any int dtype up to
    int64). ``bias`` [O] (optional) enters as ``bias << bias_shift``, bias_shift >= 0,
    i.e. aligned to the product fraction f_a + f_w. Example: a = 1s of shape
    [1,1,3,3], w = 1s of [1,1,3,3], pad=1 -> acc[0,0] = [[4,6,4],[6,9,6],[4,6,4]].
    """
    acc_bits = acc_bits_arg(acc_bits)
    a = int_array(a, "a", 4)
    w = _weights(w)
    n, c, h, wd = a.shape
    o, cw, k, _ = w.shape
    if cw != c:
        raise ValueError(f"w has {cw} input channels but a has {c} (a {a.shape}, w {w.shape})")
    s, p, ho, wo = _geometry(h, wd, k, stride, pad)
    b = bias_terms(bias, bias_shift, o, acc_bits)
    amax, wmax = max_abs(a), max_abs(w)
    dt = operand_dtype(wmax, amax)
    cols = _columns(a, k, s, p, ho, wo, dt)
    r = exact_matmul(w.reshape(o, c * k * k).astype(dt), cols, wmax, amax)
    out = np.empty((n, o, ho, wo), dtype=np.int64)
    CK.rows_to_nchw(r, b, acc_bits, out)
    return out


def _grad_rows(e: np.ndarray, dtype) -> np.ndarray:
    n, o, ho, wo = e.shape
    rows = np.empty((o, n * ho * wo), dtype=dtype)
    CK.nchw_to_rows(np.ascontiguousarray(e), rows)
    return rows


def conv2d_bp(e, w, in_hw, stride: int = 1, pad: int = 0, acc_bits: int = 32) -> np.ndarray:
    """Input-gradient accumulators, int64 [N, C, H, W], wrapped to ``acc_bits``.

    ``e`` [N, O, Ho, Wo] must have the FP output size of an input of size ``in_hw``
    = (H, W). Computed as the transposed GEMM ``w^T e`` then col2im (scatter-add),
    which equals the module formula's sum over the (o, ky, kx) that reach (i, j).
    """
    acc_bits = acc_bits_arg(acc_bits)
    e = int_array(e, "e", 4)
    w = _weights(w)
    h, wd = hw_arg(in_hw)
    n, o, ho, wo = e.shape
    ow, c, k, _ = w.shape
    if ow != o:
        raise ValueError(f"w has {ow} output channels but e has {o} (e {e.shape}, w {w.shape})")
    s, p, ho_x, wo_x = _geometry(h, wd, k, stride, pad)
    if (ho, wo) != (ho_x, wo_x):
        raise ValueError(f"e is {ho}x{wo} but an input of {h}x{wd} with K={k}, stride={s}, "
                         f"pad={p} gives {ho_x}x{wo_x}")
    emax, wmax = max_abs(e), max_abs(w)
    dt = operand_dtype(wmax, emax)
    wt = np.ascontiguousarray(w.reshape(o, c * k * k).T).astype(dt)
    d = exact_matmul(wt, _grad_rows(e, dt), wmax, emax)
    out = np.zeros((n, c, h, wd), dtype=np.int64)
    CK.col2im(d, k, s, p, ho, wo, acc_bits, out)
    return out


def conv2d_wu(e, a, k: int, stride: int = 1, pad: int = 0, acc_bits: int = 32) -> np.ndarray:
    """Weight-gradient accumulators, int64 [O, C, K, K], wrapped to ``acc_bits``.

    Sums over the whole batch of ``e`` [N, O, Ho, Wo] and ``a`` [N, C, H, W]; split the
    batch yourself for per-group gradients (each group's sum is wrapped on its own).
    """
    acc_bits = acc_bits_arg(acc_bits)
    e = int_array(e, "e", 4)
    a = int_array(a, "a", 4)
    k = int_arg(k, "k", 1)
    n, o, ho, wo = e.shape
    na, c, h, wd = a.shape
    if na != n:
        raise ValueError(f"e has batch {n} but a has batch {na}")
    s, p, ho_x, wo_x = _geometry(h, wd, k, stride, pad)
    if (ho, wo) != (ho_x, wo_x):
        raise ValueError(f"e is {ho}x{wo} but a {h}x{wd} with K={k}, stride={s}, pad={p} "
                         f"gives {ho_x}x{wo_x}")
    emax, amax = max_abs(e), max_abs(a)
    dt = operand_dtype(emax, amax)
    cols = _columns(a, k, s, p, ho, wo, dt)
    r = exact_matmul(_grad_rows(e, dt), cols.T, emax, amax)
    out = np.empty((o, c * k * k), dtype=np.int64)
    CK.wrap_matrix(r, acc_bits, out)
    return out.reshape(o, c, k, k)
