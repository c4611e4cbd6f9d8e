"""fx_requant.v: cocotb co-simulation against fxtrain.numerics.requantize, lint, parameter
guards, synthesis.

The bench (hwgen/tb/fx_requant_tests.py) streams ties at every shift, saturation edges,
input extremes, stochastic round-up boundaries, bad beats and thousands of random beats in
all six rounding modes and both overflow modes, and compares every lane with the engine
bit for bit. Builds are cached under .sim_build/ (or $FXTRAIN_SIM_BUILD).
"""
import pytest

from rtl_checks import assert_guard, assert_lint_clean, cosim, synth_report

MODULE = "fx_requant"

# The default datapath (32-bit accumulators to 16-bit words, shifts -8..40, s > 32 uses
# the zero-padded u) with the 4 lanes of a P = 4 array; the engine's whole range (int64
# in, 32-bit out, shifts -64..64); and a narrow frame (SHIFT_MAX < 32: u is a slice of R)
# with 3 lanes.
DEFAULT = {"LANES": 4}
FULL = {"LANES": 2, "IN_W": 64, "OUT_W": 32, "SHIFT_MIN": -64, "SHIFT_MAX": 64}
NARROW = {"LANES": 3, "IN_W": 20, "OUT_W": 8, "SHIFT_MIN": -4, "SHIFT_MAX": 24}


@pytest.mark.parametrize("simulator,params", [("verilator", DEFAULT), ("verilator", FULL),
                                              ("icarus", NARROW)])
def test_matches_engine(simulator, params):
    cosim(MODULE, params, simulator)


@pytest.mark.parametrize("params", [{}, DEFAULT, FULL, NARROW,
                                    {"IN_W": 8, "OUT_W": 32, "SHIFT_MIN": 0, "SHIFT_MAX": 32},
                                    {"IN_W": 2, "OUT_W": 2, "SHIFT_MIN": 0, "SHIFT_MAX": 1}])
def test_lint_clean(params):
    assert_lint_clean(MODULE, params)


@pytest.mark.parametrize("params,message", [
    ({"LANES": 0}, "LANES must be at least 1"),
    ({"IN_W": 65}, "IN_W must be in 2..64"),
    ({"OUT_W": 1}, "OUT_W must be in 2..32"),
    ({"OUT_W": 33}, "OUT_W must be in 2..32"),
    ({"SHIFT_MIN": 1}, "SHIFT_MIN must be in -64..0"),
    ({"SHIFT_MAX": 0}, "SHIFT_MAX must be in 1..64"),
    ({"SHIFT_MAX": 65}, "SHIFT_MAX must be in 1..64"),
])
def test_illegal_parameters_are_reported(params, message):
    corner = {"IN_W": 2, "OUT_W": 2, "SHIFT_MIN": -64, "SHIFT_MAX": 64}
    assert_guard(MODULE, corner, params, message)


def test_synth_xilinx_no_latches(record_property):
    params = {}
    report = synth_report(MODULE, params, record_property)
    assert report.bram18 == 0, report.cells
    # each lane hashes with its own lowbias32 (6 DSP48 at 32 bits); five valid flags are reset
    lanes = params.get("LANES", 1)
    assert report.dsp >= 6 * lanes, report.cells
    assert report.ff >= 5, report.cells
