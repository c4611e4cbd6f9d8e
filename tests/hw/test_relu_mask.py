"""relu_mask.v: cocotb co-simulation against fxtrain.ops.relu_fp/relu_bp, lint, parameter
guards, synthesis.

The bench (hwgen/tb/relu_mask_tests.py) streams corner words under both rules and both
modes, then thousands of random beats with gaps and reset pulses, and compares every
output beat with the engine bit for bit. Builds are cached under .sim_build/.
"""
import pytest

from rtl_checks import assert_guard, assert_lint_clean, cosim, synth_report

MODULE = "relu_mask"


# Verilator: the 16-bit, 4-lane configuration of a P = 4 datapath; Icarus: one odd-width
# lane (a 1-bit mask bus and a width that is not a byte multiple).
@pytest.mark.parametrize("simulator,params", [("verilator", {"DATA_WIDTH": 16, "LANES": 4}),
                                              ("icarus", {"DATA_WIDTH": 5, "LANES": 1})])
def test_matches_engine(simulator, params):
    cosim(MODULE, params, simulator)


@pytest.mark.parametrize("params", [{}, {"DATA_WIDTH": 32, "LANES": 8}])
def test_lint_clean(params):
    assert_lint_clean(MODULE, params)


@pytest.mark.parametrize("params,message", [({"LANES": 0}, "LANES must be at least 1"),
                                            ({"DATA_WIDTH": 1}, "DATA_WIDTH must be in 2..64")])
def test_illegal_parameters_are_reported(params, message):
    assert_guard(MODULE, {"LANES": 2, "DATA_WIDTH": 2}, params, message)


def test_synth_xilinx_no_latches():
    report = synth_report(MODULE, {"DATA_WIDTH": 16, "LANES": 4})
    assert report.dsp == 0 and report.bram18 == 0, report.cells
    assert report.ff >= 4 * 16 + 4 + 1, report.cells  # data, mask and valid are registered
