"""Network behaviour: state, determinism, groups, float64 baseline, training progress."""
from dataclasses import replace

import numpy as np
import pytest

from fxtrain.data import load_dataset, to_unit_float
from fxtrain.models import lenet
from fxtrain.nn import Conv2d, Flatten, Linear, MaxPool2d, Network, ReLU
from fxtrain.numerics import dequantize
from fxtrain.presets import float64, fpl19, sr16


def tiny(recipe, seed=0):
    layers = [Conv2d("conv0", 1, 4, 3, 1, 1), ReLU("relu0"), MaxPool2d("pool0", 2), Flatten("flatten"),
              Linear("fc", 4 * 4 * 4, 3)]
    return Network(layers, recipe, (1, 8, 8), seed=seed)


def batch(n=4, seed=0, k=3):
    rng = np.random.default_rng(seed)
    return rng.random((n, 1, 8, 8)), rng.integers(0, k, n)


def test_state_dict_round_trip_and_errors():
    a, b = tiny(fpl19(batch=4), seed=1), tiny(fpl19(batch=4), seed=2)
    assert not np.array_equal(a.params["conv0.weight"], b.params["conv0.weight"])
    x, y = batch()
    a.train_step(a.quantize_input(x), y)
    b.load_state_dict(a.state_dict())
    for k, v in a.params.items():
        np.testing.assert_array_equal(b.params[k], v)
    assert b.step == 1
    sd = a.state_dict()
    sd["fc.weight"] = sd["fc.weight"][:, :-1]
    with pytest.raises(ValueError, match="fc.weight: shape"):
        b.load_state_dict(sd)
    sd = a.state_dict()
    sd["conv0.weight"] = sd["conv0.weight"].astype(np.int32)
    with pytest.raises(ValueError, match="dtype"):
        b.load_state_dict(sd)
    sd = a.state_dict()
    del sd["conv0.momentum"]
    with pytest.raises(ValueError, match="missing"):
        b.load_state_dict(sd)


def test_same_seed_same_bits():
    x, y = batch()
    runs = []
    for _ in range(2):
        net = tiny(sr16(batch=4, calib=batch(seed=5)), seed=3)
        for _ in range(3):
            net.train_step(net.quantize_input(x), y)
        runs.append(net.state_dict())
    for k in runs[0]:
        np.testing.assert_array_equal(runs[0][k], runs[1][k])


def test_input_checks():
    net = tiny(fpl19(batch=4))
    x, y = batch()
    with pytest.raises(TypeError, match="quantize_input"):
        net.train_step(x, y)
    with pytest.raises(ValueError, match="recipe's batch"):
        net.train_step(net.quantize_input(x[:2]), y[:2])
    with pytest.raises(ValueError, match="labels must lie"):
        net.train_step(net.quantize_input(x), y + 5)
    with pytest.raises(ValueError, match="input batch shape"):
        net.forward(np.zeros((2, 1, 9, 9), np.int16))


def test_groups_requantize_each_group_separately():
    x, y = batch()
    rec1, rec2 = {}, {}
    n1, n2 = tiny(fpl19(batch=4, groups=1)), tiny(fpl19(batch=4, groups=2))
    n1.train_step(n1.quantize_input(x), y, record=rec1)
    n2.train_step(n2.quantize_input(x), y, record=rec2)
    assert len(rec1["weight_gradients"]["fc"]) == 1 and len(rec2["weight_gradients"]["fc"]) == 2
    # forward and backward do not depend on grouping; only the weight gradients do
    np.testing.assert_array_equal(rec1["logits"], rec2["logits"])
    np.testing.assert_array_equal(rec1["backward"]["fc"], rec2["backward"]["fc"])


def test_float64_baseline_starts_from_the_same_weights():
    q, f = tiny(fpl19(batch=4), seed=7), tiny(float64(fpl19(batch=4)), seed=7)
    for L in ("conv0", "fc"):
        np.testing.assert_array_equal(
            f.params[f"{L}.weight"], dequantize(q.params[f"{L}.weight"], q.plan[L].weight.fmt))
    x, y = batch()
    zq = dequantize(q.forward(q.quantize_input(x)), q.plan["fc"].activation.fmt)
    zf = f.forward(x)
    assert np.max(np.abs(zq - zf)) < 0.05  # same network, quantization error only


@pytest.mark.parametrize("recipe", ["fpl19", "sr16", "float64"])
def test_training_reduces_loss(recipe):
    """Twenty steps on real (embedded Fashion-MNIST) images must cut the loss: every mode trains."""
    tr = load_dataset("embedded", "train")
    x = to_unit_float(tr.x[:800])
    y = tr.y[:800]
    kw = dict(lr=0.01, batch=40)
    r = {"fpl19": fpl19(**kw), "sr16": sr16(**kw, calib=(x[:40], y[:40])),
         "float64": float64(fpl19(**kw))}[recipe]
    net = lenet(in_channels=1, image_size=28, recipe=r, seed=0)
    losses = [net.train_step(net.quantize_input(x[b:b + 40]), y[b:b + 40])["loss"]
              for b in range(0, 800, 40)]
    assert np.mean(losses[-5:]) < 0.3 * np.mean(losses[:2]), losses


@pytest.mark.parametrize("bits", [32, 48])
def test_accumulator_overflows_are_counted_always(bits):
    """Q.15 x Q.15 products near 1 at fraction 30: sums of 3 or more leave int32. With every
    conv width at ``bits``, the FP count must equal the number of exact sums outside the
    signed ``bits``-bit range, computed here with the float64 kernels on the same integers
    (exact: every partial sum < 2**53); on the fused path (no record) as on the recorded
    one. At 48 bits nothing overflows, so no tag appears."""
    net = tiny(replace(fpl19(batch=4), acc_bits={"conv": bits, "linear": 32}))
    W = net.params["conv0.weight"]
    net.params["conv0.weight"] = np.where(W >= 0, 29000, -29000).astype(np.int16)
    x = net.quantize_input(np.full((4, 1, 8, 8), 0.99))
    from fxtrain.nn import float_ops as F

    exact = F.conv2d_fp(x.astype(float), net.params["conv0.weight"].astype(float), 1, 1)
    want = int(np.count_nonzero((exact > 2**(bits - 1) - 1) | (exact < -2**(bits - 1))))
    assert (want > 0) == (bits == 32)
    for record in ([], None):
        net.overflows = {}
        net.forward(x, record) if record is not None else net._forward(x, None, keep_acc=False)
        assert net.overflows.get("conv0.accumulator_fp", 0) == want


def test_zero_updates_count_the_weights_a_step_left_unchanged():
    """An lr so small that every update rounds to zero leaves every weight word unchanged;
    at a normal lr most weights move, and the count is exactly the unchanged ones."""
    x, y = batch()
    for lr in (1e-9, 0.05):
        net = tiny(fpl19(lr=lr, batch=4, groups=2), seed=1)
        before = {k: v.copy() for k, v in net.params.items() if k.endswith(".weight")}
        m = net.train_step(net.quantize_input(x), y)
        words = sum(v.size for v in before.values())
        unchanged = sum(int(np.count_nonzero(net.params[k] == v)) for k, v in before.items())
        assert m["weight_words"] == words and m["zero_updates"] == unchanged
        if lr < 1e-6:
            assert unchanged == words
        else:
            assert unchanged < words / 2
