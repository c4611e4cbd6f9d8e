"""Fixed point vs float64 accuracy on the full Fashion-MNIST (cnn1x, 32x32 padded input).

    python benchmarks/accuracy_fashion.py --epochs 5 --out runs/accuracy_fashion

Trains float64, sr16 and fpl19 with the same seed, data order, init and epochs, each
in its own run folder (so an interrupted study resumes with --resume, bit-identically),
then prints a markdown table of test accuracy per epoch and the gap to float64.
Needs Debian's dataset-fashion-mnist (or --data-dir).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fxtrain.train.checkpoint import load_checkpoint  # noqa: E402
from fxtrain.train.loop import TrainConfig, fit  # noqa: E402

RUNS = (("float64", "fpl19", True), ("sr16", "sr16", False), ("fpl19", "fpl19", False))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--lr", type=float, default=0.01)
    ap.add_argument("--batch", type=int, default=40)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--limit-train", type=int, default=None)
    ap.add_argument("--out", default="runs/accuracy_fashion")
    ap.add_argument("--resume", action="store_true", help="continue runs that have a checkpoint")
    ap.add_argument("--only", default=None, help="comma-separated subset of float64,sr16,fpl19")
    a = ap.parse_args(argv)
    hist = {}
    for name, recipe, f64 in RUNS:
        if a.only and name not in a.only.split(","):
            continue
        cfg = TrainConfig(model="cnn1x", recipe=recipe, float64=f64, dataset="fashion-mnist",
                          data_dir=a.data_dir, image_size=32, epochs=a.epochs, batch=a.batch, lr=a.lr,
                          seed=a.seed, limit_train=a.limit_train)
        out = Path(a.out) / name
        resume = a.resume and (out / "checkpoint.npz").exists()
        if resume:
            meta = load_checkpoint(out / "checkpoint.npz")[1]
            if meta["epoch"] >= a.epochs:
                hist[name] = meta["history"][: a.epochs]
                continue
        print(f"== {name}", flush=True)
        hist[name] = fit(cfg, out=out, resume=resume).history
    base = hist.get("float64")
    print(f"\ncnn1x on Fashion-MNIST (60k train, 10k test, 32x32), batch {a.batch}, lr {a.lr}, "
          f"momentum 0.5, seed {a.seed}\n")
    print("| recipe | " + " | ".join(f"epoch {e + 1}" for e in range(a.epochs)) + " | gap to float64 | img/s |")
    print("| --- |" + " ---: |" * (a.epochs + 2))
    for name, h in hist.items():
        accs = [f"{r['test_accuracy'] * 100:.2f}" for r in h]
        gap = (base[-1]["test_accuracy"] - h[-1]["test_accuracy"]) * 100 if base else float("nan")
        ips = sum(r["images_per_s"] for r in h) / len(h)
        print(f"| {name} | " + " | ".join(accs) + f" | {gap:+.2f} | {ips:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
