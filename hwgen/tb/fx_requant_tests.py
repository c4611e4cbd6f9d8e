"""cocotb 2.x testbench for hwgen/rtl/fx_requant.v against ``fxtrain.numerics.requantize``.

Run it through pytest (tests/hw/test_fx_requant.py) or ``hwgen sim fx_requant``.

Method: every beat (lane words, element indices, shift, rounding code, overflow mode,
key, valid, reset) is drawn up front with numpy; the per-cycle coroutine only drives
pins on the falling edge and samples the outputs there. At the end each lane of each
output beat is compared bit for bit with the engine, called with exactly the beat's
settings: ``requantize(x, f_src=s, QFormat(OUT_W, 0), ROUNDING_MODES[code],
OVERFLOW_MODES[wrap], key=key, index=lane_indices)``, one call per (shift, mode, key)
group over all its elements at once.

The per-element overflow flag is the engine's "overflowed" (result != exact rounded
value): an element overflowed if its saturated and wrapped results differ; where they
agree on min_int/max_int (v == max_int exactly, or v == max_int + k*2**OUT_W) the
element is asked alone with ``stats=True``.

Stimulus: ties and near-ties at every positive shift in every mode; saturation edges
(v at min_int-1 .. max_int+1 with remainders 0, half-1, half, half+1, 2**s-1) at every
shift; the input extremes and 0, +-1 at every shift, mode and overflow mode; stochastic
round-up boundaries (r + u == 2**s and one below, u computed from the engine's
lowbias32); thousands of random beats whose magnitude tracks the shift; bad beats
(shift outside [SHIFT_MIN, SHIFT_MAX], rounding codes 6 and 7) that must raise out_err.
Keys and indices include 0, 2**32-1 and pairs whose sum wraps.
"""
from __future__ import annotations

import cocotb
import numpy as np
from hwgen.tb import stream
from hwgen.tb.bus import pack, unpack

LATENCY = 5
N_MODES = 6  # codes 0..5 = fxtrain.numerics.ROUNDING_MODES; 6, 7 are illegal


class Config:
    """The DUT's parameters: widths from the ports, the shift range from the parameters."""

    def __init__(self, dut):
        self.lanes = len(dut.out_ovf)
        self.in_w = len(dut.in_data) // self.lanes
        self.out_w = len(dut.out_data) // self.lanes
        self.smin = _signed_param(dut.SHIFT_MIN)
        self.smax = _signed_param(dut.SHIFT_MAX)
        self.in_lo, self.in_hi = -(1 << (self.in_w - 1)), (1 << (self.in_w - 1)) - 1
        self.out_lo, self.out_hi = -(1 << (self.out_w - 1)), (1 << (self.out_w - 1)) - 1


def _signed_param(handle) -> int:
    """A Verilog integer parameter (both simulators present it as a 32-bit LogicArray)."""
    return handle.value.to_signed()


def _numerics():
    """The engine's numerics, imported lazily (the bench must load even if the engine is
    broken), on one numba thread: the bench makes thousands of tiny calls, for which
    launching parallel workers on a shared 2-core machine costs more than it saves."""
    import numba

    numba.set_num_threads(1)
    import fxtrain.numerics

    return fxtrain.numerics


# ----------------------------------------------------------------------------- stimulus


def _fits(x, cfg: Config) -> np.ndarray:
    x = np.asarray(x, dtype=object)
    return (x >= cfg.in_lo) & (x <= cfg.in_hi)


def _elements(xs, s, modes, wraps) -> list[tuple[int, int, int, int]]:
    return [(int(x), s, m, w) for x in xs for m in modes for w in wraps]


