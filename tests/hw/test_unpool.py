"""unpool.v: cocotb co-simulation against fxtrain.ops.maxpool_bp, lint, parameter guards,
synthesis.

The bench (hwgen/tb/unpool_tests.py) sends every argmax with corner gradients and
thousands of random (gradient, argmax) beats through the valid/ready handshake, back to
back and with input gaps, output stalls and reset pulses, and compares every emitted
word with the engine's scatter and every transfer cycle with the handshake rules.
Builds are cached under .sim_build/.
"""
import os

import pytest

from hwgen import sim

MODULE = "unpool"
SEED = int(os.environ.get("FXTRAIN_SIM_SEED", "20190908"))
# cocotb rewrites asserts in every module imported after its hook ("*.py" by default),
# which recompiles numpy/numba from source in each run (~5 s); only the bench needs it.
ENV = {"COCOTB_REWRITE_ASSERTION_FILES": "*_tests.py"}


def _need(simulator):
    reason = sim.simulator_missing(simulator)
    if reason:
        pytest.skip(f"{simulator} cannot run cocotb here: {reason}")


# K = 2 over 4 lanes on Verilator; K = 3 (arg codes 9..15 unused) on Icarus.
@pytest.mark.parametrize("simulator,params", [
    ("verilator", {"DATA_WIDTH": 16, "LANES": 4, "K": 2}),
    ("icarus", {"DATA_WIDTH": 7, "LANES": 2, "K": 3}),
])
def test_matches_engine(simulator, params):
    _need(simulator)
    sim.run_cocotb(MODULE, "hwgen.tb.unpool_tests", params, simulator, seed=SEED, extra_env=ENV)


@pytest.mark.parametrize("params", [{}, {"K": 1}, {"K": 3, "LANES": 4},
                                    {"K": 16, "DATA_WIDTH": 64, "LANES": 2}])
def test_lint_clean(params):
    try:
        result = sim.lint(MODULE, params)
    except sim.ToolMissing as exc:
        pytest.skip(str(exc))
    assert result.ok, f"{' '.join(result.command)}\n{result.output}"


@pytest.mark.parametrize("params,message", [
    ({"K": 0}, "K must be in 1..16"),
    ({"K": 17}, "K must be in 1..16"),
    ({"LANES": 0}, "LANES must be at least 1"),
    ({"DATA_WIDTH": 1}, "DATA_WIDTH must be in 2..64"),
    ({"K": 3, "ARG_WIDTH": 8}, "ARG_WIDTH is derived from K"),
])
def test_illegal_parameters_are_reported(params, message):
    try:
        ok = sim.elaborate(MODULE, {"K": 1, "DATA_WIDTH": 64})
        bad = sim.elaborate(MODULE, params)
    except sim.ToolMissing as exc:
        pytest.skip(str(exc))
    assert "Error" not in ok, ok
    assert message in bad, bad


def test_synth_xilinx_no_latches():
    try:
        report = sim.synth(MODULE, {"DATA_WIDTH": 16, "LANES": 4, "K": 2})
    except sim.ToolMissing as exc:
        pytest.skip(str(exc))
    print(report.table())
    assert report.latches == 0, report.cells
    assert report.dsp == 0 and report.bram18 == 0, report.cells
    # gradient + argmax per lane, the position counter and the busy flag
    assert report.ff >= 4 * (16 + 2) + 2 + 1, report.cells
