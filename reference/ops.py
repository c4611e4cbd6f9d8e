"""Oracle twins of the fxtrain ops (docs/ops.md), in plain Python ints, one element at a time.

Each function is the defining formula written as loops: the convolution BP is the sum
over every (o, ky, kx) that reaches an input position, not a flipped convolution; the
softmax table is found by integer bisection, not by floating point. numpy only carries
shapes and the returned arrays (int64 accumulators; the documented dtypes elsewhere).
Never imports fxtrain.
"""
from __future__ import annotations

import math

import numpy as np

from .numerics import overflow as fit_bits
from .numerics import random_word, requantize, round_shift


def _wrap(v: int, bits: int) -> int:
    return fit_bits(v, bits, "wrap")[0]


def _acc(total: int, acc_bits: int, counter: list) -> int:
    """An exact sum in an ``acc_bits`` accumulator: its wrap; ``counter[0]`` counts it when
    the sum, held in a 64-bit register (mod 2**64), does not fit ``acc_bits`` (a 64-bit
    accumulator never counts: for 16-bit operands no sum reaches 2**63)."""
    v64 = _wrap(total, 64)
    v = _wrap(v64, acc_bits)
    counter[0] += int(v != v64)
    return v


def _bias_start(bias_value: int, bias_shift: int, acc_bits: int) -> int:
    """The accumulator's starting value: bias << bias_shift wrapped to acc_bits."""
    return _wrap(bias_value * 2**bias_shift, acc_bits)


def _stats(out: np.ndarray, counter: list, stats: bool):
    return (out, counter[0]) if stats else out


def _saturate(v: int, bits: int) -> int:
    return fit_bits(v, bits, "saturate")[0]


def _storage(w: int):
    """Storage dtype of a w-bit word: int8 / int16 / int32."""
    return np.int8 if w <= 8 else np.int16 if w <= 16 else np.int32


def _lists(x):
    """(nested lists of Python ints, shape)."""
    arr = np.asarray(x)
    if arr.dtype.kind not in "iu":
        raise TypeError(f"expected integers, got dtype {arr.dtype}")
    return arr.tolist(), arr.shape


def _out_size(h: int, k: int, s: int, p: int) -> int:
    return (h + 2 * p - k) // s + 1


# ------------------------------------------------------------------ convolution

def conv2d_fp(a, w, stride=1, pad=0, acc_bits=32, bias=None, bias_shift=0, stats=False):
    """acc[n,o,y,x] = wrap(bias[o]*2**bias_shift) + sum_{c,ky,kx} a[n,c,yS+ky-P,xS+kx-P] *
    w[o,c,ky,kx], wrapped to acc_bits; ``stats``: (acc, elements that did not fit)."""
    A, (N, C, H, W) = _lists(a)
    Wt, (O, _, K, _) = _lists(w)
    B = _lists(bias)[0] if bias is not None else [0] * O
    S, P = stride, pad
    Ho, Wo = _out_size(H, K, S, P), _out_size(W, K, S, P)
    out = np.zeros((N, O, Ho, Wo), dtype=np.int64)
    cnt = [0]
    for n in range(N):
        for o in range(O):
            for y in range(Ho):
                for x in range(Wo):
                    total = _bias_start(B[o], bias_shift, acc_bits)
                    for c in range(C):
                        for ky in range(K):
                            for kx in range(K):
                                i, j = y * S + ky - P, x * S + kx - P
                                if 0 <= i < H and 0 <= j < W:
                                    total += A[n][c][i][j] * Wt[o][c][ky][kx]
                    out[n, o, y, x] = _acc(total, acc_bits, cnt)
    return _stats(out, cnt, stats)


def conv2d_bp(e, w, in_hw, stride=1, pad=0, acc_bits=32, stats=False):
    """e_in[n,c,i,j] = sum over (o,ky,kx) with i+P-ky = yS and j+P-kx = xS (0 <= y < Ho,
    0 <= x < Wo) of e[n,o,y,x] * w[o,c,ky,kx], wrapped to acc_bits (``stats`` as FP)."""
    E, (N, O, Ho, Wo) = _lists(e)
    Wt, (_, C, K, _) = _lists(w)
    H, W = in_hw
    S, P = stride, pad
    out = np.zeros((N, C, H, W), dtype=np.int64)
    cnt = [0]
    for n in range(N):
        for c in range(C):
            for i in range(H):
                for j in range(W):
                    total = 0
                    for o in range(O):
                        for ky in range(K):
                            for kx in range(K):
                                ys, xs = i + P - ky, j + P - kx  # = y*S and x*S
                                if ys % S or xs % S:
                                    continue
                                y, x = ys // S, xs // S
                                if 0 <= y < Ho and 0 <= x < Wo:
                                    total += E[n][o][y][x] * Wt[o][c][ky][kx]
                    out[n, c, i, j] = _acc(total, acc_bits, cnt)
    return _stats(out, cnt, stats)


