"""Shared checks for the RTL module runners in tests/hw (co-simulation, lint, parameter
guards, synthesis), so each runner keeps only its parameter sets and its own resource
assertions.

Imported as a top-level module (``from rtl_checks import ...``): tests/hw has no
__init__.py, and pytest's default "prepend" import mode puts this folder on sys.path
before it imports a test file here. The name must stay unique across tests/ for that.

Every helper skips, with the missing tool named in the reason, when the EDA tool it needs
is not installed; every other problem is a failure.
"""
from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Callable

import pytest

from hwgen import checks, sim

# One seed for every bench; override to reproduce or widen a run.
SEED = int(os.environ.get("FXTRAIN_SIM_SEED", "20190908"))

Params = Mapping[str, int]


@contextmanager
def tools_or_skip(what: str = "run this check") -> Iterator[None]:
    """Turn a sim.ToolMissing raised inside the block into a skip naming the missing tool."""
    try:
        yield
    except sim.ToolMissing as exc:
        pytest.skip(f"cannot {what} here: {exc}")


def need_simulator(simulator: str, what: str = "run cocotb") -> None:
    """Skip unless `simulator` ("verilator" or "icarus") works here; the reason says why not."""
    reason = sim.simulator_missing(simulator)
    if reason:
        pytest.skip(f"{simulator} cannot {what} here: {reason}")


def cosim(module: str, params: Params, simulator: str, bench: str | None = None) -> None:
    """Run the cocotb bench hwgen.tb.<module>_tests (or `bench`) on `module` with `params`.

    Fails with sim.SimulationFailed / sim.BuildFailed on any mismatch or build error.
    Assertion rewriting stays limited to the bench: run_cocotb defaults
    COCOTB_REWRITE_ASSERTION_FILES to "*_tests.py".
    """
    need_simulator(simulator)
    sim.run_cocotb(module, bench or f"hwgen.tb.{module}_tests", params, simulator, seed=SEED)


def assert_lint_clean(module: str, params: Params) -> None:
    """Verilator -Wall lint of `module` with `params` reports no warning and no error."""
    with tools_or_skip(f"lint {module}"):
        result = checks.lint(module, params)
    assert result.ok, f"{' '.join(result.command)}\n{result.output}"


def assert_guard(module: str, good_params: Params, bad_params: Params, message: str, *,
                 absent_when_good: str = "Error") -> None:
    """The module's elaboration guard accepts `good_params` and names `bad_params`' fault.

    `good_params` should be a legal corner (every parameter at a range end) so the guard
    is shown to fire on exactly the illegal value: Icarus output for it must not contain
    `absent_when_good`, and the output for `bad_params` must contain `message`.
    """
    with tools_or_skip(f"elaborate {module}"):
        ok = checks.elaborate(module, good_params)
        bad = checks.elaborate(module, bad_params)
    assert absent_when_good not in ok, ok
    assert message in bad, bad


def synth_report(module: str, params: Params,
                 record_property: Callable[[str, object], None] | None = None,
                 ) -> checks.SynthReport:
    """Synthesise `module` for Xilinx 7-series, print its resource table, assert no latches.

    With pytest's `record_property` fixture the LUT/FF/DSP/BRAM18 counts also go into the
    JUnit XML. Returns the report for the module's own resource assertions.
    """
    with tools_or_skip(f"synthesise {module}"):
        report = checks.synth(module, params)
    print(report.table())
    if record_property is not None:
        for name in ("lut", "ff", "dsp", "bram18"):
            record_property(name, getattr(report, name))
    assert report.latches == 0, report.cells
    return report
