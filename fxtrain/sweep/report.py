"""``fxtrain sweep-report``: a sweep store as a Markdown table, a CSV and plots.

The table and the CSV have one row per cell. The columns are the grid axes by name (the
cell's own value, also for ``[[cells]]`` rows), then recipe, status, epochs, the final
test and train accuracy, the overflow count of the last epoch and the wall time. Plots
(the ``plot`` extra) show the final test accuracy against word length, one line per
update rounding with a band over seeds; the overflowed (saturated or wrapped) elements per
training image and epoch against word length; and the test accuracy per epoch of every
cell.
"""
from __future__ import annotations

import csv
import os
from pathlib import Path

from .spec import FAMILY_KEYS, KEYS
from .store import Store

_INV = {v: k for k, v in KEYS.items()}


def _axes(rows: list[dict]) -> list[str]:
    """The grid axes by name, then any other setting that differs between cells (an
    ``[[cells]]`` entry's lr, float64, ...)."""
    names: list[str] = []
    for r in rows:
        for k in r["axes"]:
            if k not in names:
                names.append(k)
    for k, field_name in KEYS.items():
        if k in names or k in ("recipe", "data_dir"):
            continue
        if len({repr(r["config"].get(field_name)) for r in rows}) > 1:
            names.append(k)
    return names


def _value(r: dict, axis: str):
    fixed_recipe = r["config"]["recipe"] != "calibrated" or r["config"].get("float64")
    if axis in FAMILY_KEYS and fixed_recipe:
        return None  # fixed recipes and float64 have no word length or update rounding
    if axis in r["axes"]:
        return r["axes"][axis]
    return r["config"].get(KEYS.get(axis, axis))


def family_rows(rows: list[dict]) -> list[dict]:
    """The calibrated family's finished fixed-point cells: what the word-length plots draw
    (float64 cells, also recipe "calibrated", are the reference line, not a member)."""
    return [r for r in rows if r["config"]["recipe"] == "calibrated" and not r["config"].get("float64")
            and r["test_accuracy"] is not None]


def table_rows(rows: list[dict]) -> tuple[list[str], list[list]]:
    axes = _axes(rows)
    head = axes + ["recipe", "status", "epochs", "test_accuracy", "train_accuracy", "overflows",
                   "zero_update_fraction", "wall_seconds", "key"]
    out = []
    for r in rows:
        out.append([_value(r, a) for a in axes] + [
            r["config"]["recipe"] + ("-float64" if r["config"].get("float64") else ""), r["status"],
            r["epoch"], r["test_accuracy"], r["train_accuracy"], r["overflows"],
            r.get("zero_update_fraction"), r["wall_seconds"], r["key"]])
    return head, out


def markdown(rows: list[dict]) -> str:
    """The table: accuracies in percent, wall time in seconds."""
    head, body = table_rows(rows)

    def fmt(col: str, v) -> str:
        if v is None:
            return ""
        if col.endswith("_accuracy"):
            return f"{100 * v:.2f}"
        if col == "wall_seconds":
            return f"{v:.0f}"
        if col == "zero_update_fraction":
            return f"{100 * v:.1f}%"
        return str(v)
    cols = head[:-1]
    lines = ["| " + " | ".join(h.replace("_accuracy", " acc %").replace("wall_seconds", "seconds")
                               for h in cols) + " |",
             "| " + " | ".join("---" for _ in cols) + " |"]
    lines += ["| " + " | ".join(fmt(c, v) for c, v in zip(cols, row)) + " |" for row in body]
    return "\n".join(lines)


def write_csv(rows: list[dict], path: str | os.PathLike) -> Path:
    head, body = table_rows(rows)
    p = Path(path)
    with open(p, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(head)
        w.writerows(body)
    return p


def plots(store: Store, rows: list[dict], out: str | os.PathLike) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    made = []
    fam = family_rows(rows)
    if fam:
        fig, ax = plt.subplots(figsize=(6, 4))
        for mode in sorted({r["config"]["update_rounding"] for r in fam}):
            words = sorted({r["config"]["word"] for r in fam if r["config"]["update_rounding"] == mode})
            acc = [[100 * r["test_accuracy"] for r in fam if r["config"]["update_rounding"] == mode
                    and r["config"]["word"] == w] for w in words]
            mean = np.array([np.mean(a) for a in acc])
            lo, hi = np.array([min(a) for a in acc]), np.array([max(a) for a in acc])
            ax.plot(words, mean, marker="o", label=f"{mode} updates")
            ax.fill_between(words, lo, hi, alpha=0.2)
        for r in rows:
            if r["config"].get("float64") and r["test_accuracy"] is not None:
                ax.axhline(100 * r["test_accuracy"], color="k", ls="--", lw=1)
        ax.legend()
        made.append(_save(plt, fig, ax, out / "accuracy_vs_word.png", "word length (bits)",
                          "final test accuracy (%)"))
        # overflowed (saturated or wrapped) elements per training image, summed over epochs
        fig, ax = plt.subplots(figsize=(6, 4))
        top = 0.0
        for mode in sorted({r["config"]["update_rounding"] for r in fam}):
            sel = [r for r in fam if r["config"]["update_rounding"] == mode]
            words = sorted({r["config"]["word"] for r in sel})
            rate = []
            for w in words:
                per = [sum(e["overflows"] for e in store.epochs(r["key"])) /
                       max(1, len(store.epochs(r["key"])) * (r["config"]["limit_train"] or 1))
                       for r in sel if r["config"]["word"] == w]
                rate.append(float(np.mean(per)))
            ax.plot(words, rate, marker="o", label=f"{mode} updates")
            top = max(top, *rate)
        if top > 0:
            ax.set_yscale("symlog", linthresh=1e-3)
        ax.set_ylim(bottom=0)
        ax.legend()
        made.append(_save(plt, fig, ax, out / "overflows_vs_word.png", "word length (bits)",
                          "overflows per image and epoch"))
        # updates rounded to zero: share of weight words a step left unchanged in the final
        # epoch, as in the table (stores from before the column have none), mean over seeds
        fig, ax = plt.subplots(figsize=(6, 4))
        for mode in sorted({r["config"]["update_rounding"] for r in fam}):
            sel = [r for r in fam if r["config"]["update_rounding"] == mode
                   and r.get("zero_update_fraction") is not None]
            words = sorted({r["config"]["word"] for r in sel})
            rate = [100 * float(np.mean([r["zero_update_fraction"] for r in sel if r["config"]["word"] == w]))
                    for w in words]
            if words:
                ax.plot(words, rate, marker="o", label=f"{mode} updates")
        ax.set_ylim(0, 100)
        ax.legend()
        made.append(_save(plt, fig, ax, out / "zero_updates_vs_word.png", "word length (bits)",
                          "weight words a step left unchanged (%)"))
    fig, ax = plt.subplots(figsize=(6, 4))
    for r in rows:
        ep = store.epochs(r["key"])
        if ep:
            ax.plot([e["epoch"] for e in ep], [100 * e["test_accuracy"] for e in ep], lw=1, alpha=0.7)
    made.append(_save(plt, fig, ax, out / "accuracy_per_epoch.png", "epoch", "test accuracy (%)"))
    return made


def _save(plt, fig, ax, path: Path, xlabel: str, ylabel: str) -> Path:
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
