"""Training throughput of cnn1x (batch 40, 3x32x32), side by side in one run.

    python benchmarks/bench_train.py [--steps 5] [--rounds 3] [--threads N] [--oracle-images 1]
                                     [--widths 32,48,64] [--json out.json]

Rows: fxtrain fpl19 (its plan: exact convolution sums, 32-bit FC) and sr16 (bit-exact
16-bit fixed point), fxtrain fpl19 with every accumulator at one width (``--widths``,
each row "fpl19 acc N": the cost of the width alone), fxtrain float64 (same network
unquantized), PyTorch fp32 (same architecture, squared hinge, SGD with momentum; only
when torch is importable) and the plain-Python oracle (reference/, on a few images,
checked bit for bit against the engine on the same step).

Each round times every row (best of ``--steps`` steps after a warm-up step); the rows
are interleaved round by round so that a change in machine load hits all of them. The
table gives the median over rounds of each row's images/s and of its ratio to PyTorch
fp32 *in the same round* (the ratio is the robust number on a shared machine). Peak
memory is what tracemalloc sees of one step of a fresh network or model after the JIT
warm-up, so buffers a network keeps from step to step are included (numpy buffers are
traced; BLAS and torch internals are not, hence PyTorch's 0).

``--threads N`` runs fxtrain's tile workers, numpy's OpenBLAS (float64 row) and
PyTorch's intra-op pool on N threads (default: every core). One thread each is the comparison that survives a busy
machine: PyTorch's OpenMP threads spin-wait and collapse when the cores are shared.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

# numba's default OpenMP threading layer and PyTorch's own OpenMP runtime in one process
# made PyTorch 10x slower on a busy machine (measured: 700 ms instead of 55 ms per
# step, one thread each); numba's own pool has no such conflict. fxtrain's training path
# does not depend on the layer (its kernels are serial; tiles run on Python threads).
os.environ.setdefault("NUMBA_THREADING_LAYER", "workqueue")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from common import machine_note  # noqa: E402
from fxtrain.models import cnn1x  # noqa: E402
from dataclasses import replace  # noqa: E402

from fxtrain.presets import float64, fpl19, sr16  # noqa: E402


def data(batch: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    return np.floor(rng.random((batch, 3, 32, 32)) * 256) / 256, rng.integers(0, 10, batch)


def best_step(step, steps: int) -> float:
    """Best seconds per step over ``steps`` calls (the caller has warmed ``step`` up)."""
    best = float("inf")
    for _ in range(steps):
        t = time.perf_counter()
        step()
        best = min(best, time.perf_counter() - t)
    return best


def peak_mib(make_step) -> float:
    """Peak traced MiB of the first step of a freshly made step function."""
    step = make_step()
    tracemalloc.start()
    step()
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return peak


def fxtrain_maker(recipe, batch):
    x, y = data(batch)

    def make():
        net = cnn1x(recipe=recipe, seed=0)
        xq = net.quantize_input(x)
        return lambda: net.train_step(xq, y)

    return make


def torch_maker(batch, threads: int, lr=0.01, momentum=0.5):
    import torch
    from torch import nn

    torch.set_num_threads(threads)
    x, y = data(batch)
    xt = torch.tensor(x, dtype=torch.float32)
    t = -torch.ones(batch, 10)
    t[torch.arange(batch), torch.tensor(y)] = 1

    def make():
        layers, c = [], 3
        for i, o in enumerate((16, 16, 32, 32, 64, 64)):
            layers += [nn.Conv2d(c, o, 3, 1, 1, bias=False), nn.ReLU()]
            if i % 2:
                layers.append(nn.MaxPool2d(2))
            c = o
        model = nn.Sequential(*layers, nn.Flatten(), nn.Linear(1024, 10, bias=False))
        opt = torch.optim.SGD(model.parameters(), lr=lr / batch, momentum=momentum)

        def step():
            opt.zero_grad()
            z = model(xt)
            loss = torch.clamp(1 - z * t, min=0).pow(2).sum() / 2
            loss.backward()
            opt.step()

        return step

    return make


def oracle_row(images: int):
    """Seconds per image of the oracle's training step, and a bit-exactness check."""
    import reference.network as ref

    x, y = data(images, seed=1)
    net = cnn1x(recipe=fpl19(batch=images), seed=0)
    xq = net.quantize_input(x)
    desc, params = net.describe(), {k: v.copy() for k, v in net.params.items()}
    t = time.perf_counter()
    out = ref.train_step(desc, params, xq, y)
    secs = time.perf_counter() - t
    net.train_step(xq, y)
    for k, v in net.params.items():
        np.testing.assert_array_equal(v, out["params"][k], err_msg=k)
    return secs / images


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=40)
    ap.add_argument("--steps", type=int, default=5, help="timed steps per row and round (best)")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds (median)")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1,
                    help="fxtrain workers and PyTorch threads (default: every core)")
    ap.add_argument("--oracle-images", type=int, default=1, help="0 skips the oracle")
    ap.add_argument("--widths", default="32,48,64",
                    help="comma-separated accumulator widths for 'fpl19 acc N' rows ('' for none)")
    ap.add_argument("--json", default=None)
    a = ap.parse_args(argv)
    if a.threads < 1:
        ap.error("--threads must be >= 1")
    from fxtrain.ops._threads import RUNNER

    RUNNER.workers = a.threads
    if RUNNER._blas is not None:  # numpy's OpenBLAS, for the float64 row
        RUNNER._blas[1](a.threads)
    x, y = data(a.batch)
    makers = {}
    try:  # first in every round: right after the float64 row, OpenBLAS's idle threads
        # still spinning slowed PyTorch's steps
        makers["pytorch fp32"] = torch_maker(a.batch, a.threads)
    except ImportError:
        print("torch not importable: no PyTorch row", file=sys.stderr)
    makers.update({"fxtrain fpl19": fxtrain_maker(fpl19(batch=a.batch), a.batch),
                   "fxtrain sr16": fxtrain_maker(sr16(batch=a.batch, calib=(x, y)), a.batch)})
    for bits in (int(b) for b in a.widths.split(",") if b.strip()):
        makers[f"fxtrain fpl19 acc {bits}"] = fxtrain_maker(replace(fpl19(batch=a.batch), acc_bits=bits),
                                                            a.batch)
    makers["fxtrain float64"] = fxtrain_maker(float64(fpl19(batch=a.batch)), a.batch)
    steps, peaks = {}, {}
    for name, make in makers.items():
        steps[name] = make()
        steps[name]()  # warm-up: numba compilation / caches
        peaks[name] = peak_mib(make)
    note_before = machine_note()
    ips: dict[str, list[float]] = {name: [] for name in makers}
    ratio: dict[str, list[float]] = {name: [] for name in makers}
    for r in range(a.rounds):
        for name, step in steps.items():
            ips[name].append(a.batch / best_step(step, a.steps))
        ref_ips = ips.get("pytorch fp32", [float("nan")] * (r + 1))[r]
        for name in makers:
            ratio[name].append(ips[name][r] / ref_ips)
        print(f"round {r + 1}: " + ", ".join(f"{n} {ips[n][r]:.0f}" for n in makers) + " img/s",
              file=sys.stderr)
    rows = {name: (statistics.median(ips[name]), statistics.median(ratio[name]), peaks[name])
            for name in makers}
    if a.oracle_images:
        o = 1.0 / oracle_row(a.oracle_images)
        ref_ips = rows.get("pytorch fp32", (float("nan"),))[0]
        rows["oracle (reference/)"] = (o, o / ref_ips, float("nan"))
    oracle_ips = rows.get("oracle (reference/)", (float("nan"),))[0]
    print(f"\ncnn1x training, batch {a.batch}, 3x32x32, {os.cpu_count()} cores, {a.threads} "
          f"thread(s) each; median of {a.rounds} rounds, each the best of {a.steps} steps")
    print(f"before: {note_before}\nafter:  {machine_note()}\n")
    base = "fxtrain fpl19 acc 32"  # the width rows against the 32-bit one, same round
    vs32 = {n: statistics.median(i / b for i, b in zip(ips[n], ips[base])) if base in ips else None
            for n in ips if n.startswith("fxtrain fpl19")}
    print("| implementation | images/s | x PyTorch fp32 | x fpl19 acc 32 | x oracle | peak traced MiB |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for name, (v, rt, mem) in rows.items():
        w = vs32.get(name)
        print(f"| {name} | {v:.1f} | {rt:.2f} | {'' if w is None else f'{w:.2f}'} | "
              f"{v / oracle_ips:.0f} | {mem:.0f} |")
    if a.json:
        Path(a.json).write_text(json.dumps(
            {k: {"images_per_s": v[0], "x_pytorch": v[1], "peak_mib": v[2],
                 "rounds_images_per_s": ips.get(k, [])} for k, v in rows.items()}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
