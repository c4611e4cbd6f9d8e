"""lowbias32.v: cocotb co-simulation against the engine, lint, parameter guard, synthesis.

The cocotb bench (hwgen/tb/lowbias32_tests.py) streams corners and thousands of random
words with back-to-back valid, gaps and reset pulses and compares every output with
fxtrain.numerics.lowbias32 bit for bit. Builds are cached under .sim_build/ (or
$FXTRAIN_SIM_BUILD); the first Verilator build of a session compiles the runtime.
"""
import pytest

from rtl_checks import assert_guard, assert_lint_clean, cosim, synth_report

MODULE = "lowbias32"


# Each simulator gets a different tag width so both the 1-bit (Logic) and the multi-bit
# (LogicArray) sideband paths are exercised without paying for a second build each.
@pytest.mark.parametrize("simulator,params", [("verilator", {"TAG_WIDTH": 16}),
                                              ("icarus", {})])
def test_matches_engine(simulator, params):
    cosim(MODULE, params, simulator)


@pytest.mark.parametrize("params", [{}, {"TAG_WIDTH": 16}])
def test_lint_clean(params):
    assert_lint_clean(MODULE, params)


def test_illegal_tag_width_is_reported():
    assert_guard(MODULE, {"TAG_WIDTH": 2}, {"TAG_WIDTH": 0}, "TAG_WIDTH must be at least 1",
                 absent_when_good="TAG_WIDTH")


def test_synth_xilinx_no_latches():
    report = synth_report(MODULE, {"TAG_WIDTH": 8})
    # the three valid flags carry a synchronous reset, so they cannot vanish into DSPs/SRLs
    assert report.ff >= 3, report.cells
    assert report.lut + report.dsp > 0, report.cells
