"""Differential test: ``Network.train_step`` against the plain-int oracle reference/network.py.

Every intermediate the engine records (per-layer inputs, accumulators, masks, argmax,
outputs, logits, loss gradient, local gradients, per-group weight gradients, constants),
the parameters after the step and the overflow counts must be bit-identical to the
oracle's, over several consecutive steps (state carried) on tiny networks: fpl19 and sr16
(plus an all-stochastic variant that keys activations and local gradients too), the three
losses, relu rules ge/gt, strides 1/2, pads 0/1, 1 or 2 on-chip groups. The oracle runs
on the plan it derives itself from the preset's rules (reference/presets.py, sr16
calibrated by its own float64 step), never on ``describe()``'s.
"""
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fxtrain.nn import Conv2d, Flatten, Linear, MaxPool2d, Network, ReLU
from fxtrain.presets import fpl19, sr16
from reference import network as oracle
from reference import quantize as ref_quantize
from reference.presets import fpl19_plan, sr16_plan

STEPS = 3


# ------------------------------------------------------------------ networks and data

def _small():
    """conv(pad 1) -> relu -> pool -> fc: the brief's reference shape."""
    return [Conv2d("conv0", 1, 2, 3, 1, 1), ReLU("relu0"), MaxPool2d("pool0", 2), Flatten("flatten"),
            Linear("fc", 2 * 2 * 2, 3)], (1, 4, 4)


def _strided():
    """A stride-2, pad-0 conv in the middle, so BP runs through it."""
    return [Conv2d("conv0", 1, 2, 3, 1, 1), ReLU("relu0"), Conv2d("conv1", 2, 3, 3, 2, 0),
            ReLU("relu1"), Flatten("flatten"), Linear("fc", 3 * 2 * 2, 3)], (1, 5, 5)


def _deep():
    """A leading pool on an odd size (nothing before the first weighted layer gets BP),
    two convs, a pool, two FCs with a ReLU between them."""
    return [MaxPool2d("pool_in", 2), Conv2d("conv0", 1, 2, 3, 1, 1), ReLU("relu0"),
            Conv2d("conv1", 2, 2, 3, 1, 1), ReLU("relu1"), MaxPool2d("pool0", 2), Flatten("flatten"),
            Linear("fc0", 2 * 2 * 2, 4), ReLU("relu2"), Linear("fc", 4, 3)], (1, 9, 9)


NETS = {"small": _small, "strided": _strided, "deep": _deep}


def _batch(rng, n, shape, k=3):
    """Floats on a coarse grid (1/8 steps: max-pool ties), first image all zero (exact
    zero pre-activations, where relu rules ge and gt differ)."""
    x = np.round(rng.uniform(-1, 0.875, (n, *shape)) * 8) / 8
    x[0] = 0.0
    return x, rng.integers(0, k, n)


ALL_STOCHASTIC = {"activation": "stochastic", "local_gradient": "stochastic",
                  "weight_gradient": "stochastic", "momentum": "stochastic", "update": "stochastic",
                  "input": "half_even", "constant": "half_even"}


#: a mixed plan: a rule per layer kind with different phases, and per-layer overrides,
#: narrow enough that sums wrap (16, 20, 24 bits) next to exact ones
MIXED_ACC = {"acc_bits": {"conv": {"fp": 20, "bp": 48, "wu": 24}, "linear": {"fp": 33, "bp": 16, "wu": 64}},
             "acc_override": {"conv1": {"fp": 64, "bp": 17, "wu": 32}}}


def _recipe(kind, batch, groups, lr, loss, relu, calib, momentum=0.5):
    if kind in ("fpl19", "fpl19-mixed"):
        r = fpl19(lr=lr, momentum=momentum, batch=batch, groups=groups)
        if kind == "fpl19-mixed":
            r = replace(r, acc_bits=MIXED_ACC["acc_bits"], acc_override=dict(MIXED_ACC["acc_override"]))
    else:
        r = sr16(lr=lr, momentum=momentum, batch=batch, groups=groups, calib=calib)
        if kind == "sr16-all":
            r = replace(r, rounding=dict(ALL_STOCHASTIC))
    return replace(r, loss=loss, relu_rule=relu)


