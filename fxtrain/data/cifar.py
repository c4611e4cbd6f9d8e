"""CIFAR-10 "python version" batches, read without trusting pickle.

The official files (``cifar-10-batches-py/data_batch_1..5``, ``test_batch``) are pickles
of a dict ``{b'data': uint8 [N, 3072], b'labels': [int], b'batch_label': ..., b'filenames': ...}``.
A plain ``pickle.load`` would run any callable a crafted file names, so we use
:class:`RestrictedUnpickler`: every global a pickle refers to goes through ``find_class``
(for GLOBAL, STACK_GLOBAL and the EXT* extension-registry opcodes alike), and ours returns
only these stand-ins, refusing every other name:

- ``numpy.core.multiarray._reconstruct`` / ``numpy._core.multiarray._reconstruct`` (numpy 2
  renamed ``numpy.core`` to ``numpy._core``; old files carry the old name, new ones the new):
  accepted only as ``_reconstruct(ndarray, (0,), typecode)``, the start of an array numpy
  then fills from the pickled state. Ours returns a placeholder, not an array: its
  ``__setstate__`` checks the state ``(1, shape, dtype, is_fortran, bytes)`` (a plain
  dtype, non-negative dims, a byte count equal to shape times itemsize, bytes rather
  than a list of objects) and builds a new array from the bytes with ``np.frombuffer``.
  No numpy ``__setstate__`` ever runs on pickled data.
- ``numpy.ndarray``: a token that is valid only as that first argument, so a pickle cannot
  call ``ndarray(huge_shape)`` itself.
- ``numpy.dtype``: accepted only for plain numeric/bool type strings (no object, no
  structured, no void dtypes), and again as a placeholder. Its pickled state is only
  recorded, and used if it is exactly the state numpy writes for that plain dtype in some
  byte order: a crafted state claiming a sub-array (``('u1', (2**24,))``) or object flags
  on a uint8 is refused, and the array gets a fresh ``np.dtype`` of the type string.
- ``numpy._core.numeric._frombuffer`` (and the ``numpy.core`` spelling): protocol-5
  pickles of arrays; the same checks, the same construction from validated bytes.
- ``_codecs.encode(text, 'latin1')``: how Python 3 writes ``bytes`` at protocol <= 2;
  any other codec is refused.

Everything else the format uses (dicts, lists, ints, str, bytes, bytearray) needs no
global. Persistent ids are refused by pickle itself (no ``persistent_load``). So loading
can build only plain containers and numeric arrays, never execute code.
"""
from __future__ import annotations

import io
import os
import pickle
import pickletools
import warnings
from pathlib import Path

import numpy as np

from .dataset import CIFAR10_CLASSES, Dataset, DatasetFormatError, check_split

CIFAR_DIR_NAME = "cifar-10-batches-py"
TRAIN_BATCHES: tuple[str, ...] = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_BATCHES: tuple[str, ...] = ("test_batch",)
_MAX_BATCH_BYTES = 512 * 2**20  # a real batch is ~31 MB; refuse absurd files before reading
_PLAIN_DTYPES = frozenset("?bBhHiIlLqQefdgFD")  # numpy type chars of plain numeric kinds


class UnsafePickleError(DatasetFormatError, pickle.UnpicklingError):
    """A pickle referred to a global outside the allow-list (it was not executed)."""


class _NdarrayToken:
    """Stands in for ``numpy.ndarray``; only :func:`_safe_reconstruct` accepts it."""

    def __repr__(self) -> str:
        return "<numpy.ndarray token>"


_NDARRAY = _NdarrayToken()


class _DtypeSpec:
    """What the pickle asked ``numpy.dtype`` for. No numpy dtype is built from the pickled
    state: ``__setstate__`` only records it, and :meth:`resolve` returns a fresh dtype of
    the same type string if, and only if, the state is exactly what numpy writes for that
    plain dtype (no sub-array, no field names, no flags: a crafted state can claim a
    ``('u1', (2**24,))`` sub-array or object flags on a uint8)."""

    def __init__(self, spec: str):
        self.spec, self.state = spec, None

    def __setstate__(self, state) -> None:
        if self.state is not None:
            raise UnsafePickleError("numpy.dtype state set twice")
        self.state = state

    def resolve(self) -> np.dtype:
        base = np.dtype(self.spec)
        state = self.state
        if isinstance(state, tuple):  # Python 2 pickles read with encoding="bytes": b"|"
            state = tuple(v.decode("latin1") if isinstance(v, bytes) else v for v in state)
        for order in ("<", ">", "|", "="):
            dt = base if order == "|" else base.newbyteorder(order)
            if state is None or state == dt.__reduce__()[2]:
                return np.dtype(dt.str)
        raise UnsafePickleError(f"numpy.dtype({self.spec!r}) with state {self.state!r} refused: only "
                                "the plain state numpy writes for it is accepted")

    def __repr__(self) -> str:
        return f"<dtype spec {self.spec!r}>"


