"""The engine's fpl19 and sr16 plans equal the oracle's, derived from docs/training.md on
its own (reference/presets.py; sr16 calibrated by the oracle's own float64 step,
reference/float_step.py), field by field; and training steps with each preset's own
defaults match the oracle running on the oracle's plan."""
import numpy as np
import pytest

from fxtrain.models import cnn1x, cnn2x, lenet
from fxtrain.presets import fpl19, sr16
from reference import network as oracle
from reference.presets import calibrated_frac, fpl19_plan, sr16_plan
from tests.nn.test_network_vs_oracle import NETS, _batch, _eq

from fxtrain.nn import Network


def _diff(got, want, path="plan"):
    """Every differing field as 'path: engine != oracle'."""
    if isinstance(want, dict) and isinstance(got, dict):
        out = [f"{path}.{k}: missing in the engine" for k in want if k not in got]
        out += [f"{path}.{k}: not in the oracle's" for k in got if k not in want]
        for k in want:
            if k in got:
                out += _diff(got[k], want[k], f"{path}.{k}")
        return out
    return [] if got == want else [f"{path}: {got!r} != {want!r}"]


def _nets():
    yield "cnn1x", cnn1x(recipe=fpl19(batch=8, groups=2))
    yield "cnn2x", cnn2x(in_channels=1, recipe=fpl19())
    yield "lenet", lenet(recipe=fpl19(batch=4, groups=4, lr=0.05))
    for name, make in NETS.items():
        layers, shape = make()
        yield name, Network(layers, fpl19(batch=2), shape)


@pytest.mark.parametrize("name,net", list(_nets()), ids=lambda v: v if isinstance(v, str) else "")
def test_engine_plan_equals_the_oracles(name, net):
    desc = net.describe()
    assert _diff(desc["plan"], fpl19_plan(desc["layers"])) == []


def test_the_comparison_sees_one_wrong_field():
    desc = cnn1x(recipe=fpl19()).describe()
    want = fpl19_plan(desc["layers"])
    want["layers"]["conv3"]["momentum"]["format"] = "Q16.19"
    assert _diff(desc["plan"], want) == ["plan.layers.conv3.momentum.format: 'Q16.20' != 'Q16.19'"]


@pytest.mark.parametrize("net_kind", sorted(NETS))
def test_preset_defaults_match_the_oracle_on_its_own_plan(net_kind):
    """fpl19 with its own defaults (relu rule, loss, widths, constants): the oracle runs on
    the plan it derived, the engine on its own; three steps, every parameter word."""
    layers, shape = NETS[net_kind]()
    net = Network(layers, fpl19(lr=0.05, batch=4, groups=2), shape, seed=3)
    rng = np.random.default_rng(3)
    for _ in range(3):
        xf, y = _batch(rng, 4, shape)
        x = net.quantize_input(xf)
        desc = net.describe()
        desc["plan"] = fpl19_plan(desc["layers"])
        ref = oracle.train_step(desc, {k: v.copy() for k, v in net.params.items()}, x, y)
        m = net.train_step(x, y)
        for k, v in net.params.items():
            _eq(v, ref["params"][k], f"{net_kind} {k}")
        assert m["overflows"] == ref["overflows"]


# ------------------------------------------------------------------ sr16

def _calib(shape, n, seed, k=10):
    rng = np.random.default_rng(seed)
    return rng.uniform(0, 1, (n, *shape)), rng.integers(0, k, n)


def _sr16_nets():
    x, y = _calib((3, 32, 32), 8, 1)
    yield "cnn1x", cnn1x(recipe=sr16(batch=8, groups=2, calib=(x, y)), seed=4), (x, y)
    x, y = _calib((1, 28, 28), 12, 2)
    yield "lenet", lenet(recipe=sr16(batch=12, groups=3, lr=0.05, calib=(x, y)), seed=9), (x, y)
    for name, make in NETS.items():
        layers, shape = make()
        x, y = _calib(shape, 4, 3, k=3)
        yield name, Network(layers, sr16(batch=4, groups=2, calib=(x, y)), shape, seed=5), (x, y)


def _oracle_sr16(net, calib):
    d = net.describe()
    h = d["hyper"]
    return sr16_plan(d["layers"], d["seed"], calib[0], calib[1], h["batch"], h["groups"], h["lr_start"])


@pytest.mark.parametrize("name,net,calib", list(_sr16_nets()), ids=lambda v: v if isinstance(v, str) else "")
def test_engine_sr16_plan_equals_the_oracles(name, net, calib):
    """Calibration included: the oracle's float64 step (its own loops, its own He-uniform
    draw from the seed) picks the same fraction for every tensor."""
    assert _diff(net.describe()["plan"], _oracle_sr16(net, calib)) == []


def test_sr16_calibration_sees_the_batch_and_the_seed():
    """The derivation depends on what it should: another seed or batch moves fractions."""
    name, net, calib = next(_sr16_nets())
    base = _oracle_sr16(net, calib)
    d = net.describe()
    h = d["hyper"]
    x2 = calib[0] * 8
    other = sr16_plan(d["layers"], d["seed"], x2, calib[1], h["batch"], h["groups"], h["lr_start"])
    assert _diff(base, other)
    assert "input" in " ".join(_diff(base, other))


@pytest.mark.parametrize("m, headroom, want", [
    (0.9, 1, 14), (1.0, 1, 13), (1.0 - 2**-53, 1, 14), (2.0, 3, 10), (0.0, 3, 12),
    (float("inf"), 3, 12), (2.0**40, 3, -29), (2.0**50, 3, -32), (2.0**-60, 2, 32),
])
def test_calibrated_fraction_rule(m, headroom, want):
    """docs/training.md's f = (w-1) - (floor(log2 m) + 1) - headroom, clamped to +-32;
    the engine's frac_for (before its clamp) agrees."""
    from fxtrain.nn.plan import frac_for

    assert calibrated_frac(m, headroom) == want
    assert max(-32, min(32, frac_for(m, 16, headroom))) == want


@pytest.mark.parametrize("net_kind", sorted(NETS))
def test_sr16_defaults_match_the_oracle_on_its_own_plan(net_kind):
    """sr16 with its own defaults (calibration, stochastic rounding, saturation, the
    "half" constants): three steps on the oracle's own plan, every parameter word."""
    layers, shape = NETS[net_kind]()
    calib = _calib(shape, 4, 11, k=3)
    net = Network(layers, sr16(lr=0.05, batch=4, groups=2, calib=calib), shape, seed=3)
    rng = np.random.default_rng(4)
    for _ in range(3):
        xf, y = _batch(rng, 4, shape)
        x = net.quantize_input(xf)
        desc = net.describe()
        desc["plan"] = _oracle_sr16(net, calib)
        ref = oracle.train_step(desc, {k: v.copy() for k, v in net.params.items()}, x, y)
        m = net.train_step(x, y)
        for k, v in net.params.items():
            _eq(v, ref["params"][k], f"{net_kind} {k}")
        assert m["overflows"] == ref["overflows"]
