"""hinge_grad.v: cocotb co-simulation against fxtrain.ops.squared_hinge_grad, lint,
parameter guards, synthesis.

The bench (hwgen/tb/hinge_grad_tests.py) streams the corner logits (z*t exactly 1, one
code either side, the range ends) under both targets, then thousands of random logits
with gaps and reset pulses, and compares every gradient with the engine bit for bit.
The parameter sets cover the three F_Z regimes of the module: 2**F_Z a code (F_Z = 8),
-2**F_Z the min code (F_Z = 15 at 16 bits), and 2**F_Z beyond the word (F_Z = 9 at 8 bits).
"""
import pytest

from rtl_checks import assert_guard, assert_lint_clean, cosim, synth_report

MODULE = "hinge_grad"


@pytest.mark.parametrize("simulator,params", [
    ("verilator", {"DATA_WIDTH": 16, "LANES": 4, "F_Z": 8}),
    ("icarus", {"DATA_WIDTH": 16, "LANES": 1, "F_Z": 15}),
    ("icarus", {"DATA_WIDTH": 8, "LANES": 2, "F_Z": 9}),
])
def test_matches_engine(simulator, params):
    cosim(MODULE, params, simulator)


@pytest.mark.parametrize("params", [{}, {"F_Z": 0, "LANES": 4}, {"F_Z": 15}, {"F_Z": 40},
                                    {"DATA_WIDTH": 32, "F_Z": 64}, {"DATA_WIDTH": 2, "F_Z": 1}])
def test_lint_clean(params):
    assert_lint_clean(MODULE, params)


@pytest.mark.parametrize("params,message", [
    ({"F_Z": -1}, "F_Z must be in 0..64"),
    ({"F_Z": 65}, "F_Z must be in 0..64"),
    ({"LANES": 0}, "LANES must be at least 1"),
    ({"DATA_WIDTH": 33}, "DATA_WIDTH must be in 2..32"),
])
def test_illegal_parameters_are_reported(params, message):
    assert_guard(MODULE, {"F_Z": 64, "DATA_WIDTH": 32}, params, message)


def test_synth_xilinx_no_latches():
    report = synth_report(MODULE, {"DATA_WIDTH": 16, "LANES": 4, "F_Z": 8})
    assert report.dsp == 0 and report.bram18 == 0, report.cells
    assert report.ff >= 4 * 16 + 1, report.cells