def conv2d_wu(e, a, k, stride=1, pad=0, acc_bits=32, stats=False, groups=1):
    """g[o,c,ky,kx] = sum_{n,y,x} e[n,o,y,x] * a[n,c,yS+ky-P,xS+kx-P], wrapped to acc_bits
    (``stats`` as FP). ``groups`` > 1: one such sum per consecutive group of N/groups
    images, stacked [groups, O, C, k, k], the counts added."""
    if groups > 1:
        gs = len(e) // groups
        parts = [conv2d_wu(e[i * gs:(i + 1) * gs], a[i * gs:(i + 1) * gs], k, stride, pad,
                           acc_bits, True) for i in range(groups)]
        out = np.stack([g for g, _ in parts])
        return (out, sum(c for _, c in parts)) if stats else out
    E, (N, O, Ho, Wo) = _lists(e)
    A, (_, C, H, W) = _lists(a)
    S, P = stride, pad
    out = np.zeros((O, C, k, k), dtype=np.int64)
    cnt = [0]
    for o in range(O):
        for c in range(C):
            for ky in range(k):
                for kx in range(k):
                    total = 0
                    for n in range(N):
                        for y in range(Ho):
                            for x in range(Wo):
                                i, j = y * S + ky - P, x * S + kx - P
                                if 0 <= i < H and 0 <= j < W:
                                    total += E[n][o][y][x] * A[n][c][i][j]
                    out[o, c, ky, kx] = _acc(total, acc_bits, cnt)
    return _stats(out, cnt, stats)


# ------------------------------------------------------------------ fully connected

def linear_fp(a, w, acc_bits=32, bias=None, bias_shift=0, stats=False):
    """acc[n,o] = wrap(bias[o]*2**bias_shift) + sum_i a[n,i] * w[o,i], wrapped to acc_bits
    (``stats`` as conv2d_fp)."""
    A, (N, I) = _lists(a)
    Wt, (O, _) = _lists(w)
    B = _lists(bias)[0] if bias is not None else [0] * O
    out = np.zeros((N, O), dtype=np.int64)
    cnt = [0]
    for n in range(N):
        for o in range(O):
            total = _bias_start(B[o], bias_shift, acc_bits) + sum(A[n][i] * Wt[o][i] for i in range(I))
            out[n, o] = _acc(total, acc_bits, cnt)
    return _stats(out, cnt, stats)


def linear_bp(e, w, acc_bits=32, stats=False):
    """e_in[n,i] = sum_o e[n,o] * w[o,i], wrapped to acc_bits (``stats`` as conv2d_fp)."""
    E, (N, O) = _lists(e)
    Wt, (_, I) = _lists(w)
    out = np.zeros((N, I), dtype=np.int64)
    cnt = [0]
    for n in range(N):
        for i in range(I):
            out[n, i] = _acc(sum(E[n][o] * Wt[o][i] for o in range(O)), acc_bits, cnt)
    return _stats(out, cnt, stats)


def linear_wu(e, a, acc_bits=32, stats=False):
    """g[o,i] = sum_n e[n,o] * a[n,i], wrapped to acc_bits (``stats`` as conv2d_fp)."""
    E, (N, O) = _lists(e)
    A, (_, I) = _lists(a)
    out = np.zeros((O, I), dtype=np.int64)
    cnt = [0]
    for o in range(O):
        for i in range(I):
            out[o, i] = _acc(sum(E[n][o] * A[n][i] for n in range(N)), acc_bits, cnt)
    return _stats(out, cnt, stats)


# ------------------------------------------------------------------ relu and pooling

def relu_fp(x, rule="ge"):
    """(y, mask): mask = x >= 0 ("ge") or x > 0 ("gt") as uint8, y = x if mask else 0."""
    arr = np.asarray(x)
    y = np.zeros(arr.shape, dtype=arr.dtype)
    mask = np.zeros(arr.shape, dtype=np.uint8)
    for pos in np.ndindex(arr.shape):
        v = int(arr[pos])
        passes = v >= 0 if rule == "ge" else v > 0
        mask[pos] = 1 if passes else 0
        y[pos] = v if passes else 0
    return y, mask


