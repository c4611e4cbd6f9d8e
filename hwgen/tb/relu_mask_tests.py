"""cocotb 2.x testbench for hwgen/rtl/relu_mask.v: RTL ReLU/mask against the engine's.

Run it through pytest (tests/hw/test_relu_mask.py) or ``hwgen sim relu_mask``.

Method (as in lowbias32_tests): every beat (data, mask, FP/BP, rule, valid, reset) is
drawn up front with numpy; the per-cycle coroutine only drives pins on the falling edge
and samples the outputs there. At the end the outputs are compared bit for bit with
``fxtrain.ops.relu_fp`` (FP beats, per rule) and ``fxtrain.ops.relu_bp`` (BP beats),
called on the same words:

- the n-th output beat carries the n-th surviving input beat, LATENCY iterations later
  (pins latency, ordering, gaps and that a reset drops the beat being registered);
- out_data == y (FP) or the masked gradient (BP); out_mask == the engine's mask (FP) or
  the stored mask (BP).
"""
from __future__ import annotations

import cocotb
import numpy as np
from hwgen.tb import stream
from hwgen.tb.bus import pack, unpack

LATENCY = 1


def _params(dut) -> tuple[int, int]:
    lanes = len(dut.in_mask)
    return len(dut.in_data) // lanes, lanes


def corner_words(width: int) -> np.ndarray:
    lo, hi = -(1 << (width - 1)), (1 << (width - 1)) - 1
    return np.array([0, 1, -1, 2, -2, lo, hi, lo + 1, hi - 1], dtype=np.int64)


def bits(mask: np.ndarray) -> list[int]:
    """[beats, lanes] 0/1 -> one int per beat, lane i in bit i."""
    return (mask.astype(np.int64) << np.arange(mask.shape[1], dtype=np.int64)).sum(1).tolist()


INPUTS = ("in_data", "in_mask", "in_bp", "in_rule_gt")


def expected(x: np.ndarray, mask_in: np.ndarray, bp: np.ndarray, gt: np.ndarray, width: int):
    """The engine's answer per beat: FP beats through relu_fp (per rule), BP through relu_bp."""
    from fxtrain.ops import relu_bp, relu_fp

    dtype = np.int8 if width <= 8 else np.int16 if width <= 16 else np.int32 if width <= 32 \
        else np.int64
    xs = x.astype(dtype)
    y = np.zeros_like(x)
    m = np.zeros_like(mask_in)
    for rule, sel in (("ge", ~bp & ~gt), ("gt", ~bp & gt)):
        yy, mm = relu_fp(xs[sel], rule)
        y[sel], m[sel] = yy, mm
    y[bp] = relu_bp(xs[bp], mask_in[bp].astype(np.uint8))
    m[bp] = mask_in[bp]
    return y, m


async def run_and_check(dut, x, mask_in, bp, gt, valid, rst) -> None:
    width, lanes = _params(dut)
    beats = {"in_data": pack(x, width), "in_mask": bits(mask_in), "in_bp": bp.astype(int).tolist(),
             "in_rule_gt": gt.astype(int).tolist()}
    await stream.start(dut, INPUTS)
    seen = await stream.stream(dut, beats, valid, rst, ("out_data", "out_mask"), LATENCY)
    seen_t, seen_data, seen_mask = seen.t, seen["out_data"], seen["out_mask"]
    keep = stream.survivors(valid, rst, LATENCY)
    np.testing.assert_array_equal(seen_t, keep + LATENCY,
                                  err_msg="output cycles (latency/ordering/gaps/reset)")
    y, m = expected(x[keep], mask_in[keep], bp[keep], gt[keep], width)
    got_y = unpack(seen_data, width, lanes)
    got_m = (np.array(seen_mask, np.int64)[:, None] >> np.arange(lanes)) & 1
    np.testing.assert_array_equal(got_y, y, err_msg="out_data vs fxtrain.ops.relu_fp/relu_bp")
    np.testing.assert_array_equal(got_m, m, err_msg="out_mask vs fxtrain.ops.relu_fp mask")
    dut._log.info("checked %d beats x %d lanes (%d FP, %d BP) over %d cycles", len(keep), lanes,
                  int((~bp[keep]).sum()), int(bp[keep].sum()), len(valid))


def _rng() -> np.random.Generator:
    return np.random.default_rng(cocotb.RANDOM_SEED)


def draw_words(rng, n: int, lanes: int, width: int) -> np.ndarray:
    """Random words with plenty of 0, +-1 and the extreme codes (the cases the rules split)."""
    lo, hi = -(1 << (width - 1)), (1 << (width - 1))
    x = rng.integers(lo, hi, (n, lanes), dtype=np.int64)
    special = rng.random((n, lanes)) < 0.3
    x[special] = rng.choice(corner_words(width), int(special.sum()))
    return x


@cocotb.test()
async def corners_and_random_stream(dut):
    """Every corner word under FP/ge, FP/gt and BP with both mask values, then random beats
    (mixed FP/BP and rules) back to back and with gaps."""
    width, lanes = _params(dut)
    rng = _rng()
    cw = corner_words(width)
    # corners: each corner word in every lane position, under the four (mode, rule/mask) cases
    reps = -(-len(cw) // lanes) * lanes
    cx = np.resize(cw, reps).reshape(-1, lanes)
    cx = np.concatenate([cx, np.roll(cx, 1, axis=1)])
    nc = len(cx)
    x = [cx, cx, cx, cx]
    bp = [np.zeros(nc, bool), np.zeros(nc, bool), np.ones(nc, bool), np.ones(nc, bool)]
    gt = [np.zeros(nc, bool), np.ones(nc, bool), np.zeros(nc, bool), np.ones(nc, bool)]
    mk = [rng.integers(0, 2, (nc, lanes)).astype(bool), rng.integers(0, 2, (nc, lanes)).astype(bool),
          np.zeros((nc, lanes), bool), np.ones((nc, lanes), bool)]
    n = 3000
    x.append(draw_words(rng, n, lanes, width))
    bp.append(np.repeat(rng.random(n // 50) < 0.5, 50))  # FP and BP stretches
    bp[-1][rng.random(n) < 0.1] ^= True  # and single switches
    gt.append(rng.random(n) < 0.5)
    mk.append(rng.random((n, lanes)) < 0.5)
    x, bp, gt, mk = (np.concatenate(a) for a in (x, bp, gt, mk))
    valid = np.ones(len(x), np.int8)
    valid[4 * nc + n // 2:] = rng.random(len(x) - 4 * nc - n // 2) < 0.6  # gaps in the second half
    rst = np.zeros(len(x), np.int8)
    await run_and_check(dut, x, mk, bp, gt, valid, rst)


@cocotb.test()
async def reset_drops_beats(dut):
    """Reset pulses in a busy stream drop exactly the beat being registered."""
    width, lanes = _params(dut)
    rng = _rng()
    n = 800
    x = draw_words(rng, n, lanes, width)
    valid = (rng.random(n) < 0.85).astype(np.int8)
    rst = (rng.random(n) < 0.05).astype(np.int8)
    rst[:4] = 1
    await run_and_check(dut, x, rng.random((n, lanes)) < 0.5, rng.random(n) < 0.5,
                        rng.random(n) < 0.5, valid, rst)
