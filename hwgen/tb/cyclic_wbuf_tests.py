"""cocotb 2.x testbench for hwgen/rtl/cyclic_wbuf.v against ``hwgen.layout``.

Run it through pytest (tests/hw/test_cyclic_wbuf.py) or ``hwgen sim cyclic_wbuf``.

Method: for a sequence of layers (random O, C, K whose layout fits DEPTH, ragged so
that padding lanes occur), the bench draws a random schedule up front: the layer's DRAM
image (``CyclicLayout.dram_image``) written one P-word beat per cycle, then random
single-weight writes (bank and address from ``CyclicLayout.locate``), garbage written
into padding slots, random multi-bank writes at one address, and FP/BP reads
(``fp_group``/``bp_group`` give lane 0's address and the rotation), with idle cycles and
reads in the same cycle as writes. A model of the bank contents (padding slots held at
zero, exactly what ``CyclicLayout.bank_images`` of the current weights would hold) is
updated write by write; the expected lanes of each read are
``CyclicLayout.fp_read``/``bp_read`` of the model at that cycle, with the writes of the
same cycle applied first (the RTL's read-after-write order). The per-cycle coroutine
only drives pins; everything is compared at the end, bit for bit.
"""
from __future__ import annotations

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, FallingEdge

LATENCY = 3


class Config:
    def __init__(self, dut):
        self.lanes = len(dut.wr_en)
        self.word_w = len(dut.wr_data) // self.lanes
        self.depth = int(dut.DEPTH.value.to_signed())
        self.aw = len(dut.wr_addr)


def random_layer(cfg: Config, rng: np.random.Generator):
    """A CyclicLayout (import deferred to here) whose depth fits the banks, with weights."""
    from hwgen.layout import CyclicLayout

    P = cfg.lanes
    while True:
        K = int(rng.choice([1, 2, 3]))
        O = int(rng.integers(1, 3 * P + 2))
        C = int(rng.integers(1, 3 * P + 2))
        L = CyclicLayout(O, C, K, P)
        if L.depth <= cfg.depth:
            break
    lo, hi = -(1 << (cfg.word_w - 1)), 1 << (cfg.word_w - 1)
    return L, rng.integers(lo, hi, (O, C, K, K), dtype=np.int64)


class Schedule:
    """Per-cycle pin values and, for reads, the expected lanes."""

    def __init__(self, cfg: Config):
        self.cfg = cfg
        self.cols = {name: [] for name in ("cfg_kk", "wr_en", "wr_addr", "wr_data", "rd_bp",
                                           "rd_addr", "rd_rot", "rd_lanes", "rd_valid", "rst")}
        self.expect: list[np.ndarray] = []

    def cycle(self, kk, wr=None, rd=None, expect=None, rst=0) -> None:
        c = self.cols
        c["cfg_kk"].append(kk)
        en, addr, data = wr if wr is not None else (0, 0, 0)
        c["wr_en"].append(en), c["wr_addr"].append(addr), c["wr_data"].append(data)
        bp, raddr, rot, lanes = rd if rd is not None else (0, 0, 0, 0)
        c["rd_bp"].append(bp), c["rd_addr"].append(raddr), c["rd_rot"].append(rot)
        c["rd_lanes"].append(lanes), c["rd_valid"].append(int(rd is not None))
        c["rst"].append(rst)
        if rd is not None:
            self.expect.append(expect)


def pack(words, width: int) -> int:
    mask = (1 << width) - 1
    return sum((int(v) & mask) << (i * width) for i, v in enumerate(words))


