"""The Fashion-MNIST subset shipped in the package, and its reproducible build."""
import hashlib
import io
import os
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest

from fxtrain.data import FASHION_MNIST_CLASSES, DatasetFormatError, load_dataset, load_embedded
from fxtrain.data import embedded
from fxtrain.data.idx import DEFAULT_FASHION_MNIST_DIRS, read_fashion_mnist_arrays
from fxtrain.data.subset import (
    BUILT_FILE_SHA256,
    BUILT_WITH_ZLIB,
    build_subset_arrays,
    npz_bytes,
    select_balanced,
    write_atomic,
)

SHIPPED = Path(embedded.__file__).with_name(embedded.EMBEDDED_FILENAME)
DEBIAN_DIR = DEFAULT_FASHION_MNIST_DIRS[0]
HAVE_DEBIAN = all(
    os.path.isfile(os.path.join(DEBIAN_DIR, f))
    for f in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
              "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")
)
needs_debian = pytest.mark.skipif(
    not HAVE_DEBIAN, reason=f"Fashion-MNIST IDX files not in {DEBIAN_DIR} (apt-get install dataset-fashion-mnist)"
)


def shipped_arrays() -> dict:
    with np.load(SHIPPED, allow_pickle=False) as npz:
        return {k: npz[k] for k in npz.files}


@pytest.fixture
def fresh_cache():
    embedded._load_verified.cache_clear()
    yield
    embedded._load_verified.cache_clear()


def test_shipped_file_size_and_licence():
    assert SHIPPED.is_file() and SHIPPED.stat().st_size < 3 * 10**6
    lic = SHIPPED.with_name("LICENSE.fashion-mnist").read_text(encoding="utf-8")
    assert "MIT License" in lic and "Zalando SE" in lic and "dataset-fashion-mnist" in lic
    assert "Permission is hereby granted, free of charge" in lic


def test_shipped_arrays_shapes_dtypes_balance():
    a = shipped_arrays()
    assert sorted(a) == list(embedded.EMBEDDED_KEYS)
    for split, per in (("train", 500), ("test", 100)):
        x, y, idx = a[f"x_{split}"], a[f"y_{split}"], a[f"idx_{split}"]
        assert x.dtype == np.uint8 and x.shape == (10 * per, 28, 28)
        assert y.dtype == np.uint8 and idx.dtype == np.uint16 and y.shape == idx.shape == (10 * per,)
        np.testing.assert_array_equal(np.bincount(y, minlength=10), [per] * 10)
        assert (np.diff(idx.astype(np.int64)) > 0).all()  # ascending, no duplicates
        assert x.max() == 255 and x.min() == 0
    assert embedded.content_digest(a) == embedded.EMBEDDED_CONTENT_SHA256


def test_npz_members_are_plain_npy():
    # allow_pickle=False would refuse object arrays; also check no unexpected member sneaked in.
    with zipfile.ZipFile(SHIPPED) as zf:
        assert sorted(zf.namelist()) == sorted(f"{k}.npy" for k in embedded.EMBEDDED_KEYS)