def relu_bp(e, mask) -> np.ndarray:
    """e where mask != 0, else 0."""
    arr, m = np.asarray(e), np.asarray(mask)
    out = np.zeros(arr.shape, dtype=arr.dtype)
    for pos in np.ndindex(arr.shape):
        out[pos] = int(arr[pos]) if int(m[pos]) != 0 else 0
    return out


def maxpool_fp(a, k):
    """(max of each k x k window, ky*k + kx of its first maximum in row-major order)."""
    arr = np.asarray(a)
    N, C, H, W = arr.shape
    y = np.zeros((N, C, H // k, W // k), dtype=arr.dtype)
    arg = np.zeros(y.shape, dtype=np.uint8)
    for n, c, oy, ox in np.ndindex(y.shape):
        best, best_at = None, None
        for ky in range(k):
            for kx in range(k):
                v = int(arr[n, c, oy * k + ky, ox * k + kx])
                if best is None or v > best:
                    best, best_at = v, ky * k + kx
        y[n, c, oy, ox] = best
        arg[n, c, oy, ox] = best_at
    return y, arg


def maxpool_bp(e, argmax, in_hw, k) -> np.ndarray:
    """Zeros of [N, C, H, W] with e[n,c,oy,ox] at row oy*k + idx//k, col ox*k + idx%k."""
    arr, idx = np.asarray(e), np.asarray(argmax)
    N, C = arr.shape[:2]
    out = np.zeros((N, C, in_hw[0], in_hw[1]), dtype=arr.dtype)
    for n, c, oy, ox in np.ndindex(arr.shape):
        i = int(idx[n, c, oy, ox])
        out[n, c, oy * k + i // k, ox * k + i % k] = int(arr[n, c, oy, ox])
    return out


# ------------------------------------------------------------------ losses

def squared_hinge_grad(z, t_pm1, f_z, w=16) -> np.ndarray:
    """t_q = +-2**f_z saturated to w bits; grad = wrap_w(z - t_q), or 0 where z*t >= 2**f_z."""
    zs, ts = np.asarray(z), np.asarray(t_pm1)
    out = np.zeros(zs.shape, dtype=_storage(w))
    one = 2**f_z
    for pos in np.ndindex(zs.shape):
        zv, t = int(zs[pos]), int(ts[pos])
        if zv * t >= one:
            out[pos] = 0
        else:
            out[pos] = _wrap(zv - _saturate(t * one, w), w)
    return out


def mse_grad(z, t_q, w=16) -> np.ndarray:
    """wrap_w(z - t_q)."""
    zs, ts = np.asarray(z), np.asarray(t_q)
    out = np.zeros(zs.shape, dtype=_storage(w))
    for pos in np.ndindex(zs.shape):
        out[pos] = _wrap(int(zs[pos]) - int(ts[pos]), w)
    return out


LOG2E_Q16 = round(2**16 / math.log(2))  # log2(e) = 1/ln 2 -> 94548
EXP_FRAC = 8                              # fraction bits of the base-2 exponent
LUT_BITS = 30                             # 2**0 is 2**30 in the table
U_MAX = (LUT_BITS + 1) * 2**EXP_FRAC      # exponents from here on give 0


def _nearest_power_of_two_root(j: int) -> int:
    """The integer q nearest to x = 2**(30 - j/256), by bisection on the exact test
    (2q - 1)**256 < 2**256 * x**256 = 2**(7936 - j): q is the largest such integer."""
    target = 2 ** (256 * (LUT_BITS + 1) - j)
    lo, hi = 1, 2 ** (LUT_BITS + 1)  # (2*1 - 1)**256 < target <= (2*hi - 1)**256
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if (2 * mid - 1) ** 256 < target:
            lo = mid
        else:
            hi = mid
    return lo


EXP2_LUT = [_nearest_power_of_two_root(j) for j in range(2**EXP_FRAC)]


def _softmax_row(row: list, f_z: int, f_out: int) -> list:
    m = max(row)
    es = []
    for zv in row:
        t = (m - zv) * LOG2E_Q16            # fraction f_z + 16
        u = round_shift(t, f_z + 16 - EXP_FRAC, "half_up")
        u = min(u, U_MAX)
        es.append(EXP2_LUT[u % 2**EXP_FRAC] // 2 ** (u // 2**EXP_FRAC))
    total = sum(es)
    # round_half_up(e * 2**f_out / total) = floor(e * 2**f_out / total + 1/2)
    return [(2 * e * 2**f_out + total) // (2 * total) for e in es]


def softmax_q(z, f_z, f_out) -> np.ndarray:
    """Integer softmax rows in Q(., f_out) (docs/ops.md steps 1-6)."""
    Z, (N, K) = _lists(z)
    return np.array([_softmax_row(Z[n], f_z, f_out) for n in range(N)],
                    dtype=np.int64).reshape(N, K)


def softmax_xent_grad(z, labels, f_z, fmt_out) -> np.ndarray:
    """saturate_w(p_k - 2**f_out * [k == label]) with p = softmax_q(z, f_z, fmt_out.f)."""
    Z, (N, K) = _lists(z)
    labs = _lists(labels)[0]
    w, f_out = fmt_out.w, fmt_out.f
    out = np.zeros((N, K), dtype=_storage(w))
    for n in range(N):
        p = _softmax_row(Z[n], f_z, f_out)
        for k in range(K):
            out[n, k] = _saturate(p[k] - (2**f_out if k == labs[n] else 0), w)
    return out


# ------------------------------------------------------------------ momentum updates

def _flat(x) -> list:
    return [int(v) for v in np.asarray(x).flat]


def _product_then_add(base, x, c, f_src, f_dst, sign, rounding, overflow_mode, key, w):
    """fit_w(base + sign * round(x * c from f_src to f_dst)); returns (array, n_overflow)."""
    shape = np.asarray(x).shape
    rounded, n1 = requantize([v * c for v in _flat(x)], f_src, w, f_dst, rounding,
                             overflow_mode, key=key)
    out = np.zeros(shape, dtype=_storage(w))
    n2 = 0
    for pos, b, r in zip(np.ndindex(shape), _flat(base), rounded.flat):
        y, over = fit_bits(b + sign * int(r), w, overflow_mode)
        out[pos] = y
        n2 += over
    return out, n1 + n2


def fpl19_accumulate(V, G_g, lr_q, f_G, f_lr, f_V, rounding="half_up", overflow="wrap",
                     key=None, w=16):
    """(fit_w(V + round(G_g * lr_q, f_G + f_lr -> f_V)), n_overflow)."""
    return _product_then_add(V, G_g, lr_q, f_G + f_lr, f_V, +1, rounding, overflow, key, w)


def fpl19_apply(W, V, s_q, f_V, f_s, f_W, rounding="half_up", overflow="wrap", key=None, w=16):
    """(fit_w(W - round(s_q * V, f_V + f_s -> f_W)), n_overflow)."""
    return _product_then_add(W, V, s_q, f_V + f_s, f_W, -1, rounding, overflow, key, w)


def fpl19_decay(V, m_q, f_V=0, rounding="half_up", overflow="wrap", key=None, w=16, f_m=16):
    """(round(V * m_q, f_V + f_m -> f_V) fitted to w bits, n_overflow)."""
    shape = np.asarray(V).shape
    vals, n = requantize([v * m_q for v in _flat(V)], f_V + f_m, w, f_V, rounding, overflow,
                         key=key)
    return np.array(vals, dtype=_storage(w)).reshape(shape), n


def _round_fit(vals: list, s: int, rounding: str, overflow_mode: str, key, w: int):
    out, n = [], 0
    for i, v in enumerate(vals):
        word = random_word(key, i) if rounding == "stochastic" else None
        y, over = fit_bits(round_shift(v, s, rounding, word), w, overflow_mode)
        out.append(y)
        n += over
    return out, n


def sgd_momentum(w, v, g, lr_q, m_q, f_w, f_v, f_g, f_lr, f_m=16, rounding="half_up",
                 overflow="saturate", key_v=None, key_w=None, bits=16):
    """v' = round(m*v + g) to f_v, then w' = round(w - lr*v') to f_w, one rounding each,
    with every term taken exactly at the finer fraction of the two being added."""
    shape = np.asarray(w).shape
    W, Vs, G = _flat(w), _flat(v), _flat(g)
    f1 = max(f_m + f_v, f_g)
    t = [m_q * vv * 2 ** (f1 - f_m - f_v) + gg * 2 ** (f1 - f_g) for vv, gg in zip(Vs, G)]
    v_new, n_v = _round_fit(t, f1 - f_v, rounding, overflow, key_v, bits)
    f2 = max(f_w, f_lr + f_v)
    t = [ww * 2 ** (f2 - f_w) - lr_q * vv * 2 ** (f2 - f_lr - f_v) for ww, vv in zip(W, v_new)]
    w_new, n_w = _round_fit(t, f2 - f_w, rounding, overflow, key_w, bits)
    dt = _storage(bits)
    return (np.array(w_new, dtype=dt).reshape(shape), np.array(v_new, dtype=dt).reshape(shape),
            n_v, n_w)


# ------------------------------------------------------------------ fused compositions
# The engine fuses some op chains into one pass for speed; their twins are the chains.

def conv2d_fp_requant(a, w, f_src, fmt, rounding, overflow="saturate", key=None, stride=1, pad=0,
                      acc_bits=32, bias=None, bias_shift=0, acc_stats=False):
    """(requantize(conv2d_fp(...), f_src -> Q(fmt.w, fmt.f)) in fmt's storage dtype, n_overflow),
    plus conv2d_fp's accumulator count with ``acc_stats``."""
    acc, n_acc = conv2d_fp(a, w, stride, pad, acc_bits, bias, bias_shift, stats=True)
    y, n = requantize(acc, f_src, fmt.w, fmt.f, rounding, overflow, key=key)
    return (y.astype(_storage(fmt.w)), n) + ((n_acc,) if acc_stats else ())


def conv2d_bp_requant(e, w, in_hw, f_src, fmt, rounding, overflow="saturate", key=None, stride=1,
                      pad=0, acc_bits=32, acc_stats=False):
    """(requantize(conv2d_bp(...), f_src -> Q(fmt.w, fmt.f)) in fmt's storage dtype, n_overflow),
    plus conv2d_bp's accumulator count with ``acc_stats``."""
    acc, n_acc = conv2d_bp(e, w, in_hw, stride, pad, acc_bits, stats=True)
    y, n = requantize(acc, f_src, fmt.w, fmt.f, rounding, overflow, key=key)
    return (y.astype(_storage(fmt.w)), n) + ((n_acc,) if acc_stats else ())


def conv2d_fp_requant_relu(a, w, f_src, fmt, rounding, overflow="saturate", key=None, stride=1,
                           pad=0, acc_bits=32, rule="ge", acc_stats=False):
    """(y, mask, n_overflow[, n_acc]): conv2d_fp_requant, then relu_fp on its words."""
    pre, *counts = conv2d_fp_requant(a, w, f_src, fmt, rounding, overflow, key, stride, pad,
                                     acc_bits, acc_stats=acc_stats)
    return relu_fp(pre, rule) + tuple(counts)


def conv2d_bp_requant_mask(e, w, in_hw, mask, f_src, fmt, rounding, overflow="saturate", key=None,
                           stride=1, pad=0, acc_bits=32, acc_stats=False):
    """(relu_bp(e_in, mask), n_overflow[, n_acc]) with e_in from conv2d_bp_requant."""
    e_in, *counts = conv2d_bp_requant(e, w, in_hw, f_src, fmt, rounding, overflow, key, stride,
                                      pad, acc_bits, acc_stats=acc_stats)
    return (relu_bp(e_in, mask),) + tuple(counts)


def maxpool_bp_mask(e, argmax, in_hw, k, mask):
    """relu_bp(maxpool_bp(e, argmax, in_hw, k), mask)."""
    return relu_bp(maxpool_bp(e, argmax, in_hw, k), mask)


def fpl19_step(W, V, grads, lr_q, s_q, m_q, f_G, f_lr, f_V, f_s, f_W, momentum, update,
               key_momentum=0, key_update=0):
    """The whole update of one batch: fpl19_accumulate per group g (key key_momentum +
    g * size), fpl19_apply (key_update), fpl19_decay (key key_momentum + groups * size);
    ``momentum``/``update`` = (rounding, overflow, w). Returns (W, V, n_momentum, n_update)."""
    r_m, o_m, w_m = momentum
    r_u, o_u, w_u = update
    size = int(np.asarray(V).size)
    n_m = 0
    for g, G in enumerate(grads):
        V, n = fpl19_accumulate(V, G, lr_q, f_G, f_lr, f_V, r_m, o_m, (key_momentum + g * size) % 2**32, w_m)
        n_m += n
    W, n_u = fpl19_apply(W, V, s_q, f_V, f_s, f_W, r_u, o_u, key_update, w_u)
    V, n = fpl19_decay(V, m_q, f_V, r_m, o_m, (key_momentum + len(grads) * size) % 2**32, w_m)
    return W, V, n_m + n, n_u