def _mixed_widths(layers: list[dict]) -> dict:
    """MIXED_ACC's rule written out per layer: the override, else the layer kind's rule."""
    rule = {"Conv2d": MIXED_ACC["acc_bits"]["conv"], "Linear": MIXED_ACC["acc_bits"]["linear"]}
    return {L["name"]: MIXED_ACC["acc_override"].get(L["name"], rule[L["type"]])
            for L in layers if L["type"] in rule}


def oracle_plan(desc: dict, kind: str, loss: str, relu: str, calib) -> dict:
    """The plan the oracle derives itself (reference/presets.py) for this test's recipe:
    the preset's rules with the case's loss and ReLU rule, never the engine's binding."""
    layers, h = desc["layers"], desc["hyper"]
    if kind == "fpl19":
        return fpl19_plan(layers, loss=loss, relu_rule=relu)
    if kind == "fpl19-mixed":
        return fpl19_plan(layers, loss=loss, relu_rule=relu, acc=_mixed_widths(layers))
    rounding = ALL_STOCHASTIC if kind == "sr16-all" else None
    return sr16_plan(layers, desc["seed"], calib[0], calib[1], h["batch"], h["groups"], h["lr_start"],
                     loss=loss, relu_rule=relu, rounding=rounding)


def build(net="small", kind="fpl19", batch=2, groups=1, lr=0.05, loss="squared_hinge", relu="ge",
          seed=0, momentum=0.5):
    """(network, data rng); the network carries ``oracle_plan``, derived by the oracle."""
    layers, shape = NETS[net]()
    rng = np.random.default_rng(seed + 1000)
    calib = _batch(rng, max(batch, 4), shape)
    recipe = _recipe(kind, batch, groups, lr, loss, relu, calib, momentum)
    n = Network(layers, recipe, shape, seed=seed)
    n.oracle_plan = oracle_plan(n.describe(), kind, loss, relu, calib)
    return n, np.random.default_rng(seed)


# ------------------------------------------------------------------ comparison

def _eq(a, b, what):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b), err_msg=what)


def compare_step(net, x, y) -> dict:
    """One engine step against the oracle on the same state, the oracle on the plan it
    derived itself (which must equal the engine's); returns the oracle's result."""
    desc = net.describe()
    assert desc["plan"] == net.oracle_plan, "the engine's plan differs from the oracle's derivation"
    desc["plan"] = net.oracle_plan
    before = {k: v.copy() for k, v in net.params.items()}
    rec: dict = {}
    metrics = net.train_step(x, y, record=rec)
    ref = oracle.train_step(desc, before, x, y)
    step = desc["step"]
    assert [r["layer"] for r in rec["forward"]] == [r["layer"] for r in ref["forward"]]
    for er, rr in zip(rec["forward"], ref["forward"]):
        tag = f"step {step} forward {er['layer']}"
        assert (er["f_in"], er["f_out"]) == (rr["f_in"], rr["f_out"]), tag
        assert set(er) == set(rr), tag
        for k in ("input", "acc", "mask", "argmax", "output"):
            if k in er:
                _eq(er[k], rr[k], f"{tag} {k}")
    _eq(rec["logits"], ref["logits"], f"step {step} logits")
    _eq(rec["loss_grad"], ref["loss_grad"], f"step {step} loss_grad")
    assert set(rec["backward"]) == set(ref["backward"])
    for name, e in rec["backward"].items():
        _eq(e, ref["backward"][name], f"step {step} backward {name}")
    assert set(rec["weight_gradients"]) == set(ref["weight_gradients"])
    for name, gs in rec["weight_gradients"].items():
        assert len(gs) == len(ref["weight_gradients"][name]) == net.recipe.groups
        for g, (a, b) in enumerate(zip(gs, ref["weight_gradients"][name])):
            _eq(a, b, f"step {step} weight gradient {name} group {g}")
    assert rec["constants"] == ref["constants"], f"step {step} constants"
    assert set(net.params) == set(ref["params"])
    for k, v in net.params.items():
        assert v.dtype == ref["params"][k].dtype, k
        _eq(v, ref["params"][k], f"step {step} {k} after the update")
    assert metrics["overflows"] == ref["overflows"], f"step {step} overflow counts"
    return ref