class _ArraySpec:
    """The array ``_reconstruct`` starts; ``__setstate__`` validates numpy's pickled state
    ``(1, shape, dtype, is_fortran, raw bytes)`` and builds a new array from the bytes.
    :func:`_materialize` swaps these for their arrays after loading."""

    def __init__(self):
        self.array: np.ndarray | None = None

    def __setstate__(self, state) -> None:
        if self.array is not None:
            raise UnsafePickleError("ndarray state set twice")
        if not (isinstance(state, tuple) and len(state) == 5 and state[0] == 1):
            raise UnsafePickleError("ndarray state must be (1, shape, dtype, is_fortran, bytes)")
        _, shape, dtype, fortran, raw = state
        self.array = _array_from_bytes(raw, dtype, shape, "F" if fortran is True else "C")

    def __repr__(self) -> str:
        return "<ndarray being unpickled>"


def _array_from_bytes(raw, dtype, shape, order: str) -> np.ndarray:
    if not isinstance(dtype, _DtypeSpec):
        raise UnsafePickleError(f"array dtype must come from numpy.dtype, got {type(dtype).__name__}")
    dt = dtype.resolve()
    if not isinstance(raw, (bytes, bytearray)):
        raise UnsafePickleError(f"array data must be bytes, got {type(raw).__name__} (object arrays "
                                "are refused)")
    if not isinstance(shape, tuple) or not all(type(d) is int and d >= 0 for d in shape) or len(shape) > 8:
        raise UnsafePickleError(f"array shape {shape!r} refused: up to 8 non-negative ints")
    n = 1
    for d in shape:
        n *= d
    if n * dt.itemsize != len(raw):
        raise UnsafePickleError(f"array {dt.str}{list(shape)} needs {n * dt.itemsize} bytes, the "
                                f"pickle holds {len(raw)}")
    return np.frombuffer(bytes(raw), dtype=dt, count=n).reshape(shape, order=order).copy(order="C")


def _safe_dtype(spec, align=False, copy=True) -> _DtypeSpec:
    if isinstance(spec, bytes):
        spec = spec.decode("ascii", "replace")
    if not isinstance(spec, str) or align not in (False, 0) or copy not in (True, 1):
        raise UnsafePickleError(f"numpy.dtype{(spec, align, copy)!r} refused: only a type string")
    try:
        dt = np.dtype(spec)
    except (TypeError, ValueError) as e:
        raise UnsafePickleError(f"numpy.dtype({spec!r}) is not a dtype: {e}") from e
    if dt.char not in _PLAIN_DTYPES or dt.fields is not None or dt.subdtype is not None:
        raise UnsafePickleError(f"dtype {spec!r} is not a plain numeric dtype; refused")
    return _DtypeSpec(spec)


def _safe_reconstruct(subtype, shape, typecode) -> _ArraySpec:
    if subtype is not _NDARRAY:
        raise UnsafePickleError(f"_reconstruct of {subtype!r} refused (only numpy.ndarray)")
    if tuple(shape) != (0,):
        raise UnsafePickleError(f"_reconstruct with shape {shape!r} refused (numpy writes (0,))")
    if typecode not in (b"b", "b"):
        raise UnsafePickleError(f"_reconstruct with typecode {typecode!r} refused")
    return _ArraySpec()


def _safe_frombuffer(buf, dtype, shape, order, axis_order=None) -> np.ndarray:
    if order not in ("C", "F", "K") or axis_order not in (None, tuple(range(len(shape))), list(range(len(shape)))):
        raise UnsafePickleError(f"_frombuffer with order {order!r} / axis order {axis_order!r} refused")
    shape = tuple(shape) if isinstance(shape, (tuple, list)) else shape
    return _array_from_bytes(buf, dtype, shape, "F" if order == "F" else "C")


