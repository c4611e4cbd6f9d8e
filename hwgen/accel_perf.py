"""Cycle model of the training accelerator (hwgen/rtl/accel_core.v), per instruction.

It mirrors the controller state by state, so it predicts the simulated cycles of every
instruction (from its fetch to the next fetch) from the program alone:

- fetch and decode: 4 cycles (HALT: 3 until done);
- a DRAM load of n words: ``r + stalls + LATENCY + 1`` with r = n requests, or n/DW
  line requests for a wide load (hwgen.compiler.lines.wide_loads); one request per
  cycle, the last response LATENCY cycles after its request, one cycle to see it;
- per item: 1 cycle to start it, its loads, then
  - MAC ops: the tiles' beats back to back, each tile's drain running beside the next
    tile's beats from a copy of its sums (accel_mac's shadow); a drain feeds one result
    per cycle, or a line of up to DW pixels of a tile row (WU: of a filter's cyclic group)
    when hwgen.compiler.lines.wide_drain holds, a fused ReLU each twice (y, then its mask);
    every feed is written 6 cycles later at the DRAM port, in order, and waits while the
    write-back FIFOs are full; a tile whose last beat comes before the previous drain's
    last feed holds the next tile until its sums can be copied (:func:`_drain_item` steps
    this write by write, in numba); the item ends with a flush until the last write, at
    least 7 cycles;
  - vector ops: one beat per cycle (an element-wise op on DW lanes: one line per beat and
    one line write per result, hwgen.compiler.lines.wide_vector), then
    ``3 + unit latency`` cycles of flush (a fused pool: one more, its argmax line); every DRAM
    stall inside a dense result stream costs one cycle (the write-back FIFO absorbs it
    or, once full, holds the beats back), a 2x2 pool's one result per 4 beats hides them.

DRAM stalls follow the DRAM model's rule: one stall cycle after every STALL_EVERY-th
request (counted over the whole run, reads and writes), so a stall delays a stream only
when it falls between two of its requests. docs/accelerator.md states the measured
agreement with Verilator.
"""
from __future__ import annotations

import numpy as np
from numba import njit

#: the DRAM model's read latency and backpressure period used by hwgen compile/simulate
DRAM_LATENCY = 8
DRAM_STALL_EVERY = 16
MAC_PIPE = 6
_FETCH = 4
_MAC_FLUSH = 7
_RQ_TO_PORT = 6  # drain feed to DRAM write: fx_requant 5 + the write FIFO 1
_UNIT_LATENCY = {"RELU_Y": 1, "RELU_MASK": 1, "RELU_BP": 1, "POOL_Y": 1, "POOL_ARG": 1,
                 "UNPOOL": 1, "LOSS": 1, "ACCUM": 4, "APPLY": 4, "DECAY": 4}


