"""cocotb 2.x testbench for hwgen/rtl/mac_array.v against the engine's accumulators.

Run it through pytest (tests/hw/test_mac_array.py) or ``hwgen sim mac_array``.

Method: the dot products (activation sequence, LANES weight columns) are drawn up front
and laid out as beats with in_first/in_last, random gaps inside and between sums, and
(in one test) reset pulses; the per-cycle coroutine only drives pins on the falling edge
and samples the outputs there. Expected values come from the engine only:

- random and corner sums: ``fxtrain.numerics.acc_matmul(act[None, :], wgt, ACC_BITS)``
  per dot product (the engine's exact product and wrapped sum);
- a tiny convolution: ``fxtrain.ops.conv2d_fp(a, w, stride, pad, ACC_BITS)``; the bench
  streams, for every output pixel and output-channel tile, the (c, ky, kx) taps with the
  broadcast activation (zero in the padding) and the P weights W[o0:o0+P, c, ky, kx]
  (zero past O), exactly as the FP datapath feeds the array.

Checked: every sum comes out LATENCY iterations after its last beat, in order, once;
the values equal the engine's bit for bit; a reset drops exactly the sums whose last
beat was in flight (sums cut by a reset are restarted with in_first and not compared).
"""
from __future__ import annotations

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, FallingEdge
from hwgen.tb.bus import pack, unpack

LATENCY = 3


class Config:
    def __init__(self, dut):
        self.lanes = len(dut.out_acc) // int(dut.ACC_BITS.value.to_signed())
        self.a_w = len(dut.in_act)
        self.w_w = len(dut.in_wgt) // self.lanes
        self.acc_bits = len(dut.out_acc) // self.lanes


def _engine():
    """The engine, imported lazily (the bench must load even if the engine is broken),
    on one numba thread: thousands of tiny calls gain nothing from parallel workers."""
    import numba

    numba.set_num_threads(1)
    import fxtrain.numerics
    import fxtrain.ops

    return fxtrain.numerics, fxtrain.ops


def _signed(rng, bits: int, shape) -> np.ndarray:
    return rng.integers(-(1 << (bits - 1)), 1 << (bits - 1), shape, dtype=np.int64)


def random_sums(cfg: Config, rng: np.random.Generator, n: int):
    """n dot products as (act[L], wgt[L, LANES]) pairs: random lengths and values, and
    corner sums of extreme words that wrap the accumulator quickly."""
    amin, amax = -(1 << (cfg.a_w - 1)), (1 << (cfg.a_w - 1)) - 1
    wmin, wmax = -(1 << (cfg.w_w - 1)), (1 << (cfg.w_w - 1)) - 1
    sums = []
    for i in range(n):
        length = int(rng.integers(1, 48)) if i % 10 else int(rng.integers(60, 200))
        act = _signed(rng, cfg.a_w, length)
        wgt = _signed(rng, cfg.w_w, (length, cfg.lanes))
        kind = i % 7
        if kind == 1:  # largest positive products: min * min
            act[:], wgt[:] = amin, wmin
        elif kind == 2:  # extremes mixed per beat and lane
            act = rng.choice([amin, amax, -1, 0, 1], length)
            wgt = rng.choice([wmin, wmax, -1, 0, 1], (length, cfg.lanes))
        elif kind == 3:  # small words: sums that stay far from the wrap
            act = rng.integers(-3, 4, length)
            wgt = rng.integers(-3, 4, (length, cfg.lanes))
        sums.append((act.astype(np.int64), wgt.astype(np.int64)))
    return sums


