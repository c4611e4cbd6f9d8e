"""Plots of CGaP runs (matplotlib, the optional ``plot`` extra): layer widths over
training, and test accuracy against FP MACs per image for CGaP and its baselines."""
from __future__ import annotations

from pathlib import Path


def _plt():
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError("plots need matplotlib: pip install 'fxtrain[plot]' (or pass --no-plot)") from None
    return plt


def _save(fig, path: Path) -> Path:
    # render to a temp name and rename, so a crash never leaves half a PNG behind
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=110, bbox_inches="tight")
    tmp.replace(path)
    return path


def widths_over_training(report: dict, path: str | Path) -> Path:
    """One line per growable layer: its width after every growth/prune event and epoch."""
    plt = _plt()
    seed = report["phases"]["seed"]
    names = list(report["full_widths"])
    # at equal steps an epoch's record (end of epoch) comes before the events that start
    # the next batch (growth, pruning)
    pts = [(0, 0, _layer_widths(seed, names))]
    for e in report["events"]:
        pts.append((e["step"], 1, [e["widths"][n] for n in names]))
    for h in report["history"]:
        pts.append((h["step"], 0, [h["widths"][n] for n in names]))
    pts.sort(key=lambda p: (p[0], p[1]))
    pts = [(p[0], p[2]) for p in pts]
    fig, ax = plt.subplots(figsize=(7, 4))
    for i, n in enumerate(names):
        # layers of equal width overlap: alternate line styles so each stays visible
        ax.step([p[0] for p in pts], [p[1][i] for p in pts], where="post", label=n,
                ls=("-", "--", ":")[i % 3], lw=3.2 if i % 3 == 0 else 1.6, zorder=1 if i % 3 == 0 else 2)
    for e in report["events"]:
        if e["kind"] in ("peak", "prune"):
            ax.axvline(e["step"], color="grey", ls=":", lw=1)
            ax.text(e["step"], ax.get_ylim()[1] * 0.97, f" {e['kind']}", fontsize=8, va="top")
    ax.set_xlabel("training step")
    ax.set_ylabel("units (filters / neurons)")
    ax.set_title("CGaP: layer widths over training")
    ax.legend(fontsize=8, ncol=2)
    out = _save(fig, Path(path))
    plt.close(fig)
    return out


def _layer_widths(desc: dict, names: list[str]) -> list[int]:
    by = {L["name"]: L for L in desc["layers"]}
    return [by[n].get("out_ch", by[n].get("out_f")) for n in names]


def accuracy_vs_macs(runs: dict[str, dict], path: str | Path) -> Path:
    """Test accuracy against FP MACs per image: every epoch of every run (``runs`` maps a
    label to a CGaP report), the final point of each marked."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 4))
    for label, rep in runs.items():
        h = rep["history"]
        xs = [r["macs_fp"] / 1e6 for r in h]
        ys = [100 * r["test_accuracy"] for r in h]
        line, = ax.plot(xs, ys, marker=".", lw=1, alpha=0.6)
        ax.plot(xs[-1:], ys[-1:], marker="*", ms=14, color=line.get_color(), ls="",
                label=f"{label}: {ys[-1]:.2f}% at {xs[-1]:.2f} M")
    ax.set_xlabel("FP MACs per image (millions)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title("accuracy vs inference cost (each point: one epoch)")
    ax.legend(fontsize=8)
    out = _save(fig, Path(path))
    plt.close(fig)
    return out
