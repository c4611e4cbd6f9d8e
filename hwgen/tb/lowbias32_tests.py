"""cocotb 2.x testbench for hwgen/rtl/lowbias32.v: the RTL hash against the engine's.

Run it through pytest (tests/hw/test_lowbias32.py) or ``hwgen sim lowbias32``.

Method: all stimulus (words, valid and reset patterns) is drawn up front with numpy, the
expected output schedule is derived from it with array arithmetic, and the per-cycle
coroutine only drives and samples pins. Inputs are driven and outputs sampled on the
falling edge, half a cycle away from the rising edge that registers them, so the
result does not depend on the simulator's ordering within a time step. Everything is
compared at the end, bit for bit, against ``fxtrain.numerics.lowbias32``:

- out_data of the n-th output == lowbias32(in_data of the n-th surviving input);
- out_tag travels with its word;
- a word driven in loop iteration t comes out in iteration t + LATENCY exactly
  (this pins latency, ordering and that gaps pass through as gaps);
- a word survives iff rst is low in iterations t, t+1, t+2 (reset flushes the pipeline).
"""
from __future__ import annotations

import cocotb
import numpy as np
from hwgen.tb import stream

LATENCY = 3
# Corner words, and their hashes worked out with plain Python ints (independent of
# both the engine and the RTL) so a wrong engine cannot make this bench pass.
KNOWN_ANSWERS = {0x00000000: 0x00000000, 0x00000001: 0x688990C0, 0x00000002: 0xD1132181,
                 0xFFFFFFFF: 0x6768824A, 0x80000000: 0xCC4B4124}
CORNERS = np.array(list(KNOWN_ANSWERS) + [0x7FFFFFFF, 0x0000FFFF, 0xFFFF0000, 0x00008000,
                                          0x00010000, 0x55555555, 0xAAAAAAAA], dtype=np.uint32)


def engine_lowbias32(words: np.ndarray) -> np.ndarray:
    """The engine's hash (imported lazily: the bench must load even if the engine is broken)."""
    from fxtrain.numerics import lowbias32

    got = {k: int(v) for k, v in zip(KNOWN_ANSWERS, lowbias32(np.array(list(KNOWN_ANSWERS),
                                                                        dtype=np.uint32)))}
    assert got == KNOWN_ANSWERS, f"engine lowbias32 disagrees with the pinned answers: {got}"
    return np.asarray(lowbias32(words), dtype=np.uint32)


async def drive(dut, data: np.ndarray, valid: np.ndarray, rst: np.ndarray):
    """Reset, then one word per cycle (tag = cycle mod 2**TAG_WIDTH); returns what came out."""
    await stream.start(dut, ("in_data", "in_tag"))
    tag_mask = (1 << len(dut.in_tag)) - 1
    cols = {"in_data": data.tolist(), "in_tag": [t & tag_mask for t in range(len(data))]}
    return await stream.stream(dut, cols, valid, rst, ("out_data", "out_tag"), LATENCY)


def check(dut, data, valid, rst, seen: stream.Seen) -> None:
    seen_t = seen.t
    seen_data = np.array(seen["out_data"], np.uint32)
    seen_tag = np.array(seen["out_tag"], np.int64)
    keep = stream.survivors(valid, rst, LATENCY)
    np.testing.assert_array_equal(seen_t, keep + LATENCY,
                                  err_msg="output cycles (latency/ordering/gaps/reset)")
    np.testing.assert_array_equal(seen_data, engine_lowbias32(data[keep]),
                                  err_msg="out_data vs fxtrain.numerics.lowbias32")
    np.testing.assert_array_equal(seen_tag, keep & ((1 << len(dut.in_tag)) - 1),
                                  err_msg="out_tag")
    dut._log.info("checked %d words over %d cycles", len(keep), len(valid))


def _rng() -> np.random.Generator:
    return np.random.default_rng(cocotb.RANDOM_SEED)


@cocotb.test()
async def corners_and_random_stream(dut):
    """Corners, then random words back-to-back, then with random gaps and idle stretches."""
    rng = _rng()
    n_dense, n_gappy = 1024, 4800
    gaps = (rng.random(n_gappy) < 0.6).astype(np.int8)
    gaps[rng.integers(0, n_gappy - 20, 8)[:, None] + np.arange(20)] = 0  # idle stretches
    valid = np.concatenate([np.ones(len(CORNERS) + n_dense, np.int8), gaps])
    live = np.flatnonzero(valid)
    data = np.zeros(len(valid), np.uint32)
    data[live] = np.concatenate(
        [CORNERS, rng.integers(0, 2**32, len(live) - len(CORNERS), dtype=np.uint32)])
    rst = np.zeros(len(valid), np.int8)
    seen = await drive(dut, data, valid, rst)
    check(dut, data, valid, rst, seen)


@cocotb.test()
async def reset_flushes_pipeline(dut):
    """Reset pulses in a busy stream drop exactly the words in flight; reset with in_valid
    high emits nothing."""
    rng = _rng()
    n = 1500
    valid = (rng.random(n) < 0.85).astype(np.int8)
    valid[:40] = 1
    rst = (rng.random(n) < 0.03).astype(np.int8)
    rst[:8] = 1  # reset held while words are offered
    data = rng.integers(0, 2**32, n, dtype=np.uint32)
    seen = await drive(dut, data, valid, rst)
    check(dut, data, valid, rst, seen)