def _ceil(a: int, b: int) -> int:
    return -(-a // b)


def write_back_depth(pox: int, poy: int, pof: int, stall_every: int = DRAM_STALL_EVERY) -> int:
    """Write-back FIFO entries (accel_core WB_DEPTH) that hold every DRAM stall of one
    tile's writes, two per result (a drain with a fused ReLU writes y and its mask), besides
    the 7 in flight and the 2 credits kept free, so that a drain of a tile that follows
    long beats never waits: the least power of two >= 16 and >= 10 + ceil(2 * results /
    stall_every). (The model below steps the FIFO write by write, so it is exact at any
    depth; a deeper FIFO only lets drain-bound phases run further ahead.)"""
    need = 10 + (_ceil(2 * pox * poy * pof, stall_every) if stall_every else 0)
    d = 16
    while d < need:
        d *= 2
    return d


class _Dram:
    """The global request counter that decides where the stalls fall, and the words moved."""

    def __init__(self, stall_every: int):
        self.n = stall_every
        self.g = 0
        self.words = 0

    def stream(self, words: int, moved: int | None = None) -> int:
        """Stall cycles inside a back-to-back stream of ``words`` requests that move
        ``moved`` words (default: one each); counts both."""
        if words <= 0:
            return 0
        self.words += words if moved is None else moved
        g, self.g = self.g, self.g + words
        if not self.n:
            return 0
        return (g + words - 1) // self.n - g // self.n


def _writes_per_result(ins) -> int:
    """2 for a CONV_FP with a fused ReLU (y, then its mask), else 1."""
    return 2 if ins.fused and ins.op == "CONV_FP" else 1


def _tiles(ins, pox: int, poy: int, pof: int, row: int = 1):
    """(beats, results, drain beats) of every tile of one item of a MAC instruction, in
    RTL order; a line drain (``row`` = DW, hwgen.compiler.lines.wide_drain) takes up to
    ``row`` pixels of a tile row (WU: words of a filter's cyclic group) per beat, and the
    drain of a CONV_FP with a fused ReLU takes each beat twice (y, then its mask)."""
    npix = pox * poy
    if ins.op == "CONV_WU":
        beats = ins.gs * ins.H * ins.W
        for to in range(_ceil(ins.O, pof)):
            nf = min(pof, ins.O - to * pof)
            for tc in range(_ceil(ins.C, npix)):
                nc = min(npix, ins.C - tc * npix)
                if row > 1:  # filter f's channels: positions (f + c0) mod POF onwards, in lines
                    r0 = tc * npix % pof
                    drains = sum((s + nc - 1) // row - s // row + 1
                                 for s in ((f + r0) % pof for f in range(nf)))
                else:
                    drains = nf * nc
                for _ in range(ins.K * ins.K):
                    yield beats, nf * nc, drains
        return
    F, R = (ins.C, ins.O) if ins.op == "CONV_BP" else (ins.O, ins.C)
    beats = R * ins.K * ins.K
    two = _writes_per_result(ins)
    for tf in range(_ceil(F, pof)):
        nf = min(pof, F - tf * pof)
        for ty in range(_ceil(ins.H, poy)):
            ny = min(poy, ins.H - ty * poy)
            for tx in range(_ceil(ins.W, pox)):
                nx = min(pox, ins.W - tx * pox)
                yield beats, nf * ny * nx, two * nf * ny * _ceil(nx, row)


def mac_beats(prog: list, pox: int, poy: int, pof: int) -> int:
    """The cycles the lanes multiply in a program, in closed form: the sum over MAC
    instructions of items x tiles x beats per tile (every tile of an instruction has the
    same beats). Equal to the sum of ``accel_cycles(...)["phases"][*]["mac_cycles"]`` and a
    lower bound on its ``total``, so a design search can skip a design whose bound already
    exceeds the best cycles found."""
    total = 0
    for ins in prog:
        if ins.op == "CONV_WU":
            tiles = _ceil(ins.O, pof) * _ceil(ins.C, pox * poy) * ins.K * ins.K
            total += ins.n_items * tiles * ins.gs * ins.H * ins.W
        elif ins.op in ("CONV_FP", "CONV_BP"):
            F, R = (ins.C, ins.O) if ins.op == "CONV_BP" else (ins.O, ins.C)
            tiles = _ceil(F, pof) * _ceil(ins.H, poy) * _ceil(ins.W, pox)
            total += ins.n_items * tiles * R * ins.K * ins.K
    return total


@njit(cache=True, nogil=True)
def _drain_item(beats, drains, cap: int, n: int, g: int):  # pragma: no cover - numba
    """Cycles of one item's MAC tiles (``beats``, ``drains``: int64 arrays in RTL order)
    and flush, from its first beat, and the global request count after its writes.

    A tile's sums are copied to the drain (snap) MAC_PIPE cycles after its last beat, or
    the cycle after the previous tile's drain fed its last result if that is later; the
    drain then feeds one result (a line) per cycle from the next cycle on, beside the next
    tile's beats. The next tile starts right after the last beat when the previous drain
    is done by then, else the cycle after the snap. Each feed reaches the DRAM port 6
    cycles later and is written in order, one per cycle, a cycle later after every n-th
    request (the global count g); a feed waits while the write-back FIFOs hold ``cap``
    results (feed j waits for the write of feed j - cap). The flush ends the cycle after
    the last write, at least 7 cycles after the last feed."""
    ring = np.zeros(max(cap, 1), np.int64)  # the write cycles of the last cap feeds
    j = 0                                   # feeds (= writes) of the item so far
    start, last, w = 0, -1, -2
    for k in range(beats.shape[0]):
        end = start + beats[k] - 1
        snap = end + MAC_PIPE if k == 0 else max(end + MAC_PIPE, last + 1)
        c = snap + 1
        for _ in range(drains[k]):
            if j >= cap:
                c = max(c, ring[j % cap] + 1)  # the write of feed j - cap frees an entry
            stall = 1 if n > 0 and g > 0 and g % n == 0 else 0
            w = max(c + _RQ_TO_PORT, w + 1 + stall)
            g += 1
            ring[j % cap] = w
            j += 1
            c += 1
        no_gap = k == 0 or last + 1 <= end
        last = c - 1
        start = end + 1 if no_gap else snap + 1
    t = last + 1
    return t + max(_MAC_FLUSH, w + 2 - t), g


def _mac_tiles(ins, pox: int, poy: int, pof: int, row: int = 1) -> np.ndarray:
    """[tiles, 3] int64: (beats, results, drain beats) of every tile of one item, the same
    for every item of the instruction."""
    return np.array(list(_tiles(ins, pox, poy, pof, row)), dtype=np.int64).reshape(-1, 3)


def _vector(ins, lanes: int = 1) -> tuple[int, int, bool]:
    """(beats, results, dense) of one item of a vector instruction; on ``lanes`` lanes (a
    wide op) each beat takes ``lanes`` elements or adjacent outputs and each result is a
    line write; a fused pool writes two per window (the maxima, then the argmax)."""
    if ins.op in ("POOL_Y", "POOL_ARG"):
        n = ins.C * (ins.H // 2) * (ins.W // 2) // lanes
        return 4 * n, 2 * n if ins.fused else n, False
    if ins.op == "UNPOOL":
        n = ins.C * ins.H * ins.W // lanes
        return n, n, True
    return ins.count // lanes, ins.count // lanes, True


def accel_cycles(prog: list, params: dict, latency: int = DRAM_LATENCY,
                 stall_every: int = DRAM_STALL_EVERY) -> dict:
    """Modeled cycles of a program (hwgen.compiler.program.Instr list) on an accel_core
    with ``params`` (POX, POY, POF, DW (default 1), and WB_DEPTH >=
    write_back_depth(POX, POY, POF), as hwgen compile sets it): ``{"instructions": [cycles per instruction],
    "per_layer_phase": {"layer.phase": cycles}, "total": cycles, "macs": MAC beats x lanes,
    "dram_requests": requests (words or lines, read or written), "dram_words": words moved,
    "phases": {"layer.phase": {"cycles",
    "mac_cycles" (beats: the cycles the lanes multiply), "macs" (useful: beats x the lanes
    holding a result), "dram_words", "dram_requests" (port cycles: a word or a line each)}}}``."""
    from hwgen.compiler.lines import wide_drain, wide_loads, wide_vector

    pox, poy, pof = int(params["POX"]), int(params["POY"]), int(params["POF"])
    dw = int(params.get("DW", 1))
    need = write_back_depth(pox, poy, pof, stall_every=stall_every)
    if int(params.get("WB_DEPTH", need)) < need:
        raise ValueError(f"WB_DEPTH {params['WB_DEPTH']} is below the {need} entries this model assumes")
    dram = _Dram(stall_every)
    cap = int(params.get("WB_DEPTH", need)) - 1

    def load(n: int, wide: bool) -> int:
        r = n // dw if wide else n
        return r + dram.stream(r, n) + latency + 1 if n else 0

    out, per, macs, phases = [], {}, 0, {}
    for ins in prog:
        words_before, requests_before, work = dram.words, dram.g, [0, 0]
        if ins.op == "HALT":
            c = _FETCH - 1
        else:
            c = _FETCH
            wx, we, ww = wide_loads(ins, pox, poy, pof, dw)
            mac = ins.op.startswith("CONV")
            if ins.op in ("CONV_FP", "CONV_BP"):
                c += load(ins.w_len, ww)
            if mac:
                tiles = _mac_tiles(ins, pox, poy, pof, dw if wide_drain(ins, pox, poy, pof, dw) else 1)
                tile_beats, tile_drains = tiles[:, 0].copy(), tiles[:, 2].copy()
                moved = int(tiles[:, 1].sum()) * _writes_per_result(ins)
                work = [int(tile_beats.sum()) * ins.n_items, int((tile_beats * tiles[:, 1]).sum()) * ins.n_items]
                macs += mac_beats([ins], pox, poy, pof) * pox * poy * pof
            else:
                vl = dw if wide_vector(ins, pox, poy, pof, dw) else 1
                beats, results, dense = _vector(ins, vl)
            for _ in range(ins.n_items):
                c += 1 + load(ins.x_len, wx) + load(ins.e_len, we)
                if mac:
                    cyc, dram.g = _drain_item(tile_beats, tile_drains, cap, dram.n, dram.g)
                    c += int(cyc)
                    dram.words += moved
                else:
                    stalls = dram.stream(results, results * vl)
                    trail = 1 if ins.fused else 0  # a fused pool's argmax line, a cycle after its maxima
                    c += beats + 3 + _UNIT_LATENCY[ins.op] + trail + (stalls if dense else 0)
        out.append(c)
        key = f"{ins.label[0]}.{ins.label[1]}" if ins.label[1] else ins.label[0]
        per[key] = per.get(key, 0) + c
        ph = phases.setdefault(key, {"cycles": 0, "mac_cycles": 0, "macs": 0, "dram_words": 0,
                                     "dram_requests": 0})
        ph["cycles"] += c
        ph["mac_cycles"] += work[0]
        ph["macs"] += work[1]
        ph["dram_words"] += dram.words - words_before
        ph["dram_requests"] += dram.g - requests_before
    return {"instructions": out, "per_layer_phase": per, "total": sum(out), "macs": macs,
            "dram_requests": dram.g, "dram_words": dram.words, "phases": phases}
