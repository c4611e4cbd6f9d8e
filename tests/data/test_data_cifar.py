"""CIFAR-10 python-batch reader: tiny batch files generated here, and hostile pickles."""
import copyreg
import os
import pickle
import re
import struct

import numpy as np
import pytest

from fxtrain.data import (
    CIFAR10_CLASSES,
    DatasetFormatError,
    UnsafePickleError,
    load_cifar10,
    load_dataset,
    read_cifar_batch,
)


def make_batch(n=6, seed=0):
    rng = np.random.default_rng(seed)
    data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
    labels = [int(v) for v in rng.integers(0, 10, n)]
    return data, labels


def batch_dict(data, labels, str_keys=False):
    d = {b"batch_label": b"testing batch 1 of 1", b"labels": labels, b"data": data,
         b"filenames": [b"img_%d.png" % i for i in range(len(labels))]}
    return {k.decode(): v for k, v in d.items()} if str_keys else d


def write_pickle(path, obj, protocol=4):
    path.write_bytes(pickle.dumps(obj, protocol=protocol))
    return path


def py2_pickle(data: np.ndarray, labels: list, module: str = "numpy.core.multiarray") -> bytes:
    """The opcode stream Python 2's cPickle (protocol 2) wrote for the official batches:
    py2 ``str`` as SHORT_BINSTRING/BINSTRING, numpy arrays via GLOBAL + REDUCE + BUILD."""

    def s(b: bytes) -> bytes:
        return (b"U" + bytes([len(b)]) if len(b) < 256 else b"T" + struct.pack("<i", len(b))) + b

    def i(v: int) -> bytes:
        return b"K" + bytes([v]) if v < 256 else b"M" + struct.pack("<H", v)

    dtype = (b"cnumpy\ndtype\n" + s(b"u1") + b"K\x00K\x01\x87R"
             + b"(K\x03" + s(b"|") + b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb")
    array = (b"c" + module.encode() + b"\n_reconstruct\ncnumpy\nndarray\nK\x00\x85" + s(b"b") + b"\x87R"
             + b"(K\x01" + i(data.shape[0]) + i(data.shape[1]) + b"\x86" + dtype + b"\x89"
             + s(data.tobytes()) + b"tb")
    lab = b"](" + b"".join(i(v) for v in labels) + b"e"
    return (b"\x80\x02}(" + s(b"batch_label") + s(b"testing batch 1 of 1") + s(b"data") + array
            + s(b"labels") + lab + b"u.")


def check_equal(path, data, labels):
    x, y = read_cifar_batch(path)
    assert x.dtype == np.uint8 and x.shape == (data.shape[0], 3, 32, 32)
    assert y.dtype == np.int64
    np.testing.assert_array_equal(x.reshape(data.shape[0], -1), data)
    np.testing.assert_array_equal(y, np.array(labels, dtype=np.int64))


# ---------------------------------------------------------------- well-formed files
@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
@pytest.mark.parametrize("str_keys", [False, True])
def test_batch_roundtrip_protocols(tmp_path, protocol, str_keys):
    data, labels = make_batch(seed=protocol)
    p = write_pickle(tmp_path / "b", batch_dict(data, labels, str_keys), protocol)
    check_equal(p, data, labels)


@pytest.mark.parametrize("module", ["numpy.core.multiarray", "numpy._core.multiarray"])
def test_python2_style_file(tmp_path, module):
    data, labels = make_batch(n=3)
    p = tmp_path / "b"
    p.write_bytes(py2_pickle(data, labels, module))
    check_equal(p, data, labels)


def test_numpy1_name_in_protocol2_py3_file(tmp_path):
    data, labels = make_batch()
    raw = pickle.dumps(batch_dict(data, labels), protocol=2)
    assert b"numpy._core.multiarray\n_reconstruct" in raw  # protocol 2 writes text GLOBALs
    p = tmp_path / "b"
    p.write_bytes(raw.replace(b"numpy._core.multiarray\n", b"numpy.core.multiarray\n"))
    check_equal(p, data, labels)


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_fortran_order_and_array_labels(tmp_path, protocol):
    data, labels = make_batch(n=4)
    p = write_pickle(tmp_path / "b", batch_dict(np.asfortranarray(data), np.array(labels)), protocol)
    check_equal(p, data, labels)


def test_channel_planes_layout(tmp_path):
    # Row = 1024 red bytes, 1024 green, 1024 blue, each plane row-major.
    r, g, b = (np.arange(1024, dtype=np.int64) * k % 256 for k in (1, 3, 7))
    data = np.concatenate([r, g, b]).astype(np.uint8)[None, :]
    x, _ = read_cifar_batch(write_pickle(tmp_path / "b", batch_dict(data, [3])))
    for c, plane in enumerate((r, g, b)):
        np.testing.assert_array_equal(x[0, c], plane.reshape(32, 32))
    assert x[0, 0, 1, 0] == 32 and x[0, 2, 0, 1] == 7


def make_dir(root, n_train=5, with_test=True):
    d = root / "cifar-10-batches-py"
    d.mkdir()
    parts = []
    for k in range(1, n_train + 1):
        data, labels = make_batch(n=k + 1, seed=k)
        write_pickle(d / f"data_batch_{k}", batch_dict(data, labels), protocol=2)
        parts.append((data, labels))
    if with_test:
        data, labels = make_batch(n=5, seed=99)
        write_pickle(d / "test_batch", batch_dict(data, labels))
        parts.append((data, labels))
    return d, parts


def test_load_train_and_test_from_parent_or_folder(tmp_path):
    d, parts = make_dir(tmp_path)
    for where in (tmp_path, d):
        tr = load_dataset("cifar10", "train", data_dir=where)
        assert (tr.name, tr.split, tr.class_names, tr.x.shape) == ("cifar10", "train", CIFAR10_CLASSES,
                                                                   (20, 3, 32, 32))
        np.testing.assert_array_equal(tr.x.reshape(20, -1), np.concatenate([p[0] for p in parts[:5]]))
        np.testing.assert_array_equal(tr.y, np.concatenate([p[1] for p in parts[:5]]))
        te = load_cifar10(where, "test")
        np.testing.assert_array_equal(te.x.reshape(5, -1), parts[5][0])


# ---------------------------------------------------------------- missing / malformed
def test_data_dir_required():
    with pytest.raises(FileNotFoundError, match="data_dir"):
        load_dataset("cifar10", "train")


def test_missing_batches_named(tmp_path):
    make_dir(tmp_path, n_train=3)
    with pytest.raises(FileNotFoundError, match="data_batch_4, data_batch_5"):
        load_cifar10(tmp_path, "train")
    with pytest.raises(FileNotFoundError, match="no CIFAR-10 batches"):
        load_cifar10(tmp_path / "empty", "test")


def bad(path, match):
    with pytest.raises(DatasetFormatError, match=match) as e:
        read_cifar_batch(path)
    assert str(path) in str(e.value)


def test_bad_keys(tmp_path):
    data, labels = make_batch()
    bad(write_pickle(tmp_path / "b", {b"images": data, b"labels": labels}), re.escape("missing key b'data'"))
    bad(write_pickle(tmp_path / "c", {b"data": data}), "missing key")


@pytest.mark.parametrize("data", [np.zeros((2, 3071), np.uint8), np.zeros((2, 3072), np.int16),
                                  np.zeros(3072, np.uint8), [[0] * 3072] * 2])
def test_bad_data(tmp_path, data):
    bad(write_pickle(tmp_path / "b", {b"data": data, b"labels": [0, 1]}), re.escape("uint8 array [N, 3072]"))


@pytest.mark.parametrize("labels, match", [([0, 10], r"range \[0, 10\]"), ([-1, 2], r"range \[-1, 2\]"),
                                           ([1], "2 images but 1 labels"), ([0, "1"], "list of ints"),
                                           ([0, 1.0], "list of ints"), (b"\x00\x01", "list of ints")])
def test_bad_labels(tmp_path, labels, match):
    bad(write_pickle(tmp_path / "b", {b"data": np.zeros((2, 3072), np.uint8), b"labels": labels}), match)


def test_not_a_dict_garbage_and_empty(tmp_path):
    bad(write_pickle(tmp_path / "a", [1, 2]), "expected a dict")
    (tmp_path / "g").write_bytes(b"this is not a pickle")
    bad(tmp_path / "g", "not a readable CIFAR-10 pickle")
    (tmp_path / "e").write_bytes(b"")
    bad(tmp_path / "e", "not a readable CIFAR-10 pickle")
    good = pickle.dumps(batch_dict(*make_batch()), protocol=4)
    (tmp_path / "t").write_bytes(good[: len(good) // 2])
    bad(tmp_path / "t", "not a readable CIFAR-10 pickle")


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="data_batch_1"):
        read_cifar_batch(tmp_path / "data_batch_1")


# ---------------------------------------------------------------- hostile pickles
class Evil:
    def __init__(self, func, arg):
        self.func, self.arg = func, arg

    def __reduce__(self):
        return self.func, (self.arg,)


@pytest.mark.parametrize("protocol", [0, 2, 4, 5])
@pytest.mark.parametrize("nested", [False, True])
def test_os_system_refused_without_running(tmp_path, protocol, nested):
    sentinel = tmp_path / "pwned"
    evil = Evil(os.system, f"touch {sentinel}")
    obj = {b"data": evil, b"labels": [0]} if nested else evil
    p = write_pickle(tmp_path / "data_batch_1", obj, protocol)
    with pytest.raises(UnsafePickleError, match=r"refused to load global (os|posix)\.system") as e:
        read_cifar_batch(p)
    assert str(p) in str(e.value)
    assert isinstance(e.value, pickle.UnpicklingError) and isinstance(e.value, ValueError)
    assert not sentinel.exists()


@pytest.mark.parametrize("func, arg", [(eval, "1+1"), (exec, "x=1"), (getattr, "x"),
                                       (np.load, "x.npy"), (np.frombuffer, b"")])
def test_other_callables_refused(tmp_path, func, arg):
    p = write_pickle(tmp_path / "b", {b"data": Evil(func, arg), b"labels": []}, protocol=4)
    with pytest.raises(UnsafePickleError, match="refused to load global"):
        read_cifar_batch(p)


def test_ndarray_cannot_be_called(tmp_path):
    # GLOBAL numpy.ndarray; REDUCE with ((2**30,),): would allocate if ndarray were returned.
    p = tmp_path / "b"
    p.write_bytes(b"\x80\x02cnumpy\nndarray\nJ\x00\x00\x00\x40\x85\x85R.")
    bad(p, "not a readable CIFAR-10 pickle")


def test_reconstruct_with_large_shape_refused(tmp_path):
    p = tmp_path / "b"
    p.write_bytes(b"\x80\x02cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\n"
                  b"J\x00\x00\x00\x40\x85U\x01b\x87R.")
    with pytest.raises(UnsafePickleError, match="shape"):
        read_cifar_batch(p)


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_object_and_structured_dtypes_refused(tmp_path, protocol):
    for i, arr in enumerate([np.array([1, "a"], dtype=object), np.zeros(2, dtype="V4"),
                             np.zeros(2, dtype=[("a", "u1")]), np.array([b"ab"])]):
        p = write_pickle(tmp_path / f"b{i}", {b"data": arr, b"labels": []}, protocol)
        with pytest.raises(UnsafePickleError, match="dtype"):
            read_cifar_batch(p)


def test_codecs_encode_other_than_latin1_refused(tmp_path):
    raw = pickle.dumps({b"data": b"x"}, protocol=2)
    assert b"latin1" in raw
    p = tmp_path / "b"
    p.write_bytes(raw.replace(b"latin1", b"utf_16"))  # same length: BINUNICODE stays valid
    with pytest.raises(UnsafePickleError, match="utf_16"):
        read_cifar_batch(p)


def test_extension_registry_goes_through_allow_list(tmp_path):
    code = 0xF0
    copyreg.add_extension("posix", "system", code)
    try:
        raw = pickle.dumps(os.system, protocol=2)
    finally:
        copyreg.remove_extension("posix", "system", code)
    assert raw[2:3] == b"\x82"  # EXT1 opcode, not a GLOBAL
    copyreg.add_extension("posix", "system", code)
    try:
        p = tmp_path / "b"
        p.write_bytes(raw)
        with pytest.raises(UnsafePickleError, match="posix.system"):
            read_cifar_batch(p)
    finally:
        copyreg.remove_extension("posix", "system", code)


# ------------------------------------------------- crafted numpy states (issue 12, item 6)

class _CraftedDtype:
    """Pickles as numpy.dtype('u1') followed by an arbitrary BUILD state."""

    def __init__(self, state, spec="u1"):
        self.state, self.spec = state, spec

    def __reduce__(self):
        return (np.dtype, (self.spec, False, True), self.state)


class _CraftedArray:
    """Pickles as numpy's own _reconstruct + BUILD(1, shape, dtype, fortran, raw)."""

    def __init__(self, shape, dtype, raw, version=1):
        self.args = (version, shape, dtype, False, raw)

    def __reduce__(self):
        from numpy._core.multiarray import _reconstruct
        return (_reconstruct, (np.ndarray, (0,), b"b"), self.args)


_PLAIN_U1 = np.dtype("u1").__reduce__()[2]


@pytest.mark.parametrize("state, match", [
    ((3, "|", (np.dtype("u1"), (2 ** 24,)), None, None, -1, -1, 0), "state .* refused"),   # sub-array
    ((3, "|", None, None, None, -1, -1, 63), "state .* refused"),                           # object flags
    ((3, "|", None, ("a",), {"a": (np.dtype("u1"), 0)}, 1, 1, 16), "state .* refused"),     # fields
    ((3, "<", None, None, None, 8, 1, 0), "state .* refused"),                              # itemsize lie
], ids=["subarray", "object-flags", "fields", "itemsize"])
def test_crafted_dtype_states_are_refused(tmp_path, state, match):
    data, labels = make_batch(2)
    arr = _CraftedArray(data.shape, _CraftedDtype(state), data.tobytes())
    p = write_pickle(tmp_path / "b", batch_dict(arr, labels), protocol=2)
    with pytest.raises(UnsafePickleError, match=match):
        read_cifar_batch(p)


def test_the_plain_state_still_loads(tmp_path):
    data, labels = make_batch(2)
    arr = _CraftedArray(data.shape, _CraftedDtype(_PLAIN_U1), data.tobytes())
    check_equal(write_pickle(tmp_path / "b", batch_dict(arr, labels), protocol=2), data, labels)


@pytest.mark.parametrize("shape, raw, version, match", [
    ((2, 3072), [0] * 6144, 1, "must be bytes"),                # object-array style raw list
    ((2, 3072), bytes(100), 1, "needs 6144 bytes, the pickle holds 100"),
    ((2, -3072), bytes(6144), 1, "shape .* refused"),
    ((2, 3072), bytes(6144), 2, r"ndarray state must be \(1, "),
], ids=["object-list", "short", "negative-dim", "version"])
def test_crafted_array_states_are_refused(tmp_path, shape, raw, version, match):
    _, labels = make_batch(2)
    arr = _CraftedArray(shape, _CraftedDtype(_PLAIN_U1), raw, version)
    p = write_pickle(tmp_path / "b", batch_dict(arr, labels), protocol=2)
    with pytest.raises(UnsafePickleError, match=match):
        read_cifar_batch(p)


def test_loaded_arrays_are_fresh_plain_uint8(tmp_path):
    """Whatever the pickle holds, the result is a new C-contiguous |u1 array we own."""
    data, labels = make_batch(3)
    x, _ = read_cifar_batch(write_pickle(tmp_path / "b", batch_dict(data, labels), protocol=5))
    assert x.dtype.str == "|u1" and x.dtype.subdtype is None and not x.dtype.hasobject
    assert x.flags.c_contiguous and x.flags.owndata and x.flags.writeable


@pytest.mark.parametrize("raw, match", [
    # found by the atheris harness: LONG_BINPUT 680825748 made the C unpickler's memo table
    # grow to 10 GiB (zero-filled) from a 100-byte file
    (b"\x80\x04}\x94(\x8c\x01a\x94r\x94\x00\x94(K\x01.", "memo index"),
    (b"\x80\x02]q\x00(K\x01j\xff\xff\xff\x7fe.", "memo index"),
    # a bytearray8 declaring 2 GiB in a 20-byte file: allocated before reading
    (b"\x80\x05\x96\x00\x00\x00\x80\x00\x00\x00\x00abc.", "not a readable"),
    (b"\x80\x05\x97.", "opcode NEXT_BUFFER refused"),
], ids=["long-binput", "long-binget", "bytearray8", "next-buffer"])
def test_allocations_are_bounded_before_unpickling(tmp_path, raw, match):
    with pytest.raises(DatasetFormatError, match=match):
        read_cifar_batch(_write(tmp_path / "b", raw))


def _write(p, raw):
    p.write_bytes(raw)
    return p
