"""hwgen.perf: cycles against independent loop nests, lane-loss bounds (hypothesis),
DRAM bytes by hand, monotone energy/latency, reductions, and the ``hwgen perf`` CLI.
No simulator needed."""
import json
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fxtrain.grow.report import model_report
from fxtrain.models import cnn1x, cnn_layers, lenet
from hwgen.cli import main
from hwgen.perf import ArrayConfig, format_cost, network_cost, reduction_table, reductions

PHASES = ("fp", "bp", "wu")


def _conv(name, c, o, k, s, p):
    return {"type": "Conv2d", "name": name, "in_ch": c, "out_ch": o, "k": k, "stride": s, "pad": p}


def _second_conv(c, h, w, o, k, s, p):
    """A network whose layer under test is the second weighted one (so it has a BP)."""
    return {"name": "t", "input_shape": [c, h, w],
            "layers": [_conv("head", c, c, 1, 1, 0), _conv("x", c, o, k, s, p)]}


def _desc(widths, name):
    layers = [{"type": type(L).__name__, **vars(L)} for L in cnn_layers(widths=widths)]
    return {"name": name, "input_shape": [3, 32, 32], "layers": layers}


# ---------------------------------------------------------------- cycles
def test_cycles_times_lanes_equal_macs_when_everything_divides():
    cfg = ArrayConfig(pox=2, poy=2, pof=4)
    # FP/WU: Ho, Wo multiples of pox/poy, O of pof, C*K*K of pox*poy; BP with full
    # padding (pad = K-1, so every tap of the transposed conv meets an error element)
    # over H, W multiples of pox/poy and C a multiple of pof
    c, h, o, k = 4, 4, 8, 3
    for pad in (1, 2):
        x = network_cost(_second_conv(c, h, h, o, k, 1, pad), cfg, batch=3)["layers"][1]
        ho = h + 2 * pad - k + 1
        assert x["fp"]["macs"] == 3 * o * c * k * k * ho * ho
        assert x["fp"]["cycles"] * cfg.lanes == x["fp"]["macs"]
        assert x["wu"]["cycles"] * cfg.lanes == x["wu"]["macs"]
        assert x["fp"]["utilization"] == x["wu"]["utilization"] == 1.0
    assert x["bp"]["macs"] == 3 * o * c * k * k * h * h
    assert x["bp"]["cycles"] * cfg.lanes == x["bp"]["macs"]


def _loop_nest_cycles(c, h, w, o, k, s, p, pox, poy, pof):
    """Cycles of each phase by walking the array's schedule one step at a time."""
    ho, wo = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
    fp = sum(1 for _tx in range(0, wo, pox) for _ty in range(0, ho, poy) for _to in range(0, o, pof)
             for _c in range(c) for _ky in range(k) for _kx in range(k))
    bp = sum(1 for _tx in range(0, w, pox) for _ty in range(0, h, poy) for _tc in range(0, c, pof)
             for _o in range(o) for _ky in range(k) for _kx in range(k))
    wu = sum(1 for _to in range(0, o, pof) for _tr in range(0, c * k * k, pox * poy)
             for _y in range(ho) for _x in range(wo))
    return {"fp": fp, "bp": bp, "wu": wu}


