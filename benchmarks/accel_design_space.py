"""Design space of the generated training accelerator: the lanes the constraint compiler
chooses for cnn1x/2x/4x (batch 40, 2 groups) under a DSP budget, and the modeled
throughput against the budget.

    python benchmarks/accel_design_space.py [--device stratix10-gx] [--dsp 64,256,1024,4096]
                                            [--plot throughput_vs_dsp.png] [--roofline DIR]

Modeled by hwgen.perf.accel_cycles, which equals Verilator's cycles on every network
simulated (docs/accelerator.md); no RTL is built here. Prints Markdown tables; ``--plot``
also draws the modeled GOPS against the DSP budget, one line per model, under the
budget's peak (2 operations per MAC lane per cycle) and the FPL'19 paper's 479 GOPS.
"""
from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fxtrain.models import MODELS  # noqa: E402
from fxtrain.nn.update import lr_constants  # noqa: E402
from fxtrain.presets import fpl19  # noqa: E402
from hwgen.compiler.build import hardware_params  # noqa: E402
from hwgen.compiler.choose import Budget, choose  # noqa: E402
from hwgen.compiler.phases import roofline_plot  # noqa: E402
from hwgen.compiler.program import assemble  # noqa: E402
from hwgen.compiler.resources import DEVICES  # noqa: E402


def chosen(model: str, budget: Budget, batch: int, groups: int) -> dict:
    net = MODELS[model](recipe=fpl19(batch=batch, groups=groups))
    d = net.describe()
    c = {L.name: lr_constants(net.recipe, net.plan, net.plan[L.name]) for L in net.weighted_layers}
    widest = max(s[-1] for s in net.shapes if len(s) == 3)
    params, rows = choose(d, lambda f: assemble(d, c, f, 1)[0],
                          lambda p, x, y, f: hardware_params(p, x, y, f, net.logits_f),
                          budget, widest)
    return rows[0]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="stratix10-gx", choices=sorted(DEVICES))
    ap.add_argument("--dsp", default="64,256,1024", help="DSP budgets of the sweep")
    ap.add_argument("--models", default="cnn1x,cnn2x,cnn4x")
    ap.add_argument("--batch", type=int, default=40)
    ap.add_argument("--groups", type=int, default=2)
    ap.add_argument("--plot", default=None, help="PNG of GOPS against the DSP budget (needs matplotlib)")
    ap.add_argument("--roofline", default=None,
                    help="folder for one roofline PNG per model, its chosen design at the device budget")
    args = ap.parse_args()
    dev = DEVICES[args.device]
    base = Budget.of(dev)
    print(f"device {dev.name}: {dev.dsp} DSP blocks ({dev.family}), {dev.bram_kbit} Kbit, {dev.mhz:g} MHz, "
          f"{dev.dram_gbps:g} GB/s\nsource: {dev.source}\n")
    print("| model | POX x POY x POF | DW | DSP | block RAMs | cycles per step | images/s | GOPS | "
          "ceiling GOPS | MAC utilization | search s |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for m in args.models.split(","):
        t = time.perf_counter()
        r = chosen(m, base, args.batch, args.groups)
        p, res = r["params"], r["resources"]
        if args.roofline:
            Path(args.roofline).mkdir(parents=True, exist_ok=True)
            roofline_plot(r["layer_phases"], p["POX"] * p["POY"] * p["POF"], base.mhz,
                          Path(args.roofline) / f"accel_roofline_{m}.png",
                          f"{m} on {dev.name}: POX={p['POX']} POY={p['POY']} POF={p['POF']} "
                          f"at {base.mhz:g} MHz")
        print(f"| {m} | {p['POX']} x {p['POY']} x {p['POF']} | {p['DW']} | {res['dsp']} | {res['bram_blocks']} | "
              f"{r['cycles']:,} | {r['images_per_s']:.2f} | {r['gops']:.2f} | {r['ceiling_gops']:.1f} | "
              f"{100 * r['utilization']:.1f}% | "
              f"{time.perf_counter() - t:.1f} |")
    print("\nModeled GOPS against the DSP budget (same device otherwise):\n")
    budgets = [int(v) for v in args.dsp.split(",")]
    print("| model | " + " | ".join(f"{b} DSP" for b in budgets) + " |")
    print("| --- |" + " ---: |" * len(budgets))
    curves = {}
    for m in args.models.split(","):
        cells = []
        for b in budgets:
            r = chosen(m, replace(base, dsp=b), args.batch, args.groups)
            p = r["params"]
            curves.setdefault(m, []).append(r["gops"])
            cells.append(f"{r['gops']:.2f} ({p['POX']}x{p['POY']}x{p['POF']}, DW {p['DW']})")
        print(f"| {m} | " + " | ".join(cells) + " |", flush=True)
    if args.plot:
        plot(curves, budgets, dev, Path(args.plot))
        print(f"\nplot: {args.plot}")


def plot(curves: dict, budgets: list[int], dev, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    macs_per_dsp = 2 if dev.family == "stratix10" else 1
    fig, ax = plt.subplots(figsize=(7, 4.5))
    ax.plot(budgets, [2 * b * macs_per_dsp * dev.mhz / 1e3 for b in budgets], "k--", lw=1,
            label=f"peak: {macs_per_dsp} MAC per DSP block at {dev.mhz:g} MHz")
    ax.axhline(479, color="tab:red", lw=1, label="FPL'19: up to 479 GOPS")
    for m, g in curves.items():
        ax.plot(budgets, g, marker="o", label=f"{m} (modeled, this RTL)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(f"DSP budget (blocks), {dev.name} otherwise")
    ax.set_ylabel("GOPS, one training step (modeled)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    main()
