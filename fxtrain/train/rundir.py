"""A run directory that one process owns: checked, locked and tidied before any training.

``RunDir(path, resume=..., force=...)`` is opened before data are loaded or a single
step runs, so that nothing an epoch computed is lost to a bad ``--out``:

- ``path`` must be a directory (created if missing) this process can write: a file, or a
  directory without write permission, fails at once.
- An exclusive ``fcntl.flock`` on ``path/.lock`` keeps a second process out; it fails at
  once naming the directory and the holder (pid, host, command, start time, written into
  the lock file). The kernel drops the lock when its holder dies, even by ``kill -9``,
  so a stale lock never blocks a later run.
- With the lock held, temporary files of interrupted writes are removed, and the derived
  files (``checkpoint.json``, ``history.json``) are rebuilt from ``checkpoint.npz`` if a
  crash left them behind it.
- A directory that already holds a run is continued only with ``resume`` and replaced
  only with ``force`` (its checkpoint, json and history are removed then); otherwise
  :class:`RunDirError` says which run is there.
"""
from __future__ import annotations

import errno
import json
import os
import socket
import sys
import time
from pathlib import Path

from .checkpoint import (atomic_write, file_mode, leftover_temporaries, load_checkpoint,
                         sync_derived)

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows has no flock; runs are then unlocked
    fcntl = None

CHECKPOINT = "checkpoint.npz"
RUN_FILES = (CHECKPOINT, "checkpoint.json", "history.json")
LOCK = ".lock"


class RunDirError(ValueError):
    """A run directory that cannot be used as asked; the message names it and why."""


class RunLockedError(RunDirError):
    """Another live process holds the run directory."""


def _holder_text(path: Path) -> str:
    try:
        info = json.loads((path / LOCK).read_text())
        return (f"pid {info['pid']} on {info['host']} ({info['command']}, since "
                f"{info['since']})")
    except (OSError, ValueError, KeyError, TypeError):
        return "another process"


class RunDir:
    """See the module docstring. Use as a context manager; ``close()`` releases the lock."""

    def __init__(self, path: str | os.PathLike, resume: bool = False, force: bool = False,
                 what: str = "run", history: bool = True):
        self.path = Path(path)
        self.resume, self.force, self.what = bool(resume), bool(force), what
        self.history = history  # whether history.json is one of this run's derived files
        self._fd: int | None = None
        self.removed_temporaries: list[Path] = []
        self.rebuilt: list[str] = []

    @property
    def checkpoint(self) -> Path:
        return self.path / CHECKPOINT

    # ------------------------------------------------------------------ opening
    def open(self) -> "RunDir":
        p = self.path
        if p.exists() and not p.is_dir():
            raise RunDirError(f"--out {p} exists and is not a directory")
        if self.resume and not p.exists():
            raise RunDirError(f"nothing to resume: run directory {p} does not exist")
        try:
            p.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise RunDirError(f"cannot create run directory {p}: {exc.strerror or exc}") from None
        self._lock()
        try:
            self._tidy()
            self._check_contents()
        except BaseException:
            self.close()
            raise
        return self

    def _lock(self) -> None:
        lock = self.path / LOCK
        try:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as exc:
            raise RunDirError(f"run directory {self.path} is not writable: "
                              f"{exc.strerror or exc}") from None
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                os.close(fd)
                if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    raise RunLockedError(f"run directory {self.path} is in use by "
                                         f"{_holder_text(self.path)}") from None
                raise
        info = {"pid": os.getpid(), "host": socket.gethostname(),
                "command": " ".join(Path(a).name if i == 0 else a for i, a in enumerate(sys.argv))
                or "python", "since": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps(info).encode(), 0)
        except OSError as exc:  # e.g. a full disk: better to learn it now than after an epoch
            os.close(fd)
            raise RunDirError(f"run directory {self.path} is not writable: {exc.strerror or exc}") from None
        self._fd = fd
        self._probe_write()

    def _probe_write(self) -> None:
        # the lock file may exist from an earlier run while the directory is now read-only
        try:
            atomic_write(self.path / ".write-probe", b"", mode=0o600)
            os.unlink(self.path / ".write-probe")
        except OSError as exc:
            self.close()
            raise RunDirError(f"run directory {self.path} is not writable: "
                              f"{exc.strerror or exc}") from None

    def _tidy(self) -> None:
        for tmp in leftover_temporaries(self.path, RUN_FILES + ("report.json", ".write-probe")):
            tmp.unlink()
            self.removed_temporaries.append(tmp)
        if self.checkpoint.is_file():
            try:
                if sync_derived(self.checkpoint):
                    self.rebuilt.append("checkpoint.json")
                _, meta = load_checkpoint(self.checkpoint)
            except ValueError:
                return  # reported by _check_contents or by the resume that reads it
            if self.history and self.write_history(meta.get("history", []), only_if_changed=True):
                self.rebuilt.append("history.json")

    def _check_contents(self) -> None:
        ck = self.checkpoint
        present = [n for n in RUN_FILES if (self.path / n).exists()]
        if self.resume:
            if not ck.is_file():
                raise RunDirError(f"nothing to resume: {ck} does not exist")
            return
        if not present:
            return
        if not self.force:
            try:
                _, meta = load_checkpoint(ck)
                held = (f"a {meta.get('model', '?')} {meta.get('config', {}).get('recipe', '')} "
                        f"{self.what} after epoch {meta.get('epoch', '?')}")
            except (OSError, ValueError):
                held = f"a {self.what} ({', '.join(present)})"
            raise RunDirError(f"{self.path} already holds {held}; pass --resume to continue it "
                              "or --force to replace it")
        for n in present:
            (self.path / n).unlink()

    # ------------------------------------------------------------------ writing
    def write_history(self, history: list, only_if_changed: bool = False) -> bool:
        """``history.json`` (derived from the checkpoint's history, same permissions)."""
        p = self.path / "history.json"
        data = json.dumps(history, indent=1).encode()
        if only_if_changed:
            try:
                if p.read_bytes() == data:
                    return False
            except OSError:
                pass
        atomic_write(p, data, mode=file_mode(self.checkpoint))
        return True

    # ------------------------------------------------------------------ closing
    def close(self) -> None:
        if self._fd is not None:
            if fcntl is not None:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> "RunDir":
        return self.open()

    def __exit__(self, *exc) -> None:
        self.close()
