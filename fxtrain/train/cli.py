"""`fxtrain train`, `fxtrain eval` and `fxtrain demo`."""
from __future__ import annotations

import argparse
import json
import time

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
    g = p.add_argument_group("the calibrated recipe (--recipe calibrated)")
    g.add_argument("--word", type=int, default=16, help="data word length, 2..16")
    g.add_argument("--update-rounding", default="stochastic",
                   help="rounding of weight gradients, momentum and updates (e.g. half_even)")
    g.add_argument("--overflow", default="saturate", help="saturate or wrap, every role")
    p.add_argument("--update-overflow", choices=("saturate", "wrap"),
                   help="fixed recipes (fpl19, sr16): overflow of momentum and weight updates "
                        "(default: the recipe's; fpl19 wraps)")


def _config(args):
    from .loop import TrainConfig

    return TrainConfig(model=args.model, recipe=args.recipe, float64=args.float64, dataset=args.data,
                       data_dir=args.data_dir, image_size=args.image_size, epochs=args.epochs,
                       batch=args.batch, groups=args.groups, lr=args.lr, momentum=args.momentum,
                       schedule=args.schedule, seed=args.seed, limit_train=args.limit_train,
                       limit_test=args.limit_test, word=args.word, update_rounding=args.update_rounding,
                       overflow=args.overflow, update_overflow=args.update_overflow)


def _cmd_train(args) -> int:
    from .loop import fit

    run = fit(_config(args), out=args.out, resume=args.resume, force=args.force,
              progress=not args.quiet)
    if run.history:
        print(json.dumps(run.history[-1], indent=1))
    if args.out:
        print(f"checkpoint and history in {args.out}")
    return 0


def _cmd_eval(args) -> int:
    from .restore import evaluate_checkpoint

    r = evaluate_checkpoint(args.checkpoint, data=args.data, data_dir=args.data_dir)
    print(f"{r['checkpoint']}: {r['model']} {r['recipe']} after epoch {r['epoch']}: "
          f"test accuracy {r['accuracy']:.4f}, loss {r['loss']:.4f} on {r['images']} "
          f"{r['dataset']} images")
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
    t.add_argument("--force", action="store_true", help="replace the run already in OUT")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    t.set_defaults(func=_cmd_train)

    e = sub.add_parser("eval", help="evaluate a checkpoint on its test set",
                       description="Rebuild the network from the checkpoint alone (model, plan, "
                                   "parameters) and evaluate it on a test split; the training "
                                   "split is never read.")
    e.add_argument("checkpoint")
    e.add_argument("--data", default=None, help="another dataset than the run's")
    e.add_argument("--data-dir", default=None, help="folder of the test files (default: the run's)")
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
