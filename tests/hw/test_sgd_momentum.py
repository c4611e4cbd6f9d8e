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
import os

import pytest

from hwgen import sim

MODULE = "sgd_momentum"
SEED = int(os.environ.get("FXTRAIN_SIM_SEED", "20190908"))
# cocotb rewrites asserts in every module imported after its hook ("*.py" by default),
# which recompiles numpy/numba from source in each run (~5 s); only the bench needs it.
ENV = {"COCOTB_REWRITE_ASSERTION_FILES": "*_tests.py"}


def _need(simulator):
    reason = sim.simulator_missing(simulator)
    if reason:
        pytest.skip(f"{simulator} cannot run cocotb here: {reason}")


@pytest.mark.parametrize("simulator,params", [
    ("verilator", {"DATA_WIDTH": 16, "LANES": 2, "SHIFT_WIDTH": 6, "ALIGN_WIDTH": 5}),
    ("icarus", {"DATA_WIDTH": 8, "LANES": 1, "SHIFT_WIDTH": 5, "ALIGN_WIDTH": 4}),
])
def test_matches_engine(simulator, params):
    _need(simulator)
    sim.run_cocotb(MODULE, "hwgen.tb.sgd_momentum_tests", params, simulator, seed=SEED,
                   extra_env=ENV)


@pytest.mark.parametrize("params", [{}, {"LANES": 4},
                                    {"DATA_WIDTH": 2, "SHIFT_WIDTH": 1, "ALIGN_WIDTH": 1},
                                    {"DATA_WIDTH": 32, "SHIFT_WIDTH": 6, "ALIGN_WIDTH": 6}])
def test_lint_clean(params):
    try:
        result = sim.lint(MODULE, params)
    except sim.ToolMissing as exc:
        pytest.skip(str(exc))
    assert result.ok, f"{' '.join(result.command)}\n{result.output}"


@pytest.mark.parametrize("params,message", [
    ({"DATA_WIDTH": 1}, "DATA_WIDTH must be in 2..32"),
    ({"DATA_WIDTH": 33}, "DATA_WIDTH must be in 2..32"),
    ({"LANES": 0}, "LANES must be at least 1"),
    ({"SHIFT_WIDTH": 7}, "SHIFT_WIDTH must be in 1..6"),
    ({"ALIGN_WIDTH": 0}, "ALIGN_WIDTH must be in 1..6"),
])
def test_illegal_parameters_are_reported(params, message):
    try:
        ok = sim.elaborate(MODULE, {"DATA_WIDTH": 32, "SHIFT_WIDTH": 1, "ALIGN_WIDTH": 6})
        bad = sim.elaborate(MODULE, params)
    except sim.ToolMissing as exc:
        pytest.skip(str(exc))
    assert "Error" not in ok, ok
    assert message in bad, bad


def test_synth_xilinx_no_latches():
    try:
        report = sim.synth(MODULE, {"DATA_WIDTH": 16, "LANES": 1})
    except sim.ToolMissing as exc:
        pytest.skip(str(exc))
    print(report.table())
    assert report.latches == 0, report.cells
    assert report.dsp >= 1, report.cells  # the 16x16 product maps onto a DSP48
    assert report.bram18 == 0, report.cells
    assert report.ff >= 4 + 16 + 2, report.cells  # valid pipeline, result, overflow flags
