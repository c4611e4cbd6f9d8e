"""`fxtrain train`, `fxtrain eval` and `fxtrain demo`."""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, fields
from pathlib import Path

from ..nn.models import MODELS
from ..nn.presets import PRESETS


def _add_run_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default="cnn1x", choices=sorted(MODELS))
    p.add_argument("--recipe", default="fpl19", choices=sorted(PRESETS))
    p.add_argument("--float64", action="store_true", help="run the recipe's float64 baseline")
    p.add_argument("--data", default="embedded", help="embedded, fashion-mnist, cifar10 or synthetic")
    p.add_argument("--data-dir", default=None, help="folder of the dataset files")
    p.add_argument("--image-size", type=int, default=32, help="zero-pad images to this side (0: keep)")
    p.add_argument("--batch", type=int, default=40)
    p.add_argument("--groups", type=int, default=1, help="on-chip batch groups")
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--momentum", type=float, default=0.5)
    p.add_argument("--schedule", default="constant", help="constant, cosine or step:EVERY:GAMMA")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--limit-train", type=int, default=None, help="use the first N training images")
    p.add_argument("--limit-test", type=int, default=None, help="use the first N test images")


def _config(args):
    from .loop import TrainConfig

    return TrainConfig(model=args.model, recipe=args.recipe, float64=args.float64, dataset=args.data,
                       data_dir=args.data_dir, image_size=args.image_size, epochs=args.epochs,
                       batch=args.batch, groups=args.groups, lr=args.lr, momentum=args.momentum,
                       schedule=args.schedule, seed=args.seed, limit_train=args.limit_train,
                       limit_test=args.limit_test)


def _cmd_train(args) -> int:
    from .loop import fit

    run = fit(_config(args), out=args.out, resume=args.resume, progress=not args.quiet)
    if run.history:
        print(json.dumps(run.history[-1], indent=1))
    if args.out:
        print(f"checkpoint and history in {args.out}")
    return 0


def _cmd_eval(args) -> int:
    from .checkpoint import load_checkpoint
    from .loop import TrainConfig, build_network, evaluate, load_data, prepare

    arrays, meta = load_checkpoint(args.checkpoint)
    cfg = TrainConfig(**meta["config"])
    if args.data:
        cfg.dataset, cfg.data_dir = args.data, args.data_dir
    train, test = load_data(cfg)
    net = build_network(cfg, train)
    net.load_state_dict(arrays)
    ev = evaluate(net, prepare(test, cfg.image_size), test.y)
    print(f"{args.checkpoint}: {cfg.model} {cfg.recipe} after epoch {meta['epoch']}: "
          f"test accuracy {ev['accuracy']:.4f}, loss {ev['loss']:.4f} on {len(test)} images")
    return 0


def _cmd_demo(args) -> int:
    from .loop import TrainConfig, fit

    rows = []
    for recipe, f64 in ((args.recipe, False), (args.recipe, True)):
        cfg = TrainConfig(model=args.model, recipe=recipe, float64=f64, dataset="embedded",
                          epochs=args.epochs, batch=40, lr=args.lr, momentum=0.5, seed=args.seed,
                          limit_train=args.limit_train, limit_test=args.limit_test,
                          image_size=32 if args.model.startswith("cnn") else 28)
        name = "float64" if f64 else f"{recipe} (16-bit fixed point)"
        print(f"\n== {name}: {cfg.model}, {cfg.limit_train} embedded Fashion-MNIST images x {cfg.epochs} epochs")
        t = time.perf_counter()
        run = fit(cfg, progress=not args.quiet)
        h = run.history[-1]
        ovf = sum(sum(r["overflows"].values()) for r in run.history)
        rows.append((name, h["train_accuracy"], h["test_accuracy"], h["images_per_s"], ovf,
                     time.perf_counter() - t))
    print("\n| run | train acc | test acc | train img/s | overflowed elements | seconds |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        print(f"| {r[0]} | {r[1]:.3f} | {r[2]:.3f} | {r[3]:.0f} | {r[4]} | {r[5]:.0f} |")
    gap = (rows[1][2] - rows[0][2]) * 100
    print(f"\nfixed point vs float64 test accuracy: {gap:+.1f} points in favour of float64"
          if gap >= 0 else f"\nfixed point beats float64 by {-gap:.1f} points on this short run")
    return 0


def register(sub) -> None:
    t = sub.add_parser("train", help="train a model (fixed point or float64) with checkpoints")
    _add_run_args(t)
    t.add_argument("--epochs", type=int, default=1)
    t.add_argument("--out", default=None, help="run folder: checkpoint.npz/.json, history.json")
    t.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.npz")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    t.set_defaults(func=_cmd_train)

    e = sub.add_parser("eval", help="evaluate a checkpoint on its test set")
    e.add_argument("checkpoint")
    e.add_argument("--data", default=None)
    e.add_argument("--data-dir", default=None)
    e.set_defaults(func=_cmd_eval)

    d = sub.add_parser("demo", help="16-bit fixed point vs float64 side by side on the embedded data")
    d.add_argument("--model", default="cnn1x", choices=sorted(MODELS))
    d.add_argument("--recipe", default="sr16", choices=sorted(PRESETS))
    d.add_argument("--epochs", type=int, default=1)
    d.add_argument("--lr", type=float, default=0.01)
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--limit-train", type=int, default=2000)
    d.add_argument("--limit-test", type=int, default=1000)
    d.add_argument("--quiet", action="store_true")
    d.set_defaults(func=_cmd_demo)
