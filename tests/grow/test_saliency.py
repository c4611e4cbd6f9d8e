"""Saliency scores: exact integer Taylor and L1 per unit, and the pruning selection rule."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from fxtrain.grow.saliency import Saliency, select_keep, unit_l1, unit_taylor
from tests.nn.test_network_vs_oracle import _batch, build


def _taylor_brute(W, grads):
    """Python ints, one unit at a time."""
    out = []
    for o in range(W.shape[0]):
        s = 0
        for idx in np.ndindex(W.shape[1:]):
            g = sum(int(G[(o,) + idx]) for G in grads)
            s += int(W[(o,) + idx]) * g
        out.append(abs(s))
    return out


@given(seed=st.integers(0, 2**32 - 1), groups=st.integers(1, 3), conv=st.booleans())
def test_taylor_is_exact_in_int64(seed, groups, conv):
    rng = np.random.default_rng(seed)
    shape = (3, 2, 3, 3) if conv else (4, 5)
    W = rng.integers(-2**15, 2**15, shape).astype(np.int16)
    grads = [rng.integers(-2**15, 2**15, shape).astype(np.int16) for _ in range(groups)]
    assert unit_taylor(W, grads).tolist() == _taylor_brute(W, grads)


def test_l1_per_unit():
    net, _ = build("deep")
    W = net.params["conv1.weight"]
    assert unit_l1(net, "conv1").tolist() == [sum(abs(int(v)) for v in W[o].ravel())
                                              for o in range(W.shape[0])]


def test_taylor_accumulates_over_steps_and_resets():
    net, rng = build("deep", "sr16", 4, 2, lr=0.1, seed=3)
    s = Saliency("taylor")
    expect = {n: np.zeros(net.params[f"{n}.weight"].shape[0], np.int64) for n in ("conv0", "conv1", "fc0")}
    for _ in range(3):
        W = s.snapshot(net)
        rec: dict = {}
        xf, y = _batch(rng, 4, net.input_shape)
        net.train_step(net.quantize_input(xf), y, record=rec)
        s.observe(net, W, rec["weight_gradients"])
        for n in expect:
            expect[n] += np.array(_taylor_brute(W[n], rec["weight_gradients"][n]))
    got = s.scores(net)
    for n in expect:
        np.testing.assert_array_equal(got[n], expect[n])
    assert s.steps == 3 and any(got[n].any() for n in got)
    norm = s.normalized(net)
    lp = net.plan["conv1"]
    np.testing.assert_array_equal(norm["conv1"], got["conv1"] * 2.0 ** -(lp.weight.f + lp.weight_gradient.f) / 3)
    s.reset()
    assert not any(a.any() for a in s.scores(net).values()) and s.steps == 0


def test_taylor_saturates_instead_of_wrapping():
    net, _ = build("deep")
    s = Saliency("taylor")
    s.scores(net)
    s.acc["conv0"][:] = 2**63 - 5
    W = {n: np.full_like(net.params[f"{n}.weight"], 100) for n in ("conv0", "conv1", "fc0")}
    G = {n: [np.full_like(W[n], 100)] for n in W}
    s.observe(net, W, G)
    assert (s.acc["conv0"] == 2**63 - 1).all()


def test_state_round_trip_and_criterion_check():
    net, _ = build("deep")
    s = Saliency("taylor")
    s.scores(net)
    s.acc["conv1"][:] = [7, 9]
    s.steps = 4
    t = Saliency("taylor")
    t.load_state(s.state_arrays(), s.state_meta())
    np.testing.assert_array_equal(t.scores(net)["conv1"], [7, 9])
    assert t.steps == 4
    with pytest.raises(ValueError, match="criterion"):
        Saliency("l1").load_state(s.state_arrays(), s.state_meta())
    with pytest.raises(ValueError, match="unknown saliency"):
        Saliency("hessian")


def test_select_keep_examples():
    np.testing.assert_array_equal(select_keep([5, 1, 1, 9], ratio=0.5), [0, 3])
    # ties: the higher index goes first
    np.testing.assert_array_equal(select_keep([1, 1, 1, 1], ratio=0.25), [0, 1, 2])
    np.testing.assert_array_equal(select_keep([4, 1, 0, 3], threshold=0.6), [0, 3])
    np.testing.assert_array_equal(select_keep([0, 0, 0], ratio=0.9, min_units=2), [0, 1])
    np.testing.assert_array_equal(select_keep([3, 8, 1, 8], count=2), [1, 3])
    np.testing.assert_array_equal(select_keep([3, 8], count=5), [0, 1])
    for bad in (dict(), dict(ratio=0.5, threshold=1.0), dict(ratio=1.0), dict(threshold=-1), dict(count=0)):
        with pytest.raises(ValueError):
            select_keep([1, 2], **bad)
    with pytest.raises(ValueError, match="NaN"):
        select_keep([1, np.nan], ratio=0.5)


@given(scores=st.lists(st.integers(0, 20), min_size=1, max_size=30), ratio=st.floats(0, 0.99),
       min_units=st.integers(1, 5))
def test_select_keep_keeps_the_best(scores, ratio, min_units):
    keep = select_keep(scores, ratio=ratio, min_units=min_units)
    n = len(scores)
    assert len(keep) == n - min(int(np.floor(ratio * n)), n - min(min_units, n))
    assert np.all(np.diff(keep) > 0)
    removed = np.setdiff1d(np.arange(n), keep)
    s = np.asarray(scores)
    if len(removed) and len(keep):
        assert s[removed].max() <= s[keep].min()


def test_gradients_argument_gives_the_recorded_gradients_on_the_fast_path():
    """train_step(gradients=) hands out the same weight gradients as a full record, and
    the step's result (weights, momenta) is the same either way."""
    a, rng = build("deep", "sr16", 4, 2, lr=0.1, seed=9)
    b, _ = build("deep", "sr16", 4, 2, lr=0.1, seed=9)
    for _ in range(2):
        xf, y = _batch(rng, 4, a.input_shape)
        rec: dict = {}
        g: dict = {}
        a.train_step(a.quantize_input(xf), y, record=rec)
        b.train_step(b.quantize_input(xf), y, gradients=g)
        assert g.keys() == rec["weight_gradients"].keys()
        for n in g:
            for x1, x2 in zip(g[n], rec["weight_gradients"][n]):
                np.testing.assert_array_equal(x1, x2)
        for k, v in a.params.items():
            np.testing.assert_array_equal(b.params[k], v)
