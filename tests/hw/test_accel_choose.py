"""The constraint compiler: lanes chosen under DSP and block-RAM budgets (properties),
clear refusals, and the chosen designs train a step word for word in simulation."""
from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fxtrain.nn.layers import Conv2d, Flatten, Linear, MaxPool2d, ReLU
from fxtrain.nn.network import Network
from fxtrain.nn.update import lr_constants
from fxtrain.presets import fpl19
from hwgen import sim
from hwgen.accel_perf import accel_cycles, mac_beats
from hwgen.compiler.build import compile_network, hardware_params
from hwgen.compiler.choose import Budget, check_budget, choose, evaluate, fitting_params, useful_macs
from hwgen.compiler.program import assemble
from hwgen.compiler.resources import DEVICES, dsp_count, resources


def small():
    layers = [Conv2d("conv0", 1, 4), ReLU("relu0"), MaxPool2d("pool0", 2), Conv2d("conv1", 4, 6),
              ReLU("relu1"), MaxPool2d("pool1", 2), Flatten("flatten"), Linear("fc", 6 * 2 * 2, 3)]
    return Network(layers, fpl19(batch=2, groups=1, lr=0.05), (1, 8, 8), seed=4, name="small")


NET = small()
DESC = NET.describe()
CONST = {L.name: lr_constants(NET.recipe, NET.plan, NET.plan[L.name]) for L in NET.weighted_layers}
PROGS = {}


def prog_for(pof):
    if pof not in PROGS:
        PROGS[pof] = assemble(DESC, CONST, pof, 1)[0]
    return PROGS[pof]


def params_for(p, x, y, f):
    return hardware_params(p, x, y, f, NET.logits_f)


def run(budget):
    return choose(DESC, prog_for, params_for, budget, 8)


@settings(max_examples=25, deadline=None)
@given(dsp=st.integers(2, 200), kbit=st.integers(200, 4000), family=st.sampled_from(["xilinx", "stratix10"]))
def test_the_choice_never_exceeds_a_budget_and_more_dsp_never_lowers_throughput(dsp, kbit, family):
    budget = Budget(dsp, kbit, 200.0, 10.0, family)
    try:
        best, rows = run(budget)
    except ValueError as exc:
        assert "needs" in str(exc)  # even 1 x 1 x 1 does not fit: the message names the budget
        return
    for r in rows:
        assert r["resources"]["dsp"] <= dsp and r["resources"]["bram_bits"] <= kbit * 1024
    assert rows[0]["images_per_s"] == max(r["images_per_s"] for r in rows)
    more, _ = run(Budget(dsp * 2, kbit, 200.0, 10.0, family))
    assert evaluate(prog_for(more["POF"]), more, budget, useful_macs(DESC), 2)["images_per_s"] >= \
        rows[0]["images_per_s"]


@pytest.mark.parametrize("dsp,family", [(40, "xilinx"), (200, "stratix10")])
def test_the_pruned_search_finds_the_exhaustive_winner(dsp, family):
    # the search skips designs whose lower bound (mac_beats) passes the best cycles; model
    # every fitting design here and check that none beats its choice
    budget = Budget(dsp, 4000, 200.0, 10.0, family)
    best, rows = run(budget)
    cycles = []
    for pof in (1, 2, 4, 8, 16, 32, 64):
        for pox in (1, 2, 4, 8):
            for poy in (1, 2, 4, 8):
                p = fitting_params(params_for(prog_for(pof), pox, poy, pof), budget)
                try:
                    check_budget(p, budget)
                except ValueError:
                    continue
                cycles.append(accel_cycles(prog_for(pof), p)["total"])
    assert rows[0]["cycles"] == min(cycles) and len(rows) < len(cycles)


def test_dsp_model_per_family():
    assert dsp_count(2, 2, 2, "xilinx") == 9  # 8 lanes + the update: yosys says 9 (docs)
    assert dsp_count(1, 1, 2, "xilinx") == 3
    assert dsp_count(2, 2, 2, "stratix10") == 5  # two 18x19 multipliers per block
    assert dsp_count(2, 2, 2, "xilinx", dw=4) == 12  # 4 vector lanes, one update multiplier each
    with pytest.raises(ValueError, match="unknown FPGA family"):
        dsp_count(1, 1, 1, "ice40")


