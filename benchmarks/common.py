"""Small shared helpers for the benchmarks: best-of-N wall time, a machine note, a table.

Best-of-N (not the mean) because the machine is shared: the minimum is the run least
disturbed by other processes, and it is what a ratio between two implementations
measured in the same run should compare.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import platform
import time
from typing import Callable, Sequence


def best_of(fn: Callable[[], object], repeat: int = 5, warmup: int = 1) -> float:
    """Smallest wall time in seconds of ``repeat`` calls of ``fn``, after ``warmup`` calls.

    The warm-up calls absorb one-off costs (numba compilation or cache loading, first
    touch of freshly allocated pages) that a steady-state throughput should not include.
    """
    if repeat < 1:
        raise ValueError(f"repeat must be >= 1, got {repeat}")
    for _ in range(warmup):
        fn()
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def steady_malloc() -> bool:
    """Keep freed heap memory for reuse (glibc only); returns whether it was applied.

    By default glibc serves every allocation above its mmap threshold (128 KiB to
    32 MiB, adjusted as the process runs) with a fresh mmap and unmaps it on free, so a
    numpy expression that makes a few 4 MB temporaries takes ~1000 page faults per
    temporary on every call. On this VM that made the same numpy code 10x slower in one
    process state than in another (it flips after numba's first compilation).
    ``M_MMAP_MAX = 0`` and a huge ``M_TRIM_THRESHOLD`` keep all blocks on the heap and
    reuse them, so best-of-N measures the computation, for every implementation alike.
    """
    name = ctypes.util.find_library("c")
    if not name or platform.system() != "Linux":
        return False
    try:
        libc = ctypes.CDLL(name)
        m_trim_threshold, m_mmap_max = -1, -4
        return bool(libc.mallopt(m_mmap_max, 0)) and bool(libc.mallopt(m_trim_threshold, 2**30))
    except (OSError, AttributeError):
        return False


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def machine_note() -> str:
    """One line: CPU model, core count, load average, Python / numpy / numba versions."""
    import numpy as np

    parts = [f"{_cpu_model()}, {os.cpu_count()} cores"]
    if hasattr(os, "getloadavg"):
        parts.append("load avg %.2f/%.2f/%.2f" % os.getloadavg())
    parts.append(f"Python {platform.python_version()}, numpy {np.__version__}")
    try:
        import numba

        parts.append(f"numba {numba.__version__} ({numba.get_num_threads()} threads)")
    except ImportError:
        pass
    return "; ".join(parts)


def format_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A Markdown table (pipes, header rule), columns padded so it also reads as plain text."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    if any(len(r) != len(headers) for r in cells):
        raise ValueError("every row needs one cell per header")
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]

    def line(r):
        return "| " + " | ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths))) + " |"

    rule = "|" + "|".join("-" * (w + 1) + ":" if i else "-" * (w + 2) for i, w in enumerate(widths)) + "|"
    return "\n".join([line(cells[0]), rule] + [line(r) for r in cells[1:]])


def fmt_rate(elements: int, seconds: float) -> str:
    """Throughput as ``123.4 M/s`` (elements per second, 4 significant digits)."""
    rate = elements / seconds
    for unit, scale in (("G/s", 1e9), ("M/s", 1e6), ("k/s", 1e3)):
        if rate >= scale:
            return f"{rate / scale:.4g} {unit}"
    return f"{rate:.4g} /s"


def fmt_ratio(r: float) -> str:
    """A speed ratio as ``1234x`` / ``3.2x`` / ``0.87x``."""
    if r >= 100:
        return f"{r:,.0f}x"
    return f"{r:.2f}x" if r < 10 else f"{r:.1f}x"
