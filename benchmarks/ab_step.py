"""One cnn1x training step of this checkout against another checkout, in one process.

    python benchmarks/ab_step.py OTHER_CHECKOUT [--rounds 40] [--steps 5] [--recipe fpl19]

e.g. ``git worktree add /tmp/base <commit>`` then ``python benchmarks/ab_step.py /tmp/base``.

Why in one process: on a shared VM the speed of whole runs drifts by 10% and more from one
minute to the next, far more than most changes move it. Both packages are imported side
by side (the other one under the name ``fxother``, with its own worker threads), both
networks start from the same seed and data, and each round steps them in shuffled order
(best of ``--steps`` steps each); the result is the median over rounds of the per-round
ratio. Before and after timing, the two networks' parameters are checked to be equal
word for word: a change that alters the bits is not a speed-up.
"""
from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import random
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def _load(root: Path, alias: str):
    spec = importlib.util.spec_from_file_location(
        alias, root / "fxtrain" / "__init__.py", submodule_search_locations=[str(root / "fxtrain")])
    mod = importlib.util.module_from_spec(spec)
    sys.modules[alias] = mod
    spec.loader.exec_module(mod)
    return mod


def _net(pkg: str, recipe: str, x, y):
    models = importlib.import_module(f"{pkg}.models")
    presets = importlib.import_module(f"{pkg}.presets")
    kw = {"calib": (x, y)} if recipe == "sr16" else {}
    net = models.cnn1x(recipe=getattr(presets, recipe)(batch=len(x), **kw), seed=0)
    return net, net.quantize_input(x)


def _same(a, b) -> None:
    for k in a.params:
        np.testing.assert_array_equal(a.params[k], b.params[k], err_msg=k)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("other", type=Path, help="another checkout of this repository")
    ap.add_argument("--rounds", type=int, default=40)
    ap.add_argument("--steps", type=int, default=5, help="timed steps per build and round (best)")
    ap.add_argument("--recipe", choices=("fpl19", "sr16"), default="fpl19")
    a = ap.parse_args(argv)
    if not (a.other / "fxtrain" / "__init__.py").is_file():
        ap.error(f"{a.other} holds no fxtrain package")
    if a.rounds < 1 or a.steps < 1:
        ap.error("--rounds and --steps must be >= 1")
    _load(ROOT, "fxtrain")
    _load(a.other.resolve(), "fxother")
    rng = np.random.default_rng(0)
    x, y = np.floor(rng.random((40, 3, 32, 32)) * 256) / 256, rng.integers(0, 10, 40)
    nets = {"this": _net("fxtrain", a.recipe, x, y), "other": _net("fxother", a.recipe, x, y)}
    for net, xq in nets.values():  # warm-up: compilation, caches, worker threads
        net.train_step(xq, y)
        net.train_step(xq, y)
    _same(nets["this"][0], nets["other"][0])
    best: dict[str, list[float]] = {k: [] for k in nets}
    order = list(nets)
    shuffle = random.Random(2)
    for r in range(a.rounds):
        shuffle.shuffle(order)
        for k in order:
            net, xq = nets[k]
            t_best = float("inf")
            for _ in range(a.steps):
                t = time.perf_counter()
                net.train_step(xq, y)
                t_best = min(t_best, time.perf_counter() - t)
            best[k].append(t_best)
        print(f"round {r + 1}: this {best['this'][-1] * 1e3:.2f} ms, other "
              f"{best['other'][-1] * 1e3:.2f} ms", file=sys.stderr)
    _same(nets["this"][0], nets["other"][0])
    ratios = [t / o for t, o in zip(best["this"], best["other"])]
    q = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else [ratios[0]] * 3
    print(f"cnn1x {a.recipe} step, batch 40, {os.cpu_count()} cores; {a.rounds} rounds of "
          f"best-of-{a.steps}, shuffled order")
    print(f"this:  median {statistics.median(best['this']) * 1e3:.2f} ms")
    print(f"other: median {statistics.median(best['other']) * 1e3:.2f} ms ({a.other})")
    print(f"this / other step time: median {statistics.median(ratios):.3f} "
          f"(quartiles {q[0]:.3f}-{q[2]:.3f}); the same words after every step")
    return 0


if __name__ == "__main__":
    sys.exit(main())
