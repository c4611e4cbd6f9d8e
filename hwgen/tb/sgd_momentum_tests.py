"""cocotb 2.x testbench for hwgen/rtl/sgd_momentum.v: the update datapath against the engine's.

Run it through pytest (tests/hw/test_sgd_momentum.py) or ``hwgen sim sgd_momentum``.

Method: the stimulus is a list of groups; a group is 1..3 beats sharing the op, C, the
shifts and the overflow mode (as one engine call shares its constants and fractions).
Each group's expected words and overflow count come from ONE call of the engine function
the op implements, on the group's words, with fraction lengths chosen so that the
engine's shifts are the group's (la, lb, s) (see ``engine_group``):

- ops 0/1/2 (and reserved 5..7 = DECAY): ``fpl19_accumulate`` / ``fpl19_apply`` /
  ``fpl19_decay`` with product-to-result shift s - lb;
- op 3: the v' step of ``sgd_momentum`` (A = g, B = v, C = m_q);
- op 4: the w' step of ``sgd_momentum`` (A = w, B = v', C = lr_q), either inside a real
  two-step call (its v' feeds the op-4 group's B) or with m_q = 0 and f_g = f_v, which
  makes v' = g exactly, so B can be chosen freely. The engine's w' step always rounds by
  its alignment of w (s = la); other op-4 shift combinations have no engine twin and are
  not driven.

Per cycle the coroutine only drives one pre-packed beat and samples the outputs on the
falling edge. Checked at the end, bit for bit: output cycle = input cycle + LATENCY for
every surviving beat (rst drops the beats in flight), out_data == the engine's words,
and the popcount of out_ovf over each group == the engine's n_overflow.

Directed groups: round-half-up ties at every shift (products B*C = odd * 2**e, rounded by
s = e + 1, also with a left alignment lb and for the classic add), exact (s = e) and
quarter (s = e + 2) neighbours, and wrap/saturation edges (A at the range ends plus
+-1, 2**(2W-2) = MIN*MIN, rounding up into MAX+1) for every op under both overflow modes.
"""
from __future__ import annotations

import cocotb
import numpy as np
from hwgen.tb import stream
from hwgen.tb.bus import pack, unpack

LATENCY = 4
OPS_FPL19 = (0, 1, 2)
OP_CLASSIC_ADD, OP_CLASSIC_SUB = 3, 4
RESERVED = (5, 6, 7)


def _params(dut) -> tuple[int, int, int, int]:
    """(DATA_WIDTH, LANES, SMAX, AMAX) from the DUT's port widths."""
    width = len(dut.in_c)
    return (width, len(dut.in_a) // width, (1 << len(dut.in_shift)) - 1,
            (1 << len(dut.in_align_a)) - 1)


# ----------------------------------------------------------------------------- engine


def _engine_ops():
    """fxtrain.ops with numba on one thread: the bench makes ~1000 calls on a few words
    each, where a parallel region costs milliseconds (the bits never depend on threads)."""
    import numba

    from fxtrain import ops

    if numba.get_num_threads() != 1:
        numba.set_num_threads(1)
    return ops


def engine_group(op: int, sat: bool, la: int, lb: int, s: int, a, b, c: int, width: int):
    """The engine's (words [beats, lanes], n_overflow) for one group of the DUT's op."""
    ops = _engine_ops()
    fpl19_accumulate, fpl19_apply, fpl19_decay = ops.fpl19_accumulate, ops.fpl19_apply, ops.fpl19_decay
    sgd_momentum = ops.sgd_momentum
    ov = "saturate" if sat else "wrap"
    a, b = np.asarray(a, np.int64), np.asarray(b, np.int64)
    if op == 0:
        y, n = fpl19_accumulate(a, b, c, s - lb, 0, 0, "half_up", ov, w=width)
    elif op == 1:
        y, n = fpl19_apply(a, b, c, s - lb, 0, 0, "half_up", ov, w=width)
    elif op in (2,) + RESERVED:
        y, n = fpl19_decay(b, c, 0, "half_up", ov, w=width, f_m=s - lb)
    else:
        # a common left shift of both terms is the same as rounding by that much less
        m = min(la, lb)
        la, lb, s = la - m, lb - m, s - m
        if op == OP_CLASSIC_ADD:
            # v' step: la = F1 - f_g, lb = F1 - f_m - f_v, s = F1 - f_v with f_v = 0
            f_m, f_g = (s, s - la) if lb == 0 else (s - lb, s)
            _, y, n, n_w = sgd_momentum(np.zeros_like(a), b, a, 0, c, 0, 0, f_g, 0, f_m,
                                        "half_up", ov, bits=width)
            assert n_w == 0
        else:
            # w' step with m_q = 0 and f_g = f_v = 0: v' = g = B exactly;
            # la = F2 - f_w = s, lb = F2 - f_lr - f_v with f_w = f_v = 0
            assert s == la, "op 4 exists in the engine only with s == la"
            f_lr = la if lb == 0 else -lb
            y, v_new, n_v, n = sgd_momentum(a, np.zeros_like(a), b, c, 0, 0, 0, 0, f_lr, 0,
                                            "half_up", ov, bits=width)
            np.testing.assert_array_equal(v_new, b)
            assert n_v == 0
    return np.asarray(y, np.int64), int(n)


