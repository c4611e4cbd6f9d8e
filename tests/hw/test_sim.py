"""hwgen.sim / hwgen.checks plumbing: tool discovery, source lookup, build folders, and that
lint, synthesis and cocotb runs really report problems (checked on deliberately bad modules)."""
import os
import shutil

import pytest

from hwgen import checks, sim
from rtl_checks import need_simulator, tools_or_skip

LATCH_V = """`default_nettype none
module latchy (input wire en, input wire d, output reg q);
always @* begin
    if (en) q = d;
end
endmodule
`default_nettype wire
"""

UNUSED_V = """`default_nettype none
module unused (input wire clk, input wire [7:0] a, output wire y);
wire [7:0] spare = a;
assign y = clk;
endmodule
`default_nettype wire
"""


@pytest.fixture
def bad_library(tmp_path, monkeypatch):
    (tmp_path / "latchy.v").write_text(LATCH_V)
    (tmp_path / "unused.v").write_text(UNUSED_V)
    monkeypatch.setattr(sim, "rtl_dir", lambda: tmp_path)
    return tmp_path


def test_setup_verilator_env_is_idempotent(monkeypatch):
    monkeypatch.setenv("PATH", os.environ.get("PATH", ""))
    monkeypatch.delenv("VERILATOR_ROOT", raising=False)
    with tools_or_skip("set up Verilator"):
        root = sim.setup_verilator_env()
    path_once = os.environ["PATH"]
    assert sim.setup_verilator_env() == root
    assert os.environ["PATH"] == path_once
    assert os.environ["VERILATOR_ROOT"] == str(root)
    assert path_once.split(os.pathsep).count(str(root / "bin")) == 1
    assert path_once.split(os.pathsep)[0] == str(root / "bin")
    assert (root / "include" / "verilated.mk").is_file()
    assert shutil.which("verilator") == str(root / "bin" / "verilator")


def test_bad_verilator_root_is_named(monkeypatch, tmp_path):
    monkeypatch.setenv("VERILATOR_ROOT", str(tmp_path))
    with pytest.raises(sim.ToolMissing, match=str(tmp_path)):
        sim.setup_verilator_env()
    assert "verilator" not in sim.available_simulators()


def test_available_simulators_agree_with_reasons():
    avail = sim.available_simulators()
    assert set(avail) <= set(sim.SIMULATORS)
    for s in sim.SIMULATORS:
        assert (s in avail) == (sim.simulator_missing(s) is None)
    with pytest.raises(ValueError, match="unknown simulator"):
        sim.simulator_missing("modelsim")


def test_sources():
    assert "lowbias32" in sim.rtl_modules()
    assert sim.rtl_source("lowbias32") == sim.rtl_dir() / "lowbias32.v"
    with pytest.raises(ValueError, match="known: .*lowbias32"):
        sim.rtl_source("nonesuch")
    with pytest.raises(ValueError, match="identifier"):
        sim.rtl_source("../etc/passwd")


def test_build_dirs_are_per_module_simulator_and_parameters(tmp_path):
    a = sim.build_dir("lowbias32", "verilator", {"TAG_WIDTH": 16}, tmp_path)
    assert a == sim.build_dir("lowbias32", "verilator", {"TAG_WIDTH": 16}, tmp_path)
    others = {sim.build_dir("lowbias32", "icarus", {"TAG_WIDTH": 16}, tmp_path),
              sim.build_dir("lowbias32", "verilator", {"TAG_WIDTH": 8}, tmp_path),
              sim.build_dir("lowbias32", "verilator", {}, tmp_path),
              sim.build_dir("other", "verilator", {"TAG_WIDTH": 16}, tmp_path),
              sim.build_dir("lowbias32", "verilator", {"TAG_WIDTH": 16}, tmp_path, waves=True)}
    assert a not in others and len(others) == 5
    assert a.is_relative_to(tmp_path)
    many = {f"P{i}": i for i in range(20)}
    assert len(sim.build_dir("m", "icarus", many, tmp_path).name) < 40
    with pytest.raises(TypeError, match="TAG_WIDTH"):
        sim.build_dir("lowbias32", "icarus", {"TAG_WIDTH": 1.5}, tmp_path)
    with pytest.raises(TypeError, match="FLAG"):
        sim.build_dir("lowbias32", "icarus", {"FLAG": True}, tmp_path)


def test_sim_build_root_honours_env(monkeypatch, tmp_path):
    monkeypatch.setenv("FXTRAIN_SIM_BUILD", str(tmp_path / "cache"))
    assert sim.sim_build_root() == (tmp_path / "cache").resolve()


