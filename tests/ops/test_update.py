"""Directed momentum-update cases: worked roundings, 16-bit wrap with overflow counts,
stochastic keys, and the classic form's exact fraction bookkeeping."""
import numpy as np
import pytest

import fxtrain.ops as O
from ops_check import check_op


def test_accumulate_worked_example():
    # G * lr = 15 at fraction 10 + 11 = 21 -> 7.5 at f_V = 20 -> half_up 8; V = 10 + 8
    v, n = check_op("fpl19_accumulate", np.array([10], np.int16), np.array([3], np.int16), 5, 10, 11, 20)
    assert (v.tolist(), n) == ([18], 0)
    v, _ = check_op("fpl19_accumulate", np.array([10]), np.array([-3]), 5, 10, 11, 20)
    assert v.tolist() == [3]  # -7.5 rounds half up to -7


def test_accumulate_wraps_and_counts():
    v, n = check_op("fpl19_accumulate", np.array([32767, 0], np.int16), np.array([1, 1], np.int16),
                    1, 0, 0, 0)
    assert (v.tolist(), n) == ([-32768, 1], 1)
    v, n = check_op("fpl19_accumulate", np.array([32767, 0], np.int16), np.array([1, 1], np.int16),
                    1, 0, 0, 0, overflow="saturate")
    assert (v.tolist(), n) == ([32767, 1], 1)


def test_apply_and_decay_worked_examples():
    # s_q * V = 3 * 5 = 15 at fraction 4 + 1 = 5 -> f_W 4: 7.5 -> 8; W = 100 - 8
    w, n = check_op("fpl19_apply", np.array([100], np.int16), np.array([5], np.int16), 3, 4, 1, 4)
    assert (w.tolist(), n) == ([92], 0)
    # m_q = 0.5 in Q16.16 would be 32768, which saturates to 32767 in 16 bits (constants' job);
    # the kernel takes any 32-bit m_q: -3 * 0.5 = -1.5 -> half_up -1
    v, n = check_op("fpl19_decay", np.array([-3, 3], np.int16), 1 << 15, 19)
    assert (v.tolist(), n) == ([-1, 2], 0)


def test_stochastic_depends_on_key_and_matches_oracle():
    g = np.arange(-40, 40, dtype=np.int16).reshape(8, 10)
    v = np.zeros_like(g)
    outs = {check_op("fpl19_accumulate", v, g, 3, 10, 10, 18, rounding="stochastic", key=k)[0].tobytes()
            for k in (1, 2, 3)}
    assert len(outs) > 1
    with pytest.raises(ValueError, match="key"):
        O.fpl19_accumulate(v, g, 3, 10, 10, 18, rounding="stochastic")


def test_sgd_momentum_single_rounding():
    # v' = 0.5 * v + g: v = 3 (Q.4), m = 0.5 (Q.16: 32768), g = 1 (Q.4) -> 1.5/16 + 1/16 ... in
    # units of 2**-4: 1.5 + 1 = 2.5 -> half_up 3; w' = w - lr * v' with lr = 1 (Q.0): 10 - 3
    w, v, nv, nw = check_op("sgd_momentum", np.array([10]), np.array([3]), np.array([1]),
                            1, 1 << 15, 4, 4, 4, 0)
    assert (w.tolist(), v.tolist(), nv, nw) == ([7], [3], 0, 0)


def test_sgd_momentum_refuses_inexact_bookkeeping():
    with pytest.raises(ValueError, match="too far apart"):
        O.sgd_momentum(np.array([1 << 14]), np.array([1]), np.array([1]), 1, 1, 0, 50, 0, 0)


@pytest.mark.parametrize("call,err,match", [
    (lambda: O.fpl19_accumulate(np.zeros(2, np.int16), np.zeros(3, np.int16), 1, 0, 0, 0),
     ValueError, "shape"),
    (lambda: O.fpl19_accumulate(np.zeros(2, np.int16), np.zeros(2, np.int16), 1 << 31, 0, 0, 0),
     ValueError, "lr_q"),
    (lambda: O.fpl19_apply(np.zeros(2, np.int64), np.array([1 << 40, 0]), 1, 0, 0, 0),
     ValueError, "32-bit"),
    (lambda: O.fpl19_decay(np.zeros(2, np.int16), 1.5), TypeError, "m_q"),
    (lambda: O.fpl19_decay(np.zeros(2, np.int16), 3, rounding="nearest"), ValueError, "rounding"),
])
def test_bad_arguments_are_refused(call, err, match):
    with pytest.raises(err, match=match):
        call()