def conv_sums(cfg: Config, rng: np.random.Generator):
    """A tiny conv layer as FP dot products; returns (sums, expected [n_sums, LANES])."""
    _, ops = _engine()
    P = cfg.lanes
    n, c, h, w, o, k, stride, pad = 2, 3, 6, 6, P + 2, 3, 2, 1
    a = _signed(rng, cfg.a_w, (n, c, h, w))
    W = _signed(rng, cfg.w_w, (o, c, k, k))
    acc = ops.conv2d_fp(a, W, stride=stride, pad=pad, acc_bits=cfg.acc_bits)
    ho, wo = acc.shape[2:]
    ap = np.pad(a, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    tiles = -(-o // P)
    Wp = np.zeros((tiles * P, c, k, k), np.int64)
    Wp[:o] = W
    accp = np.zeros((n, tiles * P, ho, wo), np.int64)
    accp[:, :o] = acc
    sums, expect = [], []
    taps = [(ci, ky, kx) for ci in range(c) for ky in range(k) for kx in range(k)]
    order = rng.permutation(len(taps))  # any tap order gives the same wrapped sum
    for b in range(n):
        for y in range(ho):
            for x in range(wo):
                for t in range(tiles):
                    act = np.array([ap[b, ci, y * stride + ky, x * stride + kx]
                                    for ci, ky, kx in taps], np.int64)[order]
                    wgt = np.array([Wp[t * P:(t + 1) * P, ci, ky, kx] for ci, ky, kx in taps],
                                   np.int64)[order]
                    sums.append((act, wgt))
                    expect.append(accp[b, t * P:(t + 1) * P, y, x])
    return sums, np.array(expect, np.int64)


def engine_sums(cfg: Config, sums) -> np.ndarray:
    num, _ = _engine()
    return np.array([num.acc_matmul(act[None, :], wgt, cfg.acc_bits)[0] for act, wgt in sums],
                    np.int64).reshape(len(sums), cfg.lanes)


def layout_beats(sums, rng: np.random.Generator, gaps):
    """Lay the sums out as beats: (act, wgt, first, last, valid, sum id) per iteration;
    before each beat of sum i an idle iteration with probability gaps[i]."""
    acts, wgts, first, last, valid, sid = [], [], [], [], [], []
    lanes = sums[0][1].shape[1]
    gaps = np.broadcast_to(np.asarray(gaps, np.float64), (len(sums),))
    for i, (act, wgt) in enumerate(sums):
        n = len(act)
        holes = rng.random(n) < gaps[i]
        for j in range(n):
            if holes[j]:
                acts.append(0)
                wgts.append(np.zeros(lanes, np.int64))
                first.append(0), last.append(0), valid.append(0), sid.append(-1)
            acts.append(act[j])
            wgts.append(wgt[j])
            first.append(int(j == 0)), last.append(int(j == n - 1)), valid.append(1)
            sid.append(i)
    return (np.array(acts, np.int64), np.array(wgts, np.int64).reshape(-1, lanes),
            np.array(first, np.int8), np.array(last, np.int8), np.array(valid, np.int8),
            np.array(sid, np.int64))


async def reset(dut) -> None:
    Clock(dut.clk, 10, unit="ns").start()
    dut.rst.value = 1
    for name in ("in_valid", "in_act", "in_wgt", "in_first", "in_last"):
        getattr(dut, name).value = 0
    await ClockCycles(dut.clk, 4)
    await FallingEdge(dut.clk)
    dut.rst.value = 0


async def drive(dut, cfg: Config, beats, rst: np.ndarray):
    """Iteration t samples the outputs, then drives beat t; returns (t, out_acc bus)."""
    act, wgt, first, last, valid, _ = beats
    cols = [(dut.in_act, (act & ((1 << cfg.a_w) - 1)).tolist()),
            (dut.in_wgt, pack(wgt, cfg.w_w)), (dut.in_first, first.tolist()),
            (dut.in_last, last.tolist())]
    out_valid, out_acc = dut.out_valid, dut.out_acc
    n = len(valid)
    valid_l, rst_l = valid.tolist(), rst.tolist()
    seen_t, seen_acc = [], []
    last_valid = last_rst = 0
    falling = FallingEdge(dut.clk)
    for t in range(n + LATENCY + 2):
        await falling
        if out_valid.value:
            seen_t.append(t)
            seen_acc.append(int(out_acc.value))
        v = valid_l[t] if t < n else 0
        r = rst_l[t] if t < n else 0
        if v != last_valid:
            dut.in_valid.value = last_valid = v
        if r != last_rst:
            dut.rst.value = last_rst = r
        if v:
            for handle, col in cols:
                handle.value = col[t]
    return np.array(seen_t, np.int64), seen_acc


def check(dut, cfg: Config, beats, rst, expect, seen) -> None:
    """Outputs appear LATENCY after each surviving last beat; sums untouched by a reset
    equal the engine's."""
    _, _, _, last, valid, sid = beats
    seen_t, seen_acc = seen
    n = len(valid)
    hit = np.concatenate([rst.astype(bool), np.zeros(LATENCY, bool)])
    dropped = np.zeros(n, bool)
    for d in range(LATENCY):
        dropped |= hit[d:d + n]
    dropped &= valid.astype(bool)
    ends = np.flatnonzero(valid.astype(bool) & last.astype(bool) & ~dropped)
    np.testing.assert_array_equal(seen_t, ends + LATENCY,
                                  err_msg="output cycles (latency/ordering/gaps/reset)")
    cut = np.unique(sid[dropped])  # sums that lost a beat: value unspecified
    intact = ~np.isin(sid[ends], cut)
    got = unpack(seen_acc, cfg.acc_bits, cfg.lanes)[intact]
    want = expect[sid[ends][intact]]
    bad = np.flatnonzero((got != want).any(axis=1))
    if bad.size:
        raise AssertionError(f"{bad.size} of {len(got)} sums differ from the engine; first: "
                             f"sum {sid[ends][intact][bad[0]]}: got {got[bad[0]].tolist()}, "
                             f"engine {want[bad[0]].tolist()}")
    dut._log.info("checked %d sums x %d lanes (%d cut by reset) over %d cycles", len(got),
                  cfg.lanes, len(cut), n)


def _rng() -> np.random.Generator:
    return np.random.default_rng(cocotb.RANDOM_SEED)


@cocotb.test()
async def random_and_corner_sums(dut):
    """Random-length sums of random and extreme words, back to back and with gaps."""
    cfg = Config(dut)
    rng = _rng()
    sums = random_sums(cfg, rng, 120)
    sums = sums + sums[::-1]  # the same sums again, now with gaps
    beats = layout_beats(sums, rng, np.repeat([0.0, 0.3], len(sums) // 2))
    expect = engine_sums(cfg, sums)
    rst = np.zeros(len(beats[4]), np.int8)
    await reset(dut)
    seen = await drive(dut, cfg, beats, rst)
    check(dut, cfg, beats, rst, expect, seen)


@cocotb.test()
async def conv_layer_dot_products(dut):
    """FP of a tiny conv (stride 2, pad 1, ragged last output-channel tile) against
    fxtrain.ops.conv2d_fp."""
    cfg = Config(dut)
    rng = _rng()
    sums, expect = conv_sums(cfg, rng)
    beats = layout_beats(sums, rng, 0.1)
    rst = np.zeros(len(beats[4]), np.int8)
    await reset(dut)
    seen = await drive(dut, cfg, beats, rst)
    check(dut, cfg, beats, rst, expect, seen)


@cocotb.test()
async def reset_drops_sums_in_flight(dut):
    """Reset pulses anywhere: sums whose last beat is in flight vanish, sums cut by a
    reset are not compared, every later sum (restarted with in_first) is exact."""
    cfg = Config(dut)
    rng = _rng()
    sums = random_sums(cfg, rng, 80)
    beats = layout_beats(sums, rng, 0.2)
    rst = (rng.random(len(beats[4])) < 0.003).astype(np.int8)
    # and pulses 0, 1 or 2 cycles after chosen last beats, while the sum is in each stage
    ends = np.flatnonzero(beats[3].astype(bool) & beats[4].astype(bool))
    hit = rng.choice(ends[:-1], 24, replace=False)
    rst[hit + np.arange(24) % LATENCY] = 1
    expect = engine_sums(cfg, sums)
    await reset(dut)
    seen = await drive(dut, cfg, beats, rst)
    check(dut, cfg, beats, rst, expect, seen)


#: cnn1x's longest accumulation under fpl19 (batch 40 in 2 groups): the WU sum of conv0 /
#: conv1 over 20 images x 32 x 32 positions
LONGEST_CNN1X_SUM = 20 * 32 * 32


@cocotb.test()
async def longest_cnn1x_sum_is_exact(dut):
    """One WU-length dot product (K = 20480 beats) of the largest products, (-2**15)**2
    = 2**30 each, and one of random words: with ACC_BITS at least the exact width
    (32 + floor(log2 K) = 46 bits, docs/numerics.md section 6) the sums are the exact
    integers (K * 2**30 = 20 * 2**40 here), equal to the engine's; narrower accumulators
    are not exact for this K, so the test only runs on wide builds."""
    cfg = Config(dut)
    k = LONGEST_CNN1X_SUM
    exact_bits = 32 + (k.bit_length() - 1)
    if cfg.acc_bits < exact_bits or cfg.a_w != 16 or cfg.w_w != 16:
        dut._log.info("skipped: needs 16-bit operands and ACC_BITS >= %d, got %d", exact_bits,
                      cfg.acc_bits)
        return
    rng = _rng()
    big = (np.full(k, -(1 << 15), np.int64), np.full((k, cfg.lanes), -(1 << 15), np.int64))
    sums = [big, (_signed(rng, 16, k), _signed(rng, 16, (k, cfg.lanes)))]
    beats = layout_beats(sums, rng, 0.0)
    expect = engine_sums(cfg, sums)
    assert (expect[0] == k << 30).all()  # the engine's sum is the exact integer
    rst = np.zeros(len(beats[4]), np.int8)
    await reset(dut)
    seen = await drive(dut, cfg, beats, rst)
    check(dut, cfg, beats, rst, expect, seen)
