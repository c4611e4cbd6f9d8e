"""Named crash points for the crash-safety tests (off unless an environment variable asks).

``FXTRAIN_FAILPOINT=NAME[@N]`` makes the N-th (default first) call of ``failpoint(NAME)``
in this process kill the process with SIGKILL, exactly as ``kill -9`` would: no cleanup
handler, no ``finally`` block runs. With ``FXTRAIN_FAILPOINT_ONCE=PATH`` it fires only if
PATH does not exist, creating it first: one kill across processes that inherit the
environment (a dask worker restarted by its nanny). tests/train/test_crash_safety.py uses it to stop a run
at the moments a random kill rarely hits, such as between writing a checkpoint's
temporary file and renaming it. The names are listed in docs/reliability.md.
"""
from __future__ import annotations

import os
import signal

_ENV = "FXTRAIN_FAILPOINT"
_hits: dict[str, int] = {}


def _armed() -> tuple[str, int] | None:
    spec = os.environ.get(_ENV)
    if not spec:
        return None
    name, _, n = spec.partition("@")
    try:
        return name, int(n) if n else 1
    except ValueError:
        raise ValueError(f"{_ENV}={spec!r}: expected NAME or NAME@N with an integer N") from None


def failpoint(name: str) -> None:
    """Kill this process here if ``FXTRAIN_FAILPOINT`` names this point (see the module)."""
    armed = _armed()
    if armed is None or armed[0] != name:
        return
    _hits[name] = _hits.get(name, 0) + 1
    if _hits[name] == armed[1]:
        once = os.environ.get("FXTRAIN_FAILPOINT_ONCE")
        if once:
            try:
                os.close(os.open(once, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
            except FileExistsError:
                return
        os.kill(os.getpid(), signal.SIGKILL)
