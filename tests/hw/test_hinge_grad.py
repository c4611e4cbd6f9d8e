"""hinge_grad.v: cocotb co-simulation against fxtrain.ops.squared_hinge_grad, lint,
parameter guards, synthesis.

The bench (hwgen/tb/hinge_grad_tests.py) streams the corner logits (z*t exactly 1, one
code either side, the range ends) under both targets, then thousands of random logits
with gaps and reset pulses, and compares every gradient with the engine bit for bit.
The parameter sets cover the three F_Z regimes of the module: 2**F_Z a code (F_Z = 8),
-2**F_Z the min code (F_Z = 15 at 16 bits), and 2**F_Z beyond the word (F_Z = 9 at 8 bits).
"""
import os

import pytest

from hwgen import sim

MODULE = "hinge_grad"
SEED = int(os.environ.get("FXTRAIN_SIM_SEED", "20190908"))
# cocotb rewrites asserts in every module imported after its hook ("*.py" by default),
# which recompiles numpy/numba from source in each run (~5 s); only the bench needs it.
ENV = {"COCOTB_REWRITE_ASSERTION_FILES": "*_tests.py"}


def _need(simulator):
    reason = sim.simulator_missing(simulator)
    if reason:
        pytest.skip(f"{simulator} cannot run cocotb here: {reason}")


@pytest.mark.parametrize("simulator,params", [
    ("verilator", {"DATA_WIDTH": 16, "LANES": 4, "F_Z": 8}),
    ("icarus", {"DATA_WIDTH": 16, "LANES": 1, "F_Z": 15}),
    ("icarus", {"DATA_WIDTH": 8, "LANES": 2, "F_Z": 9}),
])
def test_matches_engine(simulator, params):
    _need(simulator)
    sim.run_cocotb(MODULE, "hwgen.tb.hinge_grad_tests", params, simulator, seed=SEED,
                   extra_env=ENV)


@pytest.mark.parametrize("params", [{}, {"F_Z": 0, "LANES": 4}, {"F_Z": 15}, {"F_Z": 40},
                                    {"DATA_WIDTH": 32, "F_Z": 64}, {"DATA_WIDTH": 2, "F_Z": 1}])
def test_lint_clean(params):
    try:
        result = sim.lint(MODULE, params)
    except sim.ToolMissing as exc:
        pytest.skip(str(exc))
    assert result.ok, f"{' '.join(result.command)}\n{result.output}"


@pytest.mark.parametrize("params,message", [
    ({"F_Z": -1}, "F_Z must be in 0..64"),
    ({"F_Z": 65}, "F_Z must be in 0..64"),
    ({"LANES": 0}, "LANES must be at least 1"),
    ({"DATA_WIDTH": 33}, "DATA_WIDTH must be in 2..32"),
])
def test_illegal_parameters_are_reported(params, message):
    try:
        ok = sim.elaborate(MODULE, {"F_Z": 64, "DATA_WIDTH": 32})
        bad = sim.elaborate(MODULE, params)
    except sim.ToolMissing as exc:
        pytest.skip(str(exc))
    assert "Error" not in ok, ok
    assert message in bad, bad


def test_synth_xilinx_no_latches():
    try:
        report = sim.synth(MODULE, {"DATA_WIDTH": 16, "LANES": 4, "F_Z": 8})
    except sim.ToolMissing as exc:
        pytest.skip(str(exc))
    print(report.table())
    assert report.latches == 0, report.cells
    assert report.dsp == 0 and report.bram18 == 0, report.cells
    assert report.ff >= 4 * 16 + 1, report.cells
