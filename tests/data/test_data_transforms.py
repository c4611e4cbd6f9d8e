"""Dataset record, exact transforms, batch order, synthetic data, load_dataset dispatch."""
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from fxtrain.data import (
    DATASET_NAMES,
    Dataset,
    batches,
    load_dataset,
    one_hot_pm1,
    pad_to,
    shuffle_order,
    synthetic_dataset,
    to_fixed,
    to_unit_float,
)

ALL_PIXELS = np.arange(256, dtype=np.uint8)


def small_ds(n=10, k=3, shape=(1, 4, 5)):
    x = (np.arange(n * int(np.prod(shape))) % 256).astype(np.uint8).reshape(n, *shape)
    return Dataset(x=x, y=np.arange(n, dtype=np.int64) % k, class_names=tuple("abc"[:k]), name="t")


# ---------------------------------------------------------------- Dataset
def test_dataset_validation():
    x, y = np.zeros((2, 1, 3, 3), np.uint8), np.zeros(2, np.int64)
    with pytest.raises(TypeError, match="uint8"):
        Dataset(x.astype(np.int16), y, ("a",), "t")
    with pytest.raises(TypeError, match=r"uint8 array \[N, C, H, W\]"):
        Dataset(x[0], y, ("a",), "t")
    with pytest.raises(TypeError, match="int64"):
        Dataset(x, y.astype(np.int32), ("a",), "t")
    with pytest.raises(ValueError, match="2 images but 3 labels"):
        Dataset(x, np.zeros(3, np.int64), ("a",), "t")
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        Dataset(x, np.array([0, 1]), ("a",), "t")
    with pytest.raises(ValueError, match="unknown split 'dev'"):
        Dataset(x, y, ("a",), "t", split="dev")
    with pytest.raises(TypeError, match="class_names"):
        Dataset(x, y, (), "t")


def test_dataset_read_only_views_do_not_touch_caller_arrays():
    x, y = np.zeros((2, 1, 3, 3), np.uint8), np.zeros(2, np.int64)
    ds = Dataset(x, y, ["a"], "t")
    assert x.flags.writeable and y.flags.writeable
    with pytest.raises(ValueError):
        ds.x[0, 0, 0, 0] = 1
    with pytest.raises(ValueError):
        ds.y[0] = 1
    assert ds.class_names == ("a",) and len(ds) == 2 and ds.image_shape == (1, 3, 3)


def test_take_and_counts():
    ds = small_ds(10, 3)
    assert len(ds.take(4)) == 4 and len(ds.take(99)) == 10 and len(ds.take(0)) == 0
    np.testing.assert_array_equal(ds.take(4).x, ds.x[:4])
    np.testing.assert_array_equal(ds.class_counts(), [4, 3, 3])
    with pytest.raises(ValueError):
        ds.take(-1)


# ---------------------------------------------------------------- transforms
def test_pad_28_to_32_centred():
    x = np.random.default_rng(0).integers(1, 256, (3, 2, 28, 28), dtype=np.uint8)
    p = pad_to(x, 32)
    assert p.shape == (3, 2, 32, 32) and p.dtype == np.uint8
    np.testing.assert_array_equal(p[..., 2:30, 2:30], x)
    mask = np.ones((32, 32), bool)
    mask[2:30, 2:30] = False
    assert not p[..., mask].any()


def test_pad_odd_excess_goes_after_and_dataset_and_errors():
    p = pad_to(np.full((29, 30), 7, np.uint8), 32)
    assert p[1:30, 1:31].min() == 7 and p.sum() == 7 * 29 * 30
    assert not p[0].any() and not p[30:].any() and not p[:, 0].any() and not p[:, 31].any()
    ds = pad_to(small_ds(shape=(1, 28, 28)))
    assert isinstance(ds, Dataset) and ds.x.shape == (10, 1, 32, 32)
    np.testing.assert_array_equal(pad_to(np.ones((2, 32, 32), np.uint8)), np.ones((2, 32, 32)))
    with pytest.raises(ValueError, match="H=33"):
        pad_to(np.zeros((33, 20), np.uint8), 32)
    with pytest.raises(ValueError, match="ndim"):
        pad_to(np.zeros(5, np.uint8))


def test_to_unit_float_exact():
    f = to_unit_float(ALL_PIXELS)
    assert f.dtype == np.float64 and f[255] == 0.99609375 and f[0] == 0.0 and f[1] == 2.0 ** -8
    assert all(Fraction(float(v)) == Fraction(i, 256) for i, v in enumerate(f))
    with pytest.raises(TypeError, match="uint8"):
        to_unit_float(np.arange(3))


@pytest.mark.parametrize("frac, width", [(8, 16), (15, 16), (8, 9), (12, 32), (31, 32), (8, 32)])
def test_to_fixed_exact(frac, width):
    q = to_fixed(ALL_PIXELS, frac, width)
    assert q.dtype == (np.int8 if width <= 8 else np.int16 if width <= 16 else np.int32)
    assert [int(v) for v in q] == [p * 2 ** (frac - 8) for p in range(256)]
    assert all(Fraction(int(v), 2 ** frac) == Fraction(p, 256) for p, v in enumerate(q))


