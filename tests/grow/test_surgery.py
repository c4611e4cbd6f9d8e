"""Growth and pruning are exact: outputs unchanged where the contract says so, and grown
or pruned networks keep training bit-identically to the oracle (reference/network.py)."""
import numpy as np
import pytest

from fxtrain.grow.saliency import Saliency
from fxtrain.grow.surgery import consumer, grow, growable, prune, set_widths, widths
from tests.nn.test_network_vs_oracle import _batch, build, compare_step

RECIPES = ["fpl19", "sr16", "sr16-all"]


def _trained(kind="fpl19", steps=2, seed=5, batch=4, groups=2, lr=0.1):
    """The 'deep' test net (conv->conv, conv->flatten->fc, fc->fc) after a few steps, so
    weights and momenta are no longer their initial values."""
    net, rng = build("deep", kind, batch, groups, lr=lr, seed=seed)
    for _ in range(steps):
        xf, y = _batch(rng, batch, net.input_shape)
        net.train_step(net.quantize_input(xf), y)
    return net, rng


def _probe(net, rng, n=6):
    xf, y = _batch(rng, n, net.input_shape)
    x = net.quantize_input(xf)
    z = net.forward(x)
    return x, y, z, net.loss_grad(z, y)


def test_growable_layers_and_consumers():
    net, _ = build("deep")
    assert growable(net) == ["conv0", "conv1", "fc0"]
    # conv1 feeds fc0 through a 2x2 map after the pool and flatten: 4 columns per filter
    assert consumer(net, "conv0")[1] == 1
    assert consumer(net, "conv1")[1] == 4
    assert consumer(net, "fc0")[1] == 1
    with pytest.raises(ValueError, match="not growable"):
        consumer(net, "fc")


@pytest.mark.parametrize("kind", RECIPES)
@pytest.mark.parametrize("init", ["random", "copy"])
@pytest.mark.parametrize("layer", ["conv0", "conv1", "fc0"])
def test_growth_keeps_outputs_bit_identical(kind, init, layer):
    net, rng = _trained(kind)
    before = {k: v.copy() for k, v in net.params.items()}
    x, y, z, (e, loss) = _probe(net, rng)
    w0 = widths(net)[layer]
    scores = np.arange(w0)[::-1] if init == "copy" else None
    new = grow(net, layer, 3, init=init, event=1, scores=scores)
    np.testing.assert_array_equal(new, np.arange(w0, w0 + 3))
    assert widths(net)[layer] == w0 + 3
    z2 = net.forward(x)
    np.testing.assert_array_equal(z2, z)
    e2, loss2 = net.loss_grad(z2, y)
    np.testing.assert_array_equal(e2, e)
    assert loss2 == loss
    W = net.params[f"{layer}.weight"]
    np.testing.assert_array_equal(W[:w0], before[f"{layer}.weight"])
    assert np.any(W[w0:] != 0), "new units need nonzero incoming weights to learn"
    assert not np.any(net.params[f"{layer}.momentum"][w0:])
    np.testing.assert_array_equal(net.params[f"{layer}.momentum"][:w0], before[f"{layer}.momentum"])
    # the consumer: the new units' outgoing weights AND momenta are zero (a nonzero
    # momentum there would move the zero weights at the next update, changing outputs),
    # the old slices untouched
    ci, per = consumer(net, layer)
    cname = net.layers[ci].name
    for role in ("weight", "momentum"):
        P, old = net.params[f"{cname}.{role}"], before[f"{cname}.{role}"]
        assert P.shape[1] == old.shape[1] + 3 * per, (cname, role)
        np.testing.assert_array_equal(P[:, :w0 * per], old[:, :w0 * per], err_msg=f"{cname}.{role}")
        assert not np.any(P[:, w0 * per:(w0 + 3) * per]), f"{cname}.{role} of the new units"
        np.testing.assert_array_equal(P[:, (w0 + 3) * per:], old[:, w0 * per:],
                                      err_msg=f"{cname}.{role} after the new units")
    if init == "copy":  # highest score first: unit 0 has the largest score
        diff = W[w0].astype(np.int64) - before[f"{layer}.weight"][0]
        assert np.abs(diff).max() <= np.abs(W[w0]).max()


def test_growth_is_reproducible_from_its_event():
    a, _ = _trained()
    b, _ = _trained()
    c, _ = _trained()
    for net, ev in ((a, 4), (b, 4), (c, 5)):
        grow(net, "conv1", 2, event=ev)
    np.testing.assert_array_equal(a.params["conv1.weight"], b.params["conv1.weight"])
    assert not np.array_equal(a.params["conv1.weight"], c.params["conv1.weight"])


@pytest.mark.parametrize("kind", RECIPES)
def test_grown_then_pruned_network_trains_like_the_oracle(kind):
    net, rng = _trained(kind)
    for i, name in enumerate(growable(net)):
        grow(net, name, 2, event=i)
    for _ in range(2):
        xf, y = _batch(rng, net.recipe.batch, net.input_shape)
        compare_step(net, net.quantize_input(xf), y)
    # prune the first unit of every layer (no zero weights there): outputs change,
    # and training still matches the oracle bit for bit
    for name in growable(net):
        prune(net, name, np.arange(1, widths(net)[name]))
    for _ in range(2):
        xf, y = _batch(rng, net.recipe.batch, net.input_shape)
        compare_step(net, net.quantize_input(xf), y)


