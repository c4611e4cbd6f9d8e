"""Mutation run: does the suite see the bugs it exists for?

    python benchmarks/mutation.py              # every mutant (about 25 minutes on 2 cores)
    python benchmarks/mutation.py --only R3 P1 # some of them
    python benchmarks/mutation.py --check      # only check that every mutant still applies

Each mutant is one small edit to the engine (a rounding rule, an overflow width, the SR
index or key, a hash constant, pooling ties, the flip and padding of BP, the ReLU rule,
update rounding, accumulator widths, growth and pruning slices) and the tests that should
catch it. The runner copies the repository to a temporary folder, applies one mutant
there (the working tree is never touched), points numba at an empty cache
(``NUMBA_CACHE_DIR``: numba's cache does not track inlined dependencies, so a stale
kernel would hide the mutant), runs the tests with ``CI=true`` and records **killed**
(a test assertion failed), **error** (the tests crashed instead: often a broken mutant,
so read it) or **survived** (all passed). The table goes to stdout and, with
``--markdown FILE``, to a file; docs/testing.md holds the last score. First, each test
set runs on the unmutated copy and must pass, so that a failure can only mean a kill.
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Mutant:
    id: str
    rule: str  # the contract rule it breaks
    path: str
    old: str
    new: str
    tests: tuple[str, ...]


NUM = ("tests/numerics", "tests/oracle")
OPS = ("tests/ops", "tests/nn/test_network_vs_oracle.py")
NET = ("tests/nn", "tests/oracle", "tests/ops/test_update.py")

MUTANTS = [
    # ---- rounding (fxtrain/numerics/_kernels.py: round_right)
    Mutant("R1", "half_up ties", "fxtrain/numerics/_kernels.py",
           "    elif mode == HALF_UP:\n        inc = r >= half", "    elif mode == HALF_UP:\n        inc = r > half", NUM),
    Mutant("R2", "half_even ties", "fxtrain/numerics/_kernels.py",
           "(r == half and (a & _I1) == _I1)", "(r == half and (a & _I1) == _I0)", NUM),
    Mutant("R3", "trunc toward zero", "fxtrain/numerics/_kernels.py",
           "inc = r != _U0 and x < 0", "inc = r != _U0 and x > 0", NUM),
    Mutant("R4", "half_away ties", "fxtrain/numerics/_kernels.py",
           "inc = r >= half if x >= 0 else r > half", "inc = r >= half if x >= 0 else r >= half", NUM),
    Mutant("R5", "stochastic: r + u >= 2**s", "fxtrain/numerics/_kernels.py",
           "inc = r != _U0 and u >= (mask - r) + _U1", "inc = r != _U0 and u > (mask - r) + _U1", NUM),
    Mutant("R6", "stochastic: u alignment for s <= 32", "fxtrain/numerics/_kernels.py",
           "u = rand >> np.uint64(32 - s)", "u = rand >> np.uint64(33 - s)", NUM),
    # ---- overflow
    Mutant("O1", "saturate bound", "fxtrain/numerics/_kernels.py",
           "    lo = -hi - _I1\n    if lo <= v <= hi:", "    lo = -hi\n    if lo <= v <= hi:", NUM),
    Mutant("O2", "wrap width", "fxtrain/numerics/_kernels.py",
           "if t >> np.uint64(w - 1) != _U0:", "if t >> np.uint64(w) != _U0:", NUM),
    # ---- stochastic-rounding index, key and hash
    Mutant("S1", "SR index (requantize)", "fxtrain/numerics/_kernels.py",
           "rand = lowbias32_u64(k + j)", "rand = lowbias32_u64(k + j + _U1)", NUM),
    Mutant("S2", "SR index (fast path)", "fxtrain/numerics/_fast.py",
           "lowbias32_u64((k + np.uint64(i)) & _M32)", "lowbias32_u64((k + np.uint64(i) + np.uint64(1)) & _M32)",
           NUM),
    Mutant("S3", "hash constant (kernel)", "fxtrain/numerics/_kernels.py",
           "_C2 = np.uint64(0x846CA68B)", "_C2 = np.uint64(0x846CA68D)", NUM),
    Mutant("S4", "hash shift (kernel)", "fxtrain/numerics/_kernels.py",
           "    x ^= x >> _U15\n", "    x ^= x >> _U16\n", NUM),
    Mutant("S5", "sr_key seed salt", "fxtrain/numerics/rng.py",
           "_SEED_SALT = 0x9E3779B9", "_SEED_SALT = 0x9E3779B8", NUM),
    # ---- pooling ties, BP flip and padding, ReLU rule
    Mutant("P1", "max-pool: first maximum (general k)", "fxtrain/ops/_pool_kernels.py",
           "if v > best:", "if v >= best:", OPS),
    Mutant("P2", "max-pool: first maximum (k = 2)", "fxtrain/ops/_pool_kernels.py",
           "t = v1 > b", "t = v1 >= b", OPS),
    Mutant("B1", "BP 180-degree flip", "fxtrain/ops/conv.py",
           "w.transpose(1, 0, 2, 3)[:, :, ::-1, ::-1]", "w.transpose(1, 0, 2, 3)[:, :, ::-1, :]", OPS),
    Mutant("B2", "BP padding K-1-P", "fxtrain/ops/conv.py",
           "return e, wf, k, 1, k - 1 - p, h, wd,", "return e, wf, k, 1, p, h, wd,", OPS),
    Mutant("L1", "ReLU rule ge (kernel)", "fxtrain/ops/activation.py",
           "keep = v > 0 if strict else v >= 0", "keep = v > 0 if strict else v > 0", OPS),
    Mutant("L2", "ReLU rule ge (conv epilogue)", "fxtrain/ops/_direct.py",
           "keep = v > 0 if strict else v >= 0", "keep = v > 0 if strict else v > 0", OPS),
    # ---- accumulator widths
    Mutant("A1", "conv accumulator wrap width", "fxtrain/ops/_direct.py",
           "t = wrap_bits(v, acc_bits)", "t = wrap_bits(v, acc_bits + 1)", OPS),
    Mutant("A2", "linear accumulator wrap width", "fxtrain/ops/linear.py",
           "n = CK.wrap_count(acc.reshape(-1), acc_bits)", "n = CK.wrap_count(acc.reshape(-1), acc_bits + 1)", OPS),
    # ---- the update
    Mutant("U1", "update rounding (half_up, fpl19's loop)", "fxtrain/ops/update.py",
           "v = (x >> s) + ((x >> (s - np.int64(1))) & np.int64(1))", "v = (x >> s)", NET),
    Mutant("U2", "momentum decay shift 16", "fxtrain/ops/update.py",
           "requant_value(v * m_q, np.int64(16),", "requant_value(v * m_q, np.int64(15),", NET),
    Mutant("U3", "momentum accumulate sign", "fxtrain/ops/update.py",
           "fit(np.int64(V_out[i]) + inc, w_m, ovf_m)", "fit(np.int64(V_out[i]) - inc, w_m, ovf_m)", NET),
    Mutant("U4", "weight update sign", "fxtrain/ops/update.py",
           "fit(np.int64(W[i]) - dec, w_u, ovf_u)", "fit(np.int64(W[i]) + dec, w_u, ovf_u)", NET),
    Mutant("U5", "momentum decay shift 16 (fpl19's loop)", "fxtrain/ops/update.py",
           "_half_up_wrap16(v * m_q, np.int64(16))", "_half_up_wrap16(v * m_q, np.int64(15))", NET),
    Mutant("U6", "momentum accumulate sign (fpl19's loop)", "fxtrain/ops/update.py",
           "t = np.int64(V_out[i]) + inc", "t = np.int64(V_out[i]) - inc", NET),
    Mutant("U7", "weight update sign (fpl19's loop)", "fxtrain/ops/update.py",
           "t = np.int64(W[i]) - dec", "t = np.int64(W[i]) + dec", NET),
    Mutant("D1", "update op default rounding (decay)", "fxtrain/ops/update.py",
           'def fpl19_decay(V, m_q, f_V: int = 0, rounding: str = "half_up"',
           'def fpl19_decay(V, m_q, f_V: int = 0, rounding: str = "half_even"', NET),
    Mutant("D2", "update op default overflow (accumulate)", "fxtrain/ops/update.py",
           'def fpl19_accumulate(V, G_g, lr_q, f_G: int, f_lr: int, f_V: int, rounding: str = "half_up",\n'
           '                     overflow: str = "wrap"',
           'def fpl19_accumulate(V, G_g, lr_q, f_G: int, f_lr: int, f_V: int, rounding: str = "half_up",\n'
           '                     overflow: str = "saturate"', NET),
    Mutant("H1", "squared hinge: zero where z*t >= 1", "fxtrain/ops/losses.py",
           "pos_done = (z64 >= one)", "pos_done = (z64 >= 2 * one)", NET),
    # ---- growth and pruning slices
    Mutant("G1", "growth: new momentum rows are zero", "fxtrain/grow/surgery.py",
           "np.zeros_like(w_new, dtype=net.params[vk].dtype)", "np.ones_like(w_new, dtype=net.params[vk].dtype)",
           ("tests/grow",)),
    Mutant("G2", "growth: consumer's new momentum slices are zero", "fxtrain/grow/surgery.py",
           "pad = np.zeros((P.shape[0], n_new * per) + P.shape[2:], dtype=P.dtype)",
           "pad = np.zeros((P.shape[0], n_new * per) + P.shape[2:], dtype=P.dtype) + (k == 'momentum')",
           ("tests/grow",)),
    Mutant("G3", "pruning: consumer columns in order", "fxtrain/grow/surgery.py",
           "cols = (keep[:, None] * per + np.arange(per)[None, :]).reshape(-1)",
           "cols = (keep[:, None] * per + np.arange(per)[::-1][None, :]).reshape(-1)", ("tests/grow",)),
]


def _copy_tree(dst: Path) -> None:
    ignore = shutil.ignore_patterns(".git", "runs", "__pycache__", "*.egg-info", ".pytest_cache",
                                    "fuzz-corpus", "sim_build*", "build")
    for name in ("fxtrain", "reference", "hwgen", "tests", "docs", "benchmarks", "scripts", "pyproject.toml",
                 "README.md"):
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, dst / name, ignore=ignore)
        elif src.exists():
            shutil.copy2(src, dst / name)


def apply(m: Mutant, tree: Path) -> None:
    """Apply ``m`` in ``tree``; the old text must occur exactly once (else the mutant is stale)."""
    p = tree / m.path
    text = p.read_text()
    n = text.count(m.old)
    if n != 1:
        raise SystemExit(f"mutant {m.id}: {m.path} holds its old text {n} times (expected once); update it")
    p.write_text(text.replace(m.old, m.new))


def _crash(summary_line: str) -> bool:
    """Whether pytest's FAILED line names an exception other than an assertion failure."""
    m = re.search(r" - ([\w.]+(?:Error|Exception))\b", summary_line)
    return m is not None and m.group(1) != "AssertionError"


