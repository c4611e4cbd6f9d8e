"""fpl19 binding: every fraction and constant the FPL'19 hardware model uses, pinned.

Expected values are worked out by hand from the rules in the issue/DESIGN.md: input 15;
weights 15,15,15,16,16,16,16; momentum 19,19,19,20,20,20,20; every output fraction is
the sum of its operands' fractions minus 16.
"""
import json
from dataclasses import replace

import numpy as np
import pytest

from fxtrain.models import cnn1x, lenet
from fxtrain.nn.plan import frac_for
from fxtrain.nn.recipe import Plan, Recipe
from fxtrain.nn.update import lr_constants
from fxtrain.presets import float64, fpl19, sr16

NAMES = ["conv0", "conv1", "conv2", "conv3", "conv4", "conv5", "fc"]


@pytest.fixture(scope="module")
def net():
    return cnn1x(recipe=float64(fpl19(lr=0.01, momentum=0.5, batch=40)))


def _col(net, role):
    return [getattr(net.plan[n], role).f for n in NAMES]


def test_fpl19_forward_fractions(net):
    # 15+15-16=14, 14+15-16=13, 13+15-16=12, then 12+16-16=12 ...
    assert net.plan.input.f == 15
    assert _col(net, "weight") == [15, 15, 15, 16, 16, 16, 16]
    assert _col(net, "activation") == [14, 13, 12, 12, 12, 12, 12]


def test_fpl19_backward_fractions(net):
    # logits 12; e_in = f_e + f_W - 16 backwards: fc 12, conv5 12, conv4 12, conv3 12, conv2 11, conv1 10, conv0 9
    assert _col(net, "local_gradient") == [9, 10, 11, 12, 12, 12, 12]
    # G = f_e(out) + f_a(in) - 16: conv0 10+15, conv1 11+14, conv2 12+13, conv3.. 12+12, fc 12+12
    assert _col(net, "weight_gradient") == [9, 9, 9, 8, 8, 8, 8]
    assert _col(net, "momentum") == [19, 19, 19, 20, 20, 20, 20]
    assert [net.plan[n].lr_frac for n in NAMES] == [26, 26, 26, 28, 28, 28, 28]
    assert [net.plan[n].scale_frac for n in NAMES] == [12] * 7


def test_fpl19_modes(net):
    lp = net.plan["conv3"]
    assert (lp.activation.rounding, lp.activation.overflow) == ("half_up", "saturate")
    assert (lp.weight_gradient.rounding, lp.local_gradient.rounding) == ("half_up", "half_up")
    assert (lp.momentum.overflow, lp.update.overflow) == ("wrap", "wrap")
    assert (net.plan.input.rounding, net.plan.constants.rounding) == ("half_even", "half_even")
    assert net.plan.relu_rule == "ge" and net.plan.loss == "squared_hinge"


def test_fpl19_accumulators_exact_conv_32_bit_fc(net):
    """The golden model's widths (docs/numerics.md 6.3): every conv phase exact, FC 32."""
    table = net.plan.acc_table()
    assert list(table) == NAMES
    for name in NAMES:
        want = 32 if name == "fc" else 64
        assert table[name] == {"fp": want, "bp": want, "wu": want}, name
    assert net.describe()["plan"]["layers"]["conv0"]["acc_bits"] == {"fp": 64, "bp": 64, "wu": 64}


def test_accumulator_rules_and_overrides():
    r = replace(fpl19(), acc_bits={"conv": {"fp": 48, "bp": 40, "wu": 64}, "linear": 32},
                acc_override={"conv3": 24, "fc": {"fp": 33, "bp": 48, "wu": 64}})
    plan = cnn1x(recipe=float64(r)).plan
    assert plan.acc("conv0", "fp") == 48 and plan.acc("conv0", "bp") == 40 and plan.acc("conv5", "wu") == 64
    assert plan.acc_table()["conv3"] == {"fp": 24, "bp": 24, "wu": 24}
    assert plan.acc_table()["fc"] == {"fp": 33, "bp": 48, "wu": 64}
    back = Plan.from_json(json.loads(plan.dumps()))
    assert back.acc_table() == plan.acc_table()


