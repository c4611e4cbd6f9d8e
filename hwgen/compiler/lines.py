"""What moves as whole DRAM lines of DW words: the one definition of the rules that the
assembler writes into field 0 (bits 16-20) and the cycle model (hwgen.accel_perf) reads.

accel_core writes a line into DW buffer banks at one edge and reads DW words per beat
for the vector lanes, so a rule holds only where the layout puts those words in DW
distinct banks (docs/accelerator.md, "DRAM lines"). Each function takes an instruction
(hwgen.compiler.program.Instr) and the array's POX, POY, POF and DW.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .program import Instr


def linear_banks(banks: int) -> int:
    """Banks the linear layout interleaves over: the largest power of two <= ``banks``."""
    return 1 << (banks.bit_length() - 1)


def wide_loads(ins: Instr, pox: int, poy: int, pof: int, dw: int) -> tuple[bool, bool, bool]:
    """Whether the XBUF, EBUF and weight loads of ``ins`` move a DRAM line of ``dw`` words
    per cycle (accel_core writes the line into dw banks at one row, so it must fall in dw
    distinct banks): every item's base and length are multiples of dw, and
    - pixel layout (FP/BP XBUF): dw divides POX and W, so a line is dw columns of a row;
    - linear layout (vector ops, and the ReLU mask a fused BP loads into EBUF): dw <= its
      banks (:func:`linear_banks` of POX*POY or POF);
    - cyclic weight buffer (FP/BP weights): dw divides POF;
    - channel layout (WU, skewed: bank (c + pixel) mod NB): NB (POX*POY for XBUF, POF for
      EBUF) is a power of two >= dw and dw divides H*W, so a line is dw pixels of one
      channel in dw consecutive banks.
    One word per cycle otherwise; with dw = 1 every load is one word per cycle either way."""
    if dw == 1:
        return False, False, False

    def fits(base: int, n: int) -> bool:
        return n > 0 and base % dw == 0 and n % dw == 0

    if ins.op in ("CONV_FP", "CONV_BP"):
        return (fits(ins.src_a, ins.x_len) and pox % dw == 0 and ins.W % dw == 0,
                fits(ins.aux, ins.e_len) and dw <= linear_banks(pof),
                fits(ins.src_b, ins.w_len) and pof % dw == 0)
    if ins.op == "CONV_WU":
        def skewed(nb: int) -> bool:
            return nb & (nb - 1) == 0 and dw <= nb and (ins.H * ins.W) % dw == 0

        return (fits(ins.src_a, ins.x_len) and skewed(pox * poy),
                fits(ins.src_b, ins.e_len) and skewed(pof), False)
    if ins.op == "HALT":
        return False, False, False
    return (fits(ins.src_a, ins.x_len) and dw <= linear_banks(pox * poy),
            fits(ins.src_b, ins.e_len) and dw <= linear_banks(pof), False)


#: the vector ops that run element by element, so DW lanes can take a line per beat
ELEMENTWISE = ("RELU_Y", "RELU_MASK", "RELU_BP", "ACCUM", "APPLY", "DECAY")


def wide_vector(ins: Instr, pox: int, poy: int, pof: int, dw: int) -> bool:
    """Whether a vector op runs dw lanes and writes a line per result beat: its result bases
    (dst, and aux of a fused pool's argmax) and stride are whole lines, and the words its
    lanes read at once lie in distinct banks of the linear layout. Lane k reads lane 0's
    address + f(k):
    - element-wise ops, f(k) = k: the elements are whole lines, dw <= the banks;
    - 2x2 pooling, f(k) = 2k (dw adjacent windows): dw divides W/2, 2*dw <= XBUF's banks
      (and EBUF's, for a pool that reads the ReLU mask);
    - unpooling, f(k) = k div 2 (dw adjacent outputs): dw divides W, dw/2 <= the banks.
    (The loss reads one label per image: one lane.)"""
    if dw == 1 or ins.dst % dw or ins.aux % dw or (ins.n_items > 1 and ins.out_stride % dw):
        return False
    xb, eb = linear_banks(pox * poy), linear_banks(pof)
    if ins.op in ELEMENTWISE:
        return ins.count % dw == 0 and dw <= xb and (ins.e_len == 0 or dw <= eb)
    if ins.op in ("POOL_Y", "POOL_ARG"):
        return (ins.W // 2) % dw == 0 and 2 * dw <= xb and (not ins.pool_mask or 2 * dw <= eb)
    if ins.op == "UNPOOL":
        return ins.W % dw == 0 and dw // 2 <= min(xb, eb)
    return False


def wide_drain(ins: Instr, pox: int, poy: int, pof: int, dw: int) -> bool:
    """Whether a MAC drain writes whole lines, strobing the words it holds:
    - FP/BP: dw pixel lanes of a row per beat, when dw divides POX and W, so every tile
      row (POX pixels, or the W mod POX of the last x tile) is whole lines (the RTL strobes
      a chunk's pixels inside the map; under this rule every chunk is whole);
    - WU: per filter lane, the lines of its POF-word group (hwgen.layout's cyclic slot of
      one kernel tap) that the tile's channels fill, when dw divides POF and POX*POY
      divides POF: a tile's n channels c0.. then lie in one group, at the cyclic run of
      positions s = (f + c0) mod POF onwards, so the filter takes
      (s + n - 1) div dw - s div dw + 1 line writes instead of n word writes;
    and the result bases (dst, and aux of a fused ReLU) and stride are whole lines; a BP
    with a fused ReLU also needs dw <= the EBUF's linear banks, where its mask is."""
    if dw == 1 or ins.op not in ("CONV_FP", "CONV_BP", "CONV_WU"):
        return False
    if ins.dst % dw or ins.aux % dw or (ins.n_items > 1 and ins.out_stride % dw):
        return False
    if ins.op == "CONV_WU":
        return pof % dw == 0 and pof % (pox * poy) == 0
    if ins.op == "CONV_BP" and ins.fused and dw > linear_banks(pof):
        return False  # the row's dw mask words must lie in distinct EBUF banks
    return pox % dw == 0 and ins.W % dw == 0
