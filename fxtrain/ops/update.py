"""SGD with momentum in fixed point: the FPL'19 three-step update and a classic form.

FPL'19 (the group's model; the on-chip batch is split into groups g):

- :func:`fpl19_accumulate` per group: ``V += round(G_g * lr_q)`` to f_V
- :func:`fpl19_apply` after the last group: ``W -= round(s_q * V)`` to f_W
- :func:`fpl19_decay` then: ``V = round(V * m_q)`` with m_q in Q16.16 (f_m = 16)

Each product is exact in int64 (operands are checked to fit 32 signed bits), rounded
once by ``rounding`` (default half_up: add the bit below the new LSB) and fitted to
``w`` bits by ``overflow`` (default wrap, the hardware's 16-bit two's complement); the
``+=``/``-=`` is exact and then fitted the same way. Every function returns
``(result, n_overflow)``: the number of elements that overflowed, summed over the
product's requantization and the add's. Stochastic rounding draws R(i) from ``key`` and
the element's row-major index i in the tensor being rounded (docs/numerics.md).

Worked example (accumulate, half_up, w = 16): V = 10 in Q16.20, G = 3 in Q16.10,
lr_q = 5 in Q16.11 -> product 15 with fraction 21 -> 7.5 at f_V = 20 -> 8 -> V = 18.
"""
from __future__ import annotations

import numpy as np

from numba import njit

from ..numerics import QFormat, requantize
from ..numerics._kernels import HALF_UP, STOCHASTIC, WRAP, fit, requant_value
from ..numerics.requant import requant_params
from ._validate import bounded, int_arg, int_array, same_shape

_M32 = 0xFFFFFFFF

_B32 = 32  # operands of the exact products: signed 32-bit


def _scalar(v, name: str) -> np.int64:
    return np.int64(int_arg(v, name, -(1 << 31), (1 << 31) - 1))


def _arr(x, name: str) -> np.ndarray:
    return bounded(int_array(x, name), name, _B32).astype(np.int64)


def _fit(x: np.ndarray, f: int, w: int, overflow: str) -> tuple[np.ndarray, int]:
    """Exact value already at fraction f: only the overflow step."""
    return requantize(x, f, QFormat(w, f), "floor", overflow, stats=True)


def fpl19_accumulate(V, G_g, lr_q, f_G: int, f_lr: int, f_V: int, rounding: str = "half_up",
                     overflow: str = "wrap", key: int | None = None, w: int = 16):
    """``V + round(G_g * lr_q)``, product rounded from fraction f_G + f_lr to f_V; returns
    (V_new in Q(w, f_V) storage dtype, n_overflow)."""
    V, G = _arr(V, "V"), _arr(G_g, "G_g")
    same_shape(V, G, "V", "G_g")
    inc, n1 = requantize(G * _scalar(lr_q, "lr_q"), int_arg(f_G, "f_G") + int_arg(f_lr, "f_lr"),
                         QFormat(w, f_V), rounding, overflow, key=key, stats=True)
    out, n2 = _fit(V + inc.astype(np.int64), f_V, w, overflow)
    return out, n1 + n2


def fpl19_apply(W, V, s_q, f_V: int, f_s: int, f_W: int, rounding: str = "half_up",
                overflow: str = "wrap", key: int | None = None, w: int = 16):
    """``W - round(s_q * V)``, product rounded from fraction f_V + f_s to f_W; returns
    (W_new in Q(w, f_W) storage dtype, n_overflow)."""
    W, V = _arr(W, "W"), _arr(V, "V")
    same_shape(W, V, "W", "V")
    dec, n1 = requantize(V * _scalar(s_q, "s_q"), int_arg(f_V, "f_V") + int_arg(f_s, "f_s"),
                         QFormat(w, f_W), rounding, overflow, key=key, stats=True)
    out, n2 = _fit(W - dec.astype(np.int64), f_W, w, overflow)
    return out, n1 + n2