def test_contract_1_0_plan_loads_with_its_one_width():
    d = json.loads(cnn1x(recipe=float64(fpl19())).plan.dumps())
    for lp in d["layers"].values():
        del lp["acc_bits"]
    d["acc_bits"] = 32
    assert set(map(str, Plan.from_json(d).acc_table()["conv2"].values())) == {"32"}


@pytest.mark.parametrize("bad,match", [
    (15, "integer 16..64"), (65, "integer 16..64"), (True, "integer 16..64"), (32.0, "integer 16..64"),
    ({"conv": 64}, "no rule for"), ({"fp": 32, "bp": 32}, "exactly the phases"),
    ({"conv": 64, "dense": 32}, "layer kinds"),
])
def test_bad_accumulator_widths_are_refused(bad, match):
    with pytest.raises(ValueError, match=match):
        replace(fpl19(), acc_bits=bad)


def test_override_of_an_unknown_layer_is_refused():
    with pytest.raises(ValueError, match="conv9"):
        cnn1x(recipe=float64(replace(fpl19(), acc_override={"conv9": 48})))


def test_fpl19_constants(net):
    c = lr_constants(net.recipe, net.plan, net.plan["fc"])
    # lr == lr_start: lr_q = 2**15 / 1.05 = 31207.6 -> 31208; momentum 0.5 saturates in Q16.16
    assert c["lr_q"] == 31208 and c["m_q"] == 32767
    # scale = 1.05 * 2**(28-15) * 0.01 / 40 = 2.1504; * 2**12 = 8808.04
    assert c["s_q"] == 8808
    c0 = lr_constants(net.recipe, net.plan, net.plan["conv0"])
    assert c0["s_q"] == round(1.05 * 2 ** 11 * 0.01 / 40 * 2 ** 12)


def test_lr_change_moves_only_lr_q():
    r = fpl19(lr=0.005, lr_start=0.01)
    net = cnn1x(recipe=float64(r))
    c = lr_constants(net.recipe, net.plan, net.plan["fc"])
    assert c["lr_q"] == 15604 and c["s_q"] == 8808  # 31207.6 / 2 rounds half-even to 15604


def test_plan_json_round_trip(net):
    p = Plan.from_json(net.plan.to_json())
    assert p.to_json() == net.plan.to_json()
    with pytest.raises(ValueError, match="missing field"):
        Plan.from_json({"recipe": "x"})


def test_frac_for():
    assert frac_for(0.9) == 14 and frac_for(1.0) == 13 and frac_for(0.2, headroom=0) == 17
    assert frac_for(0.0) == 14


@pytest.mark.parametrize("kw, msg", [
    ({"batch": 40, "groups": 3}, "multiple of groups"),
    ({"batch": 0}, "positive integer"),
    ({"momentum": 1.0}, "momentum"),
    ({"relu_rule": "lt"}, "relu_rule"),
])
def test_recipe_validation(kw, msg):
    with pytest.raises(ValueError, match=msg):
        Recipe("x", **kw)


def test_sr16_needs_calibration():
    with pytest.raises(ValueError, match="calibration batch"):
        lenet(recipe=sr16())


def test_sr16_calibrates_every_tensor():
    rng = np.random.default_rng(0)
    x = rng.random((8, 1, 28, 28))
    net = lenet(recipe=sr16(batch=8, calib=(x, rng.integers(0, 10, 8))))
    for name, lp in net.plan.layers.items():
        assert lp.weight_gradient.rounding == "stochastic" and lp.update.rounding == "stochastic"
        assert lp.momentum.f == lp.weight_gradient.f
        # every calibrated fraction leaves the float maxima representable
    w = net.params["conv0.weight"]
    assert w.dtype == np.int16 and np.abs(w).max() < 2 ** 13  # 2 spare integer bits


def test_plan_reader_knows_every_loss():
    from fxtrain.nn import losses, recipe

    assert recipe._LOSSES == losses.LOSSES
