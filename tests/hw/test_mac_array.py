"""mac_array.v: cocotb co-simulation against fxtrain.numerics.acc_matmul and
fxtrain.ops.conv2d_fp, lint, parameter guards, synthesis.

The bench (hwgen/tb/mac_array_tests.py) streams random-length dot products of random and
extreme words (back to back, with gaps, with reset pulses) and the FP dot products of a
tiny conv layer, and compares every finished sum with the engine bit for bit.
"""
import pytest

from rtl_checks import assert_guard, assert_lint_clean, cosim, synth_report

MODULE = "mac_array"

# The FP datapath of a P = 4 array (16x16 products, 32-bit wrap: fpl19's FC layer); the
# fpl19 convolutions' exact 64-bit sums (its bench adds cnn1x's longest, K = 20480, WU
# sum); an accumulator narrower than the product (only its low bits add); odd widths with
# an accumulator wider than the product (sign extension).
P4 = {"LANES": 4}
FPL19_CONV = {"LANES": 4, "ACC_BITS": 64}
NARROW_ACC = {"LANES": 3, "ACC_BITS": 20}
WIDE_ACC = {"LANES": 2, "A_W": 9, "W_W": 12, "ACC_BITS": 48}


@pytest.mark.parametrize("simulator,params", [("verilator", P4), ("verilator", FPL19_CONV),
                                              ("verilator", NARROW_ACC), ("icarus", WIDE_ACC)])
def test_matches_engine(simulator, params):
    cosim(MODULE, params, simulator)


@pytest.mark.parametrize("params", [{}, P4, NARROW_ACC, WIDE_ACC,
                                    {"LANES": 1, "A_W": 2, "W_W": 2, "ACC_BITS": 2},
                                    {"A_W": 32, "W_W": 32, "ACC_BITS": 64}])
def test_lint_clean(params):
    assert_lint_clean(MODULE, params)


@pytest.mark.parametrize("params,message", [
    ({"LANES": 0}, "LANES must be at least 1"),
    ({"A_W": 1}, "A_W must be in 2..32"),
    ({"W_W": 33}, "W_W must be in 2..32"),
    ({"ACC_BITS": 1}, "ACC_BITS must be in 2..64"),
    ({"ACC_BITS": 65}, "ACC_BITS must be in 2..64"),
])
def test_illegal_parameters_are_reported(params, message):
    assert_guard(MODULE, {"LANES": 1, "A_W": 2, "W_W": 32, "ACC_BITS": 64}, params, message)


@pytest.mark.parametrize("params", [P4, FPL19_CONV], ids=["acc32", "acc64"])
def test_synth_xilinx_no_latches(record_property, params):
    report = synth_report(MODULE, params, record_property)
    # one DSP48 per lane: the 16x16 multiply (with a 32-bit accumulator in its P register;
    # a 64-bit one exceeds the 48-bit P register and adds in fabric)
    assert report.dsp == params["LANES"], report.cells
    assert report.ff >= 3, report.cells  # the valid pipeline carries a synchronous reset
