"""CIFAR-10 "python version" batches, read without trusting pickle.

The official files (``cifar-10-batches-py/data_batch_1..5``, ``test_batch``) are pickles
of a dict ``{b'data': uint8 [N, 3072], b'labels': [int], b'batch_label': ..., b'filenames': ...}``.
A plain ``pickle.load`` would run any callable a crafted file names, so we use
:class:`RestrictedUnpickler`: every global a pickle refers to goes through ``find_class``
(for GLOBAL, STACK_GLOBAL and the EXT* extension-registry opcodes alike), and ours returns
only these stand-ins, refusing every other name:

- ``numpy.core.multiarray._reconstruct`` / ``numpy._core.multiarray._reconstruct`` (numpy 2
  renamed ``numpy.core`` to ``numpy._core``; old files carry the old name, new ones the new):
  accepted only as ``_reconstruct(ndarray, (0,), typecode)``, i.e. the empty array numpy
  creates before filling it from the pickled bytes; then ``ndarray.__setstate__`` checks the
  byte count against shape and dtype.
- ``numpy.ndarray``: a token that is valid only as that first argument, so a pickle cannot
  call ``ndarray(huge_shape)`` itself.
- ``numpy.dtype``: accepted only for plain numeric/bool type strings (no object, no
  structured, no void dtypes) and always built with ``copy=True``, so the pickled
  ``__setstate__`` can never touch numpy's shared builtin dtype objects.
- ``numpy._core.numeric._frombuffer`` (and the ``numpy.core`` spelling): protocol-5
  pickles of arrays; builds an array from a bytes buffer with such a dtype.
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
from pathlib import Path

import numpy as np

from .dataset import CIFAR10_CLASSES, Dataset, DatasetFormatError, check_split

try:  # numpy >= 2
    from numpy._core.multiarray import _reconstruct as _np_reconstruct
    from numpy._core.numeric import _frombuffer as _np_frombuffer
except ImportError:  # pragma: no cover - numpy 1.x
    from numpy.core.multiarray import _reconstruct as _np_reconstruct
    from numpy.core.numeric import _frombuffer as _np_frombuffer

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


def _safe_dtype(spec, align=False, copy=True) -> np.dtype:
    if isinstance(spec, bytes):
        spec = spec.decode("ascii", "replace")
    if not isinstance(spec, str):
        raise UnsafePickleError(f"numpy.dtype called with a {type(spec).__name__}, not a type string")
    try:
        dt = np.dtype(spec)
    except (TypeError, ValueError) as e:
        raise UnsafePickleError(f"numpy.dtype({spec!r}) is not a dtype: {e}") from e
    if dt.char not in _PLAIN_DTYPES or dt.fields is not None or dt.subdtype is not None:
        raise UnsafePickleError(f"dtype {spec!r} is not a plain numeric dtype; refused")
    return np.dtype(spec, align=bool(align), copy=True)


def _safe_reconstruct(subtype, shape, typecode) -> np.ndarray:
    if subtype is not _NDARRAY:
        raise UnsafePickleError(f"_reconstruct of {subtype!r} refused (only numpy.ndarray)")
    if tuple(shape) != (0,):
        raise UnsafePickleError(f"_reconstruct with shape {shape!r} refused (numpy writes (0,))")
    if typecode not in (b"b", "b"):
        raise UnsafePickleError(f"_reconstruct with typecode {typecode!r} refused")
    return _np_reconstruct(np.ndarray, (0,), b"b")


def _safe_frombuffer(buf, dtype, shape, order, axis_order=None) -> np.ndarray:
    if not isinstance(buf, (bytes, bytearray)) or not isinstance(dtype, np.dtype):
        raise UnsafePickleError("_frombuffer needs a bytes buffer and an allowed dtype")
    if dtype.char not in _PLAIN_DTYPES or order not in ("C", "F", "K"):
        raise UnsafePickleError(f"_frombuffer with dtype {dtype} / order {order!r} refused")
    shape = tuple(int(s) for s in shape)
    if axis_order is None:  # numpy 1.x's _frombuffer has no axis_order parameter
        return _np_frombuffer(buf, dtype, shape, order)
    return _np_frombuffer(buf, dtype, shape, order, tuple(int(a) for a in axis_order))


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


def safe_unpickle(data: bytes, source: str = "<bytes>"):
    """Unpickle ``data`` with :class:`RestrictedUnpickler` (``encoding='bytes'`` for Python 2 files)."""
    try:
        return RestrictedUnpickler(io.BytesIO(data), encoding="bytes").load()
    except UnsafePickleError as e:
        raise UnsafePickleError(f"{source}: {e}") from None
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
    obj = safe_unpickle(p.read_bytes(), str(p))
    if not isinstance(obj, dict):
        raise DatasetFormatError(f"{p}: expected a dict, the pickle holds a {type(obj).__name__}")
    data, labels = _key(obj, "data"), _key(obj, "labels")
    if data is None or labels is None:
        keys = sorted(repr(k) for k in obj)
        raise DatasetFormatError(f"{p}: missing key b'data' or b'labels'; keys are {keys}")
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
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
    return np.ascontiguousarray(data).reshape(-1, 3, 32, 32), y


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