@pytest.mark.parametrize("trial", range(12))
def test_fpl19_step_equals_the_three_ops(trial):
    # the one-pass update == accumulate per group, apply, decay: words and overflow counts.
    # Trials 0-3 use the presets' mode pairs (half_up: fpl19's loop where its other specs
    # hold; stochastic: a loop of its own).
    from fxtrain.numerics.formats import OVERFLOW_MODES, ROUNDING_MODES
    rng = np.random.default_rng(100 + trial)
    shape = tuple(int(v) for v in rng.integers(1, 6, size=int(rng.integers(1, 4))))
    w_m = w_u = 16  # the network's dtypes: other ones would only add compilations
    dt = {8: np.int8, 16: np.int16, 24: np.int32}
    lim_m, lim_u = 1 << (w_m - 1), 1 << (w_u - 1)
    V = rng.integers(-lim_m, lim_m, shape).astype(dt[w_m])
    W = rng.integers(-lim_u, lim_u, shape).astype(dt[w_u])
    grads = [rng.integers(-(1 << 15), 1 << 15, shape).astype(np.int16)
             for _ in range(int(rng.integers(0, 4)))]
    r_m, r_u = str(rng.choice(ROUNDING_MODES)), str(rng.choice(ROUNDING_MODES))
    if trial < 4:
        r_m = r_u = ("half_up", "stochastic")[trial % 2]
    mom = (r_m, str(rng.choice(OVERFLOW_MODES)), w_m)
    upd = (r_u, str(rng.choice(OVERFLOW_MODES)), w_u)
    lr_q, s_q, m_q = (int(v) for v in rng.integers(-(1 << 15), 1 << 15, 3))
    f_G, f_lr, f_V, f_s, f_W = (int(v) for v in rng.integers(-4, 24, 5))
    km, ku = (int(v) for v in rng.integers(0, 1 << 32, 2))
    _check_step(W, V, grads, lr_q, s_q, m_q, f_G, f_lr, f_V, f_s, f_W, mom, upd, km, ku)


@pytest.mark.parametrize("trial", range(6))
def test_fpl19_step_fast_loop_equals_the_three_ops(trial, monkeypatch):
    # fpl19's own specs (half_up, 16-bit wrap, positive shifts) take the branch-free loop:
    # full-range words, so that products, sums and decays overflow on purpose
    from fxtrain.ops import update as U
    calls = []
    fast = U._step_fpl19
    monkeypatch.setattr(U, "_step_fpl19", lambda *a: calls.append(1) or fast(*a))
    rng = np.random.default_rng(200 + trial)
    shape = (int(rng.integers(1, 40)), int(rng.integers(1, 40)))
    V, W = (rng.integers(-(1 << 15), 1 << 15, shape).astype(np.int16) for _ in range(2))
    grads = [rng.integers(-(1 << 15), 1 << 15, shape).astype(np.int16)
             for _ in range(int(rng.integers(1, 4)))]
    lr_q, s_q, m_q = (int(v) for v in rng.integers(-(1 << 15), 1 << 15, 3))
    f_G, f_lr, f_V, f_s, f_W = (int(v) for v in rng.integers(1, 24, 5))
    f_V = min(f_V, f_G + f_lr - 1)
    f_W = min(f_W, f_V + f_s - 1)
    spec = ("half_up", "wrap", 16)
    _check_step(W, V, grads, lr_q, s_q, m_q, f_G, f_lr, f_V, f_s, f_W, spec, spec, 0, 0)
    assert calls == [1]


