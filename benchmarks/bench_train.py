"""Training throughput of cnn1x (batch 40, 3x32x32), side by side in one run.

    python benchmarks/bench_train.py [--steps 5] [--oracle-images 1] [--json out.json]

Rows: fxtrain fpl19 and sr16 (bit-exact 16-bit fixed point), fxtrain float64 (same
network unquantized), PyTorch fp32 (same architecture, squared hinge, SGD with momentum;
only when torch is importable) and the plain-Python oracle (reference/, on a few
images, checked bit for bit against the engine on the same step). Every row reports
training images/s, its ratio to PyTorch fp32 and to the oracle, and peak traced memory
of one step (tracemalloc: numpy buffers included, BLAS/torch internals not).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fxtrain.models import cnn1x  # noqa: E402
from fxtrain.presets import float64, fpl19, sr16  # noqa: E402


def data(batch: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    return np.floor(rng.random((batch, 3, 32, 32)) * 256) / 256, rng.integers(0, 10, batch)


def time_steps(step, steps: int) -> tuple[float, float]:
    """(best seconds per step over ``steps`` runs after one warm-up, peak MiB of one step)."""
    step()  # warm-up: numba compilation / caches
    tracemalloc.start()
    step()
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    best = float("inf")
    for _ in range(steps):
        t = time.perf_counter()
        step()
        best = min(best, time.perf_counter() - t)
    return best, peak


def fxtrain_row(recipe, batch, steps):
    x, y = data(batch)
    net = cnn1x(recipe=recipe, seed=0)
    xq = net.quantize_input(x)
    return time_steps(lambda: net.train_step(xq, y), steps)


def torch_row(batch, steps, lr=0.01, momentum=0.5):
    import torch
    from torch import nn

    torch.set_num_threads(os.cpu_count() or 1)
    layers, c = [], 3
    for i, o in enumerate((16, 16, 32, 32, 64, 64)):
        layers += [nn.Conv2d(c, o, 3, 1, 1, bias=False), nn.ReLU()]
        if i % 2:
            layers.append(nn.MaxPool2d(2))
        c = o
    model = nn.Sequential(*layers, nn.Flatten(), nn.Linear(1024, 10, bias=False))
    opt = torch.optim.SGD(model.parameters(), lr=lr / batch, momentum=momentum)
    x, y = data(batch)
    xt = torch.tensor(x, dtype=torch.float32)
    t = -torch.ones(batch, 10)
    t[torch.arange(batch), torch.tensor(y)] = 1

    def step():
        opt.zero_grad()
        z = model(xt)
        loss = torch.clamp(1 - z * t, min=0).pow(2).sum() / 2
        loss.backward()
        opt.step()

    return time_steps(step, steps)


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
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--oracle-images", type=int, default=1, help="0 skips the oracle")
    ap.add_argument("--json", default=None)
    a = ap.parse_args(argv)
    x, y = data(a.batch)
    rows = {}
    for name, recipe in (("fxtrain fpl19", fpl19(batch=a.batch)),
                         ("fxtrain sr16", sr16(batch=a.batch, calib=(x, y))),
                         ("fxtrain float64", float64(fpl19(batch=a.batch)))):
        s, mem = fxtrain_row(recipe, a.batch, a.steps)
        rows[name] = (a.batch / s, mem)
        print(f"{name}: {a.batch / s:.0f} img/s", file=sys.stderr)
    try:
        s, mem = torch_row(a.batch, a.steps)
        rows["pytorch fp32"] = (a.batch / s, mem)
    except ImportError:
        print("torch not importable: no PyTorch row", file=sys.stderr)
    if a.oracle_images:
        rows["oracle (reference/)"] = (1.0 / oracle_row(a.oracle_images), float("nan"))
    torch_ips = rows.get("pytorch fp32", (float("nan"),))[0]
    oracle_ips = rows.get("oracle (reference/)", (float("nan"),))[0]
    print(f"\ncnn1x training, batch {a.batch}, 3x32x32, {os.cpu_count()} cores, best of {a.steps} steps\n")
    print("| implementation | images/s | x PyTorch fp32 | x oracle | peak traced MiB |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, (ips, mem) in rows.items():
        print(f"| {name} | {ips:.1f} | {ips / torch_ips:.2f} | {ips / oracle_ips:.0f} | {mem:.0f} |")
    if a.json:
        Path(a.json).write_text(json.dumps({k: {"images_per_s": v[0], "peak_mib": v[1]}
                                            for k, v in rows.items()}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
