"""IDX reader and the full Fashion-MNIST loader, on small IDX files written here.

The writer below is independent of fxtrain (struct + raw bytes, straight from the IDX
spec), so a reader bug cannot hide behind a matching writer bug.
"""
import gzip
import re
import struct

import numpy as np
import pytest

from fxtrain.data import (
    FASHION_MNIST_CLASSES,
    DatasetFormatError,
    find_fashion_mnist_dir,
    load_dataset,
    load_fashion_mnist,
    parse_idx,
    read_idx,
)
from fxtrain.data import idx as idx_mod

_CODES = {"u1": 0x08, "i1": 0x09, "i2": 0x0B, "i4": 0x0C, "f4": 0x0D, "f8": 0x0E}


def idx_bytes(arr: np.ndarray, code: int | None = None) -> bytes:
    code = _CODES[arr.dtype.str[1:]] if code is None else code
    head = bytes([0, 0, code, arr.ndim]) + b"".join(struct.pack(">I", d) for d in arr.shape)
    return head + arr.astype(arr.dtype.newbyteorder(">")).tobytes()


def write(path, data: bytes, gz: bool = False):
    path.write_bytes(gzip.compress(data, mtime=0) if gz else data)
    return path


def write_fashion(d, split="train", n=7, gz=True, images=None, labels=None):
    rng = np.random.default_rng(5)
    images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8) if images is None else images
    labels = (np.arange(n) % 10).astype(np.uint8) if labels is None else labels
    stem = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
            "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}[split]
    sfx = ".gz" if gz else ""
    write(d / (stem[0] + sfx), idx_bytes(images), gz)
    write(d / (stem[1] + sfx), idx_bytes(labels), gz)
    return images, labels


@pytest.mark.parametrize("dtype", list(_CODES))
@pytest.mark.parametrize("gz", [False, True])
def test_roundtrip_every_type(tmp_path, dtype, gz):
    rng = np.random.default_rng(1)
    a = (rng.standard_normal((3, 4, 5)) * 100).astype(dtype)
    got = read_idx(write(tmp_path / "a.idx", idx_bytes(a), gz))
    assert got.dtype == np.dtype(dtype) and got.dtype.isnative
    np.testing.assert_array_equal(got, a)


def test_big_endian_known_bytes():
    # 0x0102 as big-endian int16 is 258, not 513.
    data = bytes([0, 0, 0x0B, 1, 0, 0, 0, 2, 0x01, 0x02, 0xFF, 0xFE])
    np.testing.assert_array_equal(parse_idx(data), np.array([258, -2], dtype=np.int16))


@pytest.mark.parametrize(
    "data, match",
    [
        (b"\x00\x00", "too short"),
        (b"\x01\x00\x08\x01\x00\x00\x00\x01\x05", "bad IDX magic"),
        (b"\x00\x00\x07\x01\x00\x00\x00\x01\x05", "unknown IDX element type 0x07"),
        (b"\x00\x00\x08\x00", "0 dimensions"),
        (b"\x00\x00\x08\x03\x00\x00\x00\x01", "truncated IDX header"),
        (b"\x00\x00\x08\x01\x00\x00\x00\x03\x05\x06", "needs 11 bytes, file has 10"),
        (b"\x00\x00\x08\x01\x00\x00\x00\x01\x05\x06", "trailing bytes"),
    ],
)
def test_malformed_headers(data, match):
    with pytest.raises(DatasetFormatError, match=match):
        parse_idx(data, "x.idx")


def test_truncated_file_names_file_and_sizes(tmp_path):
    a = np.zeros((4, 28, 28), np.uint8)
    p = write(tmp_path / "t.idx", idx_bytes(a)[:-100])
    with pytest.raises(DatasetFormatError) as e:
        read_idx(p)
    msg = str(e.value)
    assert str(p) in msg and "3152 bytes" in msg and "3052" in msg and "truncated" in msg


def test_truncated_gzip_stream(tmp_path):
    raw = gzip.compress(idx_bytes(np.arange(1000, dtype=np.uint8).reshape(10, 100)))
    p = tmp_path / "t.gz"
    p.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(DatasetFormatError, match="truncated gzip"):
        read_idx(p)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.idx"):
        read_idx(tmp_path / "nope.idx")


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("split", ["train", "test"])
def test_load_fashion_from_data_dir(tmp_path, gz, split):
    images, labels = write_fashion(tmp_path, split, n=13, gz=gz)
    ds = load_dataset("fashion-mnist", split, data_dir=tmp_path)
    assert (ds.name, ds.split, ds.class_names) == ("fashion-mnist", split, FASHION_MNIST_CLASSES)
    assert ds.x.shape == (13, 1, 28, 28) and ds.x.dtype == np.uint8 and ds.y.dtype == np.int64
    np.testing.assert_array_equal(ds.x[:, 0], images)
    np.testing.assert_array_equal(ds.y, labels.astype(np.int64))


def test_data_dir_subfolder_accepted(tmp_path):
    (tmp_path / "fashion-mnist").mkdir()
    write_fashion(tmp_path / "fashion-mnist", "test")
    assert find_fashion_mnist_dir(tmp_path, "test") == tmp_path / "fashion-mnist"


def test_missing_dir_lists_paths_and_package(tmp_path, monkeypatch):
    missing = tmp_path / "nowhere"
    monkeypatch.setattr(idx_mod, "DEFAULT_FASHION_MNIST_DIRS", (str(missing),))
    with pytest.raises(FileNotFoundError) as e:
        load_fashion_mnist(None, "train")
    msg = str(e.value)
    assert str(missing) in msg and "apt-get install dataset-fashion-mnist" in msg and "data_dir" in msg
    with pytest.raises(FileNotFoundError, match=re.escape(str(tmp_path / "fashion-mnist"))):
        load_fashion_mnist(tmp_path, "test")


def test_labels_file_missing_is_not_found(tmp_path):
    write_fashion(tmp_path, "train", gz=False)
    (tmp_path / "train-labels-idx1-ubyte").unlink()
    with pytest.raises(FileNotFoundError, match="train-labels-idx1-ubyte"):
        load_fashion_mnist(tmp_path, "train")


def test_mismatched_counts(tmp_path):
    write_fashion(tmp_path, "train", n=6, labels=np.zeros(5, np.uint8))
    with pytest.raises(DatasetFormatError, match="6 images but .* 5 labels"):
        load_fashion_mnist(tmp_path, "train")


def test_label_out_of_range(tmp_path):
    write_fashion(tmp_path, "train", n=3, labels=np.array([0, 10, 2], np.uint8))
    with pytest.raises(DatasetFormatError, match="label 10 out of range"):
        load_fashion_mnist(tmp_path, "train")


@pytest.mark.parametrize("bad", [np.zeros((2, 28, 27), np.uint8), np.zeros((2, 28, 28), np.int16),
                                 np.zeros((2, 784), np.uint8)])
def test_wrong_image_shape_or_type(tmp_path, bad):
    write_fashion(tmp_path, "test", n=2, images=bad)
    with pytest.raises(DatasetFormatError, match="expected uint8 images"):
        load_fashion_mnist(tmp_path, "test")


def test_wrong_magic_in_dataset_file(tmp_path):
    write_fashion(tmp_path, "train", n=2, gz=False)
    p = tmp_path / "train-images-idx3-ubyte"
    p.write_bytes(b"\x08\x03" + p.read_bytes()[2:])
    with pytest.raises(DatasetFormatError, match=re.escape(str(p)) + ".*bad IDX magic"):
        load_fashion_mnist(tmp_path, "train")