def layer_schedule(sch: Schedule, cfg: Config, rng: np.random.Generator, n_ops: int,
                   reset_rate: float = 0.0) -> None:
    """Fill one layer from its DRAM image, then n_ops cycles of random writes and reads."""
    L, W = random_layer(cfg, rng)
    P, KK = cfg.lanes, L.kk
    model = L.bank_images(W).astype(np.int64)  # [P, depth], padding slots zero
    # slot -> 1 + flat index into W (0 = padding), from the layout itself
    slot = L.bank_images(np.arange(1, W.size + 1, dtype=np.int64).reshape(W.shape))
    dram = L.dram_image(model)
    junk = lambda n: rng.integers(-(1 << (cfg.word_w - 1)), 1 << (cfg.word_w - 1), n)  # noqa: E731
    # garbage first, so a missed fill beat cannot read back as the right value
    for a in range(L.depth):
        sch.cycle(KK, wr=((1 << P) - 1, a, pack(junk(P), cfg.word_w)))
    for a in range(L.depth):
        sch.cycle(KK, wr=((1 << P) - 1, a, pack(dram[a * P:(a + 1) * P], cfg.word_w)))
    pad_o = np.arange(L.O, L.tiles_o * P)
    pad_c = np.arange(L.C, L.tiles_c * P)
    for _ in range(n_ops):
        wr = rd = expect = None
        kind = rng.random()
        if kind < 0.35:  # one weight, at the slot the layout names
            o, c = int(rng.integers(0, L.O)), int(rng.integers(0, L.C))
            ky, kx = (int(v) for v in rng.integers(0, L.K, 2))
            b, a = (int(v) for v in L.locate(o, c, ky, kx))
            data = junk(P)
            model[b, a] = data[b]
            wr = (1 << b, a, pack(data, cfg.word_w))
        elif kind < 0.45 and (pad_o.size or pad_c.size):  # garbage into a padding slot
            if pad_o.size and (not pad_c.size or rng.random() < 0.5):
                o, c = int(rng.choice(pad_o)), int(rng.integers(0, L.tiles_c * P))
            else:
                o, c = int(rng.integers(0, L.tiles_o * P)), int(rng.choice(pad_c))
            ky, kx = (int(v) for v in rng.integers(0, L.K, 2))
            b, a = (int(v) for v in L.locate(o, c, ky, kx))
            assert slot[b, a] == 0
            wr = (1 << b, a, pack(junk(P), cfg.word_w))
        elif kind < 0.55:  # several banks at one address (a partial DRAM beat)
            en = int(rng.integers(1, 1 << P))
            a = int(rng.integers(0, L.depth))
            data = junk(P)
            for b in range(P):
                if en >> b & 1 and slot[b, a]:
                    model[b, a] = data[b]
            wr = (en, a, pack(data, cfg.word_w))
        if rng.random() < 0.75:  # a read, in the same cycle as any write above
            ky, kx = (int(v) for v in rng.integers(0, L.K, 2))
            if rng.random() < 0.5:
                c, o0 = int(rng.integers(0, L.C)), P * int(rng.integers(0, L.tiles_o))
                addrs, r = L.fp_group(c, o0, ky, kx)
                expect = L.fp_read(model, c, o0, ky, kx)
                rd = (0, int(addrs[int(r)]), int(r), min(P, L.O - o0))
            else:
                o, c0 = int(rng.integers(0, L.O)), P * int(rng.integers(0, L.tiles_c))
                addrs, r = L.bp_group(o, c0, ky, kx)
                expect = L.bp_read(model, o, c0, ky, kx)
                rd = (1, int(addrs[int(r)]), int(r), min(P, L.C - c0))
        rst = int(rng.random() < reset_rate)
        sch.cycle(KK, wr=wr, rd=rd, expect=expect, rst=rst)
    for _ in range(rng.integers(0, 4)):  # idle cycles between layers
        sch.cycle(KK)


async def reset(dut) -> None:
    Clock(dut.clk, 10, unit="ns").start()
    dut.rst.value = 1
    for name in ("cfg_kk", "wr_en", "wr_addr", "wr_data", "rd_bp", "rd_addr", "rd_rot",
                 "rd_lanes", "rd_valid"):
        getattr(dut, name).value = 0
    await ClockCycles(dut.clk, 4)
    await FallingEdge(dut.clk)
    dut.rst.value = 0


