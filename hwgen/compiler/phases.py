"""Per layer-phase figures of a compiled accelerator, and their roofline plot.

From :func:`hwgen.accel_perf.accel_cycles`'s ``phases`` (cycles, the cycles the lanes
multiply, useful MACs and DRAM words of each ``layer.phase``) at a clock:

- ``utilization``: useful MACs / (lanes x cycles);
- ``bound``: what the phase spends more of its cycles on, the lanes multiplying
  (``compute``) or the DRAM port taking requests (``DRAM``; one request per cycle, a word
  or a line of DW words; a MAC phase's drain writes overlap its beats, its loads do
  not); vector phases (ReLU, pooling, loss, update) are ``DRAM``: they stream one
  request per cycle; ``-`` for a phase that does neither (the final HALT);
- ``intensity``: operations (2 per MAC) per DRAM byte, the roofline's x axis;
- ``energy_j``: useful MACs x pJ/MAC + DRAM bytes x pJ/byte (hwgen.perf's constants).
"""
from __future__ import annotations

from pathlib import Path


def layer_phase_rows(phases: dict, lanes: int, mhz: float, pj_per_mac: float,
                     pj_per_dram_byte: float) -> list[dict]:
    """One row per layer-phase, in program order (see the module docstring)."""
    rows = []
    for key, p in phases.items():
        cycles = int(p["cycles"])
        secs = cycles / (mhz * 1e6)
        nbytes = 2 * int(p["dram_words"])
        macs = int(p["macs"])
        rows.append({
            "phase": key, "cycles": cycles, "latency_s": secs, "macs": macs,
            "gops": 2 * macs / secs / 1e9 if cycles else 0.0,
            "utilization": macs / (lanes * cycles) if cycles else 0.0,
            "dram_bytes": nbytes, "intensity": 2 * macs / nbytes if nbytes else 0.0,
            "bound": ("compute" if macs and int(p["mac_cycles"]) >= int(p.get("dram_requests", p["dram_words"])) else
                      "DRAM" if int(p["dram_words"]) else "-"),
            "compute_share": int(p["mac_cycles"]) / cycles if cycles else 0.0,
            "dram_share": int(p["dram_words"]) / cycles if cycles else 0.0,
            "energy_j": (macs * pj_per_mac + nbytes * pj_per_dram_byte) * 1e-12,
        })
    return rows


def roofline_plot(rows: list[dict], lanes: int, mhz: float, path: Path, title: str) -> bool:
    """Write the roofline of the MAC layer-phases to ``path`` (PNG): GOPS against
    operations per DRAM byte, under the peak 2 x lanes x clock and the port's 2 bytes
    per cycle. False when matplotlib (the ``plot`` extra) is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        import matplotlib.ticker
    except ImportError:
        return False
    peak = 2 * lanes * mhz / 1e3  # GOPS
    bw = 2 * mhz * 1e6 / 1e9  # GB/s: one 16-bit word per cycle
    pts = [r for r in rows if r["macs"] and r["dram_bytes"]]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    lo = min([r["intensity"] for r in pts] + [peak / bw]) / 4
    hi = max([r["intensity"] for r in pts] + [peak / bw]) * 4
    xs = [lo, peak / bw, hi]
    ax.plot(xs, [min(peak, x * bw) for x in xs], color="black", lw=1.5,
            label=f"roof: {peak:.1f} GOPS peak, {bw:.2f} GB/s port")
    markers = {"fp": "o", "bp": "s", "wu": "^"}
    named = set()  # a layer's phases often sit on one spot: its name once
    for phase, m in markers.items():
        sel = [r for r in pts if r["phase"].endswith("." + phase)]
        if sel:
            ax.scatter([r["intensity"] for r in sel], [r["gops"] for r in sel], marker=m,
                       label=phase.upper(), zorder=3)
            for r in sel:
                layer = r["phase"].split(".")[0]
                if layer not in named:
                    named.add(layer)
                    ax.annotate(layer, (r["intensity"], r["gops"]), fontsize=7, xytext=(4, -9),
                                textcoords="offset points")
    ax.set_xscale("log")
    ax.set_yscale("log")
    plain = matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}")
    ax.xaxis.set_major_formatter(plain)
    ax.yaxis.set_major_formatter(plain)
    ax.set_xlabel("operations per DRAM byte (2 per MAC)")
    ax.set_ylabel("GOPS (modeled)")
    ax.set_title(title, fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    tmp = path.with_name(path.name + ".tmp.png")
    fig.savefig(tmp, dpi=120)
    plt.close(fig)
    tmp.replace(path)
    return True
