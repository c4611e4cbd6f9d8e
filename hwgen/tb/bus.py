"""Bus packing shared by the cocotb benches: P lanes of ``width``-bit words in one bus
integer per beat, lane 0 in the lowest bits (the RTL library's lane order)."""
from __future__ import annotations

import numpy as np


def pack(words: np.ndarray, width: int) -> list[int]:
    """[beats, lanes] signed (or unsigned) words -> one unsigned bus int per beat."""
    u = np.asarray(words).astype(np.int64).astype(object) & ((1 << width) - 1)  # any width
    bus = np.zeros(len(u), dtype=object)
    for i in range(u.shape[1]):
        bus = bus + (u[:, i] << (i * width))
    return bus.tolist()


def unpack(buses: list[int], width: int, lanes: int, signed: bool = True) -> np.ndarray:
    """Inverse of :func:`pack`: bus ints -> [beats, lanes] int64 words (two's complement
    when ``signed``)."""
    b = np.array(buses, dtype=object).reshape(-1)
    mask, sign = (1 << width) - 1, (1 << (width - 1)) if signed else 0
    out = np.empty((len(b), lanes), dtype=np.int64)
    for i in range(lanes):
        u = (b >> (i * width)) & mask
        out[:, i] = ((u ^ sign) - sign).astype(np.int64)
    return out
