"""`fxtrain cgap`: a continuous growth-and-pruning run, with optional baselines and plots."""
from __future__ import annotations

import argparse
import json
from pathlib import Path


def _schedule(args):
    from .schedule import CGaPSchedule

    prune_epoch = None if args.prune_epoch < 0 else args.prune_epoch
    return CGaPSchedule(
        seed_width=args.seed_width, max_width=args.max_width, grow_every=args.grow_every,
        grow_rate=args.grow_rate, grow_epochs=args.grow_epochs, plateau_patience=args.plateau_patience,
        plateau_delta=args.plateau_delta, prune_epoch=prune_epoch,
        prune_ratio=args.prune_ratio if prune_epoch is not None else None,
        criterion=args.criterion, init=args.init, init_scale=args.init_scale)


def _cmd_cgap(args: argparse.Namespace) -> int:
    from ..train.cli import _config
    from .compare import format_summary, run_with_baselines
    from .report import format_report
    from .runner import CGaPConfig, run_cgap

    cfg = CGaPConfig(_config(args), _schedule(args))  # bad values: fxtrain.cli prints one line
    out = Path(args.out)
    if args.baselines:
        res = run_with_baselines(cfg, out, progress=not args.quiet, resume=args.resume,
                                 force=args.force)
        reports = res["reports"]
        cgap = reports["cgap"]
    else:
        run = run_cgap(cfg, out, resume=args.resume, progress=not args.quiet, force=args.force)
        cgap = run.report()
        reports = {"cgap": cgap}
    report_path = out / "cgap" / "report.json" if args.baselines else out / "report.json"
    print()
    for phase in ("seed", "peak", "pruned", "final"):
        if phase in cgap["phase_reports"]:
            print(f"-- {phase}")
            print(format_report(cgap["phase_reports"][phase]))
    if args.baselines:
        print("\n" + format_summary(res["summary"]))
    if not args.no_plot:
        from .plots import accuracy_vs_macs, widths_over_training

        p1 = widths_over_training(cgap, out / "widths.png")
        p2 = accuracy_vs_macs(reports, out / "accuracy_vs_macs.png")
        print(f"plots: {p1}, {p2}")
    print(f"report: {report_path}" + (f", summary: {out / 'summary.json'}" if args.baselines else ""))
    print("hardware cost per phase: hwgen perf --describe", report_path)
    if args.json:
        print(json.dumps(cgap["final"], indent=1))
    return 0


def register(sub) -> None:
    from ..train.cli import _add_run_args

    c = sub.add_parser("cgap", help="continuous growth and pruning (CGaP) in fixed point",
                       description="Train from a small seed network, grow every layer during the first "
                                   "epochs, prune the least salient units, fine-tune. See docs/cgap.md.")
    _add_run_args(c)
    # sr16: fpl19's fixed formats diverge on growing networks at useful learning rates
    c.set_defaults(recipe="sr16")
    c.add_argument("--epochs", type=int, default=5, help="epoch budget of the whole run")
    g = c.add_argument_group("schedule")
    g.add_argument("--seed-width", type=float, default=0.25, help="seed widths as a fraction of the full model")
    g.add_argument("--max-width", type=float, default=1.0, help="width cap as a fraction of the full model")
    g.add_argument("--grow-every", type=int, default=25, help="steps between growth events (0: no growth)")
    g.add_argument("--grow-rate", type=float, default=0.25, help="each event adds ceil(rate * width) units")
    g.add_argument("--grow-epochs", type=int, default=2, help="growth stops after this many epochs")
    g.add_argument("--plateau-patience", type=int, default=0,
                   help="stop growing after N epochs without training-loss improvement (0: off)")
    g.add_argument("--plateau-delta", type=float, default=0.01, help="relative improvement that counts")
    g.add_argument("--prune-epoch", type=int, default=3, help="prune at the start of this epoch (-1: never)")
    g.add_argument("--prune-ratio", type=float, default=0.35, help="fraction of each layer's units removed")
    g.add_argument("--criterion", default="taylor", choices=["taylor", "l1"], help="saliency for pruning")
    g.add_argument("--init", default="random", choices=["random", "copy"], help="new units' weights")
    g.add_argument("--init-scale", type=float, default=1.0, help="scale of the He-uniform bound for new units")
    c.add_argument("--baselines", action="store_true",
                   help="also train the full-width model and L1 train-then-prune at CGaP's final widths")
    c.add_argument("--out", default="runs/cgap", help="run folder (checkpoints, report.json, plots)")
    c.add_argument("--resume", action="store_true", help="continue from the checkpoints in OUT")
    c.add_argument("--force", action="store_true", help="replace the runs already in OUT")
    c.add_argument("--no-plot", action="store_true", help="skip the matplotlib plots")
    c.add_argument("--json", action="store_true", help="print the final epoch's record as JSON")
    c.add_argument("--quiet", action="store_true", help="no progress bar")
    c.set_defaults(func=_cmd_cgap)