def fpl19_decay(V, m_q, f_V: int = 0, rounding: str = "half_up", overflow: str = "wrap",
                key: int | None = None, w: int = 16, f_m: int = 16):
    """``round(V * m_q)`` back to V's fraction (a right shift by f_m = 16: m_q is Q16.16).

    ``f_V`` only names V's fraction (it is the same in and out, so the bits do not
    depend on it). Q16.16 holds m in [-0.5, 0.5): m = 0.5 saturates to 32767.
    Returns (V_new in Q(w, f_V) storage dtype, n_overflow).
    """
    V = _arr(V, "V")
    f_V = int_arg(f_V, "f_V")
    return requantize(V * _scalar(m_q, "m_q"), f_V + int_arg(f_m, "f_m"), QFormat(w, f_V),
                      rounding, overflow, key=key, stats=True)


@njit(cache=True, inline="always")
def _step_body(W, V, G, lr_q, s_acc, key_acc, s_q, s_app, key_app, m_q, key_dec,
               mode_m, ovf_m, w_m, mode_u, ovf_u, w_u, W_out, V_out):
    """Elementwise :func:`fpl19_step` on flat arrays (G is [groups, size]): one loop per
    group, then one for apply + decay, so each loop is a plain elementwise loop that LLVM
    vectorizes once the modes are constants. Returns (momentum, update) overflow counts."""
    groups, size = G.shape
    n_m = 0
    n_u = 0
    for i in range(size):
        V_out[i] = V[i]
    for g in range(groups):
        k = np.uint64(key_acc[g])
        for i in range(size):
            inc, o1 = requant_value(np.int64(G[g, i]) * lr_q, s_acc, mode_m, ovf_m, w_m, k,
                                    np.uint64(i))
            v, o2 = fit(np.int64(V_out[i]) + inc, w_m, ovf_m)
            V_out[i] = v
            n_m += o1 + o2
    ka, kd = np.uint64(key_app), np.uint64(key_dec)
    for i in range(size):
        v = np.int64(V_out[i])
        dec, o1 = requant_value(v * s_q, s_app, mode_u, ovf_u, w_u, ka, np.uint64(i))
        w_new, o2 = fit(np.int64(W[i]) - dec, w_u, ovf_u)
        W_out[i] = w_new
        v, o3 = requant_value(v * m_q, np.int64(16), mode_m, ovf_m, w_m, kd, np.uint64(i))
        V_out[i] = v
        n_u += o1 + o2
        n_m += o3
    return n_m, n_u


@njit(cache=True)
def _step_any(W, V, G, lr_q, s_acc, key_acc, s_q, s_app, key_app, m_q, key_dec,
              mode_m, ovf_m, w_m, mode_u, ovf_u, w_u, W_out, V_out):
    return _step_body(W, V, G, lr_q, s_acc, key_acc, s_q, s_app, key_app, m_q, key_dec,
                      mode_m, ovf_m, w_m, mode_u, ovf_u, w_u, W_out, V_out)


@njit(cache=True)
def _step_stochastic(W, V, G, lr_q, s_acc, key_acc, s_q, s_app, key_app, m_q, key_dec,
                     mode_m, ovf_m, w_m, mode_u, ovf_u, w_u, W_out, V_out):
    return _step_body(W, V, G, lr_q, s_acc, key_acc, s_q, s_app, key_app, m_q, key_dec,
                      STOCHASTIC, ovf_m, w_m, STOCHASTIC, ovf_u, w_u, W_out, V_out)


#: sr16's mode pair gets a loop compiled with the mode as a constant and fpl19's specs
#: their own branch-free loop (:func:`_step_fpl19`); any other pair runs the generic loop
#: (same bits). A half_up loop of the generic kind was dropped when fpl19 got its own:
#: it cost 12 s of compilation in every fresh environment for no preset.
_STEP = {(STOCHASTIC, STOCHASTIC): _step_stochastic}


@njit(cache=True, nogil=True, inline="always")
def _half_up_wrap16(x, s):
    """(wrap16(round_half_up(x * 2**-s)), overflowed) for int64 x, 1 <= s <= 62: the
    floor shift plus the bit below the new LSB (r >= 2**(s-1) exactly when bit s-1 of x
    is set), then the two's-complement 16-bit wrap, all branch-free."""
    v = (x >> s) + ((x >> (s - np.int64(1))) & np.int64(1))
    t = np.int64(np.int16(v))
    return t, np.int64(t != v)


