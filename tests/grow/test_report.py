"""fxtrain.grow.report: known answers by hand and by brute-force counting, cnn1x totals
from its widths, scaling under halved widths, and clear errors for bad descriptions."""
import copy
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fxtrain.grow.report import compare, format_report, layer_shapes, model_report
from fxtrain.models import cnn1x, cnn_layers, lenet
from fxtrain.nn.network import Network
from fxtrain.presets import fpl19


def _desc(layers, input_shape):
    return {"input_shape": list(input_shape),
            "layers": [{"type": type(L).__name__, **vars(L)} for L in layers]}


def _conv(name, c, o, k, s, p):
    return {"type": "Conv2d", "name": name, "in_ch": c, "out_ch": o, "k": k, "stride": s, "pad": p}


# ---------------------------------------------------------------- known answers
def test_two_layer_net_by_hand():
    # [2,5,5] -conv 2->3 k3 s1 p0-> [3,3,3] -flatten-> 27 -fc-> 4
    desc = {"input_shape": [2, 5, 5], "layers": [
        _conv("c", 2, 3, 3, 1, 0), {"type": "ReLU", "name": "r"},
        {"type": "Flatten", "name": "f"}, {"type": "Linear", "name": "fc", "in_f": 27, "out_f": 4}]}
    shapes = layer_shapes(desc)
    assert shapes == [
        {"name": "c", "type": "Conv2d", "in_shape": [2, 5, 5], "out_shape": [3, 3, 3],
         "weight_shape": [3, 2, 3, 3], "params": 54},
        {"name": "fc", "type": "Linear", "in_shape": [27], "out_shape": [4],
         "weight_shape": [4, 27], "params": 108}]
    r = model_report(desc, batch=5)
    c, fc = r["layers"]
    assert c["macs"] == {"fp": 486, "bp": 0, "wu": 486, "train": 972}  # 3*2*9 * 3*3
    assert fc["macs"] == {"fp": 108, "bp": 108, "wu": 108, "train": 324}
    assert (c["weight_bytes"], c["momentum_bytes"], c["state_bytes"]) == (108, 108, 216)
    assert r["total"]["params"] == 162
    assert r["total"]["macs"] == {"fp": 594, "bp": 108, "wu": 594, "train": 1296}
    assert r["total"]["macs_batch"] == {"fp": 2970, "bp": 540, "wu": 2970, "train": 6480}
    assert json.loads(json.dumps(r)) == r


