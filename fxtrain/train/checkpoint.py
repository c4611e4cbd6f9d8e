"""Atomic, pickle-free checkpoints: one authority, one derived file.

``checkpoint.npz`` is the authority. It holds every parameter plus a ``__meta__`` entry
(UTF-8 JSON as uint8: model, recipe plan, seeds, epoch, history) and is written to a
temporary file in the same directory, flushed, fsynced and renamed over the target, so a
crash leaves either the old or the new checkpoint, never half of one.

``checkpoint.json`` is a readable copy of that metadata, derived from the npz and written
after it the same way. It names the sha256 of the npz it was derived from
(``npz_sha256``), so a copy left behind by a crash between the two renames is always
recognisable as stale, and :func:`sync_derived` (run by every command that opens a run
directory) rebuilds it. Nothing reads the json back: loading uses the npz only, with
``allow_pickle=False``.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import zipfile
from pathlib import Path

import numpy as np

from ..atomic import atomic_write, file_mode, leftover_temporaries

__all__ = ["atomic_write", "derived_is_current", "file_mode", "leftover_temporaries", "load_checkpoint",
           "save_checkpoint", "sync_derived"]

FORMAT = "fxtrain-checkpoint"
VERSION = 1
_META = "__meta__"


def _npz_bytes(arrays: dict[str, np.ndarray], meta: dict) -> bytes:
    blob = np.frombuffer(json.dumps(meta, sort_keys=True).encode(), dtype=np.uint8)
    buf = io.BytesIO()
    np.savez(buf, **arrays, **{_META: blob})
    return buf.getvalue()


def _json_bytes(meta: dict, npz_sha256: str) -> bytes:
    return json.dumps({**meta, "npz_sha256": npz_sha256}, indent=1, sort_keys=True).encode()


def save_checkpoint(path: str | os.PathLike, arrays: dict[str, np.ndarray], meta: dict) -> Path:
    """Write ``arrays`` and JSON-able ``meta`` to ``path`` (``.npz``) atomically, then its
    derived ``.json`` (same permissions as the npz)."""
    path = Path(path)
    if path.suffix != ".npz":
        path = path.with_suffix(".npz")
    if _META in arrays:
        raise ValueError(f"array name {_META!r} is reserved")
    meta = {"format": FORMAT, "version": VERSION, **meta}
    data = _npz_bytes(arrays, meta)
    atomic_write(path, data)
    atomic_write(path.with_suffix(".json"), _json_bytes(meta, hashlib.sha256(data).hexdigest()),
                 mode=file_mode(path))
    return path


def _check_members(path: Path, data: bytes) -> None:
    """Before numpy reads anything: the zip holds only uncompressed ``.npy`` members whose
    headers describe exactly the bytes they hold. np.savez writes nothing else, and a
    header claiming a huge shape (or a deflate bomb) is refused before any allocation."""
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        infos = zf.infolist()
        if not infos:
            raise ValueError("empty archive")
        for info in infos:
            if info.compress_type != zipfile.ZIP_STORED or info.compress_size != info.file_size:
                raise ValueError(f"member {info.filename!r} is compressed (np.savez stores)")
            if not info.filename.endswith(".npy") or info.file_size > len(data):
                raise ValueError(f"member {info.filename!r} is not an .npy array of this file")
            with zf.open(info) as fh:
                version = np.lib.format.read_magic(fh)
                if version == (1, 0):
                    shape, _, dtype = np.lib.format.read_array_header_1_0(fh)
                elif version == (2, 0):
                    shape, _, dtype = np.lib.format.read_array_header_2_0(fh)
                else:  # 3.0 exists for utf-8 field names, which no checkpoint has
                    raise ValueError(f"member {info.filename!r}: .npy version {version}")
                body = info.file_size - fh.tell()
            if dtype.hasobject:
                raise ValueError(f"member {info.filename!r} holds Python objects (never unpickled)")
            n = 1
            for d in shape:
                n *= int(d)
            if n * dtype.itemsize != body:
                raise ValueError(f"member {info.filename!r}: header {dtype.str}{list(shape)} needs "
                                 f"{n * dtype.itemsize} bytes, it holds {body}")
    except ValueError as exc:
        raise ValueError(f"checkpoint {path} is corrupt or truncated: {exc}") from None
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, KeyError, RuntimeError,
            NotImplementedError, OverflowError, UnicodeDecodeError, SyntaxError, TypeError) as exc:
        raise ValueError(f"checkpoint {path} is corrupt or truncated: {type(exc).__name__}: {exc}") from None


def _parse(path: Path, data: bytes) -> tuple[dict[str, np.ndarray], dict]:
    _check_members(path, data)
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, KeyError) as exc:
        raise ValueError(f"checkpoint {path} is corrupt or truncated: {exc}") from None
    except RuntimeError as exc:  # zipfile: e.g. an entry claims encryption
        raise ValueError(f"checkpoint {path} is corrupt: {exc}") from None
    if _META not in arrays:
        raise ValueError(f"{path} is not an fxtrain checkpoint (no {_META} entry)")
    blob = arrays.pop(_META)
    if blob.dtype != np.uint8 or blob.ndim != 1:
        raise ValueError(f"checkpoint {path}: {_META} must be uint8 bytes, got {blob.dtype}{list(blob.shape)}")
    try:
        meta = json.loads(blob.tobytes().decode())
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise ValueError(f"checkpoint {path}: unreadable metadata: {exc}") from None
    if not isinstance(meta, dict):
        raise ValueError(f"checkpoint {path}: metadata must be a JSON object, got {type(meta).__name__}")
    if meta.get("format") != FORMAT or meta.get("version") != VERSION:
        raise ValueError(f"checkpoint {path}: format {meta.get('format')!r} version "
                         f"{meta.get('version')!r}, expected {FORMAT!r} version {VERSION}")
    return arrays, meta


def load_checkpoint(path: str | os.PathLike) -> tuple[dict[str, np.ndarray], dict]:
    """(arrays, meta) of a checkpoint; clear errors for missing, truncated or foreign files."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    return _parse(path, path.read_bytes())


def derived_is_current(path: str | os.PathLike) -> bool:
    """Whether ``checkpoint.json`` beside the npz ``path`` was derived from it, word for word."""
    path = Path(path)
    try:
        data = path.read_bytes()
        _, meta = _parse(path, data)
        current = path.with_suffix(".json").read_bytes()
    except (OSError, ValueError):
        return False
    return current == _json_bytes(meta, hashlib.sha256(data).hexdigest())


def sync_derived(path: str | os.PathLike) -> bool:
    """Rebuild the derived ``.json`` of checkpoint ``path`` if it is missing or stale;
    returns whether it was rewritten. The npz is checked (ValueError if corrupt)."""
    path = Path(path)
    data = path.read_bytes()
    _, meta = _parse(path, data)
    want = _json_bytes(meta, hashlib.sha256(data).hexdigest())
    jpath = path.with_suffix(".json")
    try:
        if jpath.read_bytes() == want:
            return False
    except OSError:
        pass
    atomic_write(jpath, want, mode=file_mode(path))
    return True