def _materialize(obj, depth: int = 0):
    """``obj`` with every :class:`_ArraySpec` replaced by its array; containers are rebuilt
    (a CIFAR batch is a dict of lists, bytes and arrays, a few levels deep)."""
    if depth > 16:
        raise UnsafePickleError("objects nested more than 16 deep refused")
    if isinstance(obj, _ArraySpec):
        if obj.array is None:
            raise UnsafePickleError("an ndarray was started but never given its data")
        return obj.array
    if isinstance(obj, (_DtypeSpec, _NdarrayToken)):
        raise UnsafePickleError(f"stray {obj!r} in the unpickled data")
    if type(obj) is dict:
        return {_materialize(k, depth + 1): _materialize(v, depth + 1) for k, v in obj.items()}
    if type(obj) in (list, tuple):
        return type(obj)(_materialize(v, depth + 1) for v in obj)
    return obj


def _latin1_encode(text, encoding="utf-8", errors="strict") -> bytes:
    if encoding not in ("latin1", "latin-1") or not isinstance(text, str):
        raise UnsafePickleError(f"_codecs.encode with encoding {encoding!r} refused (only latin1)")
    return text.encode("latin1")


_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"): _safe_reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _safe_reconstruct,
    ("numpy", "ndarray"): _NDARRAY,
    ("numpy", "dtype"): _safe_dtype,
    ("numpy.core.numeric", "_frombuffer"): _safe_frombuffer,
    ("numpy._core.numeric", "_frombuffer"): _safe_frombuffer,
    ("_codecs", "encode"): _latin1_encode,
}


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that resolves only the stand-ins listed in the module docstring."""

    def find_class(self, module: str, name: str):
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise UnsafePickleError(
                f"refused to load global {module}.{name}: CIFAR-10 batches only contain "
                f"dicts, lists, numbers, strings and numpy arrays"
            ) from None


_MEMO_OPS = frozenset(("PUT", "BINPUT", "LONG_BINPUT", "GET", "BINGET", "LONG_BINGET"))


def _prescan(data: bytes, source: str) -> None:
    """Walk the opcodes (pickletools, pure Python) before unpickling, so that a tiny file
    cannot make the C unpickler allocate: a memo index is at most the file's length (the
    C memo is a table sized to the largest index and zero-filled: ``LONG_BINPUT 2**30``
    in a 100-byte file would take 8 GiB), every counted string or bytes argument is
    really present (the unpickler allocates the declared size before reading), and
    out-of-band buffers (protocol 5, which we never pass) are refused."""
    try:
        with warnings.catch_warnings():  # pickletools warns on odd escapes in STRING args
            warnings.simplefilter("ignore", DeprecationWarning)
            ops = list(pickletools.genops(data))
        for op, arg, _ in ops:
            if op.name in _MEMO_OPS and isinstance(arg, int) and not 0 <= arg <= len(data):
                raise ValueError(f"memo index {arg} in a {len(data)}-byte pickle refused")
            if op.name in ("NEXT_BUFFER", "READONLY_BUFFER", "PERSID", "BINPERSID"):
                raise ValueError(f"opcode {op.name} refused")
    except Exception as e:  # truncated argument, unknown opcode, missing STOP, the above
        raise DatasetFormatError(f"{source}: not a readable CIFAR-10 pickle ({e})") from None


def safe_unpickle(data: bytes, source: str = "<bytes>"):
    """Unpickle ``data`` with :class:`RestrictedUnpickler` (``encoding='bytes'`` for Python 2
    files), after :func:`_prescan` has bounded what the unpickler can allocate."""
    _prescan(data, source)
    try:
        return _materialize(RestrictedUnpickler(io.BytesIO(data), encoding="bytes").load())
    except UnsafePickleError as e:
        raise UnsafePickleError(f"{source}: {e}") from None
    except RecursionError as e:
        raise DatasetFormatError(f"{source}: nested too deeply to be a CIFAR-10 pickle") from e
    except Exception as e:  # any malformed stream: EOF, bad opcode, bad setstate ...
        raise DatasetFormatError(f"{source}: not a readable CIFAR-10 pickle ({type(e).__name__}: {e})") from e


def _key(d: dict, name: str):
    for k in (name.encode(), name):
        if k in d:
            return d[k]
    return None


def read_cifar_batch(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """One batch file -> ``(images uint8 [N, 3, 32, 32], labels int64 [N])``, validated.

    CIFAR rows are 1024 red, then 1024 green, then 1024 blue bytes, each plane row-major,
    which is exactly ``reshape(N, 3, 32, 32)``.
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"CIFAR-10 batch file not found: {p}")
    size = p.stat().st_size
    if size > _MAX_BATCH_BYTES:
        raise DatasetFormatError(f"{p}: {size} bytes is far larger than a CIFAR-10 batch")
    return parse_cifar_batch(p.read_bytes(), str(p))