def _brute_force(c, h, w, o, k, s, p):
    """Term counts of the docs/numerics.md sums, by looping over every index."""
    ho, wo = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
    fp = sum(1 for _o in range(o) for _y in range(ho) for _x in range(wo)
             for _c in range(c) for _ky in range(k) for _kx in range(k))
    # BP: e_in[c,i,j] sums e[o,y,x]*w[o,c,ky,kx] over i+P-ky = yS, j+P-kx = xS, (y, x) valid
    bp = 0
    for _c in range(c):
        for i in range(h):
            for j in range(w):
                for _o in range(o):
                    for ky in range(k):
                        for kx in range(k):
                            ny, nx = i + p - ky, j + p - kx
                            if (ny % s == 0 and nx % s == 0 and 0 <= ny // s < ho
                                    and 0 <= nx // s < wo):
                                bp += 1
    wu = sum(1 for _o in range(o) for _c in range(c) for _ky in range(k) for _kx in range(k)
             for _y in range(ho) for _x in range(wo))
    return fp, bp, wu


@settings(max_examples=25)
@given(c=st.integers(1, 3), o=st.integers(1, 3), k=st.integers(1, 4), s=st.integers(1, 3),
       p=st.integers(0, 3), h=st.integers(1, 7), w=st.integers(1, 7))
def test_conv_macs_match_brute_force(c, o, k, s, p, h, w):
    if h + 2 * p < k or w + 2 * p < k:
        return
    # a 1x1 conv in front, so the layer under test is not the first (which has no BP)
    desc = {"input_shape": [c, h, w], "layers": [_conv("head", c, c, 1, 1, 0), _conv("x", c, o, k, s, p)]}
    m = model_report(desc)["layers"][1]["macs"]
    assert (m["fp"], m["bp"], m["wu"]) == _brute_force(c, h, w, o, k, s, p)


def test_bp_of_padded_conv_skips_border_terms():
    # 3x3 pad 1 on 32x32: per axis 32*3 taps of which 2 fall outside -> 94
    desc = {"input_shape": [1, 32, 32], "layers": [_conv("a", 1, 2, 1, 1, 0), _conv("b", 2, 5, 3, 1, 1)]}
    m = model_report(desc)["layers"][1]["macs"]
    assert m["fp"] == 5 * 2 * 9 * 32 * 32
    assert m["bp"] == 5 * 2 * 94 * 94


def test_bp_of_first_weighted_layer_is_zero():
    for net in (cnn1x(in_channels=1), lenet()):
        layers = model_report(net.describe())["layers"]
        assert layers[0]["macs"]["bp"] == 0
        assert all(L["macs"]["bp"] > 0 for L in layers[1:])


# ---------------------------------------------------------------- the model zoo
def test_cnn1x_totals_from_widths():
    widths, in_ch, sides, classes = (16, 16, 32, 32, 64, 64), 3, (32, 32, 16, 16, 8, 8), 10
    chans = (in_ch, *widths)
    conv_params = [chans[i] * chans[i + 1] * 9 for i in range(6)]
    fc_in = widths[-1] * 4 * 4
    params = sum(conv_params) + fc_in * classes
    fp = sum(conv_params[i] * sides[i] ** 2 for i in range(6)) + fc_in * classes
    r = model_report(cnn1x().describe(), batch=40)
    assert r["total"]["params"] == params
    assert r["total"]["weight_bytes"] == 2 * params  # fpl19 weights are Q16
    assert r["total"]["momentum_bytes"] == 2 * params
    assert r["total"]["macs"]["fp"] == fp
    assert r["total"]["macs"]["wu"] == fp
    assert r["total"]["macs_batch"]["fp"] == 40 * fp
    assert [L["params"] for L in r["layers"]] == [*conv_params, fc_in * classes]


def test_shapes_agree_with_the_engine():
    for net in (cnn1x(in_channels=1), lenet()):
        got = {L["name"]: (tuple(L["in_shape"]), tuple(L["out_shape"])) for L in layer_shapes(net.describe())}
        want = {L.name: (net.shapes[i], net.shapes[i + 1]) for i, L in enumerate(net.layers) if L.weighted}
        assert got == want
        assert [L["params"] for L in layer_shapes(net.describe())] == [
            net.params[f"{L.name}.weight"].size for L in net.weighted_layers]


def test_halved_widths_scale_macs_exactly():
    full, half = (16, 16, 32, 32, 64, 64), (8, 8, 16, 16, 32, 32)
    rf, rh = (model_report(_desc(cnn_layers(widths=w), (3, 32, 32))) for w in (full, half))
    for Lf, Lh in zip(rf["layers"], rh["layers"]):
        # conv0 and fc keep one fixed side (input channels, classes): a half; the rest a quarter
        ratio = 2 if Lf["name"] in ("conv0", "fc") else 4
        for phase in ("fp", "bp", "wu"):
            assert Lf["macs"][phase] == ratio * Lh["macs"][phase], (Lf["name"], phase)
        assert Lf["params"] == ratio * Lh["params"]


def test_plan_word_lengths_set_the_bytes():
    desc = cnn1x(in_channels=1).describe()
    n = desc["plan"]["layers"]["conv1"]
    n["weight"]["format"], n["momentum"]["format"] = "Q8.6", "Q24.20"
    L = model_report(desc)["layers"][1]
    assert (L["weight_bits"], L["momentum_bits"]) == (8, 24)
    assert (L["weight_bytes"], L["momentum_bytes"]) == (2304, 3 * 2304)
    assert model_report({"input_shape": desc["input_shape"], "layers": desc["layers"]})[
        "layers"][1]["weight_bytes"] == 2 * 2304


# ---------------------------------------------------------------- table and comparison
def test_format_report_lists_every_layer():
    r = model_report(lenet().describe())
    text = format_report(r)
    for L in r["layers"]:
        assert L["name"] in text and str(L["params"]) in text
    assert str(r["total"]["params"]) in text.splitlines()[-1]


def test_compare():
    full = _desc(cnn_layers(widths=(16, 16, 32, 32, 64, 64)), (3, 32, 32))
    half = _desc(cnn_layers(widths=(8, 8, 16, 16, 32, 32)), (3, 32, 32))
    same = compare(full, copy.deepcopy(full))
    assert set(same) == {"params", "weight_bytes", "momentum_bytes", "state_bytes",
                         "macs_fp", "macs_bp", "macs_wu", "macs_train"}
    assert all(v == 0.0 for v in same.values())
    rf, rh = model_report(full), model_report(half)
    d = compare(rf, rh)
    pf, ph = rf["total"]["params"], rh["total"]["params"]
    assert d["params"] == pytest.approx(100 * (pf - ph) / pf)
    assert 70 < d["macs_fp"] < 75  # mostly quarter-cost layers, conv0 and fc only halve
    assert compare(rh, rf)["params"] < 0  # growth is a negative reduction


# ---------------------------------------------------------------- bad input
@pytest.mark.parametrize("mutate, message", [
    (lambda d: d["layers"][1].update(type="Conv3d"), "'relu0'.*unknown layer type 'Conv3d'"),
    (lambda d: d["layers"][2].pop("k"), r"'conv1'.*missing field\(s\) \['k'\]"),
    (lambda d: d["layers"][2].update(in_ch=15), "'conv1'.*in_ch 15 does not match the 16"),
    (lambda d: d["layers"][-1].update(in_f=1000), "'fc'.*in_f 1000 does not match the 1024"),
    (lambda d: d["layers"].pop(-2), "'fc'.*Linear needs a vector input"),
    (lambda d: d["layers"][0].update(stride=0), "'conv0'.*stride must be an integer >= 1"),
    (lambda d: d["layers"][0].update(out_ch=2.5), "'conv0'.*out_ch must be an integer"),
    (lambda d: d["layers"][2].update(name="conv0"), "'conv0'.*duplicate"),
    (lambda d: d["plan"]["layers"].pop("conv3"), "'conv3'.*no weight format"),
    (lambda d: d.pop("layers"), "no 'layers'"),
    (lambda d: d.update(input_shape=[32, 32]), r"input_shape must be \[C, H, W\]"),
])
def test_bad_descriptions_raise_naming_the_problem(mutate, message):
    desc = cnn1x(in_channels=1).describe()
    mutate(desc)
    with pytest.raises(ValueError, match=message):
        model_report(desc)


def test_shapes_raise_for_a_too_small_input():
    desc = {"input_shape": [1, 2, 2], "layers": [_conv("big", 1, 1, 5, 1, 0)]}
    with pytest.raises(ValueError, match="'big'.*too small for kernel 5"):
        layer_shapes(desc)
    with pytest.raises(ValueError, match="batch"):
        model_report(cnn1x(in_channels=1).describe(), batch=0)


def test_engine_network_description_roundtrip():
    net = Network(cnn_layers(widths=(4, 4, 8, 8, 8, 8), in_channels=1), fpl19(), (1, 32, 32))
    assert model_report(net.describe())["total"]["params"] == sum(
        net.params[f"{L.name}.weight"].size for L in net.weighted_layers)