@njit(cache=True, nogil=True)
def _step_fpl19(W, V, G, lr_q, s_acc, s_q, s_app, m_q, W_out, V_out):
    """:func:`_step_body` for fpl19's own specs (half_up and 16-bit wrap for momentum and
    update, shifts 1..62, int16 arrays): the same words and counts from branch-free loops
    that LLVM vectorizes (the generic loop's per-element mode, shift and overflow tests
    made the update ~8 ns an element, 0.7 ms of a cnn1x step)."""
    groups, size = G.shape
    n_m = np.int64(0)
    n_u = np.int64(0)
    for i in range(size):
        V_out[i] = V[i]
    for g in range(groups):
        for i in range(size):
            inc, o1 = _half_up_wrap16(np.int64(G[g, i]) * lr_q, s_acc)
            t = np.int64(V_out[i]) + inc
            v = np.int64(np.int16(t))
            V_out[i] = v
            n_m += o1 + np.int64(v != t)
    for i in range(size):
        v = np.int64(V_out[i])
        dec, o1 = _half_up_wrap16(v * s_q, s_app)
        t = np.int64(W[i]) - dec
        w_new = np.int64(np.int16(t))
        W_out[i] = w_new
        v2, o3 = _half_up_wrap16(v * m_q, np.int64(16))
        V_out[i] = v2
        n_u += o1 + np.int64(w_new != t)
        n_m += o3
    return n_m, n_u


def fpl19_step(W, V, grads, lr_q, s_q, m_q, f_G: int, f_lr: int, f_V: int, f_s: int, f_W: int,
               momentum: tuple, update: tuple, key_momentum: int = 0, key_update: int = 0):
    """One batch's whole FPL'19 update in one pass over the elements; returns
    ``(W_new, V_new, n_overflow_momentum, n_overflow_update)``.

    Equal, bit for bit and in its counts, to :func:`fpl19_accumulate` for each group g
    (key ``key_momentum + g * V.size``), then :func:`fpl19_apply` (key ``key_update``),
    then :func:`fpl19_decay` (key ``key_momentum + len(grads) * V.size``; f_m = 16), with
    ``momentum = (rounding, overflow, w)`` for accumulate and decay and ``update`` the same
    for apply (all keys mod 2**32). W, V and every G_g must share one shape and hold at
    most 32-bit integer dtypes; other arguments as in those functions.
    """
    mode_m, ovf_m, w_m = momentum
    mode_u, ovf_u, w_u = update
    W, V = int_array(W, "W"), int_array(V, "V")
    same_shape(W, V, "W", "V")
    gs = [int_array(G, f"grads[{g}]") for g, G in enumerate(grads)]
    for g, G in enumerate(gs):
        same_shape(V, G, "V", f"grads[{g}]")
    for name, a in [("W", W), ("V", V)] + [(f"grads[{g}]", G) for g, G in enumerate(gs)]:
        if a.dtype.itemsize > 4 or a.dtype == np.uint32:
            raise TypeError(f"fpl19_step: {name} must have an integer dtype of at most 32 signed "
                            f"bits, got {a.dtype}; use the three separate ops")
    f_G, f_lr, f_V, f_s, f_W = (int_arg(v, n) for v, n in ((f_G, "f_G"), (f_lr, "f_lr"),
                                                             (f_V, "f_V"), (f_s, "f_s"), (f_W, "f_W")))
    s_acc, mm, om = requant_params(f_G + f_lr, QFormat(int_arg(w_m, "w", 2, 32), f_V), mode_m, ovf_m,
                                   key_momentum)
    s_app, mu, ou = requant_params(f_V + f_s, QFormat(int_arg(w_u, "w", 2, 32), f_W), mode_u, ovf_u,
                                   key_update)
    requant_params(f_V + 16, QFormat(w_m, f_V), mode_m, ovf_m, key_momentum)
    size = V.size
    km = int_arg(key_momentum, "key_momentum", 0, _M32)
    keys = np.array([(km + g * size) & _M32 for g in range(len(gs))], dtype=np.int64)
    G = (np.stack([np.ascontiguousarray(G).reshape(-1) for G in gs]) if gs
         else np.zeros((0, size), dtype=np.int16))
    W_out = np.empty(size, dtype=QFormat(w_u, f_W).dtype)
    V_out = np.empty(size, dtype=QFormat(w_m, f_V).dtype)
    Wf, Vf = np.ascontiguousarray(W).reshape(-1), np.ascontiguousarray(V).reshape(-1)
    if (mm == mu == HALF_UP and om == ou == WRAP and w_m == w_u == 16 and 1 <= s_acc <= 62
            and 1 <= s_app <= 62 and Wf.dtype == Vf.dtype == G.dtype == np.int16):
        n_m, n_u = _step_fpl19(Wf, Vf, G, _scalar(lr_q, "lr_q"), np.int64(s_acc),
                               _scalar(s_q, "s_q"), np.int64(s_app), _scalar(m_q, "m_q"), W_out,
                               V_out)
        return W_out.reshape(W.shape), V_out.reshape(V.shape), int(n_m), int(n_u)
    kernel = _STEP.get((mm, mu), _step_any)
    n_m, n_u = kernel(np.ascontiguousarray(W).reshape(-1), np.ascontiguousarray(V).reshape(-1), G,
                           _scalar(lr_q, "lr_q"), np.int64(s_acc), keys, _scalar(s_q, "s_q"),
                           np.int64(s_app), np.int64(int_arg(key_update, "key_update", 0, _M32)),
                           _scalar(m_q, "m_q"), np.int64((km + len(gs) * size) & _M32),
                           np.int64(mm), np.int64(om), np.int64(w_m), np.int64(mu), np.int64(ou),
                           np.int64(w_u), W_out, V_out)
    return W_out.reshape(W.shape), V_out.reshape(V.shape), int(n_m), int(n_u)


