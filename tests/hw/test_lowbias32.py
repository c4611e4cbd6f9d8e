"""lowbias32.v: cocotb co-simulation against the engine, lint, parameter guard, synthesis.

The cocotb bench (hwgen/tb/lowbias32_tests.py) streams corners and thousands of random
words with back-to-back valid, gaps and reset pulses and compares every output with
fxtrain.numerics.lowbias32 bit for bit. Builds are cached under .sim_build/ (or
$FXTRAIN_SIM_BUILD); the first Verilator build of a session compiles the runtime.
"""
import os

import pytest

from hwgen import checks, sim

MODULE = "lowbias32"
SEED = int(os.environ.get("FXTRAIN_SIM_SEED", "20190908"))


def _need(simulator):
    reason = sim.simulator_missing(simulator)
    if reason:
        pytest.skip(f"{simulator} cannot run cocotb here: {reason}")


# Each simulator gets a different tag width so both the 1-bit (Logic) and the multi-bit
# (LogicArray) sideband paths are exercised without paying for a second build each.
@pytest.mark.parametrize("simulator,params", [("verilator", {"TAG_WIDTH": 16}),
                                              ("icarus", {})])
def test_matches_engine(simulator, params):
    _need(simulator)
    sim.run_cocotb(MODULE, "hwgen.tb.lowbias32_tests", params, simulator, seed=SEED)


@pytest.mark.parametrize("params", [{}, {"TAG_WIDTH": 16}])
def test_lint_clean(params):
    try:
        result = checks.lint(MODULE, params)
    except sim.ToolMissing as exc:
        pytest.skip(str(exc))
    assert result.ok, f"{' '.join(result.command)}\n{result.output}"


def test_illegal_tag_width_is_reported():
    try:
        ok = checks.elaborate(MODULE, {"TAG_WIDTH": 2})
        bad = checks.elaborate(MODULE, {"TAG_WIDTH": 0})
    except sim.ToolMissing as exc:
        pytest.skip(str(exc))
    assert "TAG_WIDTH" not in ok, ok
    assert "TAG_WIDTH must be at least 1" in bad, bad


def test_synth_xilinx_no_latches():
    try:
        report = checks.synth(MODULE, {"TAG_WIDTH": 8})
    except sim.ToolMissing as exc:
        pytest.skip(str(exc))
    print(report.table())
    assert report.latches == 0, report.cells
    # the three valid flags carry a synchronous reset, so they cannot vanish into DSPs/SRLs
    assert report.ff >= 3, report.cells
    assert report.lut + report.dsp > 0, report.cells
