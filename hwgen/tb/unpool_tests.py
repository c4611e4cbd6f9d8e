"""cocotb 2.x testbench for hwgen/rtl/unpool.v: the max-pool gradient scatter against the engine's.

Run it through pytest (tests/hw/test_unpool.py) or ``hwgen sim unpool``.

Method: gradients/argmaxes, the offer pattern (when in_valid may go high), the out_ready
pattern and reset pulses are drawn up front with numpy. Per cycle the coroutine, on the
falling edge, drives out_ready, lets it settle (1 ps) so it can read in_ready, records
an output transfer (out_valid & out_ready), and offers the next beat; an offered beat is
taken at the next rising edge iff in_ready was high. At the end:

- values: the beats' gradients are laid out as one [1, LANES, 1, n] tensor and
  ``fxtrain.ops.maxpool_bp`` scatters them into [1, LANES, K, K*n]; window j of lane l is
  columns j*K .. j*K+K-1, and every transfer must equal the engine's word at its
  (beat, out_pos); out_last marks the last position;
- cycles: from the accept cycles and the out_ready pattern the documented handshake
  fixes every transfer's cycle and position (first word the cycle after the accept,
  one position per ready cycle, a reset abandons the window, a beat accepted with rst
  is dropped); the observed transfers must be exactly those;
- throughput: with in_valid and out_ready held high the output never idles.
"""
from __future__ import annotations

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, FallingEdge, Timer
from hwgen.tb.bus import pack, unpack


def _params(dut) -> tuple[int, int, int, int]:
    """(DATA_WIDTH, LANES, K, ARG_WIDTH) from the DUT's parameters and port widths."""
    k = int(dut.K.value)
    lanes = int(dut.LANES.value)
    return len(dut.in_data) // lanes, lanes, k, len(dut.out_pos)


def storage_dtype(width: int):
    return np.int8 if width <= 8 else np.int16 if width <= 16 else np.int32 if width <= 32 \
        else np.int64


def engine_windows(e: np.ndarray, arg: np.ndarray, k: int, width: int) -> np.ndarray:
    """e, arg [n, lanes] -> the engine's scattered windows [n, lanes, K*K] (row-major)."""
    from fxtrain.ops import maxpool_bp

    n, lanes = e.shape
    out = maxpool_bp(e.T[None, :, None, :].astype(storage_dtype(width)),
                     np.ascontiguousarray(arg.T[None, :, None, :]).astype(np.uint8), (k, k * n), k)
    assert out.shape == (1, lanes, k, k * n)
    return out[0].reshape(lanes, k, n, k).transpose(2, 0, 1, 3).reshape(n, lanes, k * k)