def test_resource_classes():
    cells = {"LUT1": 1, "LUT6": 2, "FDRE": 5, "FDCE": 1, "RAMB36E1": 1, "RAMB18E1": 1,
             "LDCE": 1, "SRL16E": 2, "RAM32M": 1, "CARRY4": 3, "DSP48E1": 4, "MUXF7": 1}
    assert checks._classify(cells) == {"lut": 3, "ff": 6, "dsp": 4, "bram18": 3, "lutram": 3,
                                    "carry": 3, "latches": 1}


def test_sim_still_exports_the_checks():
    for name in ("lint", "elaborate", "synth", "LintResult", "SynthReport", "_classify"):
        assert getattr(sim, name) is getattr(checks, name)
    from hwgen.sim import lint

    assert lint is checks.lint
    with pytest.raises(AttributeError, match="nonesuch"):
        sim.nonesuch


def test_lint_reports_warnings(bad_library):
    with tools_or_skip("lint"):
        result = checks.lint("unused")
    assert not result.ok and "UNUSED" in result.output


def test_synth_counts_latches(bad_library):
    with tools_or_skip("synthesise"):
        report = checks.synth("latchy")
    assert report.latches == 1, report.cells
    assert "latches" in report.table()


SUB_V = """`default_nettype none
module sub (input wire clk, input wire [7:0] d, output reg [7:0] q);
always @(posedge clk) q <= d + 8'd1;
endmodule
`default_nettype wire
"""

TOP_V = """`default_nettype none
module top (input wire clk, input wire [15:0] d, output wire [15:0] q);
genvar i;
generate
for (i = 0; i < 2; i = i + 1) begin : lane
    sub sub_inst (.clk(clk), .d(d[8*i +: 8]), .q(q[8*i +: 8]));
end
endgenerate
endmodule
`default_nettype wire
"""


@pytest.mark.parametrize("folder", ["lib", "lib with blanks"])
def test_synth_finds_submodules(tmp_path, monkeypatch, folder):
    lib = tmp_path / folder
    lib.mkdir()
    (lib / "sub.v").write_text(SUB_V)
    (lib / "top.v").write_text(TOP_V)
    monkeypatch.setattr(sim, "rtl_dir", lambda: lib)
    with tools_or_skip("synthesise"):
        report = checks.synth("top")
    assert report.ff == 16, report.cells


NEG_V = """`default_nettype none
module neg #(parameter integer N = -1) (input wire clk, input wire d, output reg q);
initial begin
    if (N != -64) begin
        $error("Error: N must be -64, got %0d", N);
        $finish;
    end
end
always @(posedge clk) q <= d;
endmodule
`default_nettype wire
"""


def test_synth_passes_negative_parameters(tmp_path, monkeypatch):
    (tmp_path / "neg.v").write_text(NEG_V)
    monkeypatch.setattr(sim, "rtl_dir", lambda: tmp_path)
    with tools_or_skip("synthesise"):
        report = checks.synth("neg", {"N": -64})  # the guard stops yosys unless N == -64
    assert report.ff == 1, report.cells
    with pytest.raises(RuntimeError, match="yosys failed"):
        checks.synth("neg", {"N": 64})
    with pytest.raises(ValueError, match="N=-4294967296"):
        checks.synth("neg", {"N": -(1 << 32)})


def test_assertion_rewriting_is_limited_to_benches(monkeypatch):
    # rewriting every imported library (numba, scipy) cost ~10 s per simulation
    monkeypatch.delenv("COCOTB_REWRITE_ASSERTION_FILES", raising=False)
    assert sim._sim_env(None) == {"COCOTB_REWRITE_ASSERTION_FILES": "*_tests.py"}
    assert sim._sim_env({"A": "1"})["A"] == "1"
    monkeypatch.setenv("COCOTB_REWRITE_ASSERTION_FILES", "*.py")
    assert sim._sim_env(None)["COCOTB_REWRITE_ASSERTION_FILES"] == "*.py"
    assert sim._sim_env({"COCOTB_REWRITE_ASSERTION_FILES": ""}) == {
        "COCOTB_REWRITE_ASSERTION_FILES": ""}


def test_a_bench_without_tests_fails(tmp_path):
    need_simulator("icarus")
    with pytest.raises(sim.SimulationFailed, match="no cocotb test ran|no results file"):
        sim.run_cocotb("lowbias32", "hwgen.tb", {}, "icarus", build_root=tmp_path)