def test_explicit_lanes_round_trip_and_are_checked(tmp_path):
    budget = Budget(40, 4000, 150.0, 10.0)
    cfg = compile_network(DESC, tmp_path / "a", 2, 2, 4, budget=budget)
    assert (cfg["pox"], cfg["poy"], cfg["pof"]) == (2, 2, 4)
    assert cfg["resources"] == resources(cfg["params"]).to_json()
    assert cfg["modeled"]["cycles"] == cfg["modeled_cycles"]["total"] and cfg["modeled"]["mhz"] == 150.0
    assert (tmp_path / "a" / "report.md").read_text().startswith("# Accelerator for small")
    # 64 MAC lanes and one update multiplier: the DRAM line (10 GB/s at 150 MHz serves 32
    # words, POX = POF = 4 cap it at 4) narrows to one word before the DSPs are refused
    with pytest.raises(ValueError, match="POX=4 POY=4 POF=4 needs 65 DSP blocks, the budget is 40"):
        compile_network(DESC, tmp_path / "b", 4, 4, 4, budget=budget)
    with pytest.raises(ValueError, match="cannot serve it"):
        check_budget(cfg["params"], Budget(100, 4000, 1000.0, 1.0))


@pytest.mark.parametrize("lanes", [(1, 1, 1), (2, 1, 4), (4, 4, 2)])
def test_layer_phase_rows_add_up_to_the_step(lanes):
    # the per layer-phase figures are a partition of the step's: cycles, useful MACs and
    # DRAM traffic sum to the totals, utilization stays in [0, 1], every MAC phase of a
    # layer with both FP and WU shows up
    pox, poy, pof = lanes
    budget = Budget(200, 4000, 250.0, 10.0)
    row = evaluate(prog_for(pof), params_for(prog_for(pof), pox, poy, pof), budget,
                   useful_macs(DESC), 2)
    phases = row["layer_phases"]
    assert sum(p["cycles"] for p in phases) == row["cycles"]
    assert sum(p["macs"] for p in phases) == useful_macs(DESC)
    assert sum(p["dram_bytes"] for p in phases) == row["dram_bytes"]
    assert sum(p["energy_j"] for p in phases) == pytest.approx(row["energy_j"], rel=1e-12)
    assert all(0 <= p["utilization"] <= 1 and p["bound"] in ("compute", "DRAM", "-") for p in phases)
    names = {p["phase"] for p in phases}
    assert {"conv0.fp", "conv0.wu", "conv1.bp", "fc.wu", "pool0.bp"} <= names
    assert all(p["macs"] == 0 for p in phases if p["phase"].startswith(("relu", "pool", "loss")))
    lat = sum(p["latency_s"] for p in phases)
    assert lat == pytest.approx(row["latency_s"], rel=1e-12)
    # the search's closed-form lower bound is the lanes' beats, tile by tile
    params = params_for(prog_for(pof), pox, poy, pof)
    beats = sum(ph["mac_cycles"] for ph in accel_cycles(prog_for(pof), params)["phases"].values())
    assert mac_beats(prog_for(pof), pox, poy, pof) == beats < row["cycles"]
    # the lane-occupancy ceiling sits between the modeled rate and the peak; one lane is
    # never ragged, so there it is the peak
    assert row["gops"] < row["ceiling_gops"] <= row["peak_gops"] * (1 + 1e-12)
    assert row["peak_gops"] == pytest.approx(2 * pox * poy * pof * 0.25)
    if lanes == (1, 1, 1):
        assert row["ceiling_gops"] == pytest.approx(row["peak_gops"], rel=1e-12)
    else:
        assert row["ceiling_gops"] < row["peak_gops"]


