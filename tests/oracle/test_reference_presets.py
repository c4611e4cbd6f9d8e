"""The engine's fpl19 plan equals the oracle's, derived from docs/training.md on its own
(reference/presets.py), field by field; and a training step with the preset's own
defaults matches the oracle running on the oracle's plan."""
import numpy as np
import pytest

from fxtrain.models import cnn1x, cnn2x, lenet
from fxtrain.presets import fpl19
from reference import network as oracle
from reference.presets import fpl19_plan
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