async def drive(dut, sch: Schedule):
    """Iteration t samples the outputs, then drives cycle t; returns (t, out_data bus)."""
    cols = {k: v for k, v in sch.cols.items()}
    n = len(cols["rd_valid"])
    rd_valid, wr_en, rst = cols.pop("rd_valid"), cols.pop("wr_en"), cols.pop("rst")
    rd_pins = [(getattr(dut, k), cols[k]) for k in ("rd_bp", "rd_addr", "rd_rot", "rd_lanes")]
    wr_pins = [(dut.wr_addr, cols["wr_addr"]), (dut.wr_data, cols["wr_data"])]
    kk = cols["cfg_kk"]
    out_valid, out_data = dut.out_valid, dut.out_data
    seen_t, seen = [], []
    last = {"rd_valid": 0, "wr_en": 0, "rst": 0, "kk": -1}
    falling = FallingEdge(dut.clk)
    for t in range(n + LATENCY + 2):
        await falling
        if out_valid.value:
            seen_t.append(t)
            seen.append(int(out_data.value))
        if t >= n:
            if last["rd_valid"] or last["wr_en"]:
                dut.rd_valid.value = dut.wr_en.value = last["rd_valid"] = last["wr_en"] = 0
            continue
        if kk[t] != last["kk"]:
            dut.cfg_kk.value = last["kk"] = kk[t]
        for name, col, handle in (("rd_valid", rd_valid, dut.rd_valid),
                                  ("wr_en", wr_en, dut.wr_en), ("rst", rst, dut.rst)):
            if col[t] != last[name]:
                handle.value = last[name] = col[t]
        if wr_en[t]:
            for handle, col in wr_pins:
                handle.value = col[t]
        if rd_valid[t]:
            for handle, col in rd_pins:
                handle.value = col[t]
    return np.array(seen_t, np.int64), seen


def check(dut, cfg: Config, sch: Schedule, seen) -> None:
    seen_t, seen_data = seen
    valid = np.array(sch.cols["rd_valid"], bool)
    rst = np.array(sch.cols["rst"], bool)
    n = len(valid)
    hit = np.concatenate([rst, np.zeros(LATENCY, bool)])
    ok = valid.copy()
    for d in range(LATENCY):
        ok &= ~hit[d:d + n]
    reads = np.flatnonzero(valid)
    keep = np.flatnonzero(ok)
    np.testing.assert_array_equal(seen_t, keep + LATENCY,
                                  err_msg="output cycles (latency/ordering/gaps/reset)")
    want = np.array(sch.expect, np.int64).reshape(len(reads), cfg.lanes)[np.isin(reads, keep)]
    mask, sign = (1 << cfg.word_w) - 1, 1 << (cfg.word_w - 1)
    got = np.array([[(((v >> (i * cfg.word_w)) & mask) ^ sign) - sign for i in range(cfg.lanes)]
                    for v in seen_data], np.int64).reshape(len(seen_data), cfg.lanes)
    bad = np.flatnonzero((got != want).any(axis=1))
    if bad.size:
        t = int(keep[bad[0]])
        c = sch.cols
        raise AssertionError(
            f"{bad.size} of {len(got)} reads differ from hwgen.layout; first at cycle {t}: "
            f"{'BP' if c['rd_bp'][t] else 'FP'} addr={c['rd_addr'][t]} rot={c['rd_rot'][t]} "
            f"lanes={c['rd_lanes'][t]} kk={c['cfg_kk'][t]}: got {got[bad[0]].tolist()}, "
            f"layout {want[bad[0]].tolist()}")
    dut._log.info("checked %d reads (%d dropped by reset) over %d cycles", len(got),
                  len(reads) - len(keep), n)


def _rng() -> np.random.Generator:
    return np.random.default_rng(cocotb.RANDOM_SEED)


@cocotb.test()
async def layers_of_random_writes_and_reads(dut):
    """Several layers: DRAM-image fill, then random writes and FP/BP reads."""
    cfg = Config(dut)
    rng = _rng()
    sch = Schedule(cfg)
    for _ in range(6):
        layer_schedule(sch, cfg, rng, 700)
    await reset(dut)
    seen = await drive(dut, sch)
    check(dut, cfg, sch, seen)


@cocotb.test()
async def reset_keeps_contents(dut):
    """Reset pulses drop the reads in flight but leave the banks' contents."""
    cfg = Config(dut)
    rng = _rng()
    sch = Schedule(cfg)
    for _ in range(2):
        layer_schedule(sch, cfg, rng, 500, reset_rate=0.03)
    await reset(dut)
    seen = await drive(dut, sch)
    check(dut, cfg, sch, seen)
