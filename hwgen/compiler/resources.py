"""Resources of a generated accelerator top, and the FPGA devices it may target.

DSPs (exact against ``yosys synth_xilinx``, docs/accelerator.md section 7): one 16x16
product per MAC lane and one per vector lane for the update (``sgd_momentum``; DW lanes,
the DRAM line); the controller only adds.
- ``xilinx`` (DSP48E1/E2: a 25x18 multiplier): one DSP per product.
- ``stratix10`` (a DSP block holds two 18x19 multipliers): ceil(products / 2) blocks.

Block RAM: every buffer bank is 16 bits wide, so one block holds 1024 words (an 18-Kbit
BRAM18 as 1024 x 18; a 20-Kbit M20K as 1024 x 20). XBUF has one bank per pixel lane and
EBUF one per filter lane (accel_banks: each lane reads its own bank, nothing is copied;
``XBUF_DEPTH`` and ``EBUF_DEPTH`` are words per bank), and the cyclic weight buffer one
bank per filter lane. ``hwgen compile`` sizes XBUF and EBUF banks to at least
``MIN_XE_WORDS`` (256) words and the weight banks to at least ``MIN_BUFFER_WORDS`` (128),
so that synthesis maps every one to block RAM rather than to LUTs: yosys 0.23 put
128-word XBUF and EBUF memories in LUT RAM but 128-word weight banks in BRAM18
(benchmarks/accel_synth.py, docs/compiler.md section 3). The write-back FIFOs and the
instruction register are LUT RAM and flip-flops.

LUTs are an estimate fitted to four yosys syntheses on xc7 (docs/compiler.md section 3):
about 7,650 fixed, 237 per MAC lane and 3,885 per vector lane beyond the first (each DRAM
line word adds a vector unit, a 64-bit requantizer lane, its fused-ReLU select, and
line-wide FIFO and rotation muxes); within 2.4% of all four. The drain's shadow copy of
the sums is flip-flops, not LUTs.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

#: weight banks smaller than this are raised to it, so each maps to block RAM
MIN_BUFFER_WORDS = 128
#: the same for each XBUF and EBUF bank (at 128 words yosys chose LUT RAM for them)
MIN_XE_WORDS = 256
WORDS_PER_BLOCK = 1024  # 16-bit words per block: BRAM18 1024 x 18, M20K 1024 x 20
BLOCK_BITS = {"xilinx": 18 * 1024, "stratix10": 20 * 1024}
LUT_FIXED = 7650
LUT_PER_LANE = 237
LUT_PER_VECTOR_LANE = 3885
FAMILIES = ("xilinx", "stratix10")


@dataclass(frozen=True)
class Device:
    """A target: DSP blocks, block RAM (Kbit), clock and DRAM bandwidth, and where each
    number comes from."""

    name: str
    family: str
    dsp: int
    bram_kbit: int
    mhz: float
    dram_gbps: float
    source: str


DEVICES = {
    "xc7a200t": Device(
        "xc7a200t", "xilinx", 740, 13140, 200.0, 12.8,
        "AMD/Xilinx DS180 (7 Series FPGAs Data Sheet: Overview), Artix-7 XC7A200T: 740 DSP48E1 "
        "slices, 13,140 Kb block RAM; 200 MHz is a conservative fabric clock for this design "
        "(not timed); 12.8 GB/s is one 64-bit DDR3-1600 channel"),
    "xczu9eg": Device(
        "xczu9eg", "xilinx", 2520, 32100, 300.0, 19.2,
        "AMD/Xilinx DS891 (Zynq UltraScale+ MPSoC Data Sheet: Overview), XCZU9EG (ZCU102): 2,520 "
        "DSP48E2 slices, 32.1 Mb block RAM; 300 MHz assumed, not timed; 19.2 GB/s is one 64-bit "
        "DDR4-2400 channel"),
    "stratix10-gx": Device(
        "stratix10-gx", "stratix10", 516, 229000, 240.0, 19.2,
        "FPL'19 (Venkataramanaiah et al., arXiv 1908.06724) ran on a Stratix 10 GX; its DSP use "
        "and clock could not be checked here, so this preset is the stated fallback: a "
        "1024-MAC budget (512 DSP blocks of two 18x19 multipliers) at 240 MHz, peak 491.5 GOPS, "
        "plus 4 blocks for the vector unit's update multipliers (up to 8 lanes, one per DRAM-line "
        "word; the GX 2800 has 5,760 blocks, so they cost the device nothing it lacks); "
        "229 Mb is the M20K total of the GX 2800 (Intel Stratix 10 GX/SX product table); "
        "19.2 GB/s assumed (one 64-bit DDR4-2400 channel)"),
}


def _blocks(words: int, least: int = MIN_BUFFER_WORDS) -> int:
    """Blocks of one buffer bank; one below ``least`` words counts as one block, an upper
    bound (hwgen compile never makes one, and synthesis may put it in LUT RAM)."""
    return -(-max(words, least) // WORDS_PER_BLOCK)


def dsp_count(pox: int, poy: int, pof: int, family: str = "xilinx", dw: int = 1) -> int:
    """DSP blocks of a top with POX x POY x POF MAC lanes and DW vector lanes, each with
    the update's multiplier (see the module docstring)."""
    if family not in FAMILIES:
        raise ValueError(f"unknown FPGA family {family!r}; expected one of {FAMILIES}")
    products = pox * poy * pof + dw
    return products if family == "xilinx" else -(-products // 2)


@dataclass(frozen=True)
class Resources:
    dsp: int
    bram_blocks: int
    bram_bits: int
    lut_estimate: int

    def to_json(self) -> dict:
        return asdict(self)


def resources(params: dict, family: str = "xilinx") -> Resources:
    """DSPs, block RAMs (their bits) and a LUT estimate of accel_core ``params``: POX*POY
    XBUF banks and POF EBUF banks of their depths, POF weight banks."""
    pox, poy, pof = int(params["POX"]), int(params["POY"]), int(params["POF"])
    blocks = (pox * poy * _blocks(int(params["XBUF_DEPTH"]), MIN_XE_WORDS)
              + pof * _blocks(int(params["EBUF_DEPTH"]), MIN_XE_WORDS)
              + pof * _blocks(int(params["WBUF_DEPTH"])))
    return Resources(dsp_count(pox, poy, pof, family, int(params.get("DW", 1))), blocks,
                     blocks * BLOCK_BITS[family],
                     LUT_FIXED + LUT_PER_LANE * pox * poy * pof
                     + LUT_PER_VECTOR_LANE * (int(params.get("DW", 1)) - 1))
