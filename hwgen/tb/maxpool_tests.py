"""cocotb 2.x testbench for hwgen/rtl/maxpool.v: streamed K x K max-pool against the engine's.

Run it through pytest (tests/hw/test_maxpool.py) or ``hwgen sim maxpool``.

Method (as in lowbias32_tests): windows, valid gaps and reset pulses are drawn up front
with numpy; the per-cycle coroutine only drives one beat and samples the outputs on the
falling edge. The windows the DUT must complete follow from the documented framing (K*K
valid beats per window, counted from reset; a reset discards the partial window and the
beat sampled with it). Their words are laid out as one [1, LANES, K, K*n] tensor, window
j of lane l at columns j*K .. j*K+K-1, and ``fxtrain.ops.maxpool_fp`` pools it with
stride K, so the engine sees exactly the windows the DUT streamed. Checked bit for bit:

- an output beat appears exactly one iteration after the last word of every completed
  window, and at no other time;
- out_data == the engine's max, out_arg == the engine's argmax (first maximum).
"""
from __future__ import annotations

import cocotb
import numpy as np
from hwgen.tb import stream
from hwgen.tb.bus import pack, unpack

LATENCY = 1


def _params(dut) -> tuple[int, int, int, int]:
    """(DATA_WIDTH, LANES, K, ARG_WIDTH) read from the DUT's parameters and port widths."""
    k = int(dut.K.value)
    lanes = int(dut.LANES.value)
    return len(dut.in_data) // lanes, lanes, k, len(dut.out_arg) // lanes


def storage_dtype(width: int):
    return np.int8 if width <= 8 else np.int16 if width <= 16 else np.int32 if width <= 32 \
        else np.int64


