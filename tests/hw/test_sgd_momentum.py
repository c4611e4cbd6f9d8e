"""sgd_momentum.v: cocotb co-simulation against fxtrain.ops (fpl19_accumulate/apply/decay,
sgd_momentum), lint, parameter guards, synthesis.

The bench (hwgen/tb/sgd_momentum_tests.py) drives directed groups (round-half-up ties at
every shift, wrap/saturation edges for every op under both overflow modes) and ~1200
random groups (ops, shifts, constants, words, real two-step classic updates) back to
back, with gaps and with reset pulses; each group's words and overflow count are
compared with one engine call bit for bit. Verilator runs the 16-bit, 2-lane datapath
with the full shift ranges (s <= 63, la/lb <= 31); Icarus an 8-bit lane whose shifts
reach past the 16-bit product.
"""
import pytest

from rtl_checks import assert_guard, assert_lint_clean, cosim, synth_report

MODULE = "sgd_momentum"


@pytest.mark.parametrize("simulator,params", [
    ("verilator", {"DATA_WIDTH": 16, "LANES": 2, "SHIFT_WIDTH": 6, "ALIGN_WIDTH": 5}),
    ("icarus", {"DATA_WIDTH": 8, "LANES": 1, "SHIFT_WIDTH": 5, "ALIGN_WIDTH": 4}),
])
def test_matches_engine(simulator, params):
    cosim(MODULE, params, simulator)


@pytest.mark.parametrize("params", [{}, {"LANES": 4},
                                    {"DATA_WIDTH": 2, "SHIFT_WIDTH": 1, "ALIGN_WIDTH": 1},
                                    {"DATA_WIDTH": 32, "SHIFT_WIDTH": 6, "ALIGN_WIDTH": 6}])
def test_lint_clean(params):
    assert_lint_clean(MODULE, params)


@pytest.mark.parametrize("params,message", [
    ({"DATA_WIDTH": 1}, "DATA_WIDTH must be in 2..32"),
    ({"DATA_WIDTH": 33}, "DATA_WIDTH must be in 2..32"),
    ({"LANES": 0}, "LANES must be at least 1"),
    ({"SHIFT_WIDTH": 7}, "SHIFT_WIDTH must be in 1..6"),
    ({"ALIGN_WIDTH": 0}, "ALIGN_WIDTH must be in 1..6"),
])
def test_illegal_parameters_are_reported(params, message):
    assert_guard(MODULE, {"DATA_WIDTH": 32, "SHIFT_WIDTH": 1, "ALIGN_WIDTH": 6}, params, message)


def test_synth_xilinx_no_latches():
    report = synth_report(MODULE, {"DATA_WIDTH": 16, "LANES": 1})
    assert report.dsp >= 1, report.cells  # the 16x16 product maps onto a DSP48
    assert report.bram18 == 0, report.cells
    assert report.ff >= 4 + 16 + 2, report.cells  # valid pipeline, result, overflow flags