def run(m: Mutant | None, timeout: float, tests: tuple[str, ...] = ()) -> tuple[str, float, str]:
    """Run ``m``'s tests on a copy with ``m`` applied (``m=None``: the unmutated copy, on
    ``tests``, which must pass: the baseline that makes a failure mean a kill)."""
    tests = m.tests if m is not None else tests
    with tempfile.TemporaryDirectory(prefix=f"mutant-{m.id if m else 'baseline'}-") as tmp:
        tree = Path(tmp) / "repo"
        tree.mkdir()
        _copy_tree(tree)
        if m is not None:
            apply(m, tree)
        env = {**os.environ, "CI": "true", "PYTHONPATH": str(tree), "NUMBA_CACHE_DIR": str(Path(tmp) / "numba"),
               "PYTHONDONTWRITEBYTECODE": "1"}
        where = subprocess.run([sys.executable, "-c", "import fxtrain; print(fxtrain.__file__)"], cwd=tree,
                               env=env, capture_output=True, text=True).stdout.strip()
        if not where.startswith(str(tree)):
            raise SystemExit(f"the copy's fxtrain is not the one imported ({where}); refusing to run")
        t = time.perf_counter()
        try:
            r = subprocess.run([sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *tests],
                               cwd=tree, env=env, capture_output=True, text=True, timeout=timeout)
            first = next((ln for ln in r.stdout.splitlines() if ln.startswith(("FAILED", "ERROR"))), "")
            if r.returncode == 0:
                status = "survived"
            elif _crash(first):  # NameError, a numba TypingError ...: maybe a broken mutant, look
                status = "error"
            else:
                status = "killed"
        except subprocess.TimeoutExpired:
            status, first = "timeout", ""
        return status, time.perf_counter() - t, first


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", nargs="*", help="mutant ids to run")
    ap.add_argument("--check", action="store_true", help="only check that every mutant applies")
    ap.add_argument("--timeout", type=float, default=900)
    ap.add_argument("--markdown", help="also write the result table to this file")
    args = ap.parse_args(argv)
    chosen = [m for m in MUTANTS if not args.only or m.id in args.only]
    if args.check:
        with tempfile.TemporaryDirectory() as tmp:
            _copy_tree(Path(tmp))
            for m in chosen:
                apply(m, Path(tmp))
                (Path(tmp) / m.path).write_text((ROOT / m.path).read_text())
        print(f"all {len(chosen)} mutants apply")
        return 0
    for tests in sorted({m.tests for m in chosen}):
        status, secs, first = run(None, args.timeout, tests)
        print(f"baseline {' '.join(tests)}: {'passed' if status == 'survived' else status} ({secs:.0f} s)",
              flush=True)
        if status != "survived":
            raise SystemExit(f"the unmutated copy fails {tests}: {first}; fix that first")
    rows = []
    for i, m in enumerate(chosen, 1):
        status, secs, first = run(m, args.timeout)
        rows.append((m, status, secs, first))
        print(f"[{i}/{len(chosen)}] {m.id} {status:8s} {secs:6.0f} s  {m.rule}  {first}", flush=True)
    killed = sum(r[1] == "killed" for r in rows)
    lines = ["| mutant | contract rule | file | result | seconds | first failing test |",
             "| --- | --- | --- | --- | ---: | --- |"]
    for m, status, secs, first in rows:
        test = first.removeprefix("FAILED ").split(" - ")[0]
        lines.append(f"| {m.id} | {m.rule} | `{m.path}` | {status} | {secs:.0f} | `{test}` |")
    lines.append(f"\nscore: {killed}/{len(rows)} killed")
    table = "\n".join(lines)
    print("\n" + table)
    if args.markdown:
        Path(args.markdown).write_text(table + "\n")
    return 0 if killed == len(rows) else 1


if __name__ == "__main__":
    sys.exit(main())