def run(net, rng, steps=STEPS, lr_change=None) -> list[dict]:
    """``steps`` consecutive compared steps; ``lr_change`` = factor applied to lr before
    the last step (a schedule: lr != lr_start)."""
    refs = []
    for s in range(steps):
        if lr_change is not None and s == steps - 1:
            net.recipe = replace(net.recipe, lr=net.recipe.lr * lr_change)
        xf, y = _batch(rng, net.recipe.batch, net.input_shape)
        x = net.quantize_input(xf)
        p = net.plan.input
        _eq(x, ref_quantize(xf, p.fmt.w, p.fmt.f, p.rounding, p.overflow)[0], "input quantization")
        refs.append(compare_step(net, x, y))
    return refs


# ------------------------------------------------------------------ the grid

GRID = [
    # net, recipe, batch, groups, loss, relu
    ("small", "fpl19", 2, 1, "squared_hinge", "ge"),
    ("small", "fpl19", 4, 2, "squared_hinge", "gt"),
    ("small", "fpl19", 2, 2, "mse", "ge"),
    ("small", "fpl19", 3, 1, "softmax_xent", "gt"),
    ("strided", "fpl19", 4, 2, "squared_hinge", "ge"),
    ("strided", "sr16", 4, 2, "mse", "gt"),
    ("deep", "fpl19", 2, 2, "softmax_xent", "ge"),
    ("deep", "sr16", 4, 2, "squared_hinge", "gt"),
    ("small", "sr16", 2, 1, "squared_hinge", "ge"),
    ("small", "sr16", 4, 2, "softmax_xent", "ge"),
    ("small", "sr16-all", 4, 2, "squared_hinge", "gt"),
    ("strided", "sr16-all", 2, 1, "softmax_xent", "ge"),
    ("deep", "sr16-all", 4, 2, "mse", "ge"),
    ("strided", "fpl19-mixed", 4, 2, "squared_hinge", "ge"),
    ("deep", "fpl19-mixed", 4, 2, "softmax_xent", "gt"),
]


@pytest.mark.parametrize("net_kind,recipe,batch,groups,loss,relu", GRID)
def test_train_steps_match_oracle(net_kind, recipe, batch, groups, loss, relu):
    net, rng = build(net_kind, recipe, batch, groups, loss=loss, relu=relu, seed=7)
    refs = run(net, rng, lr_change=0.5)
    if recipe == "fpl19-mixed":  # the narrow widths wrapped, and the counts agreed
        tags = {k for r in refs for k in r["overflows"]}
        assert any(".accumulator_" in k for k in tags), tags


def test_mixed_plan_widths_reach_the_oracle():
    """The widths the oracle applies are the plan's per layer and phase (not one global
    width): conv1's override, the kind rules elsewhere."""
    net, _ = build("deep", "fpl19-mixed", 4, 2)
    layers = net.oracle_plan["layers"]
    assert oracle.acc_width(net.oracle_plan, "conv1", "fp") == 64
    assert net.describe()["plan"]["layers"] == layers
    assert layers["conv0"]["acc_bits"] == {"fp": 20, "bp": 48, "wu": 24}
    assert layers["fc0"]["acc_bits"] == {"fp": 33, "bp": 16, "wu": 64}


@pytest.mark.parametrize("recipe", ["fpl19", "sr16"])
def test_overflowing_steps_match_oracle(recipe):
    """Weights and momenta drawn over the whole 16-bit range and a huge lr: constants
    saturate, momentum and weights wrap (fpl19) or saturate (sr16, where activations and
    gradients saturate too); the overflow counts must match as well as the bits."""
    net, rng = build("small", recipe, 4, 2, lr=40.0, momentum=0.9, seed=3)
    state = net.state_dict()
    for k, v in net.params.items():
        state[k] = rng.integers(-2**15, 2**15, v.shape).astype(v.dtype)
    net.load_state_dict(state)
    refs = run(net, rng)
    tags = {k.split(".")[1] for r in refs for k in r["overflows"]}
    assert {"momentum", "update"} <= tags, tags


