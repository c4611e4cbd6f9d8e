"""Requantization throughput, side by side in one run: fxtrain vs numpy vs fxpmath.

    python benchmarks/bench_numerics.py [--sizes 1000000 10000000] [--fxpmath-elements 100000]
                                        [--repeat 7] [--system-malloc]

The job is the layer-output stage of a 16-bit training accelerator: int32 accumulators
with 16 fraction bits requantized to Q16.8 (shift 8) with saturation, for every
rounding mode. Three implementations do it:

- fxtrain: ``requantize(acc, 16, QFormat(16, 8), mode, "saturate")`` (numba kernel; it
  also counts overflowed elements, which the others do not);
- numpy: the straightforward vectorized version below (``np.right_shift``, masks,
  ``np.where``/boolean carry, ``np.clip``), stochastic included (counter-based lowbias32
  in uint32 arithmetic), checked bit for bit against fxtrain on every array;
- fxpmath 0.4: ``Fxp(acc * 2**-16, True, 16, 8, rounding=..., overflow="saturate")`` on
  the mapped mode (tests/numerics/test_differential_fxpmath.py), timed on a slice of
  ``--fxpmath-elements`` because it is orders of magnitude slower; its result on the
  slice is checked bit for bit too. Throughputs are elements/s, so the ratios compare
  rates measured on different sizes (said so in the output). fxpmath has no
  stochastic rounding.

Times are best of ``--repeat`` after one warm-up call (numba compile / cache load), with
glibc told to keep freed memory (common.steady_malloc) so that no implementation pays
page faults for its temporaries on every call; ``--system-malloc`` measures without.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import best_of, fmt_rate, fmt_ratio, format_table, machine_note, steady_malloc  # noqa: E402
from fxtrain.numerics import QFormat, requantize  # noqa: E402

F_SRC, FMT = 16, QFormat(16, 8)
SHIFT = F_SRC - FMT.f
KEY = 0x2545F491
MODES = ("floor", "trunc", "half_up", "half_even", "half_away", "stochastic")
#: fxtrain mode -> fxpmath rounding name (see tests/numerics/test_differential_fxpmath.py)
FXPMATH_NAME = {"floor": "floor", "trunc": "trunc", "half_up": "nearest_posinf",
                "half_even": "around", "half_away": "nearest_away"}


def accumulators(n: int, seed: int = 0) -> np.ndarray:
    """int32 accumulators, spread so that about 1% of outputs saturate (std 2**21 at f=16)."""
    rng = np.random.default_rng(seed)
    return np.clip(np.rint(rng.normal(0.0, 2.0**21, n)), -(2**31), 2**31 - 1).astype(np.int32)


def _lowbias32(v: np.ndarray) -> np.ndarray:
    """lowbias32 on a uint32 array (numpy's uint32 arithmetic wraps mod 2**32)."""
    v = v ^ (v >> np.uint32(16))
    v = v * np.uint32(0x7FEB352D)
    v = v ^ (v >> np.uint32(15))
    v = v * np.uint32(0x846CA68B)
    return v ^ (v >> np.uint32(16))


def numpy_requantize(x: np.ndarray, s: int, fmt: QFormat, mode: str, key: int = KEY) -> np.ndarray:
    """The straightforward vectorized numpy requantization of int32 ``x`` by 1 <= s <= 31."""
    a = np.right_shift(x, s)  # floor(x / 2**s)
    r = np.bitwise_and(x, (1 << s) - 1)  # x - a * 2**s, in [0, 2**s)
    half = 1 << (s - 1)
    if mode == "floor":
        v = a
    elif mode == "trunc":
        v = a + ((r != 0) & (x < 0))
    elif mode == "half_up":
        v = a + (r >= half)
    elif mode == "half_even":
        v = a + ((r > half) | ((r == half) & (np.bitwise_and(a, 1) == 1)))
    elif mode == "half_away":
        v = a + np.where(x >= 0, r >= half, r > half)
    elif mode == "stochastic":
        idx = np.arange(x.size, dtype=np.uint32).reshape(x.shape) + np.uint32(key)
        u = (_lowbias32(idx) >> np.uint32(32 - s)).astype(np.int32)
        v = a + ((r + u) >= (1 << s))
    else:
        raise ValueError(f"unknown rounding mode {mode!r}")
    return np.clip(v, fmt.min_int, fmt.max_int).astype(fmt.dtype)


def fxtrain_requantize(x: np.ndarray, mode: str) -> np.ndarray:
    return requantize(x, F_SRC, FMT, mode, "saturate", key=KEY if mode == "stochastic" else None)


def fxpmath_requantize(x: np.ndarray, mode: str) -> np.ndarray:
    from fxpmath import Fxp

    return np.asarray(Fxp(x * 2.0**-F_SRC, True, FMT.w, FMT.f, rounding=FXPMATH_NAME[mode],
                          overflow="saturate").val)


def _fxpmath_rates(acc: np.ndarray, repeat: int) -> dict[str, float]:
    """elements/s of fxpmath per shared mode, after checking its bits against fxtrain."""
    try:
        import fxpmath  # noqa: F401
    except ImportError:
        print("fxpmath not installed: its column is n/a")
        return {}
    rates = {}
    for mode in FXPMATH_NAME:
        ours = fxtrain_requantize(acc, mode)
        np.testing.assert_array_equal(fxpmath_requantize(acc, mode), ours)
        rates[mode] = acc.size / best_of(lambda: fxpmath_requantize(acc, mode), repeat=repeat)
    return rates


def run(sizes: list[int], fxp_n: int, repeat: int, malloc_note: str) -> str:
    lines = [f"Machine: {machine_note()}",
             f"Job: int32 accumulators (f=16) -> {FMT} (shift {SHIFT}), saturate; "
             f"best of {repeat} after a warm-up; {malloc_note}.",
             f"fxpmath is timed on a {fxp_n:,}-element slice (too slow for the full arrays); "
             "all ratios compare elements/s."]
    fxp_rates = _fxpmath_rates(accumulators(fxp_n, seed=1), max(1, repeat // 2))
    for n in sizes:
        acc = accumulators(n)
        rows = []
        for mode in MODES:
            ours = fxtrain_requantize(acc, mode)
            np.testing.assert_array_equal(numpy_requantize(acc, SHIFT, FMT, mode), ours)  # bit for bit
            t_fx = best_of(lambda: fxtrain_requantize(acc, mode), repeat=repeat)
            t_np = best_of(lambda: numpy_requantize(acc, SHIFT, FMT, mode), repeat=repeat)
            fx_rate, np_rate = n / t_fx, n / t_np
            fxp = fxp_rates.get(mode)
            rows.append([mode, fmt_rate(n, t_fx), fmt_rate(n, t_np),
                         fmt_rate(fxp, 1.0) if fxp else "n/a",
                         fmt_ratio(fx_rate / np_rate),
                         fmt_ratio(fx_rate / fxp) if fxp else "n/a"])
        lines += ["", f"n = {n:,} elements (fxpmath: {fxp_n:,})",
                  format_table(["rounding", "fxtrain", "numpy", "fxpmath", "fxtrain/numpy",
                                "fxtrain/fxpmath"], rows)]
    lines.append("\nBit-exact: fxtrain == numpy on every array and mode, fxtrain == fxpmath "
                 "on its slice for every shared mode.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10**6, 10**7])
    ap.add_argument("--fxpmath-elements", type=int, default=10**5)
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--system-malloc", action="store_true",
                    help="leave glibc's malloc settings alone (temporaries page-fault on every call)")
    args = ap.parse_args(argv)
    if min(args.sizes) < 1 or args.fxpmath_elements < 1 or args.repeat < 1:
        ap.error("sizes, --fxpmath-elements and --repeat must be positive")
    if args.system_malloc:
        note = "system malloc settings"
    else:
        note = "freed memory kept for reuse" if steady_malloc() else "malloc tuning unavailable"
    print(run(args.sizes, args.fxpmath_elements, args.repeat, note))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
