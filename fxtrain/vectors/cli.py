"""`fxtrain vectors` (write a golden-vector bundle) and `fxtrain vectors-check` (verify one).

Cyclic bank images are not written here: nothing in fxtrain imports hwgen (DESIGN.md).
Run ``hwgen banks DIR --lanes P`` (or ``python -m hwgen.bundle_banks DIR --lanes P``)
on the finished bundle; docs/vectors.md explains why.
"""
from __future__ import annotations

import argparse
import sys


def _cmd_vectors(args: argparse.Namespace) -> int:
    from .make import make_bundle

    # bad values, an existing --out: one line and exit 2 from fxtrain.cli's shared handler
    out = make_bundle(args.out, model=args.model, recipe=args.recipe, batch=args.batch,
                      groups=args.groups, seed=args.seed, data=args.data, data_dir=args.data_dir,
                      image_size=args.image_size, steps=args.steps, lr=args.lr,
                      momentum=args.momentum, limit_train=args.limit_train, overwrite=args.force)
    _summary(out)
    print("cyclic bank images for P lanes: hwgen banks", out, "--lanes P")
    return 0


def _summary(path) -> None:
    from .bundle import load_bundle

    b = load_bundle(path)
    m = b.manifest
    n_files = 2 * len(m["tensors"])
    size = sum(f["bytes"] for e in m["tensors"] for f in e["files"].values())
    print(f"{path}: {len(m['tensors'])} tensors ({n_files} files, {size / 1e6:.1f} MB), "
          f"{len(m['steps'])} step(s) of {m['model']['name']} under {m['plan']['recipe']}, "
          f"numerics contract {m['contract_version']}")
    for s in m["steps"]:
        ovf = sum(s["overflows"].values())
        print(f"  step {s['step']}: loss {s['loss']:.4f}, {s['correct']} correct, "
              f"{ovf} overflowed elements")


def _cmd_check(args: argparse.Namespace) -> int:
    from .bundle import BundleError

    try:
        _summary(args.bundle)
    except (BundleError, FileNotFoundError) as exc:
        print(f"fxtrain vectors-check: FAIL {exc}", file=sys.stderr)
        return 1
    print("ok: every checksum, shape, dtype and word range verified; .hex equals .npy")
    return 0


def register(sub) -> None:
    from ..nn.models import MODELS
    from ..nn.presets import PRESETS

    v = sub.add_parser("vectors", help="golden vectors of training steps (FP, BP, WU) as a bundle",
                       description="Capture every tensor of the first N training steps (the same "
                                   "steps `fxtrain train` runs with these flags) into a bundle "
                                   "directory of .npy + $readmemh .hex files and manifest.json.")
    v.add_argument("--model", default="cnn1x", choices=sorted(MODELS))
    v.add_argument("--recipe", default="fpl19", choices=sorted(PRESETS),
                   help="sr16 calibrates its fractions on the first batch")
    v.add_argument("--batch", type=int, default=4)
    v.add_argument("--groups", type=int, default=1, help="on-chip batch groups")
    v.add_argument("--seed", type=int, default=0)
    v.add_argument("--data", default="embedded", help="embedded, fashion-mnist, cifar10 or synthetic")
    v.add_argument("--data-dir", default=None)
    v.add_argument("--image-size", type=int, default=32, help="zero-pad images to this side (0: keep)")
    v.add_argument("--lr", type=float, default=0.01)
    v.add_argument("--momentum", type=float, default=0.5)
    v.add_argument("--limit-train", type=int, default=None, help="use the first N training images")
    v.add_argument("--steps", type=int, default=1, help="number of consecutive training steps")
    v.add_argument("--out", required=True, help="bundle directory (written atomically)")
    v.add_argument("--force", action="store_true", help="replace an existing bundle at OUT")
    v.set_defaults(func=_cmd_vectors)

    c = sub.add_parser("vectors-check", help="verify a vector bundle (checksums, shapes, hex == npy)")
    c.add_argument("bundle")
    c.set_defaults(func=_cmd_check)
