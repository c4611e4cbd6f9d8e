"""CGaP against its baselines on one epoch budget: the full-width model trained normally,
and train-then-prune (the full model trained, pruned by L1 norm to CGaP's final widths so
both end with equal MACs, then fine-tuned) -- same data, seeds, recipe and epochs."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from .report import compare, model_report
from .runner import CGaPConfig, CGaPRun, _write_json, run_cgap
from .schedule import CGaPSchedule
from .surgery import widths

def baseline_schedules(s: CGaPSchedule, final_widths: dict[str, int]) -> dict[str, CGaPSchedule]:
    """The baselines' schedules derived from CGaP's ``s`` and its final widths."""
    full = CGaPSchedule(seed_width=1.0, max_width=1.0, grow_every=0, prune_epoch=None, prune_ratio=None)
    prune_at = s.prune_epoch if s.prune_epoch is not None else 0
    l1 = CGaPSchedule(seed_width=1.0, max_width=1.0, grow_every=0, prune_epoch=prune_at,
                      prune_ratio=None, prune_widths=dict(final_widths), criterion="l1")
    return {"full": full, "l1-prune": l1}


def training_macs(report: dict, images_per_epoch: int) -> int:
    """MACs spent on training over the whole run (FP + BP + WU per image x images)."""
    return sum(h["macs_train"] for h in report["history"]) * images_per_epoch


def summarize(reports: dict[str, dict], images_per_epoch: int) -> dict:
    """One row per method: final accuracy, params, bytes, MACs, training MACs, and the
    reductions against the full-width model."""
    rows = {}
    base = reports.get("full")
    for name, rep in reports.items():
        fin = rep["phases"]["final"]
        mr = model_report(fin)
        h = rep["history"][-1]
        rows[name] = {"test_accuracy": h["test_accuracy"], "train_accuracy": h["train_accuracy"],
                      "params": mr["total"]["params"], "weight_bytes": mr["total"]["weight_bytes"],
                      "macs_fp": mr["total"]["macs"]["fp"], "macs_train": mr["total"]["macs"]["train"],
                      "training_macs": training_macs(rep, images_per_epoch),
                      "widths": h["widths"]}
        if base is not None:
            rows[name]["vs_full"] = compare(base["phases"]["final"], fin)
            rows[name]["accuracy_delta_points"] = 100 * (h["test_accuracy"] - base["history"][-1]["test_accuracy"])
    return rows


def format_summary(rows: dict) -> str:
    """A markdown table of :func:`summarize`."""
    out = ["| method | test acc (%) | vs full (points) | params | weight KiB | FP MACs/image | "
           "FP MACs vs full | params vs full | training MACs (G) |",
           "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for name, r in rows.items():
        vs = r.get("vs_full", {})
        out.append(f"| {name} | {100 * r['test_accuracy']:.2f} | {r.get('accuracy_delta_points', 0):+.2f} | "
                   f"{r['params']:,} | {r['weight_bytes'] / 1024:.1f} | {r['macs_fp']:,} | "
                   f"{-vs.get('macs_fp', 0):+.1f}% | {-vs.get('params', 0):+.1f}% | "
                   f"{r['training_macs'] / 1e9:.1f} |")
    return "\n".join(out)


def run_with_baselines(cfg: CGaPConfig, out: str | Path, progress: bool = True, log=print,
                       resume: bool = False, force: bool = False) -> dict:
    """CGaP, then both baselines, each in ``out/<method>/``; writes ``out/summary.json``
    and returns ``{"reports": {method: report}, "summary": rows}``."""
    out = Path(out)
    runs: dict[str, CGaPRun] = {}
    if log:
        log("== cgap")
    runs["cgap"] = run_cgap(cfg, out / "cgap", resume=resume and (out / "cgap" / "checkpoint.npz").exists(),
                            progress=progress, log=log, force=force)
    for name, sched in baseline_schedules(cfg.schedule, widths(runs["cgap"].net)).items():
        if log:
            log(f"== {name}")
        c = CGaPConfig(replace(cfg.train), sched)
        d = out / name
        runs[name] = run_cgap(c, d, resume=resume and (d / "checkpoint.npz").exists(), progress=progress,
                              log=log, force=force)
    reports = {k: r.report() for k, r in runs.items()}
    ipe = images_per_epoch(reports["cgap"])
    rows = summarize(reports, ipe)
    _write_json(out / "summary.json", {"config": cfg.to_json(), "images_per_epoch": ipe, "summary": rows})
    return {"reports": reports, "summary": rows}


def images_per_epoch(report: dict) -> int:
    """Training images per epoch of a run: the steps of its first epoch times the batch."""
    h = report["history"]
    return h[0]["step"] * report["config"]["train"]["batch"] if h else 0