def _align(x: np.ndarray, sh: int, what: str) -> np.ndarray:
    """``x * 2**sh`` (sh >= 0) exactly in int64, refusing results of 63 bits or more."""
    if sh == 0 or not x.size:
        return x
    top = max(abs(int(x.min())), abs(int(x.max())))
    if top.bit_length() + sh > 62:
        raise ValueError(f"sgd_momentum: aligning {what} by 2**{sh} needs more than 62 bits; "
                         "the fraction lengths are too far apart for exact int64 bookkeeping")
    return x << np.int64(sh)


def sgd_momentum(w, v, g, lr_q, m_q, f_w: int, f_v: int, f_g: int, f_lr: int, f_m: int = 16,
                 rounding: str = "half_up", overflow: str = "saturate",
                 key_v: int | None = None, key_w: int | None = None, bits: int = 16):
    """Classic momentum SGD, one rounding per state update:

    ``v' = round(m*v + g)`` to Q(bits, f_v): m_q*v (fraction f_m + f_v) and g (f_g) are
    aligned exactly to F1 = max(f_m + f_v, f_g), summed, rounded once (key_v).
    ``w' = round(w - lr*v')`` to Q(bits, f_w): w (f_w) and lr_q*v' (f_lr + f_v) aligned
    to F2 = max(f_w, f_lr + f_v), subtracted, rounded once (key_w).
    Returns (w', v', n_overflow_v, n_overflow_w), arrays in Q(bits, .) storage dtype.
    """
    w_, v_, g_ = _arr(w, "w"), _arr(v, "v"), _arr(g, "g")
    same_shape(w_, v_, "w", "v")
    same_shape(w_, g_, "w", "g")
    f_w, f_v, f_g = int_arg(f_w, "f_w"), int_arg(f_v, "f_v"), int_arg(f_g, "f_g")
    f_lr, f_m = int_arg(f_lr, "f_lr"), int_arg(f_m, "f_m")
    mv = v_ * _scalar(m_q, "m_q")
    f1 = max(f_m + f_v, f_g)
    t = _align(mv, f1 - f_m - f_v, "m*v") + _align(g_, f1 - f_g, "g")
    v_new, n_v = requantize(t, f1, QFormat(bits, f_v), rounding, overflow, key=key_v, stats=True)
    step = v_new.astype(np.int64) * _scalar(lr_q, "lr_q")
    f2 = max(f_w, f_lr + f_v)
    t = _align(w_, f2 - f_w, "w") - _align(step, f2 - f_lr - f_v, "lr*v")
    w_new, n_w = requantize(t, f2, QFormat(bits, f_w), rounding, overflow, key=key_w, stats=True)
    return w_new, v_new, n_v, n_w
