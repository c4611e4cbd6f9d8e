"""Atomic, pickle-free checkpoints.

One ``.npz`` holds every parameter plus a ``__meta__`` entry (UTF-8 JSON as uint8: model,
recipe plan, seeds, epoch, history) and is written to a temporary file in the same
directory, flushed, fsynced and renamed over the target, so a crash leaves either the old
or the new checkpoint, never half of one. A readable ``.json`` copy of the metadata is
written the same way next to it. Loading uses ``allow_pickle=False``.
"""
from __future__ import annotations

import json
import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np

FORMAT = "fxtrain-checkpoint"
VERSION = 1
_META = "__meta__"


def _atomic_write(path: Path, write) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def save_checkpoint(path: str | os.PathLike, arrays: dict[str, np.ndarray], meta: dict) -> Path:
    """Write ``arrays`` and JSON-able ``meta`` to ``path`` (``.npz``) atomically."""
    path = Path(path)
    if path.suffix != ".npz":
        path = path.with_suffix(".npz")
    if _META in arrays:
        raise ValueError(f"array name {_META!r} is reserved")
    meta = {"format": FORMAT, "version": VERSION, **meta}
    blob = np.frombuffer(json.dumps(meta, sort_keys=True).encode(), dtype=np.uint8)
    _atomic_write(path, lambda fh: np.savez(fh, **arrays, **{_META: blob}))
    _atomic_write(path.with_suffix(".json"),
                  lambda fh: fh.write(json.dumps(meta, indent=1, sort_keys=True).encode()))
    return path


def load_checkpoint(path: str | os.PathLike) -> tuple[dict[str, np.ndarray], dict]:
    """(arrays, meta) of a checkpoint; clear errors for missing, truncated or foreign files."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as exc:
        raise ValueError(f"checkpoint {path} is corrupt or truncated: {exc}") from None
    if _META not in arrays:
        raise ValueError(f"{path} is not an fxtrain checkpoint (no {_META} entry)")
    try:
        meta = json.loads(arrays.pop(_META).tobytes().decode())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"checkpoint {path}: unreadable metadata: {exc}") from None
    if meta.get("format") != FORMAT or meta.get("version") != VERSION:
        raise ValueError(f"checkpoint {path}: format {meta.get('format')!r} version "
                         f"{meta.get('version')!r}, expected {FORMAT!r} version {VERSION}")
    return arrays, meta
