#!/usr/bin/env python3
"""Build fxtrain/data/fashion_mnist_subset.npz from Debian's dataset-fashion-mnist files.

    apt-get install dataset-fashion-mnist
    python scripts/build_embedded_dataset.py            # rebuild in place
    python scripts/build_embedded_dataset.py --check    # rebuild in memory, compare, write nothing

Selection and file format: fxtrain/data/subset.py. The output is deterministic and
written atomically; the script prints the file's sha256 and the content digest that
fxtrain.data.embedded.EMBEDDED_CONTENT_SHA256 must hold.
"""
from __future__ import annotations

import argparse
import hashlib
import sys
import zlib
from pathlib import Path

import numpy as np

from fxtrain.data import embedded
from fxtrain.data.subset import (
    BUILT_FILE_SHA256,
    SUBSET_SEED,
    TEST_PER_CLASS,
    TRAIN_PER_CLASS,
    build_subset_arrays,
    npz_bytes,
    write_atomic,
)

MAX_BYTES = 3 * 10**6
DEFAULT_OUT = Path(__file__).resolve().parent.parent / "fxtrain" / "data" / embedded.EMBEDDED_FILENAME


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--src", default=None, help="folder with the Fashion-MNIST IDX files "
                    "(default: /usr/share/datasets/fashion-mnist)")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"output npz (default: {DEFAULT_OUT})")
    ap.add_argument("--seed", type=int, default=SUBSET_SEED)
    ap.add_argument("--train-per-class", type=int, default=TRAIN_PER_CLASS)
    ap.add_argument("--test-per-class", type=int, default=TEST_PER_CLASS)
    ap.add_argument("--check", action="store_true", help="compare with --out instead of writing it")
    args = ap.parse_args(argv)

    arrays = build_subset_arrays(args.src, args.seed, args.train_per_class, args.test_per_class)
    data = npz_bytes(arrays)
    digest = embedded.content_digest(arrays)
    print(f"content sha256: {digest}")
    print(f"file sha256:    {hashlib.sha256(data).hexdigest()}  ({len(data)} bytes)")
    if len(data) > MAX_BYTES:
        print(f"error: {len(data)} bytes exceeds the {MAX_BYTES}-byte budget", file=sys.stderr)
        return 1
    if args.check:
        with np.load(args.out, allow_pickle=False) as npz:
            old = {k: npz[k] for k in npz.files}
        same = embedded.content_digest(old) == digest
        print(f"{args.out}: arrays {'identical' if same else 'DIFFER'}; bytes "
              f"{'identical' if args.out.read_bytes() == data else 'differ'}")
        return 0 if same else 1
    write_atomic(args.out, data)
    print(f"wrote {args.out}")
    if digest != embedded.EMBEDDED_CONTENT_SHA256:
        print("note: update EMBEDDED_CONTENT_SHA256 in fxtrain/data/embedded.py to the content sha256 above")
    if hashlib.sha256(data).hexdigest() != BUILT_FILE_SHA256:
        print(f"note: update BUILT_FILE_SHA256 / BUILT_WITH_ZLIB (now {zlib.ZLIB_RUNTIME_VERSION}) "
              "in fxtrain/data/subset.py")
    return 0


if __name__ == "__main__":
    sys.exit(main())
