"""`fxtrain sweep SPEC --out STORE` and `fxtrain sweep-report STORE`."""
from __future__ import annotations

import argparse
import json


def _cmd_sweep(args: argparse.Namespace) -> int:
    from .run import run_sweep
    from .spec import load_spec

    if args.workers is not None and args.scheduler:
        raise ValueError("give --workers (a local cluster) or --scheduler (an existing one), not both")
    if args.workers is not None and args.workers < 1:
        raise ValueError(f"--workers must be at least 1, got {args.workers}")
    spec = load_spec(args.spec)
    summary = run_sweep(spec, args.out, workers=args.workers, scheduler=args.scheduler,
                        progress=not args.quiet)
    print(json.dumps(summary))
    return 0 if not summary["failed"] else 1


def _cmd_report(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .report import markdown, plots, write_csv
    from .store import Store

    if not (Path(args.store) / "results.sqlite").is_file():
        raise FileNotFoundError(f"{args.store} is not a sweep store (no results.sqlite)")
    store = Store(args.store)
    try:
        rows = store.rows()
        print(markdown(rows))
        if args.csv:
            print(f"\ncsv: {write_csv(rows, args.csv)}")
        if args.plots:
            print("plots: " + ", ".join(str(p) for p in plots(store, rows, args.plots)))
    finally:
        store.close()
    return 0


def register(sub) -> None:
    s = sub.add_parser("sweep", help="run a grid of training runs (TOML spec) on dask",
                       description="Run every cell of SPEC (docs/sweeps.md) into the store STORE on a "
                                   "local dask cluster or an existing scheduler; finished cells are "
                                   "skipped, interrupted ones resume. The last line is a JSON summary.")
    s.add_argument("spec")
    s.add_argument("--out", required=True, help="the store directory (results.sqlite, cells/)")
    s.add_argument("--workers", type=int, default=None, help="local worker processes (default: cores)")
    s.add_argument("--scheduler", default=None, help="tcp://HOST:PORT of an existing dask scheduler")
    s.add_argument("--quiet", action="store_true", help="no progress lines")
    s.set_defaults(func=_cmd_sweep)
    r = sub.add_parser("sweep-report", help="tables, CSV and plots of a sweep store")
    r.add_argument("store")
    r.add_argument("--csv", default=None)
    r.add_argument("--plots", default=None, help="folder for the plots (needs matplotlib)")
    r.set_defaults(func=_cmd_report)
