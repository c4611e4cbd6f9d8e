"""cocotb 2.x testbench for hwgen/rtl/hinge_grad.v: the squared-hinge gradient against the engine's.

Run it through pytest (tests/hw/test_hinge_grad.py) or ``hwgen sim hinge_grad``.

Method (as in lowbias32_tests): logits, targets, valid and reset patterns are drawn up
front; the per-cycle coroutine only drives a beat and samples the output on the falling
edge. At the end every output beat is compared bit for bit with
``fxtrain.ops.squared_hinge_grad(z, t, F_Z, w=DATA_WIDTH)`` on the same logits, and its
cycle with the input cycle + LATENCY (a beat registered together with rst is dropped).
Corners: z*t exactly 1 (z = +-2**F_Z), one code either side of it, the min/max codes and
their neighbours, 0 and +-1, each under both targets.
"""
from __future__ import annotations

import cocotb
import numpy as np
from hwgen.tb import stream
from hwgen.tb.bus import pack, unpack

LATENCY = 1


def _params(dut) -> tuple[int, int, int]:
    """(DATA_WIDTH, LANES, F_Z) from the DUT's parameters and port widths."""
    lanes = len(dut.in_target)
    return len(dut.in_data) // lanes, lanes, int(dut.F_Z.value)


def corner_logits(width: int, f_z: int) -> np.ndarray:
    """Codes around +-2**F_Z (where they exist), the range ends, 0 and +-1."""
    lo, hi = -(1 << (width - 1)), (1 << (width - 1)) - 1
    near = []
    if f_z <= width - 1:
        one = 1 << f_z
        near = [one + d for d in range(-2, 3)] + [-one + d for d in range(-2, 3)]
    z = np.array(near + [0, 1, -1, lo, hi, lo + 1, hi - 1, lo + 2, hi - 2], dtype=np.int64)
    return np.unique(z[(z >= lo) & (z <= hi)])


def draw_logits(rng, n: int, lanes: int, width: int, f_z: int) -> np.ndarray:
    lo, hi = -(1 << (width - 1)), (1 << (width - 1))
    z = rng.integers(lo, hi, (n, lanes), dtype=np.int64)
    pick = rng.random((n, lanes)) < 0.3
    z[pick] = rng.choice(corner_logits(width, f_z), int(pick.sum()))
    if f_z <= width - 1:  # dense around the z*t = 1 boundary on both sides
        one = 1 << f_z
        near = rng.random((n, lanes)) < 0.2
        z[near] = np.clip(rng.choice([one, -one], int(near.sum()))
                          + rng.integers(-8, 9, int(near.sum())), lo, hi - 1)
    return z


def engine_grad(z: np.ndarray, pos: np.ndarray, width: int, f_z: int) -> np.ndarray:
    from fxtrain.ops import squared_hinge_grad

    t = np.where(pos, 1, -1).astype(np.int8)
    g = squared_hinge_grad(z, t, f_z, width)
    return np.asarray(g, dtype=np.int64)


async def run_and_check(dut, z: np.ndarray, pos: np.ndarray, valid, rst) -> None:
    width, lanes, f_z = _params(dut)
    target = (pos.astype(np.int64) << np.arange(lanes, dtype=np.int64)).sum(1).tolist()
    await stream.start(dut, ("in_data", "in_target"))
    seen = await stream.stream(dut, {"in_data": pack(z, width), "in_target": target}, valid, rst,
                               ("out_data",), LATENCY)
    keep = stream.survivors(valid, rst, LATENCY)
    np.testing.assert_array_equal(seen.t, keep + LATENCY,
                                  err_msg="output cycles (latency/ordering/gaps/reset)")
    np.testing.assert_array_equal(unpack(seen["out_data"], width, lanes),
                                  engine_grad(z[keep], pos[keep], width, f_z),
                                  err_msg="out_data vs fxtrain.ops.squared_hinge_grad")
    dut._log.info("checked %d beats x %d lanes (F_Z=%d, %d bits) over %d cycles", len(keep),
                  lanes, f_z, width, len(valid))


def _rng() -> np.random.Generator:
    return np.random.default_rng(cocotb.RANDOM_SEED)


@cocotb.test()
async def corners_and_random_stream(dut):
    """Every corner logit under both targets in every lane, then random beats back to back
    and with gaps."""
    width, lanes, f_z = _params(dut)
    rng = _rng()
    cz = corner_logits(width, f_z)
    cz = np.concatenate([cz, cz])
    cpos = np.repeat([True, False], len(cz) // 2)
    reps = -(-len(cz) // lanes) * lanes
    cz, cpos = np.resize(cz, reps), np.resize(cpos, reps)
    cz = np.stack([np.roll(cz, lane) for lane in range(lanes)], axis=1)
    cpos = np.stack([np.roll(cpos, lane) for lane in range(lanes)], axis=1)
    n = 3000
    z = np.concatenate([cz, draw_logits(rng, n, lanes, width, f_z)])
    pos = np.concatenate([cpos, rng.random((n, lanes)) < 0.5])
    valid = np.ones(len(z), np.int8)
    valid[len(z) // 2:] = rng.random(len(z) - len(z) // 2) < 0.6
    await run_and_check(dut, z, pos, valid, np.zeros(len(z), np.int8))


@cocotb.test()
async def reset_drops_beats(dut):
    """Reset pulses in a busy stream drop exactly the beat being registered."""
    width, lanes, f_z = _params(dut)
    rng = _rng()
    n = 600
    valid = (rng.random(n) < 0.85).astype(np.int8)
    rst = (rng.random(n) < 0.05).astype(np.int8)
    rst[:3] = 1
    await run_and_check(dut, draw_logits(rng, n, lanes, width, f_z), rng.random((n, lanes)) < 0.5,
                        valid, rst)