@pytest.mark.parametrize("split, n", [("train", 5000), ("test", 1000)])
def test_load_embedded(split, n):
    ds = load_dataset("embedded", split)
    assert (ds.name, ds.split, ds.class_names) == ("embedded", split, FASHION_MNIST_CLASSES)
    assert ds.x.shape == (n, 1, 28, 28) and ds.x.dtype == np.uint8 and ds.y.dtype == np.int64
    np.testing.assert_array_equal(ds.class_counts(), [n // 10] * 10)
    a = shipped_arrays()
    np.testing.assert_array_equal(ds.x[:, 0], a[f"x_{split}"])
    np.testing.assert_array_equal(ds.y, a[f"y_{split}"])
    assert not ds.x.flags.writeable and not load_embedded(split).y.flags.writeable


def tampered(tmp_path, change):
    a = {k: v.copy() for k, v in shipped_arrays().items()}
    change(a)
    p = tmp_path / embedded.EMBEDDED_FILENAME
    np.savez(p, **a)  # uncompressed: fast, and the loader must not care
    return p


def test_damaged_file_detected(tmp_path, monkeypatch, fresh_cache):
    def flip(a):
        a["x_test"][7, 3, 3] ^= 1

    monkeypatch.setattr(embedded, "embedded_file", lambda: tampered(tmp_path, flip))
    with pytest.raises(DatasetFormatError, match="content sha256"):
        load_embedded("test")


def test_wrong_keys_or_shapes_detected(tmp_path, monkeypatch, fresh_cache):
    monkeypatch.setattr(embedded, "embedded_file", lambda: tampered(tmp_path, lambda a: a.pop("idx_test")))
    with pytest.raises(DatasetFormatError, match="keys"):
        load_embedded("train")
    embedded._load_verified.cache_clear()

    def widen(a):
        a["y_train"] = a["y_train"].astype(np.int64)

    monkeypatch.setattr(embedded, "embedded_file", lambda: tampered(tmp_path, widen))
    with pytest.raises(DatasetFormatError, match="y_train must be uint8"):
        load_embedded("train")


def test_missing_file_detected(tmp_path, monkeypatch, fresh_cache):
    monkeypatch.setattr(embedded, "embedded_file", lambda: tmp_path / "gone.npz")
    with pytest.raises(FileNotFoundError, match="build_embedded_dataset.py"):
        load_embedded("train")


def test_select_balanced():
    labels = np.repeat(np.arange(10), 30)[np.random.default_rng(0).permutation(300)]
    idx = select_balanced(labels, 7, seed=1, split_id=1)
    assert (np.diff(idx) > 0).all()
    np.testing.assert_array_equal(np.bincount(labels[idx], minlength=10), [7] * 10)
    np.testing.assert_array_equal(idx, select_balanced(labels, 7, seed=1, split_id=1))
    assert not np.array_equal(idx, select_balanced(labels, 7, seed=2, split_id=1))
    with pytest.raises(ValueError, match="fewer than 31"):
        select_balanced(labels, 31, seed=1, split_id=1)


def test_npz_writer_deterministic_and_atomic(tmp_path):
    a = {"b": np.arange(5, dtype=np.uint16), "a": np.zeros((2, 3), np.uint8)}
    data = npz_bytes(a)
    assert data == npz_bytes(dict(reversed(list(a.items()))))
    with np.load(io.BytesIO(data), allow_pickle=False) as npz:
        np.testing.assert_array_equal(npz["b"], a["b"])
        np.testing.assert_array_equal(npz["a"], a["a"])
    out = tmp_path / "x.npz"
    write_atomic(out, data)
    assert out.read_bytes() == data and os.listdir(tmp_path) == ["x.npz"]


@needs_debian
def test_shipped_subset_matches_debian_files():
    a = shipped_arrays()
    for split in ("train", "test"):
        images, labels = read_fashion_mnist_arrays(DEBIAN_DIR, split)
        idx = a[f"idx_{split}"].astype(np.int64)
        np.testing.assert_array_equal(a[f"x_{split}"], images[idx])
        np.testing.assert_array_equal(a[f"y_{split}"], labels[idx])


@needs_debian
def test_rebuild_reproduces_shipped_file():
    rebuilt = build_subset_arrays(DEBIAN_DIR)
    shipped = shipped_arrays()
    assert sorted(rebuilt) == sorted(shipped)
    for k in shipped:
        assert rebuilt[k].dtype == shipped[k].dtype, k
        np.testing.assert_array_equal(rebuilt[k], shipped[k], err_msg=k)
    assert embedded.content_digest(rebuilt) == embedded.EMBEDDED_CONTENT_SHA256


def test_shipped_file_bytes_pinned():
    assert hashlib.sha256(SHIPPED.read_bytes()).hexdigest() == BUILT_FILE_SHA256


@needs_debian
@pytest.mark.skipif(zlib.ZLIB_RUNTIME_VERSION != BUILT_WITH_ZLIB,
                    reason=f"deflate output may differ from zlib {BUILT_WITH_ZLIB} that built the file "
                           f"(arrays are still compared by test_rebuild_reproduces_shipped_file)")
def test_rebuild_is_byte_identical():
    assert npz_bytes(build_subset_arrays(DEBIAN_DIR)) == SHIPPED.read_bytes()