def test_report_and_config_carry_the_layer_phases(tmp_path):
    cfg = compile_network(DESC, tmp_path / "a", 2, 1, 2, budget=Budget(40, 4000, 150.0, 10.0))
    on_disk = json.loads((tmp_path / "a" / "config.json").read_text())
    assert on_disk["layer_phases"] == cfg["layer_phases"]
    report = (tmp_path / "a" / "report.md").read_text()
    assert "| layer-phase | cycles | share | MAC utilization | bound |" in report
    for p in cfg["layer_phases"]:
        assert f"| {p['phase']} | {p['cycles']:,} |" in report
    # the ReLUs and argmaxes that have no phase of their own say where they went
    for line in ("relu0 in conv0.fp's drain (y and its mask)", "relu0's mask multiply in pool0.bp",
                 "pool1's argmax with its maxima"):
        assert line in report
    assert not [p for p in cfg["layer_phases"] if p["phase"].startswith("relu")]
    # a bound counts port requests (lines), not words: DW = 4 moves 4 words per request
    phases = accel_cycles(assemble(DESC, CONST, 2, 1)[0], dict(cfg["params"], DW=4))["phases"]
    assert any(v["dram_words"] > v["dram_requests"] for v in phases.values())
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        pytest.skip("matplotlib (the plot extra) is not installed: no roofline.png")
    png = (tmp_path / "a" / "roofline.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and "roofline.png" in report


@pytest.mark.parametrize("args,message", [
    (["--dsp", "1", "--bram-kbit", "4000", "--mhz", "200", "--dram-gbps", "10"],
     "POX=1 POY=1 POF=1 needs 2 DSP blocks, the budget is 1"),
    (["--dsp", "100", "--bram-kbit", "10", "--mhz", "200", "--dram-gbps", "10"], "Kbit of block RAM"),
    (["--dsp", "100"], "missing --bram-kbit --mhz --dram-gbps"),
    (["--device", "nope"], "unknown device 'nope'"),
    (["--device", "xc7a200t", "--dsp", "9"], "--device sets every budget; drop --dsp"),
    (["--pox", "2"], "give all of --pox --poy --pof, or none of them"),
    ([], "give the lanes (--pox --poy --pof) or a budget"),
    (["--dsp", "-3", "--bram-kbit", "4000", "--mhz", "200", "--dram-gbps", "10"], "--dsp must be a positive"),
])
def test_cli_refuses_impossible_or_incomplete_constraints(tmp_path, capsys, args, message):
    from hwgen.cli import main

    (tmp_path / "net.json").write_text(json.dumps(DESC))
    rc = main(["compile", "--describe", str(tmp_path / "net.json"), "--out", str(tmp_path / "o"), *args])
    err = capsys.readouterr().err
    assert rc == 2 and message in err and len(err.strip().splitlines()) == 1, err


def test_device_presets_name_their_sources():
    for d in DEVICES.values():
        assert d.dsp > 0 and d.bram_kbit > 0 and d.mhz > 0 and len(d.source) > 40
    s10 = DEVICES["stratix10-gx"]
    # the fallback's 1024 MACs with 8 vector lanes fit; 2048 MACs do not
    assert dsp_count(8, 8, 16, "stratix10", dw=8) <= s10.dsp < dsp_count(8, 8, 32, "stratix10") and s10.mhz == 240.0


@pytest.mark.skipif(sim.simulator_missing("icarus") is not None, reason="Icarus is not installed")
def test_two_budgets_choose_different_designs_that_both_train_word_for_word(tmp_path):
    from hwgen.compiler.simulate import simulate

    seen = set()
    for dsp in (6, 40):
        cfg = compile_network(DESC, tmp_path / str(dsp), None, None, None, budget=Budget(dsp, 4000, 200.0, 10.0))
        lanes = (cfg["pox"], cfg["poy"], cfg["pof"])
        assert cfg["resources"]["dsp"] <= dsp and lanes not in seen
        seen.add(lanes)
        r = simulate(tmp_path / str(dsp), "icarus")
        assert r.ok and r.tensors_equal == 6, r.lines
        assert r.cycles == cfg["modeled"]["cycles"]