def test_ragged_counts_cost_the_ceil_of_each_lane_dimension():
    # 7x7 output on 4x2 pixel lanes, 5 channels on 4 channel lanes: every dimension ragged
    c, h, o, k, s, p = 3, 7, 5, 3, 1, 1
    cfg = ArrayConfig(pox=4, poy=2, pof=4)
    x = network_cost(_second_conv(c, h, h, o, k, s, p), cfg, batch=2)["layers"][1]
    # by hand: FP 2*4*2*27, BP 2*4*1*45, WU 2*ceil(27/8)=4 * 49
    assert {ph: x[ph]["cycles"] for ph in PHASES} == {"fp": 2 * 432, "bp": 2 * 360, "wu": 2 * 392}
    assert {ph: x[ph]["cycles"] // 2 for ph in PHASES} == _loop_nest_cycles(c, h, h, o, k, s, p, 4, 2, 4)


def test_linear_runs_as_a_1x1_convolution():
    desc = {"input_shape": [20, 1, 1], "layers": [
        {"type": "Flatten", "name": "f"}, {"type": "Linear", "name": "a", "in_f": 20, "out_f": 6},
        {"type": "Linear", "name": "b", "in_f": 6, "out_f": 35}]}
    cfg = ArrayConfig(pox=2, poy=3, pof=8)
    b = network_cost(desc, cfg)["layers"][1]
    assert b["fp"]["cycles"] == 5 * 6          # ceil(35/8) output tiles x 6 inputs
    assert b["bp"]["cycles"] == 1 * 35         # ceil(6/8) input tiles x 35 outputs
    assert b["wu"]["cycles"] == 5 * 1          # ceil(35/8) x ceil(6/6)
    assert b["fp"]["macs"] == b["bp"]["macs"] == b["wu"]["macs"] == 210


lane_counts = st.integers(1, 9)


@st.composite
def conv_cases(draw):
    c, o, k = draw(st.integers(1, 12)), draw(st.integers(1, 40)), draw(st.integers(1, 5))
    s, p = draw(st.integers(1, 3)), draw(st.integers(0, 3))
    h, w = draw(st.integers(1, 12)), draw(st.integers(1, 12))
    if h + 2 * p < k or w + 2 * p < k:
        h, w = h + k, w + k
    return c, h, w, o, k, s, p


@settings(max_examples=60)
@given(conv_cases(), lane_counts, lane_counts, lane_counts, st.integers(1, 4))
def test_cycles_never_beat_the_lanes(case, pox, poy, pof, batch):
    cfg = ArrayConfig(pox=pox, poy=poy, pof=pof)
    cost = network_cost(_second_conv(*case), cfg, batch)
    for L in cost["layers"]:
        for ph in PHASES:
            r = L[ph]
            assert r["cycles"] * cfg.lanes >= r["macs"]
            assert 0.0 <= r["utilization"] <= 1.0
    x = cost["layers"][1]
    assert {ph: x[ph]["cycles"] for ph in PHASES} == {
        ph: batch * n for ph, n in _loop_nest_cycles(*case, pox, poy, pof).items()}


# ---------------------------------------------------------------- DRAM, latency, energy
def test_dram_bytes_by_hand():
    # [2,6,6] conv 2->4 k3 p1 -> relu -> pool2 -> [4,3,3] -> flatten 36 -> fc 36->5; B = 2
    desc = {"input_shape": [2, 6, 6], "layers": [
        _conv("c", 2, 4, 3, 1, 1), {"type": "ReLU", "name": "r"}, {"type": "MaxPool2d", "name": "m", "k": 2},
        {"type": "Flatten", "name": "f"}, {"type": "Linear", "name": "fc", "in_f": 36, "out_f": 5}]}
    c, fc = network_cost(desc, ArrayConfig(), batch=2)["layers"]
    # conv: in 2*72 words = 288 B, weights 72 words = 144 B, block out 2*36 words = 144 B,
    # mask 2*144 bits + argmax 2*36*2 bits = 432 bits = 54 B
    assert [c[ph]["dram_bytes"] for ph in PHASES] == [288 + 144 + 144 + 54, 0, 288 + 144 + 54 + 4 * 144]
    # fc: in 144 B, weights 180 words = 360 B, out 2*5 words = 20 B
    assert [fc[ph]["dram_bytes"] for ph in PHASES] == [144 + 360 + 20, 20 + 360 + 144, 144 + 20 + 4 * 360]


def test_latency_and_energy_formulas():
    cfg = ArrayConfig(clock_mhz=100, dram_gbps=0.5, pj_per_mac=2.0, pj_per_dram_byte=100.0)
    for L in network_cost(lenet().describe(), cfg, batch=4)["layers"]:
        for ph in PHASES:
            r = L[ph]
            assert r["compute_s"] == r["cycles"] / 100e6
            assert r["dram_s"] == r["dram_bytes"] / 0.5e9
            assert r["latency_s"] == max(r["compute_s"], r["dram_s"])
            assert r["energy_j"] == pytest.approx(r["macs"] * 2e-12 + r["dram_bytes"] * 100e-12, rel=1e-12)
            if r["latency_s"]:
                assert r["gops"] == pytest.approx(2 * r["macs"] / r["latency_s"] / 1e9)
                assert r["bound"] == ("compute" if r["compute_s"] >= r["dram_s"] else "dram")


@settings(max_examples=30)
@given(conv_cases(), st.integers(1, 30), lane_counts, lane_counts, lane_counts)
def test_energy_and_latency_grow_with_macs(case, extra, pox, poy, pof):
    c, h, w, o, k, s, p = case
    cfg = ArrayConfig(pox=pox, poy=poy, pof=pof)
    small = network_cost(_second_conv(c, h, w, o, k, s, p), cfg, 2)["total"]["train"]
    big = network_cost(_second_conv(c, h, w, o + extra, k, s, p), cfg, 2)["total"]["train"]
    assert big["macs"] > small["macs"]
    assert big["energy_j"] > small["energy_j"]
    assert big["latency_s"] >= small["latency_s"]


def test_batch_scales_macs_and_cycles_and_bad_config_is_named():
    one, four = (network_cost(lenet().describe(), ArrayConfig(), b)["total"]["train"] for b in (1, 4))
    assert (four["macs"], four["cycles"]) == (4 * one["macs"], 4 * one["cycles"])
    assert network_cost(lenet().describe(), ArrayConfig(), 1)["total"]["fp"]["macs"] == \
        model_report(lenet().describe())["total"]["macs"]["fp"]
    with pytest.raises(ValueError, match="pof"):
        ArrayConfig(pof=0)
    with pytest.raises(ValueError, match="dram_gbps"):
        ArrayConfig(dram_gbps=0.0)
    with pytest.raises(ValueError, match="batch"):
        network_cost(lenet().describe(), ArrayConfig(), 0)


# ---------------------------------------------------------------- reductions
def test_reductions_of_a_net_against_itself_are_zero():
    cost = network_cost(_desc((16, 16, 32, 32, 64, 64), "a"))
    red = reductions({"a": cost, "b": json.loads(json.dumps(cost))})
    assert all(v == 0.0 for r in red.values() for v in r.values())
    table = reduction_table({"a": cost, "b": cost})
    assert "-0.0" not in table and table.count("+0.0%") == 12


def test_half_width_reductions():
    full, half = (16, 16, 32, 32, 64, 64), (8, 8, 16, 16, 32, 32)

    def params_and_fp(ws):
        chans, sides = (3, *ws), (32, 32, 16, 16, 8, 8)
        conv = [chans[i] * chans[i + 1] * 9 for i in range(6)]
        fc = ws[-1] * 16 * 10
        return sum(conv) + fc, sum(conv[i] * sides[i] ** 2 for i in range(6)) + fc

    (pf, mf), (ph, mh) = params_and_fp(full), params_and_fp(half)
    costs = {"full": network_cost(_desc(full, "full"), batch=8),
             "half": network_cost(_desc(half, "half"), batch=8)}
    red = reductions(costs)["half"]
    assert red["params"] == pytest.approx(100 * (pf - ph) / pf)
    assert red["macs_fp"] == pytest.approx(100 * (mf - mh) / mf)
    assert red["dram_energy_j"] > 0 and red["latency_s"] > 0 and red["energy_j"] > 0
    table = reduction_table(costs)
    assert f"({-red['params']:+6.1f}%)" in table and "full" in table and "half" in table


# ---------------------------------------------------------------- CLI
def test_cli_on_a_describe_file(tmp_path, capsys):
    f = tmp_path / "net.json"
    f.write_text(json.dumps(cnn1x(in_channels=1).describe()))
    out_json = tmp_path / "cost.json"
    assert main(["perf", "--describe", str(f), "--pox", "2", "--batch", "5", "--json", str(out_json)]) == 0
    out = capsys.readouterr().out
    assert "conv5" in out and "train" in out and "pox 2 poy 4 pof 16" in out
    data = json.loads(out_json.read_text())
    assert data["networks"]["cnn1x"]["batch"] == 5
    assert data["networks"]["cnn1x"]["total"]["train"]["macs"] == 5 * model_report(
        cnn1x(in_channels=1).describe())["total"]["macs"]["train"]


def test_cli_on_phases_and_a_model(tmp_path, capsys):
    f = tmp_path / "cgap.json"
    f.write_text(json.dumps({"phases": {
        "seed": _desc((4, 4, 8, 8, 16, 16), "s"), "peak": {"describe": _desc((16, 16, 32, 32, 64, 64), "p")},
        "pruned": _desc((8, 12, 16, 20, 32, 40), "q")}}))
    out_json = tmp_path / "r.json"
    assert main(["perf", "--describe", str(f), "--json", str(out_json)]) == 0
    out = capsys.readouterr().out
    assert "reductions relative to 'seed'" in out
    assert set(json.loads(out_json.read_text())["reductions"]) == {"seed", "peak", "pruned"}
    assert main(["perf", "--model", "lenet", "--batch", "2"]) == 0
    assert "fc0" in capsys.readouterr().out


@pytest.mark.parametrize("content, message", [
    ("{\"input_shape\": [1, 4, 4], ", "not valid JSON"),
    ("[1, 2]", "expected a JSON object"),
    ("{\"foo\": 1}", "not a network description"),
    ("{\"phases\": {}}", "'phases' must be a non-empty object"),
    ("{\"phases\": {\"seed\": [1]}}", "phase 'seed' is not a network description"),
    (json.dumps({"input_shape": [1, 4, 4], "layers": [{"type": "Conv9", "name": "z"}]}),
     "'z'.*unknown layer type"),
])
def test_cli_errors_name_the_problem(tmp_path, capsys, content, message):
    f = tmp_path / "bad.json"
    f.write_text(content)
    assert main(["perf", "--describe", str(f)]) == 2
    err = capsys.readouterr().err
    assert "hwgen: error:" in err
    assert re.search(message, err), err


def test_cli_missing_file_and_unknown_model(tmp_path, capsys):
    assert main(["perf", "--describe", str(tmp_path / "nope.json")]) == 2
    assert "cannot read network description" in capsys.readouterr().err
    assert main(["perf", "--model", "vgg99"]) == 2
    assert "unknown model 'vgg99'" in capsys.readouterr().err
    assert main(["perf", "--model", "lenet", "--pof", "0"]) == 2
    assert "pof" in capsys.readouterr().err


def test_format_cost_has_every_layer_and_phase():
    cost = network_cost(lenet().describe(), ArrayConfig(), 3)
    text = format_cost(cost)
    for L in cost["layers"]:
        for ph in PHASES:
            assert any(line.split()[:2] == [L["name"], ph] for line in text.splitlines())
