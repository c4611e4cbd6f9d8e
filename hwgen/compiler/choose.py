"""Choose the accelerator's lanes from user constraints: the most modeled training
throughput that fits the DSP and block-RAM budgets.

Candidates are POX, POY in {1, 2, 4, ..., up to the widest feature map} and POF in
{1, 2, 4, ..., 64}. For each, ``hwgen.perf.accel_cycles`` gives the exact cycles of one
training step of this RTL (docs/accelerator.md, section 6) and
``hwgen.compiler.resources`` its DSPs and block RAMs. The winner has the most images per
second at the budget's clock; ties go to fewer DSPs, then fewer block RAMs. Block RAM
depends on the lanes through the bank counts and the layouts' padding (a bank's depth is
a power of two; hwgen.compiler.build.bank_rows).

The DRAM port moves lines of DW 16-bit words (:func:`line_words`: the widest power of two
the bandwidth serves at the clock, and that every wide layout takes, so at most the
largest powers of two dividing POX and POF); a design uses 2*DW bytes per cycle, and a
budget below 2 bytes per cycle is refused, naming it, since the DRAM model the cycles
assume could not be served.
"""
from __future__ import annotations

from dataclasses import dataclass

from hwgen.accel_perf import accel_cycles, mac_beats

from .phases import layer_phase_rows
from .resources import Device, resources

POF_CHOICES = (1, 2, 4, 8, 16, 32, 64)


@dataclass(frozen=True)
class Budget:
    """The user's constraints: DSP blocks, block RAM in Kbit, clock in MHz, DRAM GB/s."""

    dsp: int
    bram_kbit: float
    mhz: float
    dram_gbps: float
    family: str = "xilinx"

    def __post_init__(self) -> None:
        for what, v in (("--dsp", self.dsp), ("--bram-kbit", self.bram_kbit), ("--mhz", self.mhz),
                        ("--dram-gbps", self.dram_gbps)):
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not v > 0 or v != v or v == float("inf"):
                raise ValueError(f"{what} must be a positive finite number, got {v!r}")

    @classmethod
    def of(cls, d: Device) -> "Budget":
        return cls(d.dsp, d.bram_kbit, d.mhz, d.dram_gbps, d.family)


def _pow2_dividing(n: int) -> int:
    return n & -n


def line_words(budget: Budget, pox: int, pof: int) -> int:
    """DW for a design under ``budget``: the largest power of two <= 64 whose lines the
    DRAM bandwidth serves at the clock (2*DW bytes per cycle), capped by the largest
    powers of two dividing POX and POF (the pixel layout and the cyclic weight buffer
    take a line at one row only then; hwgen.compiler.lines.wide_loads); at least 1."""
    dw = 1
    while dw < 64 and 2 * (2 * dw) * budget.mhz * 1e6 <= budget.dram_gbps * 1e9:
        dw *= 2
    return max(1, min(dw, _pow2_dividing(pox), _pow2_dividing(pof)))


def fitting_params(params: dict, budget: Budget, dw: int | None = None) -> dict:
    """``params`` with DW: ``dw`` if given, else :func:`line_words`, halved while the DW
    vector lanes' update multipliers are what break the DSP budget (down to 1)."""
    if dw is not None:
        return dict(params, DW=dw)
    p = dict(params, DW=line_words(budget, int(params["POX"]), int(params["POF"])))
    while p["DW"] > 1 and resources(p, budget.family).dsp > budget.dsp:
        p["DW"] //= 2
    return p


def useful_macs(desc: dict) -> int:
    """MACs of one training step (FP, BP except the first weighted layer, WU), whole batch."""
    from .dram_map import first_weighted, layer_shapes

    batch = int(desc["hyper"]["batch"])
    shapes = layer_shapes(desc)
    fw = first_weighted(desc)
    total = 0
    for i, L in enumerate(desc["layers"]):
        if L["type"] == "Conv2d":
            o, h, w = shapes[i + 1]
            per = o * h * w * L["in_ch"] * L["k"] * L["k"]
        elif L["type"] == "Linear":
            per = L["in_f"] * L["out_f"]
        else:
            continue
        total += per * batch * (3 if i > fw else 2)
    return total


def _pow2_up_to(n: int) -> list[int]:
    out, v = [], 1
    while v <= max(1, n):
        out.append(v)
        v *= 2
    return out