def test_to_fixed_q16_15_known_answer_and_errors():
    np.testing.assert_array_equal(to_fixed(np.array([0, 1, 255], np.uint8)), [0, 128, 32640])
    with pytest.raises(ValueError, match="frac_bits >= 8"):
        to_fixed(ALL_PIXELS, 7)
    with pytest.raises(ValueError, match="does not fit Q.16,16."):
        to_fixed(ALL_PIXELS, 16, 16)
    with pytest.raises(ValueError, match="does not fit"):
        to_fixed(ALL_PIXELS, 8, 8)


def test_one_hot_pm1():
    np.testing.assert_array_equal(one_hot_pm1([2, 0], 3), [[-1, -1, 1], [1, -1, -1]])
    t = one_hot_pm1(np.arange(10) % 4, 4)
    assert t.dtype == np.int8 and t.shape == (10, 4)
    assert (t.sum(axis=1) == 2 - 4).all() and (t.argmax(axis=1) == np.arange(10) % 4).all()
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        one_hot_pm1([3], 3)
    with pytest.raises(TypeError):
        one_hot_pm1([0.5], 3)


# ---------------------------------------------------------------- batches
@given(n=st.integers(0, 200), seed=st.integers(0, 2**64 - 1), epoch=st.integers(0, 1000))
def test_shuffle_order_is_a_deterministic_permutation(n, seed, epoch):
    o = shuffle_order(n, seed, epoch)
    assert o.dtype == np.int64
    np.testing.assert_array_equal(np.sort(o), np.arange(n))
    np.testing.assert_array_equal(o, shuffle_order(n, seed, epoch))


def test_shuffle_order_depends_on_seed_and_epoch():
    base = shuffle_order(100, 1, 0)
    assert not np.array_equal(base, shuffle_order(100, 2, 0))
    assert not np.array_equal(base, shuffle_order(100, 1, 1))
    with pytest.raises(ValueError, match="seed"):
        shuffle_order(5, -1)


@pytest.mark.parametrize("shuffle", [False, True])
@pytest.mark.parametrize("drop_last", [False, True])
def test_batches_cover_data(shuffle, drop_last):
    ds = small_ds(10)
    got = list(batches(ds, 4, seed=3, shuffle=shuffle, drop_last=drop_last))
    assert [len(b[1]) for b in got] == ([4, 4] if drop_last else [4, 4, 2])
    order = shuffle_order(10, 3) if shuffle else np.arange(10)
    used = order[: sum(len(b[1]) for b in got)]
    np.testing.assert_array_equal(np.concatenate([b[0] for b in got]), ds.x[used])
    np.testing.assert_array_equal(np.concatenate([b[1] for b in got]), ds.y[used])
    assert all(b[0].dtype == np.uint8 and b[1].dtype == np.int64 for b in got)


def test_batches_same_seed_same_order_and_errors():
    ds = small_ds(30)
    a = [y for _, y in batches(ds, 7, seed=5, epoch=2)]
    b = [y for _, y in batches(ds, 7, seed=5, epoch=2)]
    c = [y for _, y in batches(ds, 7, seed=5, epoch=3)]
    assert all(np.array_equal(u, v) for u, v in zip(a, b))
    assert not all(np.array_equal(u, v) for u, v in zip(a, c))
    with pytest.raises(ValueError, match="batch_size"):
        list(batches(ds, 0))
    with pytest.raises(TypeError, match="Dataset"):
        list(batches(ds.x, 4))


# ---------------------------------------------------------------- synthetic, dispatch
def test_synthetic_deterministic_balanced_and_learnable():
    tr, te = synthetic_dataset("train"), synthetic_dataset("test")
    assert tr.x.shape == (1000, 1, 28, 28) and te.x.shape == (200, 1, 28, 28)
    np.testing.assert_array_equal(tr.class_counts(), [100] * 10)
    np.testing.assert_array_equal(synthetic_dataset("train").x, tr.x)
    assert not np.array_equal(synthetic_dataset("train", seed=1).x, tr.x)
    assert not np.array_equal(tr.x[:200], te.x)
    # Nearest class mean learnt on train must classify the test split (shared templates).
    means = np.stack([tr.x[tr.y == k].reshape(-1, 784).mean(0) for k in range(10)])
    d = ((te.x.reshape(-1, 1, 784) - means[None]) ** 2).sum(-1)
    assert (d.argmin(1) == te.y).mean() > 0.95


def test_synthetic_options():
    ds = synthetic_dataset("test", n=7, seed=3, num_classes=3, image_shape=(3, 10, 9))
    assert ds.x.shape == (7, 3, 10, 9) and ds.num_classes == 3
    np.testing.assert_array_equal(ds.class_counts(), [3, 2, 2])
    assert len(synthetic_dataset("train", n=0)) == 0
    with pytest.raises(ValueError, match="num_classes"):
        synthetic_dataset(num_classes=0)


def test_load_dataset_dispatch_and_errors():
    assert DATASET_NAMES == ("embedded", "fashion-mnist", "cifar10", "synthetic")
    ds = load_dataset("synthetic", "test", seed=4)
    np.testing.assert_array_equal(ds.x, synthetic_dataset("test", seed=4).x)
    assert load_dataset().name == "embedded"
    with pytest.raises(ValueError, match="unknown dataset 'mnist'"):
        load_dataset("mnist")
    with pytest.raises(ValueError, match="unknown split"):
        load_dataset("synthetic", "val")