def engine_pool(windows: np.ndarray, k: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """windows [n, lanes, K*K] (row-major window order) -> engine (max, argmax), each [n, lanes]."""
    from fxtrain.ops import maxpool_fp

    n, lanes, _ = windows.shape
    a = windows.reshape(n, lanes, k, k).transpose(1, 2, 0, 3).reshape(1, lanes, k, n * k)
    y, arg = maxpool_fp(a.astype(storage_dtype(width)), k)
    assert y.shape == (1, lanes, 1, n) and arg.dtype == np.uint8
    return y[0, :, 0, :].T.astype(np.int64), arg[0, :, 0, :].T.astype(np.int64)


def directed_windows(k: int, lanes: int, width: int) -> np.ndarray:
    """[n, lanes, K*K]: the maximum alone at every position; ties at every pair of positions
    (the earlier one must win; for K > 4 the pairs with the first or last position and 32
    more); all-equal windows of every corner word (argmax 0); the
    extremes at the first/last position. Lanes see them rotated so each lane gets each."""
    kk = k * k
    lo, hi = -(1 << (width - 1)), (1 << (width - 1)) - 1
    wins = []
    for p in range(kk):  # unique maximum at p, over min words and over zeros
        w = np.full(kk, lo)
        w[p] = hi
        wins.append(w)
        w = np.zeros(kk, np.int64)
        w[p] = 1
        wins.append(w)
    pairs = [(p, q) for p in range(kk) for q in range(p + 1, kk)]
    if len(pairs) > 64:  # large K: ties with the first and the last position, and a sample
        pick = np.random.default_rng(kk).choice(len(pairs), 32, replace=False)
        pairs = sorted({(0, q) for q in range(1, kk)} | {(p, kk - 1) for p in range(kk - 1)}
                       | {pairs[i] for i in pick})
    for p, q in pairs:  # two-way ties at (p, q): the earlier position wins
        for base, top in ((0, 1), (lo, hi), (lo, lo + 1), (-2, -1)):
            w = np.full(kk, base)
            w[[p, q]] = top
            wins.append(w)
    for v in (0, 1, -1, lo, hi, lo + 1, hi - 1):  # all equal: argmax 0
        wins.append(np.full(kk, v))
    wins.append(np.minimum(np.arange(kk) + lo, hi))  # ascending from min (to max)
    wins.append(np.maximum(hi - np.arange(kk), lo))  # descending from max: argmax 0
    base = np.array(wins, dtype=np.int64)
    return np.stack([np.roll(base, -lane, axis=0) for lane in range(lanes)], axis=1)


def random_windows(rng, n: int, lanes: int, kk: int, width: int) -> np.ndarray:
    """[n, lanes, K*K]: full-range words, tiny ranges (many ties), extremes and flat windows."""
    lo, hi = -(1 << (width - 1)), (1 << (width - 1)) - 1
    full = rng.integers(lo, hi + 1, (n, lanes, kk), dtype=np.int64)
    tiny = rng.integers(-1, 2, (n, lanes, kk), dtype=np.int64)
    ext = rng.choice(np.array([lo, hi, lo + 1, hi - 1]), (n, lanes, kk))
    flat = np.broadcast_to(rng.integers(lo, hi + 1, (n, lanes, 1)), (n, lanes, kk))
    kind = rng.choice(4, (n, lanes, 1), p=[0.4, 0.3, 0.15, 0.15])
    return np.choose(kind, [full, tiny, ext, flat])


def completed_windows(valid: np.ndarray, rst: np.ndarray, kk: int) -> np.ndarray:
    """Iterations of the words of every window the DUT completes, [n, K*K], from the framing
    rule: K*K valid beats from reset; rst drops the beat sampled with it and the partial window."""
    wins, cur = [], []
    for t in np.flatnonzero(valid.astype(bool) | rst.astype(bool)).tolist():
        if rst[t]:
            cur = []
            continue
        cur.append(t)
        if len(cur) == kk:
            wins.append(cur)
            cur = []
    return np.array(wins, dtype=np.int64).reshape(-1, kk)


async def run_and_check(dut, words: np.ndarray, valid: np.ndarray, rst: np.ndarray) -> None:
    """words [iterations, lanes]: the word driven in each iteration (used where valid)."""
    width, lanes, k, arg_width = _params(dut)
    await stream.start(dut, ("in_data",))
    seen = await stream.stream(dut, {"in_data": pack(words, width)}, valid, rst, ("out_data", "out_arg"),
                               LATENCY)
    seen_t, seen_data, seen_arg = seen.t, seen["out_data"], seen["out_arg"]
    done = completed_windows(valid, rst, k * k)
    np.testing.assert_array_equal(seen_t, done[:, -1] + LATENCY,
                                  err_msg="output cycles (latency/framing/gaps/reset)")
    assert len(done), "no window completed: the stimulus is too short"
    y, arg = engine_pool(words[done].transpose(0, 2, 1), k, width)
    np.testing.assert_array_equal(unpack(seen_data, width, lanes), y,
                                  err_msg="out_data vs fxtrain.ops.maxpool_fp max")
    np.testing.assert_array_equal(unpack(seen_arg, arg_width, lanes, signed=False), arg,
                                  err_msg="out_arg vs fxtrain.ops.maxpool_fp argmax")
    dut._log.info("checked %d windows x %d lanes (K=%d) over %d cycles", len(done), lanes, k,
                  len(valid))


def schedule(windows: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Spread the windows' words over the valid iterations: [iterations, lanes]."""
    n, lanes, kk = windows.shape
    beats = windows.transpose(0, 2, 1).reshape(n * kk, lanes)
    live = np.flatnonzero(valid)
    assert len(live) == len(beats)
    words = np.zeros((len(valid), lanes), np.int64)
    words[live] = beats
    return words


def _rng() -> np.random.Generator:
    return np.random.default_rng(cocotb.RANDOM_SEED)


@cocotb.test()
async def directed_and_random_windows(dut):
    """Directed tie/corner windows, then random windows back to back, then with gaps
    anywhere (also inside windows) and idle stretches."""
    width, lanes, k, _ = _params(dut)
    kk = k * k
    rng = _rng()
    n_rand = max(2, 4800 // kk)
    wins = np.concatenate([directed_windows(k, lanes, width),
                           random_windows(rng, n_rand, lanes, kk, width)])
    n_beats = len(wins) * kk
    dense = n_beats // 2
    gappy = (rng.random(2 * (n_beats - dense)) < 0.5).astype(np.int8)
    gappy[rng.integers(0, len(gappy) - 20, 4)[:, None] + np.arange(20)] = 0
    extra = (n_beats - dense) - int(gappy.sum())  # top up so exactly n_beats are valid
    valid = np.concatenate([np.ones(dense, np.int8), gappy, np.ones(max(extra, 0), np.int8)])
    if extra < 0:
        valid[np.flatnonzero(valid)[extra:]] = 0
    rst = np.zeros(len(valid), np.int8)
    await run_and_check(dut, schedule(wins, valid), valid, rst)


@cocotb.test()
async def reset_discards_partial_window(dut):
    """Reset pulses anywhere: between windows, inside a window, together with a window's
    last word (that window never comes out), and while an output is showing."""
    width, lanes, k, _ = _params(dut)
    kk = k * k
    rng = _rng()
    n = max(2500, 20 * kk)
    valid = (rng.random(n) < 0.8).astype(np.int8)
    rst = (rng.random(n) < 0.1 / kk).astype(np.int8)  # most windows still complete
    rst[:3] = 1
    # put resets on the last word of some completed windows (found by the framing rule)
    done = completed_windows(valid, rst, kk)
    hit = done[rng.random(len(done)) < 0.05, -1]
    rst[hit] = 1
    words = random_windows(rng, n, lanes, 1, width)[:, :, 0]
    await run_and_check(dut, words, valid, rst)
