"""unpool.v: cocotb co-simulation against fxtrain.ops.maxpool_bp, lint, parameter guards,
synthesis.

The bench (hwgen/tb/unpool_tests.py) sends every argmax with corner gradients and
thousands of random (gradient, argmax) beats through the valid/ready handshake, back to
back and with input gaps, output stalls and reset pulses, and compares every emitted
word with the engine's scatter and every transfer cycle with the handshake rules.
Builds are cached under .sim_build/.
"""
import pytest

from rtl_checks import assert_guard, assert_lint_clean, cosim, synth_report

MODULE = "unpool"


# K = 2 over 4 lanes on Verilator; K = 3 (arg codes 9..15 unused) on Icarus.
@pytest.mark.parametrize("simulator,params", [
    ("verilator", {"DATA_WIDTH": 16, "LANES": 4, "K": 2}),
    ("icarus", {"DATA_WIDTH": 7, "LANES": 2, "K": 3}),
])
def test_matches_engine(simulator, params):
    cosim(MODULE, params, simulator)


@pytest.mark.parametrize("params", [{}, {"K": 1}, {"K": 3, "LANES": 4},
                                    {"K": 16, "DATA_WIDTH": 64, "LANES": 2}])
def test_lint_clean(params):
    assert_lint_clean(MODULE, params)


@pytest.mark.parametrize("params,message", [
    ({"K": 0}, "K must be in 1..16"),
    ({"K": 17}, "K must be in 1..16"),
    ({"LANES": 0}, "LANES must be at least 1"),
    ({"DATA_WIDTH": 1}, "DATA_WIDTH must be in 2..64"),
    ({"K": 3, "ARG_WIDTH": 8}, "ARG_WIDTH is derived from K"),
])
def test_illegal_parameters_are_reported(params, message):
    assert_guard(MODULE, {"K": 1, "DATA_WIDTH": 64}, params, message)


def test_synth_xilinx_no_latches():
    report = synth_report(MODULE, {"DATA_WIDTH": 16, "LANES": 4, "K": 2})
    assert report.dsp == 0 and report.bram18 == 0, report.cells
    # gradient + argmax per lane, the position counter and the busy flag
    assert report.ff >= 4 * (16 + 2) + 2 + 1, report.cells
