"""A dependency-free progress line for long CLI runs (stderr, redrawn in place on a TTY)."""
from __future__ import annotations

import sys
import time


class Progress:
    """``with Progress(total, "epoch 1") as p: p.update(n, loss=...)``."""

    def __init__(self, total: int, label: str = "", stream=None, enabled: bool = True):
        self.total, self.label, self.done = max(1, total), label, 0
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.t0 = time.perf_counter()
        self._last = 0.0

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc) -> None:
        self._draw(final=True)

    def update(self, n: int = 1, **fields) -> None:
        self.done += n
        self.fields = fields
        now = time.perf_counter()
        if now - self._last > (0.2 if self.tty else 10.0):
            self._last = now
            self._draw()

    def _draw(self, final: bool = False) -> None:
        if not self.enabled:
            return
        el = time.perf_counter() - self.t0
        frac = min(1.0, self.done / self.total)
        rate = self.done / el if el > 0 else 0.0
        eta = (self.total - self.done) / rate if rate > 0 else 0.0
        bar = "#" * int(frac * 24)
        extra = " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                         for k, v in getattr(self, "fields", {}).items())
        line = (f"{self.label} [{bar:<24}] {self.done}/{self.total} {rate:.0f}/s "
                f"{el:.0f}s eta {eta:.0f}s {extra}")
        if self.tty:
            self.stream.write("\r" + line + ("\n" if final else ""))
        elif final or self.done:
            self.stream.write(line + "\n")
        self.stream.flush()