def evaluate(prog, params: dict, budget: Budget, macs: int, batch: int) -> dict:
    """The modeled figures of one configuration at the budget's clock."""
    cost = accel_cycles(prog, params)
    res = resources(params, budget.family)
    seconds = cost["total"] / (budget.mhz * 1e6)
    from hwgen.perf import ArrayConfig

    e = ArrayConfig()  # the cost model's energy constants and their sources (hwgen.perf)
    dram_bytes = 2 * cost["dram_words"]
    lanes = int(params["POX"]) * int(params["POY"]) * int(params["POF"])
    # the lane-occupancy ceiling: the step's GOPS if loads, drains and vector passes cost
    # nothing and the lanes only multiplied (their beats); no overlap can beat it
    beats = sum(ph["mac_cycles"] for ph in cost["phases"].values())
    return {"cycles": cost["total"], "latency_s": seconds, "images_per_s": batch / seconds,
            "gops": 2 * macs / seconds / 1e9, "dram_bytes": dram_bytes,
            "ceiling_gops": 2 * macs / (beats / (budget.mhz * 1e6)) / 1e9 if beats else 0.0,
            "peak_gops": 2 * lanes * budget.mhz * 1e6 / 1e9,
            "energy_j": (macs * e.pj_per_mac + dram_bytes * e.pj_per_dram_byte) * 1e-12,
            "utilization": macs / (lanes * cost["total"]), "resources": res.to_json(),
            "per_layer_phase": cost["per_layer_phase"], "instructions": cost["instructions"],
            "layer_phases": layer_phase_rows(cost["phases"], lanes, budget.mhz, e.pj_per_mac,
                                             e.pj_per_dram_byte)}


def check_budget(params: dict, budget: Budget) -> None:
    """ValueError naming the budget that a configuration exceeds, and what it needs."""
    res = resources(params, budget.family)
    lanes = f"POX={params['POX']} POY={params['POY']} POF={params['POF']}"
    if res.dsp > budget.dsp:
        raise ValueError(f"{lanes} needs {res.dsp} DSP blocks, the budget is {budget.dsp}")
    if res.bram_bits > budget.bram_kbit * 1024:
        raise ValueError(f"{lanes} needs {res.bram_bits / 1024:.0f} Kbit of block RAM ({res.bram_blocks} "
                         f"blocks), the budget is {budget.bram_kbit:g} Kbit")
    dw = int(params.get("DW", 1))
    port = 2 * dw * budget.mhz * 1e6 / 1e9
    if budget.dram_gbps < port:
        what = "one 16-bit word" if dw == 1 else f"lines of {dw} 16-bit words"
        raise ValueError(f"the DRAM port moves {what} per cycle, {port:.3f} GB/s at "
                         f"{budget.mhz:g} MHz; the budget's {budget.dram_gbps:g} GB/s cannot serve it "
                         f"(lower --mhz to {budget.dram_gbps * 1e9 / (2e6 * dw):.0f} or less)")


def choose(desc: dict, assemble_for, params_for, budget: Budget, widest: int,
           dw: int | None = None) -> tuple[dict, list[dict]]:
    """(the chosen params, the rows of every feasible candidate that could win), best first.

    ``assemble_for(pof)`` returns the program for POF filter lanes, ``params_for(prog,
    pox, poy, pof)`` its accel_core parameters; ``widest`` bounds POX and POY (the widest
    feature map); ``dw`` fixes the DRAM line (default :func:`line_words` per design).
    ValueError when nothing fits, naming the budget that binds and the least it would
    take."""
    macs = useful_macs(desc)
    batch = int(desc["hyper"]["batch"])
    fitting, smallest = [], None
    for pof in POF_CHOICES:
        prog = assemble_for(pof)
        for pox in _pow2_up_to(widest):
            for poy in _pow2_up_to(widest):
                params = fitting_params(params_for(prog, pox, poy, pof), budget, dw)
                if smallest is None:
                    smallest = params  # 1 x 1 x 1: the least any design needs
                try:
                    check_budget(params, budget)
                except ValueError:
                    continue
                fitting.append((mac_beats(prog, pox, poy, pof), prog, params))
    # model the designs in order of their lower bound (the beats the lanes multiply) and
    # skip those whose bound exceeds the best cycles found: they cannot win (the rows then
    # hold every design that could, and the winner is the same as with all modeled)
    fitting.sort(key=lambda f: f[0])
    rows, best = [], None
    for floor, prog, params in fitting:
        if best is not None and floor > best:
            continue
        row = evaluate(prog, params, budget, macs, batch)
        rows.append({"params": params, **row})
        best = row["cycles"] if best is None else min(best, row["cycles"])
    if not rows:
        check_budget(smallest, budget)  # raises, naming the binding budget
        raise ValueError("no configuration fits the budget")  # pragma: no cover
    rows.sort(key=lambda r: (-r["images_per_s"], r["resources"]["dsp"], r["resources"]["bram_blocks"]))
    return rows[0]["params"], rows
