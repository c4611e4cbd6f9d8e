"""`fxtrain` command line: one subcommand per job; each module registers its own."""
from __future__ import annotations

import argparse
import os
import sys

from . import __version__


def _cmd_numerics_demo(args: argparse.Namespace) -> int:
    import numpy as np

    from .numerics import ROUNDING_MODES, QFormat, requantize, sr_key

    fmt = QFormat(8, 0)
    x = np.array([5, -5, 7, -7, 6, 300, -300], dtype=np.int64)
    key = sr_key(args.seed, 0, 0, "activation")
    print(f"requantize {x.tolist()} from 1 fraction bit to {fmt} (x/2, then saturate):")
    for mode in ROUNDING_MODES:
        y, n = requantize(x, 1, fmt, mode, key=key, stats=True)
        print(f"  {mode:<10} {y.tolist()}  overflowed={n}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="fxtrain",
        description="Bit-exact 16-bit fixed-point CNN training engine and golden reference.",
    )
    p.add_argument("--version", action="version", version=f"fxtrain {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    d = sub.add_parser("numerics-demo", help="show every rounding mode on a few ties")
    d.add_argument("--seed", type=int, default=0)
    d.set_defaults(func=_cmd_numerics_demo)
    for register in _registrars():
        register(sub)
    return p


def _registrars():
    """Subcommand modules; each exposes register(subparsers). Imported lazily so that
    `fxtrain --help` stays fast and a broken optional part names itself."""
    import importlib

    for name in ("fxtrain.train.cli", "fxtrain.vectors.cli", "fxtrain.grow.cli", "fxtrain.sweep.cli"):
        try:
            mod = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                continue
            raise
        yield mod.register


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except USER_ERRORS as exc:
        if os.environ.get("FXTRAIN_DEBUG"):
            raise
        print(f"fxtrain {args.command}: error: {one_line(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"fxtrain {args.command}: interrupted (a run continues from its last checkpoint "
              "with --resume)", file=sys.stderr)
        return 130


#: what a user's input can cause (bad values, files, folders); anything else is a bug and
#: keeps its traceback. FXTRAIN_DEBUG=1 shows the traceback of these too.
USER_ERRORS = (ValueError, OSError)


def one_line(exc: BaseException) -> str:
    """The message of ``exc`` on one line (multi-line numpy/numba texts are joined)."""
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


if __name__ == "__main__":
    sys.exit(main())