def corner_elements(cfg: Config, rng: np.random.Generator) -> list[tuple[int, int, int, int]]:
    """(x, shift, mode, wrap) corner elements; x as Python ints, all within IN_W bits."""
    out: list[tuple[int, int, int, int]] = []
    modes = list(range(N_MODES))
    extremes = [cfg.in_lo, cfg.in_lo + 1, cfg.in_hi, cfg.in_hi - 1, 0, 1, -1]
    for s in range(cfg.smin, cfg.smax + 1):
        for m in modes:  # both overflow modes for the words that can overflow
            out += _elements(extremes[:4], s, [m], (0, 1))
            out += _elements(extremes[4:], s, [m], (int(rng.integers(0, 2)),))
        # saturation edges: v just inside / at / just outside the output range
        if s > 0:
            half, full = 1 << (s - 1), 1 << s
            rems = sorted({0, half - 1, half, half + 1, full - 1} - {-1})
            cand = [t * full + r for t in (cfg.out_lo - 1, cfg.out_lo, cfg.out_hi, cfg.out_hi + 1)
                    for r in rems if 0 <= r < full]
        else:
            cand = [(t >> -s) + d for t in (cfg.out_lo - 1, cfg.out_lo, cfg.out_hi, cfg.out_hi + 1)
                    for d in (0, 1)]
        cand = [x for x in cand if cfg.in_lo <= x <= cfg.in_hi]
        for x in cand:
            out += _elements([x], s, rng.choice(N_MODES, 2, replace=False).tolist(), (0, 1))
        if s <= 0:
            continue
        # ties x = a*2**s + half for odd and even, positive and negative a, and x +- 1
        half = 1 << (s - 1)
        big = int(rng.integers(4, 1 << 12))
        ties = [a * (1 << s) + half for a in (0, 1, 2, big, -1, -2, -3, -big)]
        ties = ties + [t + 1 for t in ties] + [t - 1 for t in ties]
        ties = [x for x in set(ties) if cfg.in_lo <= x <= cfg.in_hi]
        out += _elements(sorted(ties), s, modes, (int(rng.integers(0, 2)),))
    return out


def random_x(n: int, s: np.ndarray, cfg: Config, rng: np.random.Generator) -> np.ndarray:
    """Random IN_W-bit words; half of them sized so the result lands near OUT_W bits."""
    bits = rng.integers(0, cfg.in_w, n)
    near = rng.random(n) < 0.5
    bits[near] = np.clip(s[near] + cfg.out_w + rng.integers(-4, 3, near.sum()), 0, cfg.in_w - 1)
    mag = rng.integers(0, 1 << 62, n, dtype=np.int64) * 2 + rng.integers(0, 2, n)
    mag = (mag.astype(np.uint64) >> (63 - bits).astype(np.uint64)).astype(np.int64)
    return np.where(rng.random(n) < 0.5, mag, -mag - 1)