def _check_step(W, V, grads, lr_q, s_q, m_q, f_G, f_lr, f_V, f_s, f_W, mom, upd, km, ku):
    w_m, w_u = mom[2], upd[2]
    Wn, Vn, n_m, n_u = O.fpl19_step(W, V, grads, lr_q, s_q, m_q, f_G, f_lr, f_V, f_s, f_W, mom, upd, km, ku)
    v, want_m = V, 0
    for g, G in enumerate(grads):
        v, n = O.fpl19_accumulate(v, G, lr_q, f_G, f_lr, f_V, mom[0], mom[1], (km + g * V.size) & 0xFFFFFFFF, w_m)
        want_m += n
    w, want_u = O.fpl19_apply(W, v, s_q, f_V, f_s, f_W, upd[0], upd[1], ku, w_u)
    v, n = O.fpl19_decay(v, m_q, f_V, mom[0], mom[1], (km + len(grads) * V.size) & 0xFFFFFFFF, w_m)
    want_m += n
    for got, want in ((Wn, w), (Vn, v)):
        assert got.dtype == want.dtype and got.shape == want.shape
        np.testing.assert_array_equal(got, want)
    assert (n_m, n_u) == (want_m, want_u)


def test_fpl19_step_refuses_wide_dtypes():
    z = np.zeros(3, np.int64)
    with pytest.raises(TypeError, match="at most 32 signed bits"):
        O.fpl19_step(z, z.astype(np.int16), [], 1, 1, 1, 0, 0, 0, 0, 0,
                     ("half_up", "wrap", 16), ("half_up", "wrap", 16))


def _decay_ties(m_q: int, count: int) -> np.ndarray:
    """int16 V whose product with m_q has low 16 bits exactly 0x8000 (a rounding tie at the
    decay's shift of 16): m_q = 2**t * u (u odd) needs V * u = 2**(15-t) mod 2**(16-t)."""
    t = (m_q & -m_q).bit_length() - 1
    u = m_q >> t
    base = (1 << (15 - t)) * pow(u, -1, 1 << (16 - t)) % (1 << (16 - t))
    vals = [base + k * (1 << (16 - t)) for k in range(-count, count)]
    vals = [((v + 32768) % 65536) - 32768 for v in vals]
    return np.array(sorted(set(vals))[:count], dtype=np.int16)


@pytest.mark.parametrize("m_q", [32767, 58982, 3 << 13, 1 << 15, 12346])  # 0.5 saturated, 0.9, ...
def test_decay_rounds_ties_half_up(m_q):
    """The momentum decay's rounding on purpose-drawn ties (about 1 in 65536 at random):
    half_up takes every tie toward +inf, and half_even would differ on half of them, so a
    mutant of the decay's rounding is caught here, not by chance."""
    V = _decay_ties(m_q, 16)
    prod = V.astype(np.int64) * m_q
    assert ((prod & 0xFFFF) == 0x8000).all()
    got, _ = check_op("fpl19_decay", V, m_q, 20)  # default rounding: half_up
    np.testing.assert_array_equal(got, (prod >> 16) + 1)  # tie -> up, exactly
    even, _ = O.fpl19_decay(V, m_q, 20, rounding="half_even")
    assert (even != got).any()


def test_update_op_defaults_are_pinned():
    """Every update op's default rounding and overflow (half_up, 16-bit wrap: the FPL'19
    scheme) pinned on inputs whose rounded term is +0.5, -0.5 and an overflowing value, so
    each other mode gives other words and a changed default cannot pass."""
    cases = {
        # V + round(G / 2): ties +-0.5, then 32767 + 1
        "fpl19_accumulate": ((np.array([0, 0, 32767], np.int16), np.array([1, -1, 2], np.int16),
                              1, 0, 1, 0), [1, 0, -32768]),
        # W - round(V / 2): ties +-0.5, then 32767 + 1
        "fpl19_apply": ((np.array([0, 0, 32767], np.int16), np.array([1, -1, -2], np.int16),
                         1, 0, 1, 0), [-1, 0, -32768]),
        # round(V * 2**15 / 2**16): ties +-0.5 and 1.5; 32767 * 2 / 1 wraps
        "fpl19_decay": ((np.array([1, -1, 3], np.int16), 1 << 15, 0), [1, 0, 2]),
    }
    for name, (args, want) in cases.items():
        fn = getattr(O, name)
        np.testing.assert_array_equal(fn(*args)[0], want, err_msg=name)
        for r in ("half_even", "half_away", "floor", "trunc"):
            assert (fn(*args, rounding=r)[0] != want).any(), (name, r)
        if name != "fpl19_decay":
            assert (fn(*args, overflow="saturate")[0] != want).any(), name
    v = np.array([32767], np.int16)
    assert O.fpl19_decay(v, 1 << 17, 0)[0].tolist() == [-2]  # default overflow: wrap