def parse_cifar_batch(raw: bytes, source: str = "<bytes>") -> tuple[np.ndarray, np.ndarray]:
    """:func:`read_cifar_batch` of the bytes of a batch file; ``source`` names it in errors."""
    p = source
    obj = safe_unpickle(raw, source)
    if not isinstance(obj, dict):
        raise DatasetFormatError(f"{p}: expected a dict, the pickle holds a {type(obj).__name__}")
    data, labels = _key(obj, "data"), _key(obj, "labels")
    if data is None or labels is None:
        keys = sorted(repr(k) for k in obj)
        raise DatasetFormatError(f"{p}: missing key b'data' or b'labels'; keys are {keys}")
    if (not isinstance(data, np.ndarray) or data.dtype.str != "|u1" or data.dtype.subdtype is not None
            or data.dtype.hasobject or data.ndim != 2 or data.shape[1] != 3072):
        raise DatasetFormatError(
            f"{p}: b'data' must be a uint8 array [N, 3072], got "
            f"{type(data).__name__} {getattr(data, 'dtype', '')} {getattr(data, 'shape', '')}"
        )
    if isinstance(labels, np.ndarray):
        labels = labels.tolist()
    if not isinstance(labels, list) or not all(type(v) is int for v in labels):
        raise DatasetFormatError(f"{p}: b'labels' must be a list of ints")
    y = np.asarray(labels, dtype=np.int64).reshape(-1)
    if y.shape[0] != data.shape[0]:
        raise DatasetFormatError(f"{p}: {data.shape[0]} images but {y.shape[0]} labels")
    if y.size and (int(y.min()) < 0 or int(y.max()) >= len(CIFAR10_CLASSES)):
        raise DatasetFormatError(
            f"{p}: labels must lie in [0, 10), got range [{int(y.min())}, {int(y.max())}]"
        )
    # the final array is built here from the validated bytes, whatever object held them
    x = np.frombuffer(np.ascontiguousarray(data).tobytes(), dtype=np.uint8).reshape(-1, 3, 32, 32)
    return x.copy(), y


def find_cifar10_dir(data_dir: str | os.PathLike | None) -> Path:
    """``data_dir`` itself or its ``cifar-10-batches-py`` subfolder, whichever holds the batches."""
    if data_dir is None:
        raise FileNotFoundError(
            "CIFAR-10 needs data_dir / --data-dir DIR: the folder 'cifar-10-batches-py' (python "
            "version, from https://www.cs.toronto.edu/~kriz/cifar.html) or its parent"
        )
    base = Path(data_dir)
    candidates = [base, base / CIFAR_DIR_NAME]
    for d in candidates:
        if (d / TEST_BATCHES[0]).is_file() or (d / TRAIN_BATCHES[0]).is_file():
            return d
    raise FileNotFoundError(
        f"no CIFAR-10 batches ({TRAIN_BATCHES[0]}, {TEST_BATCHES[0]}) in "
        + " or ".join(str(d) for d in candidates)
    )


def load_cifar10(data_dir: str | os.PathLike | None, split: str = "train") -> Dataset:
    """CIFAR-10 (50,000 train from 5 batches / 10,000 test) with x ``[N, 3, 32, 32]``."""
    names = TRAIN_BATCHES if check_split(split) == "train" else TEST_BATCHES
    d = find_cifar10_dir(data_dir)
    missing = [n for n in names if not (d / n).is_file()]
    if missing:
        raise FileNotFoundError(f"CIFAR-10 {split} batches missing in {d}: {', '.join(missing)}")
    parts = [read_cifar_batch(d / n) for n in names]
    x = np.concatenate([p[0] for p in parts]) if len(parts) > 1 else parts[0][0]
    y = np.concatenate([p[1] for p in parts]) if len(parts) > 1 else parts[0][1]
    return Dataset(x=x, y=y, class_names=CIFAR10_CLASSES, name="cifar10", split=split)
