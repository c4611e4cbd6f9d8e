"""CGaP study on the full Fashion-MNIST in 16-bit fixed point (cnn1x, 32x32 padded input).

    python benchmarks/cgap_fashion.py --epochs 5 --out runs/cgap_fashion

Methods, all with the same recipe, seed, data order and epoch budget, each in its own run
folder (an interrupted study resumes with --resume, bit-identically):

- ``cgap``: seed network at --seed-width, grown every --grow-every steps during the first
  --grow-epochs epochs to the full widths, pruned by Taylor saliency at --prune-epoch by
  --prune-ratio, fine-tuned for the remaining epochs;
- ``cgap-l1``: the same schedule pruning by the L1 norm (the second saliency criterion);
- ``full``: the full-width model trained normally;
- ``l1-prune``: train-then-prune: the full model trained until --prune-epoch, pruned by L1
  norm to ``cgap``'s final widths (equal MACs), fine-tuned.

``--only`` runs a subset (two processes can share the work; ``l1-prune`` needs ``cgap``'s
report); ``--table`` only assembles the tables from the run folders. The tables: accuracy,
params, size and MACs against the full model, and the hardware cost model (hwgen.perf:
DRAM access energy and latency of one training batch and of inference) the way the CGaP
paper reports them. Needs Debian's dataset-fashion-mnist (or --data-dir).
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fxtrain.grow.compare import baseline_schedules, format_summary, images_per_epoch, summarize  # noqa: E402
from fxtrain.grow.runner import CGaPConfig, run_cgap  # noqa: E402
from fxtrain.grow.schedule import CGaPSchedule  # noqa: E402
from fxtrain.train.checkpoint import load_checkpoint  # noqa: E402
from fxtrain.train.loop import TrainConfig  # noqa: E402
from hwgen.perf import ArrayConfig, network_cost, reduction_table  # noqa: E402

METHODS = ("cgap", "cgap-l1", "full", "l1-prune")


def _report(out: Path, name: str) -> dict | None:
    p = out / name / "report.json"
    return json.loads(p.read_text()) if p.exists() else None


def _run(cfg: CGaPConfig, out: Path, name: str, resume: bool) -> dict:
    d = out / name
    ck = d / "checkpoint.npz"
    if resume and ck.exists() and load_checkpoint(ck)[1]["epoch"] >= cfg.train.epochs:
        rep = _report(out, name)
        if rep is not None:
            return rep
    print(f"== {name}", flush=True)
    return run_cgap(cfg, d, resume=resume and ck.exists()).report()


def tables(out: Path, reports: dict[str, dict], images_per_epoch: int, batch: int, arr: ArrayConfig) -> str:
    lines = [format_summary(summarize(reports, images_per_epoch)), ""]
    for what, b in (("one training batch (FP + BP + WU)", batch), ("inference of one image (FP)", 1)):
        costs = {}
        for name, rep in reports.items():
            c = network_cost(rep["phases"]["final"], arr, batch=b)
            costs[name] = c
        lines += [f"Hardware cost model, {what}, final networks "
                  f"({arr.pox}x{arr.poy}x{arr.pof} lanes at {arr.clock_mhz:g} MHz, "
                  f"{arr.pj_per_mac:g} pJ/MAC, {arr.pj_per_dram_byte:g} pJ/DRAM byte):", "",
                  reduction_table(costs if b > 1 else {k: _fp_only(v) for k, v in costs.items()}), ""]
    return "\n".join(lines)


def _fp_only(cost: dict) -> dict:
    """The FP phase of a cost as if it were the whole (inference) job."""
    return {**cost, "total": {**cost["total"], "train": cost["total"]["fp"]}}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--recipe", default="sr16")
    ap.add_argument("--lr", type=float, default=0.002)
    ap.add_argument("--batch", type=int, default=40)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data", default="fashion-mnist")
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--limit-train", type=int, default=None)
    ap.add_argument("--limit-test", type=int, default=None)
    ap.add_argument("--seed-width", type=float, default=0.25)
    ap.add_argument("--max-width", type=float, default=1.0)
    ap.add_argument("--grow-every", type=int, default=200)
    ap.add_argument("--grow-rate", type=float, default=0.2)
    ap.add_argument("--grow-epochs", type=int, default=2)
    ap.add_argument("--prune-epoch", type=int, default=3)
    ap.add_argument("--prune-ratio", type=float, default=0.35)
    ap.add_argument("--init", default="random", choices=["random", "copy"], help="new units' weights")
    ap.add_argument("--out", default="runs/cgap_fashion")
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--only", default=None, help=f"comma-separated subset of {','.join(METHODS)}")
    ap.add_argument("--table", action="store_true", help="only print the tables from finished runs")
    a = ap.parse_args(argv)
    out = Path(a.out)
    tc = TrainConfig(model="cnn1x", recipe=a.recipe, dataset=a.data, data_dir=a.data_dir, image_size=32,
                     epochs=a.epochs, batch=a.batch, lr=a.lr, momentum=0.5, seed=a.seed,
                     limit_train=a.limit_train, limit_test=a.limit_test)
    cg = CGaPSchedule(seed_width=a.seed_width, max_width=a.max_width, grow_every=a.grow_every,
                      grow_rate=a.grow_rate, grow_epochs=a.grow_epochs, prune_epoch=a.prune_epoch,
                      prune_ratio=a.prune_ratio, criterion="taylor", init=a.init)
    only = set(a.only.split(",")) if a.only else set(METHODS)
    if only - set(METHODS):
        ap.error(f"unknown methods {sorted(only - set(METHODS))}")
    reports: dict[str, dict] = {}
    if not a.table:
        if "cgap" in only:
            reports["cgap"] = _run(CGaPConfig(tc, cg), out, "cgap", a.resume)
        if "cgap-l1" in only:
            reports["cgap-l1"] = _run(CGaPConfig(tc, replace(cg, criterion="l1")), out, "cgap-l1", a.resume)
        if "full" in only or "l1-prune" in only:
            cg_rep = reports.get("cgap") or _report(out, "cgap")
            fw = cg_rep["history"][-1]["widths"] if cg_rep else None
            base = baseline_schedules(cg, fw or {})
            if "full" in only:
                reports["full"] = _run(CGaPConfig(tc, base["full"]), out, "full", a.resume)
            if "l1-prune" in only:
                if fw is None:
                    ap.error("l1-prune needs the finished cgap run (its final widths)")
                reports["l1-prune"] = _run(CGaPConfig(tc, base["l1-prune"]), out, "l1-prune", a.resume)
    reports = {m: reports.get(m) or _report(out, m) for m in METHODS}
    reports = {m: r for m, r in reports.items() if r is not None}
    if "full" in reports:
        reports = {"full": reports.pop("full"), **reports}
    if not reports:
        print("no finished runs in", out)
        return 1
    ipe = images_per_epoch(next(iter(reports.values())))
    text = tables(out, reports, ipe, a.batch, ArrayConfig())
    print(f"\ncnn1x on {a.data}, {a.recipe}, {a.epochs} epochs, batch {a.batch}, lr {a.lr}, seed {a.seed}; "
          f"CGaP: seed width {a.seed_width}, grow every {a.grow_every} steps by {a.grow_rate} for "
          f"{a.grow_epochs} epochs ({a.init} init), prune {a.prune_ratio} at epoch {a.prune_epoch}\n")
    print(text)
    (out / "tables.md").write_text(text + "\n")
    try:
        from fxtrain.grow.plots import accuracy_vs_macs, widths_over_training

        accuracy_vs_macs(reports, out / "accuracy_vs_macs.png")
        if "cgap" in reports:
            widths_over_training(reports["cgap"], out / "cgap_widths.png")
    except ImportError as exc:
        print(f"(no plots: {exc})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