@settings(max_examples=6, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), recipe=st.sampled_from(["fpl19", "sr16", "sr16-all"]),
       bg=st.sampled_from([(1, 1), (2, 1), (2, 2), (4, 2), (4, 4)]),
       loss=st.sampled_from(["squared_hinge", "mse", "softmax_xent"]), relu=st.sampled_from(["ge", "gt"]),
       lr=st.sampled_from([0.01, 0.1, 1.0]))
def test_random_small_networks_match_oracle(seed, recipe, bg, loss, relu, lr):
    net, rng = build("small", recipe, bg[0], bg[1], lr=lr, loss=loss, relu=relu, seed=seed)
    run(net, rng, steps=2)


# ------------------------------------------------------------------ the test can fail

def test_oracle_depends_on_step_key():
    """Stochastic tensors follow the step's keys: the same state and batch described as
    a different step gives different weight gradients, so a key bug cannot hide."""
    net, rng = build("small", "sr16", 4, 2, seed=11)
    xf, y = _batch(rng, 4, net.input_shape)
    x = net.quantize_input(xf)
    desc = {**net.describe(), "plan": net.oracle_plan}
    a = oracle.train_step(desc, net.params, x, y)
    b = oracle.train_step({**desc, "step": desc["step"] + 1}, net.params, x, y)
    assert any(not np.array_equal(g, h) for g, h in zip(a["weight_gradients"]["conv0"],
                                                        b["weight_gradients"]["conv0"]))


def test_oracle_relu_rule_and_groups_take_effect():
    """The zero image reaches the ReLU with zero pre-activations, so ge and gt masks
    differ; group g's weight gradient is the one-group gradient of group g's images alone
    (FP and BP are per image; deterministic rounding here), and it differs from the
    whole batch's."""
    net, rng = build("small", "fpl19", 4, 2, seed=5)
    xf, y = _batch(rng, 4, net.input_shape)
    x = net.quantize_input(xf)
    desc = {**net.describe(), "plan": net.oracle_plan}
    ge = oracle.train_step(desc, net.params, x, y)
    gt = oracle.train_step({**desc, "plan": {**desc["plan"], "relu_rule": "gt"}}, net.params, x, y)
    assert not np.array_equal(ge["forward"][1]["mask"], gt["forward"][1]["mask"])
    for g in range(2):
        half = {**desc, "hyper": {**desc["hyper"], "batch": 2, "groups": 1}}
        alone = oracle.train_step(half, net.params, x[2 * g:2 * g + 2], y[2 * g:2 * g + 2])
        for name in ("conv0", "fc"):
            _eq(ge["weight_gradients"][name][g], alone["weight_gradients"][name][0], f"{name} group {g}")
    whole = oracle.train_step({**desc, "hyper": {**desc["hyper"], "groups": 1}}, net.params, x, y)
    assert not np.array_equal(whole["weight_gradients"]["fc"][0], ge["weight_gradients"]["fc"][0])


def test_oracle_rejects_bad_input():
    net, rng = build("small", "fpl19", 2, 1)
    xf, y = _batch(rng, 2, net.input_shape)
    x = net.quantize_input(xf)
    desc = {**net.describe(), "plan": net.oracle_plan}
    with pytest.raises(ValueError, match="batch of 1 images"):
        oracle.train_step(desc, net.params, x[:1], y[:1])
    with pytest.raises(ValueError, match="integer batch"):
        oracle.train_step(desc, net.params, xf, y)
    with pytest.raises(ValueError, match="params has no conv0.momentum"):
        oracle.train_step(desc, {"conv0.weight": net.params["conv0.weight"]}, x, y)
    bad = {**desc, "layers": desc["layers"] + [{"type": "Dropout", "name": "d"}]}
    with pytest.raises(ValueError, match="unknown layer type 'Dropout'"):
        oracle.train_step(bad, net.params, x, y)