class Stream:
    """Beats under construction: per beat lane words, lane indices and shared settings."""

    def __init__(self, cfg: Config, rng: np.random.Generator, keys: np.ndarray):
        self.cfg, self.rng, self.keys = cfg, rng, keys
        self.x, self.idx, self.s, self.mode, self.wrap, self.key = [], [], [], [], [], []

    def add(self, x: np.ndarray, s, mode, wrap, key=None, idx=None) -> None:
        """Beats [n, LANES] of words sharing per-beat settings (arrays of length n)."""
        n = len(x)
        self.x.append(np.asarray(x, dtype=np.int64).reshape(n, self.cfg.lanes))
        if idx is None:
            idx = self.rng.integers(0, 1 << 32, (n, self.cfg.lanes), dtype=np.int64)
            near = self.rng.random(n) < 0.1
            idx[near] = (1 << 32) - 1 - self.rng.integers(0, 4, (near.sum(), self.cfg.lanes))
        self.idx.append(np.asarray(idx, dtype=np.int64).reshape(n, self.cfg.lanes))
        for dst, val in ((self.s, s), (self.mode, mode), (self.wrap, wrap)):
            dst.append(np.broadcast_to(np.asarray(val, dtype=np.int64), (n,)))
        if key is None:
            key = self.keys[self.rng.integers(0, len(self.keys), n)]
        self.key.append(np.broadcast_to(np.asarray(key, dtype=np.int64), (n,)))

    def add_elements(self, elems) -> None:
        """Pack (x, s, mode, wrap) elements into beats: one group of lanes per setting,
        unused lanes filled with random words of the same setting."""
        cfg = self.cfg
        groups: dict[tuple[int, int, int], list[int]] = {}
        for x, s, m, w in elems:
            groups.setdefault((s, m, w), []).append(x)
        for (s, m, w), xs in groups.items():
            n = -(-len(xs) // cfg.lanes)
            fill = random_x(n * cfg.lanes - len(xs), np.full(n * cfg.lanes - len(xs), s), cfg,
                            self.rng)
            x = np.concatenate([np.array(xs, dtype=np.int64), fill])
            self.add(x.reshape(n, cfg.lanes), s, m, w)

    def arrays(self, shuffle: bool = True):
        cols = [np.concatenate(c) for c in (self.x, self.idx, self.s, self.mode, self.wrap,
                                             self.key)]
        if shuffle:
            perm = self.rng.permutation(len(cols[2]))
            cols = [c[perm] for c in cols]
        return cols


def stochastic_boundaries(cfg: Config, rng: np.random.Generator, keys, n: int):
    """Beats whose lanes sit exactly on (r + u == 2**s) or one below the round-up point."""
    lowbias32 = _numerics().lowbias32
    s = rng.integers(1, cfg.smax + 1, n)
    key = keys[rng.integers(0, len(keys), n)]
    idx = rng.integers(0, 1 << 32, (n, cfg.lanes), dtype=np.int64)
    R = lowbias32(((key[:, None] + idx) % (1 << 32)).astype(np.uint32)).astype(object)
    x = np.zeros((n, cfg.lanes), dtype=np.int64)
    for b in range(n):
        sb = int(s[b])
        for lane in range(cfg.lanes):
            r32 = int(R[b, lane])
            u = r32 >> (32 - sb) if sb <= 32 else r32 << (sb - 32)
            r = (1 << sb) - u - int(rng.integers(0, 2))  # on the boundary, or one below
            r = min(max(r, 0), (1 << sb) - 1)
            a = int(rng.integers(-4, 4))
            v = a * (1 << sb) + r
            if not cfg.in_lo <= v <= cfg.in_hi:  # wide shifts: a must be 0 or -1
                v = r if r <= cfg.in_hi else r - (1 << sb)
                if not cfg.in_lo <= v <= cfg.in_hi:
                    v = 0
            x[b, lane] = v
    return x, s, key, idx


def bad_beats(cfg: Config, rng: np.random.Generator, n: int):
    """Beats the DUT must reject: shifts outside the range (8-bit codes) or modes 6, 7."""
    outside = [v for v in (cfg.smin - 1, cfg.smax + 1, -128, 127) if -128 <= v <= 127
               and not cfg.smin <= v <= cfg.smax]
    s = rng.choice(outside, n) if outside else np.zeros(n, np.int64)
    mode = rng.integers(0, 8, n)
    mode[: n // 3] = rng.integers(6, 8, n // 3)
    if outside:
        s[: n // 3] = rng.integers(cfg.smin, cfg.smax + 1, n // 3)  # legal shift, bad mode
    else:
        mode[:] = rng.integers(6, 8, n)
    return s, mode


# ----------------------------------------------------------------------------- expected


def expected(cfg: Config, x, idx, s, mode, wrap, key):
    """Engine results [beats, LANES] (data, overflow flag) and the per-beat error flag."""
    N = _numerics()
    ROUNDING_MODES, OVERFLOW_MODES, QFormat, requantize = (N.ROUNDING_MODES, N.OVERFLOW_MODES,
                                                            N.QFormat, N.requantize)
    assert ROUNDING_MODES[:N_MODES] == ("floor", "trunc", "half_up", "half_even", "half_away",
                                        "stochastic") and len(ROUNDING_MODES) == N_MODES
    assert OVERFLOW_MODES == ("saturate", "wrap")
    err = (s < cfg.smin) | (s > cfg.smax) | (mode >= N_MODES)
    y = np.zeros(x.shape, np.int64)
    ovf = np.zeros(x.shape, bool)
    ok = np.flatnonzero(~err)
    # one engine call per (shift, mode) group, and per key within stochastic groups: the
    # other modes use no random word, so the engine gets no key there (the DUT sees the
    # beat's random key on its pins all the same and must ignore it)
    stoch = mode[ok] == N_MODES - 1
    code = ((s[ok] - cfg.smin) * N_MODES + mode[ok]) * (1 << 33) + np.where(stoch, key[ok], -1)
    order = np.argsort(code, kind="stable")
    starts = np.flatnonzero(np.r_[True, np.diff(code[order]) != 0])
    fmt = QFormat(cfg.out_w, 0)
    for lo, hi in zip(starts, np.r_[starts[1:], len(order)]):
        beats = ok[order[lo:hi]]
        b0 = beats[0]
        sb, rnd = int(s[b0]), ROUNDING_MODES[int(mode[b0])]
        kb = int(key[b0]) if rnd == "stochastic" else None
        xb, ib = x[beats], idx[beats]
        sat = requantize(xb, sb, fmt, rnd, "saturate", key=kb, index=ib).astype(np.int64)
        wrp = requantize(xb, sb, fmt, rnd, "wrap", key=kb, index=ib).astype(np.int64)
        y[beats] = np.where(wrap[beats, None].astype(bool), wrp, sat)
        flag = sat != wrp
        for bi, lane in zip(*np.nonzero((sat == wrp) & ((sat == cfg.out_lo) | (sat == cfg.out_hi)))):
            _, n_over = requantize(xb[bi, lane:lane + 1], sb, fmt, rnd, "saturate", key=kb,
                                   index=ib[bi, lane:lane + 1], stats=True)
            flag[bi, lane] = n_over == 1
        ovf[beats] = flag
    return y, ovf, err


# ----------------------------------------------------------------------------- driving


async def drive(dut, cfg: Config, beats, valid: np.ndarray, rst: np.ndarray) -> stream.Seen:
    """Reset, then beat t at cycle t when valid[t]; returns what came out."""
    x, idx, s, mode, wrap, key = beats
    cols = {"in_data": pack(x, cfg.in_w), "in_index": pack(idx, 32), "in_shift": (s & 0xFF).tolist(),
            "in_round": mode.tolist(), "in_wrap": wrap.tolist(), "in_key": key.tolist()}
    await stream.start(dut, cols)
    return await stream.stream(dut, cols, valid, rst, ("out_data", "out_ovf", "out_err"), LATENCY)


def check(dut, cfg: Config, beats, valid, rst, seen: stream.Seen) -> None:
    seen_t, seen_data, seen_ovf, seen_err = seen.t, seen["out_data"], seen["out_ovf"], seen["out_err"]
    keep = stream.survivors(valid, rst, LATENCY)
    np.testing.assert_array_equal(seen_t, keep + LATENCY,
                                  err_msg="output cycles (latency/ordering/gaps/reset)")
    live = [c[keep] for c in beats]
    y, ovf, err = expected(cfg, *live)
    got_y = unpack(seen_data, cfg.out_w, cfg.lanes)
    got_ovf = (np.array(seen_ovf, np.int64)[:, None] >> np.arange(cfg.lanes)) & 1
    np.testing.assert_array_equal(np.array(seen_err, np.int64), err.astype(np.int64),
                                  err_msg="out_err (bad shift / rounding code)")
    bad = np.nonzero(got_y != y)
    if bad[0].size:  # name the first failing element with its settings
        b, lane = bad[0][0], bad[1][0]
        x, idx, s, mode, wrap, key = (c[b] for c in live)
        raise AssertionError(
            f"{bad[0].size} lanes differ from fxtrain.numerics.requantize; first: x={x[lane]} "
            f"s={s} mode={mode} wrap={wrap} key={key:#x} index={idx[lane]:#x}: "
            f"got {got_y[b, lane]}, engine {y[b, lane]}")
    np.testing.assert_array_equal(got_ovf, ovf.astype(np.int64), err_msg="out_ovf")
    dut._log.info("checked %d beats x %d lanes (%d rejected, %d overflowed) over %d cycles",
                  len(keep), cfg.lanes, int(err.sum()), int(ovf.sum()), len(valid))


def _rng() -> np.random.Generator:
    return np.random.default_rng(cocotb.RANDOM_SEED)


def _keys(rng: np.random.Generator) -> np.ndarray:
    return np.array([0, 0xFFFFFFFF, *rng.integers(0, 1 << 32, 3)], dtype=np.int64)


# ----------------------------------------------------------------------------- tests


@cocotb.test()
async def corners_and_random_stream(dut):
    """Every corner class in every mode, then random beats (back to back and with gaps)."""
    cfg = Config(dut)
    rng = _rng()
    keys = _keys(rng)
    st = Stream(cfg, rng, keys)
    st.add_elements(corner_elements(cfg, rng))
    xb, sb, kb, ib = stochastic_boundaries(cfg, rng, keys, 600)
    st.add(xb, sb, 5, rng.integers(0, 2, len(sb)), kb, ib)
    n = 3000
    s = rng.integers(cfg.smin, cfg.smax + 1, n)
    st.add(random_x(n * cfg.lanes, np.repeat(s, cfg.lanes), cfg, rng).reshape(n, cfg.lanes),
           s, rng.integers(0, N_MODES, n), rng.integers(0, 2, n))
    sbad, mbad = bad_beats(cfg, rng, 60)
    st.add(random_x(60 * cfg.lanes, np.zeros(60 * cfg.lanes, np.int64), cfg, rng)
           .reshape(60, cfg.lanes), sbad, mbad, rng.integers(0, 2, 60))
    beats = st.arrays()
    total = len(beats[2])
    # the first 2/3 back to back, the rest with random gaps
    valid = np.ones(total + total // 2, np.int8)
    tail = np.arange(2 * total // 3, len(valid))
    valid[tail] = 0
    valid[np.sort(rng.choice(tail, total - 2 * total // 3, replace=False))] = 1
    slots = np.flatnonzero(valid)
    placed = [np.zeros((len(valid),) + c.shape[1:], c.dtype) for c in beats]
    for dst, src in zip(placed, beats):
        dst[slots] = src
    rst = np.zeros(len(valid), np.int8)
    seen = await drive(dut, cfg, placed, valid, rst)
    check(dut, cfg, placed, valid, rst, seen)


@cocotb.test()
async def reset_flushes_pipeline(dut):
    """Reset pulses in a busy stream drop exactly the beats in flight."""
    cfg = Config(dut)
    rng = _rng()
    n = 800
    st = Stream(cfg, rng, _keys(rng))
    s = rng.integers(cfg.smin, cfg.smax + 1, n)
    st.add(random_x(n * cfg.lanes, np.repeat(s, cfg.lanes), cfg, rng).reshape(n, cfg.lanes),
           s, rng.integers(0, N_MODES, n), rng.integers(0, 2, n))
    beats = st.arrays(shuffle=False)
    valid = (rng.random(n) < 0.85).astype(np.int8)
    valid[:20] = 1
    rst = (rng.random(n) < 0.03).astype(np.int8)
    rst[:6] = 1
    seen = await drive(dut, cfg, beats, valid, rst)
    check(dut, cfg, beats, valid, rst, seen)
