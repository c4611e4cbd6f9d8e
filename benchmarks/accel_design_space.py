"""Design space of the generated training accelerator: the lanes the constraint compiler
chooses for cnn1x/2x/4x (batch 40, 2 groups) under a DSP budget, and the modeled
throughput against the budget.

    python benchmarks/accel_design_space.py [--device stratix10-gx] [--dsp 64,256,1024,4096]

Modeled by hwgen.perf.accel_cycles, which equals Verilator's cycles on every network
simulated (docs/accelerator.md); no RTL is built here. Prints Markdown tables.
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
    args = ap.parse_args()
    dev = DEVICES[args.device]
    base = Budget.of(dev)
    print(f"device {dev.name}: {dev.dsp} DSP blocks ({dev.family}), {dev.bram_kbit} Kbit, {dev.mhz:g} MHz, "
          f"{dev.dram_gbps:g} GB/s\nsource: {dev.source}\n")
    print("| model | POX x POY x POF | DSP | block RAMs | cycles per step | images/s | GOPS | MAC utilization | search s |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for m in args.models.split(","):
        t = time.perf_counter()
        r = chosen(m, base, args.batch, args.groups)
        p, res = r["params"], r["resources"]
        print(f"| {m} | {p['POX']} x {p['POY']} x {p['POF']} | {res['dsp']} | {res['bram_blocks']} | "
              f"{r['cycles']:,} | {r['images_per_s']:.2f} | {r['gops']:.2f} | {100 * r['utilization']:.1f}% | "
              f"{time.perf_counter() - t:.1f} |")
    print("\nModeled GOPS against the DSP budget (same device otherwise):\n")
    budgets = [int(v) for v in args.dsp.split(",")]
    print("| model | " + " | ".join(f"{b} DSP" for b in budgets) + " |")
    print("| --- |" + " ---: |" * len(budgets))
    for m in args.models.split(","):
        cells = []
        for b in budgets:
            r = chosen(m, replace(base, dsp=b), args.batch, args.groups)
            p = r["params"]
            cells.append(f"{r['gops']:.2f} ({p['POX']}x{p['POY']}x{p['POF']})")
        print(f"| {m} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
