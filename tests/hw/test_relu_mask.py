"""relu_mask.v: cocotb co-simulation against fxtrain.ops.relu_fp/relu_bp, lint, parameter
guards, synthesis.

The bench (hwgen/tb/relu_mask_tests.py) streams corner words under both rules and both
modes, then thousands of random beats with gaps and reset pulses, and compares every
output beat with the engine bit for bit. Builds are cached under .sim_build/.
"""
import os

import pytest

from hwgen import sim

MODULE = "relu_mask"
SEED = int(os.environ.get("FXTRAIN_SIM_SEED", "20190908"))
# cocotb rewrites asserts in every module imported after its hook ("*.py" by default),
# which recompiles numpy/numba from source in each run (~5 s); only the bench needs it.
ENV = {"COCOTB_REWRITE_ASSERTION_FILES": "*_tests.py"}


def _need(simulator):
    reason = sim.simulator_missing(simulator)
    if reason:
        pytest.skip(f"{simulator} cannot run cocotb here: {reason}")


# Verilator: the 16-bit, 4-lane configuration of a P = 4 datapath; Icarus: one odd-width
# lane (a 1-bit mask bus and a width that is not a byte multiple).
@pytest.mark.parametrize("simulator,params", [("verilator", {"DATA_WIDTH": 16, "LANES": 4}),
                                              ("icarus", {"DATA_WIDTH": 5, "LANES": 1})])
def test_matches_engine(simulator, params):
    _need(simulator)
    sim.run_cocotb(MODULE, "hwgen.tb.relu_mask_tests", params, simulator, seed=SEED,
                   extra_env=ENV)


@pytest.mark.parametrize("params", [{}, {"DATA_WIDTH": 32, "LANES": 8}])
def test_lint_clean(params):
    try:
        result = sim.lint(MODULE, params)
    except sim.ToolMissing as exc:
        pytest.skip(str(exc))
    assert result.ok, f"{' '.join(result.command)}\n{result.output}"


@pytest.mark.parametrize("params,message", [({"LANES": 0}, "LANES must be at least 1"),
                                            ({"DATA_WIDTH": 1}, "DATA_WIDTH must be in 2..64")])
def test_illegal_parameters_are_reported(params, message):
    try:
        ok = sim.elaborate(MODULE, {"LANES": 2, "DATA_WIDTH": 2})
        bad = sim.elaborate(MODULE, params)
    except sim.ToolMissing as exc:
        pytest.skip(str(exc))
    assert "Error" not in ok, ok
    assert message in bad, bad


def test_synth_xilinx_no_latches():
    try:
        report = sim.synth(MODULE, {"DATA_WIDTH": 16, "LANES": 4})
    except sim.ToolMissing as exc:
        pytest.skip(str(exc))
    print(report.table())
    assert report.latches == 0, report.cells
    assert report.dsp == 0 and report.bram18 == 0, report.cells
    assert report.ff >= 4 * 16 + 4 + 1, report.cells  # data, mask and valid are registered
