"""One stream driver and monitor for the cocotb benches of valid-qualified pipelines.

The library's streaming units share one protocol: ``clk``, synchronous active-high
``rst``, an ``in_valid`` that qualifies the input pins of its beat, and an ``out_valid``
that qualifies the outputs LATENCY cycles later, with no back-pressure. A reset drops
the beats inside the pipeline. The benches draw every beat up front with numpy, and
this module replays them cycle by cycle:

- :func:`start` starts the clock, holds ``rst`` for a few cycles with every input idle
  at 0, and releases it on a falling edge;
- :func:`stream` is one coroutine per cycle: on each falling edge it samples the
  outputs (when ``out_valid``), then drives ``valid[t]``, ``rst[t]`` and, on valid
  cycles, the next beat's input pins. It drains ``latency + drain`` idle cycles and
  returns a :class:`Seen` (the cycle and the pin values of every output beat);
- :func:`survivors` says which input cycles must come out: valid, with no reset during
  the ``latency`` cycles the beat spends in the pipeline. Beat ``keep[i]`` leaves at
  cycle ``keep[i] + latency``.

Driving on the falling edge and sampling there keeps the bench free of races with the
DUT's rising-edge registers. ``in_valid`` and ``rst`` are written only when they change
and the input pins only on valid cycles: in gaps they are don't-care.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Sequence

import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, FallingEdge


def survivors(valid: np.ndarray, rst: np.ndarray, latency: int) -> np.ndarray:
    """Input cycles whose beat reaches the output: valid, and no reset in the cycle it
    is registered nor in the ``latency - 1`` cycles after."""
    ok = np.asarray(valid).astype(bool).copy()
    padded = np.concatenate([np.asarray(rst).astype(bool), np.zeros(latency, bool)])
    for d in range(latency):
        ok &= ~padded[d:d + len(ok)]
    return np.flatnonzero(ok)


async def start(dut, inputs: Iterable[str], reset_cycles: int = 4, period_ns: int = 10) -> None:
    """Clock ``dut.clk``, hold ``dut.rst`` with ``inputs`` (and ``in_valid``) at 0 for
    ``reset_cycles``, release it on a falling edge."""
    Clock(dut.clk, period_ns, unit="ns").start()
    dut.rst.value = 1
    for name in {"in_valid", *inputs}:
        getattr(dut, name).value = 0
    await ClockCycles(dut.clk, reset_cycles)
    await FallingEdge(dut.clk)
    dut.rst.value = 0


@dataclass
class Seen:
    """What the monitor saw: ``t`` (cycle of each output beat) and per output pin the
    unsigned integer value of each beat (``seen["out_data"]``)."""

    t: np.ndarray
    values: dict[str, list[int]] = field(default_factory=dict)

    def __getitem__(self, pin: str) -> list[int]:
        return self.values[pin]

    def __len__(self) -> int:
        return len(self.t)


async def stream(dut, columns: dict[str, Sequence[int]], valid: np.ndarray, rst: np.ndarray,
                 outputs: Sequence[str], latency: int, per: str = "cycle", drain: int = 2,
                 in_valid: str = "in_valid", out_valid: str = "out_valid") -> Seen:
    """Replay one stream (see the module docstring).

    ``columns`` maps input pin names to one value per cycle (``per="cycle"``: column[t]
    is driven at cycle t if valid) or per beat (``per="beat"``: the n-th valid cycle
    drives column[n]). ``outputs`` are the pins sampled with ``out_valid``.
    """
    if per not in ("cycle", "beat"):
        raise ValueError(f"per must be 'cycle' or 'beat', got {per!r}")
    pins = [(getattr(dut, name), list(col)) for name, col in columns.items()]
    outs = [(name, getattr(dut, name)) for name in outputs]
    v_pin, o_pin, r_pin = getattr(dut, in_valid), getattr(dut, out_valid), dut.rst
    n = len(valid)
    valid_l, rst_l = np.asarray(valid).astype(int).tolist(), np.asarray(rst).astype(int).tolist()
    seen_t: list[int] = []
    seen = {name: [] for name in outputs}
    last_valid = last_rst = 0
    beat = 0
    falling = FallingEdge(dut.clk)
    for t in range(n + latency + drain):
        await falling
        if o_pin.value:
            seen_t.append(t)
            for name, handle in outs:
                seen[name].append(int(handle.value))  # int(): 1-bit pins are Logic
        v = valid_l[t] if t < n else 0
        r = rst_l[t] if t < n else 0
        if v != last_valid:
            v_pin.value = last_valid = v
        if r != last_rst:
            r_pin.value = last_rst = r
        if v:  # input pins are don't-care in gaps: skip the writes
            i = t if per == "cycle" else beat
            for handle, col in pins:
                handle.value = col[i]
            beat += 1
    return Seen(np.array(seen_t, np.int64), seen)