def classic_pair(rng, beats: int, lanes: int, width: int, smax: int, amax: int):
    """A real two-step ``sgd_momentum`` call as an op-3 group then an op-4 group."""
    sgd_momentum = _engine_ops().sgd_momentum
    while True:
        f_v, f_m, f_g, f_w = (int(v) for v in rng.integers(-4, 2 * width, 4))
        f_lr = int(rng.integers(-4, 2 * width))
        f1 = max(f_m + f_v, f_g)
        v_sh = [f1 - f_g, f1 - f_m - f_v, f1 - f_v]
        f2 = max(f_w, f_lr + f_v)
        w_sh = [f2 - f_w, f2 - f_lr - f_v, f2 - f_w]
        for sh in (v_sh, w_sh):  # a negative rounding shift is a common left shift
            if sh[2] < 0:
                sh[0], sh[1], sh[2] = sh[0] - sh[2], sh[1] - sh[2], 0
        if max(v_sh[0], v_sh[1], w_sh[0], w_sh[1]) <= amax and max(v_sh[2], w_sh[2]) <= smax:
            break
    sat = bool(rng.random() < 0.5)
    w, v, g = (draw_words(rng, (beats, lanes), width) for _ in range(3))
    lr_q, m_q = int(draw_words(rng, 1, width)[0]), int(draw_words(rng, 1, width)[0])
    w_new, v_new, n_v, n_w = sgd_momentum(w, v, g, lr_q, m_q, f_w, f_v, f_g, f_lr, f_m,
                                          "half_up", "saturate" if sat else "wrap", bits=width)
    v_new = np.asarray(v_new, np.int64)
    return [group(OP_CLASSIC_ADD, sat, *v_sh, g, v, m_q, v_new, n_v),
            group(OP_CLASSIC_SUB, sat, *w_sh, w, v_new, lr_q, np.asarray(w_new, np.int64), n_w)]


# ----------------------------------------------------------------------------- stimulus


def group(op, sat, la, lb, s, a, b, c, y, n) -> dict:
    return {"op": op, "sat": int(sat), "la": la, "lb": lb, "s": s, "a": np.asarray(a, np.int64),
            "b": np.asarray(b, np.int64), "c": int(c), "y": y, "n": n}


def checked_group(op, sat, la, lb, s, a, b, c, width) -> dict:
    y, n = engine_group(op, sat, la, lb, s, a, b, c, width)
    return group(op, sat, la, lb, s, a, b, c, y, n)


def corner_words(width: int) -> np.ndarray:
    lo, hi = -(1 << (width - 1)), (1 << (width - 1)) - 1
    return np.array([0, 1, -1, 2, -2, lo, hi, lo + 1, hi - 1], np.int64)


def draw_words(rng, shape, width: int) -> np.ndarray:
    """Full-range words with many corner and small values."""
    lo, hi = -(1 << (width - 1)), (1 << (width - 1))
    x = rng.integers(lo, hi, shape, dtype=np.int64)
    u = rng.random(shape)
    x = np.where(u < 0.2, rng.choice(corner_words(width), shape), x)
    return np.where((u >= 0.2) & (u < 0.35), rng.integers(-8, 9, shape), x)