@pytest.mark.parametrize("layer", ["conv0", "conv1", "fc0"])
def test_pruning_a_unit_with_zero_outgoing_weights_is_exact(layer):
    net, rng = _trained("sr16")
    ci, per = consumer(net, layer)
    nxt = net.layers[ci].name
    u = 1
    W = net.params[f"{nxt}.weight"].copy()
    W[:, u * per:(u + 1) * per] = 0
    net.params[f"{nxt}.weight"] = W
    x, y, z, _ = _probe(net, rng)
    keep = np.setdiff1d(np.arange(widths(net)[layer]), [u])
    ref_w = net.params[f"{layer}.weight"][keep].copy()
    prune(net, layer, keep)
    np.testing.assert_array_equal(net.forward(x), z)
    np.testing.assert_array_equal(net.params[f"{layer}.weight"], ref_w)


def test_pruning_a_used_unit_changes_outputs():
    """The exactness test above can fail: a unit with outgoing weights does matter."""
    net, rng = _trained("fpl19")
    x, y, z, _ = _probe(net, rng)
    prune(net, "conv1", np.arange(1, widths(net)["conv1"]))
    assert not np.array_equal(net.forward(x), z)


def test_fc_columns_after_flatten_follow_the_kept_channels():
    net, _ = build("deep")
    _, per = consumer(net, "conv1")
    fc = net.params["fc0.weight"].copy()
    prune(net, "conv1", np.array([1]))
    np.testing.assert_array_equal(net.params["fc0.weight"], fc[:, per:2 * per])
    assert net.layers[[L.name for L in net.layers].index("fc0")].in_f == per


def test_set_widths_then_load_restores_a_grown_network():
    net, rng = _trained("sr16")
    grow(net, "conv0", 2, event=0)
    prune(net, "fc0", np.array([0, 2, 3]))
    x, y, z, _ = _probe(net, rng)
    fresh, _ = build("deep", "sr16", 4, 2, lr=0.1, seed=5)
    set_widths(fresh, widths(net))
    fresh.load_state_dict(net.state_dict())
    np.testing.assert_array_equal(fresh.forward(x), z)
    assert fresh.describe() == net.describe()


def test_float64_networks_grow_exactly_too():
    from dataclasses import replace

    from fxtrain.nn import Network

    net, rng = build("deep", "fpl19", 4, 2, lr=0.1, seed=2)
    fnet = Network(net.layers, replace(net.recipe, float64=True), net.input_shape, seed=2)
    xf, y = _batch(rng, 6, fnet.input_shape)
    z = fnet.forward(xf)
    grow(fnet, "conv1", 2, event=0)
    grow(fnet, "fc0", 1, event=0)
    np.testing.assert_array_equal(fnet.forward(xf), z)
    assert fnet.params["conv1.weight"].dtype == np.float64


@pytest.mark.parametrize("bad,match", [
    (dict(layer="nope", n_new=1), "no layer named"),
    (dict(layer="fc", n_new=1), "not growable"),
    (dict(layer="conv0", n_new=-1), "non-negative"),
    (dict(layer="conv0", n_new=1, init="zeros"), "unknown init"),
    (dict(layer="conv0", n_new=1, init="copy"), "needs one saliency score"),
    (dict(layer="conv0", n_new=1, scale=float("nan")), "finite"),
])
def test_grow_rejects_bad_requests(bad, match):
    net, _ = build("deep")
    before = net.describe()
    with pytest.raises(ValueError, match=match):
        grow(net, **bad)
    assert net.describe() == before, "a rejected request must leave the network alone"


@pytest.mark.parametrize("keep,match", [
    (np.array([], dtype=int), "every unit"),
    (np.array([0, 9]), r"\[0, 2\)"),
    (np.array([0.0]), "integer"),
])
def test_prune_rejects_bad_keep_lists(keep, match):
    net, _ = build("deep")
    with pytest.raises(ValueError, match=match):
        prune(net, "conv0", keep)


def test_saliency_state_follows_growth_and_pruning():
    net, rng = _trained("fpl19")
    s = Saliency("taylor")
    rec: dict = {}
    W = s.snapshot(net)
    xf, y = _batch(rng, 4, net.input_shape)
    net.train_step(net.quantize_input(xf), y, record=rec)
    s.observe(net, W, rec["weight_gradients"])
    grow(net, "conv1", 2, event=0)
    with pytest.raises(ValueError, match="mirror growth"):
        s.scores(net)
    s.grown("conv1", 2)
    assert s.scores(net)["conv1"][-2:].tolist() == [0, 0]
    # a freshly grown unit has zero outgoing weights: zero gradient, zero Taylor score
    W = s.snapshot(net)
    rec = {}
    net.train_step(net.quantize_input(xf), y, record=rec)
    before = s.scores(net)["conv1"]
    s.observe(net, W, rec["weight_gradients"])
    after = s.scores(net)["conv1"]
    assert after[-2:].tolist() == [0, 0]
    assert np.any(after[:-2] > before[:-2])
