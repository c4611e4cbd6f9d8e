"""Atomic file writes shared by checkpoints, run directories and vector bundles.

A reader sees the old file or the new one, never a mix: the data go to a temporary file
beside the target (``.NAME.*.tmp``), are fsynced, get their permissions and are renamed
over the target, and the directory is fsynced so the rename survives a power loss. A
process killed before the rename leaves only the temporary file, which
:func:`leftover_temporaries` finds for cleanup. The failpoints (fxtrain/failpoint.py)
let the crash-safety test kill a write in each phase.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from .failpoint import failpoint

_TMP_SUFFIX = ".tmp"


def _default_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def file_mode(path: Path) -> int:
    """Permission bits a rewrite of ``path`` keeps: its own, or what a new file would get."""
    try:
        return path.stat().st_mode & 0o777
    except FileNotFoundError:
        return _default_mode()


def fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def atomic_write(path: str | os.PathLike, data: bytes, mode: int | None = None) -> Path:
    """Write ``data`` to ``path`` so that readers see the old or the new file, never a mix.

    The temporary file (``.NAME.*.tmp`` beside the target) is fsynced, given ``mode``
    (default: the target's current permissions, else the umask's; mkstemp's 0600 would
    otherwise leak into the result) and renamed over the target; the directory is then
    fsynced so the rename itself survives a power loss.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = file_mode(path) if mode is None else mode
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=_TMP_SUFFIX, dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            half = len(data) // 2
            fh.write(data[:half])
            failpoint(f"{path.name}:mid-write")
            fh.write(data[half:])
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        failpoint(f"{path.name}:before-rename")
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    fsync_dir(path.parent)
    failpoint(f"{path.name}:after-rename")
    return path


def leftover_temporaries(directory: str | os.PathLike, names: tuple[str, ...]) -> list[Path]:
    """Temporary files :func:`atomic_write` left in ``directory`` for targets ``names``
    (a process killed between mkstemp and rename leaves one)."""
    d = Path(directory)
    out = []
    for name in names:
        out += [p for p in d.glob(f".{name}.*{_TMP_SUFFIX}") if p.is_file()]
    return sorted(out)


