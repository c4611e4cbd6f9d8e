"""The calibrated recipe family at any word length: sr16 is its 16-bit stochastic member
word for word, every member's plan equals the oracle's own derivation, and training
steps at short words match the oracle bit for bit."""
import numpy as np
import pytest

from fxtrain.nn import Network
from fxtrain.nn.models import lenet
from fxtrain.presets import calibrated, sr16
from reference.presets import calibrated_plan
from tests.nn.test_network_vs_oracle import ALL_STOCHASTIC, NETS, _batch, run

WORDS = (4, 6, 8, 10, 12, 14, 16)


def _calib(shape, n, seed, k=3):
    rng = np.random.default_rng(seed)
    return rng.uniform(0, 1, (n, *shape)), rng.integers(0, k, n)


def _oracle(net, calib, recipe):
    d = net.describe()
    h = d["hyper"]
    return calibrated_plan(d["layers"], d["seed"], calib[0], calib[1], h["batch"], h["groups"], h["lr_start"],
                           word=recipe.word, name=recipe.name, loss=recipe.loss, relu_rule=recipe.relu_rule,
                           rounding=recipe.rounding, overflow=recipe.overflow)


def test_sr16_is_the_16_bit_stochastic_member():
    calib = _calib((1, 4, 4), 4, 0)
    a = sr16(lr=0.02, batch=4, groups=2, calib=calib)
    b = calibrated(16, lr=0.02, batch=4, groups=2, calib=calib, update_rounding="stochastic", name="sr16")
    assert a == b
    layers, shape = NETS["small"]()
    na, nb = Network(layers, a, shape, seed=1), Network(layers, b, shape, seed=1)
    assert na.plan == nb.plan


@pytest.mark.parametrize("word", WORDS)
@pytest.mark.parametrize("mode", ["half_even", "stochastic"])
@pytest.mark.parametrize("net_kind", ["small", "deep"])
def test_plans_equal_the_oracles(word, mode, net_kind):
    layers, shape = NETS[net_kind]()
    calib = _calib(shape, 4, word)
    r = calibrated(word, batch=4, groups=2, calib=calib, update_rounding=mode)
    net = Network(layers, r, shape, seed=word)
    plan = net.describe()["plan"]
    assert plan == _oracle(net, calib, r)
    assert plan["recipe"] == f"cal{word}-{mode}" and plan["constants"]["format"] == "Q16.16"
    assert {s["format"].split(".")[0] for s in plan["layers"]["conv0"].values() if isinstance(s, dict)
            and "format" in s} == {f"Q{word}"}


def test_lenet_plan_at_8_bits_equals_the_oracles():
    calib = _calib((1, 28, 28), 8, 3, k=10)
    r = calibrated(8, batch=8, groups=2, calib=calib, update_rounding="half_even", overflow="wrap")
    net = lenet(recipe=r, seed=2)
    assert net.describe()["plan"] == _oracle(net, calib, r)


@pytest.mark.parametrize("word,mode,net_kind", [(4, "stochastic", "small"), (6, "half_even", "deep"),
                                                (8, "stochastic", "strided"), (8, "half_even", "small"),
                                                (12, "stochastic", "deep")])
def test_short_words_train_like_the_oracle(word, mode, net_kind):
    """Three steps (the last at another lr) on the oracle's own plan, every word."""
    layers, shape = NETS[net_kind]()
    calib = _batch(np.random.default_rng(word), 4, shape)
    r = calibrated(word, lr=0.05, batch=4, groups=2, calib=calib, update_rounding=mode)
    net = Network(layers, r, shape, seed=7)
    net.oracle_plan = _oracle(net, calib, r)
    before = {k: v.copy() for k, v in net.params.items()}
    run(net, np.random.default_rng(word + 1), lr_change=0.5)
    assert any(not np.array_equal(before[k], v) for k, v in net.params.items()), "nothing trained"


def test_per_role_tables_reach_the_plan():
    layers, shape = NETS["small"]()
    calib = _calib(shape, 4, 5)
    r = calibrated(10, batch=4, calib=calib, update_rounding=dict(ALL_STOCHASTIC),
                   overflow={**{k: "saturate" for k in ALL_STOCHASTIC}, "momentum": "wrap", "update": "wrap"})
    net = Network(layers, r, shape)
    lp = net.describe()["plan"]["layers"]["conv0"]
    assert lp["activation"]["rounding"] == "stochastic" and lp["momentum"]["overflow"] == "wrap"
    assert net.describe()["plan"] == _oracle(net, calib, r)


@pytest.mark.parametrize("kw, match", [
    ({"word": 1}, "word must be an integer 2..16"),
    ({"word": 17}, "word must be an integer 2..16"),
    ({"update_rounding": {"activation": "half_even"}}, "needs exactly the roles"),
    ({"overflow": "clip"}, "unknown overflow"),
    ({"update_rounding": "nearest"}, "unknown rounding"),
])
def test_bad_family_arguments(kw, match):
    with pytest.raises(ValueError, match=match):
        calibrated(**{"calib": _calib((1, 4, 4), 2, 0), **kw})


def test_word_changes_the_bits():
    """The word length is not decoration: the same run at 8 and 10 bits differs."""
    layers, shape = NETS["small"]()
    calib = _calib(shape, 4, 9)
    out = []
    for word in (8, 10):
        net = Network(layers, calibrated(word, batch=4, calib=calib), shape, seed=3)
        x = net.quantize_input(_batch(np.random.default_rng(1), 4, shape)[0])
        net.train_step(x, np.array([0, 1, 2, 0]))
        out.append(net.params["fc.weight"].astype(np.int64) << (16 - word))
    assert not np.array_equal(*out)