def odd_times_pow2(rng, k: int, n: int, width: int) -> np.ndarray:
    """n words with exactly k trailing zeros (k = width-1: the min code), random signs."""
    if k == width - 1:
        return np.full(n, -(1 << (width - 1)), np.int64)
    top = 1 << (width - 1 - k)  # |odd| < top keeps the word in range
    odd = 2 * rng.integers(0, top // 2, n) + 1
    return odd * np.where(rng.random(n) < 0.5, 1, -1) << k


def tie_groups(rng, lanes: int, width: int, smax: int, amax: int) -> list[dict]:
    """Products odd * 2**e for every e, rounded by s = e+1 (tie), e (exact), e+2 (quarter)."""
    out = []
    for e in range(0, 2 * width - 1):
        kc = int(rng.integers(max(0, e - (width - 1)), min(e, width - 1) + 1))
        kb = e - kc
        c = int(odd_times_pow2(rng, kc, 1, width)[0])
        for op in OPS_FPL19 + (OP_CLASSIC_ADD,):
            for s, lb in ((e + 1, 0), (e + 1 + min(3, amax), min(3, amax)), (e, 0), (e + 2, 0)):
                if s > smax or s < 0:
                    continue
                b = odd_times_pow2(rng, kb, lanes, width)[None, :]
                a = draw_words(rng, (1, lanes), width)
                la = int(rng.integers(0, amax + 1))
                if op == OP_CLASSIC_ADD:
                    if lb:
                        la = 0
                        a = a * 0  # keep the tie: A at LSB weight would break it
                    elif s <= amax:
                        la = s  # A << s is a multiple of 2**s: the tie survives
                    else:
                        a = a * 0
                out.append(checked_group(op, bool(rng.random() < 0.5), la, lb, s, a, b, c, width))
    return out


def edge_groups(rng, lanes: int, width: int, smax: int, amax: int) -> list[dict]:
    """A at the range ends, products around the range ends, small and extreme shifts."""
    lo, hi = -(1 << (width - 1)), (1 << (width - 1)) - 1
    a_vals = [hi, lo, hi - 1, lo + 1, 0]
    bc = [(1, 1), (-1, 1), (lo, -1), (lo, lo), (hi, hi), (lo, hi), (hi, 1), (lo, 1), (2, 1),
          (-2, 1), (3, 1), (hi, 2), (lo, 2)]
    shifts = [s for s in (0, 1, 2, width - 1, 2 * width - 2, 2 * width - 1) if s <= smax]
    out = []
    for op in OPS_FPL19 + (OP_CLASSIC_ADD, OP_CLASSIC_SUB):
        for sat in (False, True):
            for a0 in a_vals:
                for b0, c in bc:
                    s = int(rng.choice(shifts))
                    la = s if op == OP_CLASSIC_SUB and s <= amax else 0
                    if op == OP_CLASSIC_SUB and s > amax:
                        s = la = 0
                    a = draw_words(rng, (1, lanes), width)
                    b = draw_words(rng, (1, lanes), width)
                    a[0, 0], b[0, 0] = a0, b0
                    out.append(checked_group(op, sat, la, 0, s, a, b, c, width))
    return out


def random_groups(rng, n: int, lanes: int, width: int, smax: int, amax: int) -> list[dict]:
    out = []
    while len(out) < n:
        if rng.random() < 0.1:
            out += classic_pair(rng, int(rng.integers(1, 4)), lanes, width, smax, amax)
            continue
        op = int(rng.choice([0, 1, 2, 3, 4, 5, 6, 7], p=[.22, .22, .2, .14, .14, .03, .03, .02]))
        s = int(rng.integers(0, smax + 1)) if rng.random() < 0.6 else int(rng.integers(0, 4))
        lb = 0 if rng.random() < 0.6 else int(rng.integers(0, amax + 1))
        la = int(rng.integers(0, amax + 1))
        if op == OP_CLASSIC_SUB:
            s = la = min(s, amax)
        beats = int(rng.integers(1, 4))
        a, b = draw_words(rng, (beats, lanes), width), draw_words(rng, (beats, lanes), width)
        c = int(draw_words(rng, 1, width)[0])
        out.append(checked_group(op, bool(rng.random() < 0.5), la, lb, s, a, b, c, width))
    return out


def flatten(groups: list[dict], width: int) -> dict:
    """Per-beat columns (bus ints for driving, arrays for checking) and each beat's group."""
    cols = {k: [] for k in ("op", "sat", "la", "lb", "s", "c", "gid")}
    for gid, g in enumerate(groups):
        for k in ("op", "sat", "la", "lb", "s"):
            cols[k] += [g[k]] * len(g["a"])
        cols["c"] += [g["c"] & ((1 << width) - 1)] * len(g["a"])
        cols["gid"] += [gid] * len(g["a"])
    cols = {k: np.array(v, np.int64) for k, v in cols.items()}
    cols["a"] = np.concatenate([g["a"] for g in groups])
    cols["b"] = np.concatenate([g["b"] for g in groups])
    cols["y"] = np.concatenate([g["y"] for g in groups])
    cols["n"] = np.array([g["n"] for g in groups], np.int64)
    return cols


# ----------------------------------------------------------------------------- driving


INPUTS = ("in_op", "in_a", "in_b", "in_c", "in_shift", "in_align_a", "in_align_p", "in_saturate")


async def drive(dut, cols: dict, valid: np.ndarray, rst: np.ndarray) -> stream.Seen:
    """Reset, then the next beat on every cycle with valid[t]; returns what came out."""
    width, lanes, _, _ = _params(dut)
    pins = {"in_op": cols["op"].tolist(), "in_a": pack(cols["a"], width), "in_b": pack(cols["b"], width),
            "in_c": cols["c"].tolist(), "in_shift": cols["s"].tolist(), "in_align_a": cols["la"].tolist(),
            "in_align_p": cols["lb"].tolist(), "in_saturate": cols["sat"].tolist()}
    await stream.start(dut, INPUTS)
    return await stream.stream(dut, pins, valid, rst, ("out_data", "out_ovf"), LATENCY, per="beat")


async def run_and_check(dut, groups: list[dict], valid: np.ndarray, rst: np.ndarray) -> None:
    width, lanes, _, _ = _params(dut)
    cols = flatten(groups, width)
    live = np.flatnonzero(valid)
    assert len(live) == len(cols["op"]), (len(live), len(cols["op"]))
    seen = await drive(dut, cols, valid, rst)
    seen_t, seen_y, seen_ovf = seen.t, seen["out_data"], seen["out_ovf"]
    keep_t = stream.survivors(valid, rst, LATENCY)
    np.testing.assert_array_equal(seen_t, keep_t + LATENCY,
                                  err_msg="output cycles (latency/ordering/gaps/reset)")
    keep = np.searchsorted(live, keep_t)  # beat index of each surviving iteration
    np.testing.assert_array_equal(unpack(seen_y, width, lanes), cols["y"][keep],
                                  err_msg="out_data vs fxtrain.ops (fpl19_* / sgd_momentum)")
    flags = unpack(seen_ovf, 2, lanes, signed=False)
    per_beat = (flags & 1).sum(1) + (flags >> 1).sum(1)
    gid = cols["gid"][keep]
    whole = np.bincount(gid, minlength=len(groups)) == np.bincount(cols["gid"],
                                                                    minlength=len(groups))
    got_n = np.bincount(gid, weights=per_beat, minlength=len(groups)).astype(np.int64)
    np.testing.assert_array_equal(got_n[whole], cols["n"][whole],
                                  err_msg="popcount(out_ovf) per group vs the engine's n_overflow")
    ops = np.bincount(cols["op"][keep], minlength=8)
    dut._log.info("checked %d beats x %d lanes in %d groups (ops 0..7: %s, %d overflows) over "
                  "%d cycles", len(keep), lanes, int(whole.sum()), ops.tolist(),
                  int(per_beat.sum()), len(valid))


def _rng() -> np.random.Generator:
    return np.random.default_rng(cocotb.RANDOM_SEED)


def _with_gaps(rng, n_beats: int, dense: int) -> np.ndarray:
    """valid: the first `dense` beats back to back, the rest with ~40% gaps."""
    gappy = rng.random(3 * (n_beats - dense)) < 0.6
    live = np.flatnonzero(gappy)[: n_beats - dense]
    tail = np.zeros(int(live[-1]) + 1 if len(live) else 0, np.int8)
    tail[live] = 1
    valid = np.concatenate([np.ones(dense, np.int8), tail])
    assert valid.sum() == n_beats
    return valid


@cocotb.test()
async def directed_ties_and_edges(dut):
    """Ties at every shift and wrap/saturation edges for every op, back to back."""
    width, lanes, smax, amax = _params(dut)
    rng = _rng()
    groups = tie_groups(rng, lanes, width, smax, amax) + edge_groups(rng, lanes, width, smax, amax)
    n = sum(len(g["a"]) for g in groups)
    await run_and_check(dut, groups, np.ones(n, np.int8), np.zeros(n, np.int8))


@cocotb.test()
async def random_groups_stream(dut):
    """Random ops, shifts, constants and words, incl. real two-step classic updates;
    back to back, then with gaps."""
    width, lanes, smax, amax = _params(dut)
    rng = _rng()
    groups = random_groups(rng, 1200, lanes, width, smax, amax)
    n = sum(len(g["a"]) for g in groups)
    valid = _with_gaps(rng, n, n // 2)
    await run_and_check(dut, groups, valid, np.zeros(len(valid), np.int8))


@cocotb.test()
async def reset_flushes_pipeline(dut):
    """Reset pulses in a busy stream drop exactly the beats in flight."""
    width, lanes, smax, amax = _params(dut)
    rng = _rng()
    groups = random_groups(rng, 300, lanes, width, smax, amax)
    n = sum(len(g["a"]) for g in groups)
    valid = _with_gaps(rng, n, 0)
    rst = (rng.random(len(valid)) < 0.02).astype(np.int8)
    rst[:3] = 1
    await run_and_check(dut, groups, valid, rst)
