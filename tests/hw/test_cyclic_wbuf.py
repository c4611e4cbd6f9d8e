"""cyclic_wbuf.v: cocotb co-simulation against hwgen.layout (DRAM-image fill, locate,
fp_group/bp_group, fp_read/bp_read), lint, parameter guards, synthesis.

The bench (hwgen/tb/cyclic_wbuf_tests.py) runs several random layers through the buffer:
fill from the layer's DRAM image, then random single-weight, padding-slot and multi-bank
writes mixed with FP and BP reads (and reset pulses), and compares every read with
hwgen.layout's lanes bit for bit.
"""
import pytest

from rtl_checks import assert_guard, assert_lint_clean, cosim, synth_report

MODULE = "cyclic_wbuf"

# P = 4 banks; P = 3 (rotations and bank offsets that are not powers of two) with a
# depth that is not a power of two; P = 8 with 12-bit words.
P4 = {"LANES": 4, "DEPTH": 256}
P3 = {"LANES": 3, "DEPTH": 200}
P8 = {"LANES": 8, "WORD_W": 12, "DEPTH": 512}


@pytest.mark.parametrize("simulator,params", [("verilator", P4), ("verilator", P3),
                                              ("icarus", P8)])
def test_matches_layout(simulator, params):
    cosim(MODULE, params, simulator)


@pytest.mark.parametrize("params", [{}, P4, P3, P8, {"LANES": 1, "WORD_W": 1, "DEPTH": 2},
                                    {"LANES": 5, "DEPTH": 3}, {"LANES": 64, "DEPTH": 4096}])
def test_lint_clean(params):
    assert_lint_clean(MODULE, params)


@pytest.mark.parametrize("params,message", [
    ({"LANES": 65}, "LANES must be in 1..64"),
    ({"WORD_W": 65}, "WORD_W must be in 1..64"),
    ({"DEPTH": 1}, "DEPTH must be at least 2"),
    ({"AW": 3}, "derived from DEPTH and LANES"),
    ({"ROT_W": 4}, "derived from DEPTH and LANES"),
])
def test_illegal_parameters_are_reported(params, message):
    assert_guard(MODULE, {"LANES": 64, "WORD_W": 64, "DEPTH": 2}, params, message)


def test_synth_xilinx_block_ram_no_latches(record_property):
    params = {"LANES": 4, "DEPTH": 1024}
    report = synth_report(MODULE, params, record_property)
    # one 18 Kb block RAM per bank (1024 x 16 bits fill one RAMB18 exactly)
    assert report.bram18 == params["LANES"], report.cells
    assert report.lutram == 0, report.cells
    assert report.dsp == 0, report.cells  # the FP row offsets i*KK are shift-and-add