def draw_beats(rng, n: int, lanes: int, kk: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Directed beats (every argmax with every corner gradient; for K > 4 every argmax once)
    then random ones."""
    lo, hi = -(1 << (width - 1)), (1 << (width - 1)) - 1
    corners = np.array([0, 1, -1, lo, hi, lo + 1, hi - 1], np.int64)
    if kk <= 16:  # every argmax with every corner gradient
        de = np.repeat(corners, kk)
        da = np.tile(np.arange(kk), len(corners))
    else:  # every argmax once, the corners cycling through them
        da = np.arange(kk)
        de = np.resize(corners, kk)
    de = np.stack([np.roll(de, lane) for lane in range(lanes)], axis=1)
    da = np.stack([np.roll(da, 3 * lane) for lane in range(lanes)], axis=1)
    re = rng.integers(lo, hi + 1, (n, lanes), dtype=np.int64)
    pick = rng.random((n, lanes)) < 0.2
    re[pick] = rng.choice(corners, int(pick.sum()))
    ra = rng.integers(0, kk, (n, lanes), dtype=np.int64)
    return np.concatenate([de, re]), np.concatenate([da, ra])


def expected_transfers(accepts: list[tuple[int, int]], ready: np.ndarray, rst: np.ndarray,
                       kk: int, n_iter: int) -> list[tuple[int, int, int]]:
    """(cycle, beat, position) of every output transfer the handshake rules predict."""
    out = []
    for ta, beat in accepts:
        p = 0
        for t in range(ta + 1, n_iter):
            if ready[t]:
                out.append((t, beat, p))
                p += 1
            if rst[t] or p == kk:
                break
    return out


async def reset(dut) -> None:
    Clock(dut.clk, 10, unit="ns").start()
    dut.rst.value = 1
    for name in ("in_valid", "in_data", "in_arg", "out_ready"):
        getattr(dut, name).value = 0
    await ClockCycles(dut.clk, 4)
    await FallingEdge(dut.clk)
    dut.rst.value = 0


async def drive(dut, e_bus, arg_bus, offer, ready, rst):
    """Run the handshake; return (accepts [(cycle, beat)], transfers [(cycle, beat, pos, last)],
    transfer data buses). A beat accepted together with rst is not listed (it is dropped)."""
    in_valid, in_ready, in_data, in_arg = dut.in_valid, dut.in_ready, dut.in_data, dut.in_arg
    out_valid, out_ready, out_data = dut.out_valid, dut.out_ready, dut.out_data
    out_pos, out_last, in_rst = dut.out_pos, dut.out_last, dut.rst
    n_iter, n_beats = len(offer), len(e_bus)
    offer_l, ready_l, rst_l = offer.tolist(), ready.tolist(), rst.tolist()
    accepts, transfers, data = [], [], []
    beat, holding = 0, -1
    last_valid = last_rst = last_ready = 0
    falling, settle = FallingEdge(dut.clk), Timer(1, "ps")
    for t in range(n_iter):
        await falling
        r = ready_l[t]
        if r != last_ready:
            out_ready.value = last_ready = r
        await settle
        if r and out_valid.value:
            transfers.append((t, holding, int(out_pos.value), int(out_last.value)))
            data.append(int(out_data.value))
        v = 1 if (offer_l[t] and beat < n_beats) else 0
        if v != last_valid:
            in_valid.value = last_valid = v
        if rst_l[t] != last_rst:
            in_rst.value = last_rst = rst_l[t]
        if v:
            in_data.value = e_bus[beat]
            in_arg.value = arg_bus[beat]
            if in_ready.value:
                if not rst_l[t]:
                    accepts.append((t, beat))
                    holding = beat
                beat += 1
    return accepts, transfers, data


async def run_and_check(dut, e, arg, offer, ready, rst, dense_beats: int = 0) -> None:
    width, lanes, k, arg_width = _params(dut)
    kk = k * k
    await reset(dut)
    accepts, transfers, data = await drive(dut, pack(e, width), pack(arg, arg_width), offer,
                                           ready, rst)
    n_iter = len(offer)
    want = expected_transfers(accepts, ready, rst, kk, n_iter)
    got = [tr[:3] for tr in transfers]
    assert got == want, ("transfer cycles/beats/positions differ from the handshake rules; "
                         f"first difference at {next((i for i, (a, b) in enumerate(zip(got, want)) if a != b), min(len(got), len(want)))}"
                         f" (got {len(got)}, expected {len(want)})")
    if transfers:
        cyc, beats, pos, last = (np.array(c, np.int64) for c in zip(*transfers))
        np.testing.assert_array_equal(last, (pos == kk - 1).astype(np.int64), err_msg="out_last")
        windows = engine_windows(e, arg, k, width)
        np.testing.assert_array_equal(unpack(data, width, lanes), windows[beats, :, pos],
                                      err_msg="out_data vs fxtrain.ops.maxpool_bp")
        if dense_beats:  # offered and ready every cycle: one word per cycle, no bubble
            first = cyc[beats < dense_beats]
            np.testing.assert_array_equal(first, first[0] + np.arange(len(first)),
                                          err_msg="bubbles in the back-to-back phase")
            assert len(first) == dense_beats * kk, len(first)
    dut._log.info("checked %d beats (%d transfers x %d lanes, K=%d) over %d cycles", len(accepts),
                  len(transfers), lanes, k, n_iter)


def _rng() -> np.random.Generator:
    return np.random.default_rng(cocotb.RANDOM_SEED)


@cocotb.test()
async def directed_and_random_beats(dut):
    """Every argmax with corner gradients, then random beats: first offered and drained
    back to back, then with random gaps on the input and stalls on the output."""
    width, lanes, k, _ = _params(dut)
    kk = k * k
    rng = _rng()
    e, arg = draw_beats(rng, max(2, 4000 // kk), lanes, kk, width)
    n = len(e)
    dense = n // 2
    n_iter = dense * kk + 2 + (n - dense) * kk * 3
    offer = np.ones(n_iter, np.int8)
    ready = np.ones(n_iter, np.int8)
    start = dense * kk + 1  # the dense beats' last word is taken in cycle dense*K*K
    offer[start:] = rng.random(n_iter - start) < 0.7
    ready[start:] = rng.random(n_iter - start) < 0.7
    ready[-4 * kk:] = 1  # drain
    rst = np.zeros(n_iter, np.int8)
    await run_and_check(dut, e, arg, offer, ready, rst, dense_beats=dense)


@cocotb.test()
async def stalls_and_reset(dut):
    """Long output stalls, reset pulses mid-window and together with an accept."""
    width, lanes, k, _ = _params(dut)
    kk = k * k
    rng = _rng()
    e, arg = draw_beats(rng, 300, lanes, kk, width)
    n_iter = len(e) * kk * 2
    offer = (rng.random(n_iter) < 0.8).astype(np.int8)
    ready = np.repeat(rng.random(n_iter // 8 + 1) < 0.6, 8)[:n_iter].astype(np.int8)
    rst = (rng.random(n_iter) < 0.01).astype(np.int8)
    await run_and_check(dut, e, arg, offer, ready, rst)
