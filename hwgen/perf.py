"""First-order analytical cost model of a training accelerator: cycles, DRAM traffic,
latency and energy of FP, BP and WU for every layer of a plain-JSON network.

The array has ``pox * poy * pof`` MAC lanes: ``pox`` x ``poy`` output pixels times
``pof`` output channels per cycle (the FPL'19 loop unrolling). Per image and layer
(Conv ``O, C, K``, input ``H x W``, output ``Ho x Wo``):

=====  ==================================================================  ===========================
phase  cycles per image                                                    what the lanes produce
=====  ==================================================================  ===========================
FP     ``ceil(Wo/pox) * ceil(Ho/poy) * ceil(O/pof) * C*K*K``               output activations
BP     ``ceil(W/pox) * ceil(H/poy) * ceil(C/pof) * O*K*K`` (0 first layer)  input gradients (transposed,
                                                                           flipped weights)
WU     ``ceil(O/pof) * ceil(C*K*K/(pox*poy)) * Ho*Wo``                     weight gradient [O, C*K*K]
=====  ==================================================================  ===========================

A Linear layer runs as a 1x1 convolution on a 1x1 map (``C = in``, ``O = out``,
``H = W = Ho = Wo = K = 1``), so FP and BP use only ``pof`` of the lanes (a
``pox*poy``-fold waste) and WU uses them all. The ``ceil`` terms are the losses of counts
that are not multiples of the lanes. Batch of ``B``: ``B`` times the per-image cycles
(images run one after the other). Useful MACs come from :mod:`fxtrain.grow.report`
(the terms of the sums in docs/numerics.md); ``utilization = MACs / (cycles * lanes)``.
ReLU, max-pool, the loss and the update arithmetic are fused into the output stages
and cost no cycles.

DRAM traffic, per weighted layer and batch (``w = word_bits``). A *block* is the
weighted layer and the ReLU/MaxPool2d/Flatten layers after it; its output is the next
weighted layer's input. Each pass streams its operands once: on-chip buffers are
assumed large enough for a layer's weights (and the weight gradient being
accumulated) plus a tile of activations, so nothing is fetched twice within a pass.

- FP: read the input activations (``B*C*H*W`` words) and the weights (once per
  batch); write the block output (``B`` x its size, words), one mask bit per ReLU
  element and ``ceil(log2(k*k))`` argmax bits per pooled element.
- BP (not for the first weighted layer): read the gradient at the block output, the
  mask and argmax bits and the weights; write the input gradient (``B*C*H*W`` words).
- WU: read the input activations, the gradient at the block output and the mask and
  argmax bits (to rebuild the layer's local gradient on chip); read and write the
  weights and the momentum once per batch (``4 * params`` words).

Each tensor's bits are rounded up to whole bytes per batch. Latency of a layer-phase =
``max(cycles / clock, bytes / bandwidth)``: compute and DRAM transfers overlap fully
(double buffering), layer-phases run one after another. Energy = ``MACs * pj_per_mac +
bytes * pj_per_dram_byte`` (useful MACs; idle lanes, SRAM, control and static power are
not modelled). GOPS = ``2 * MACs / latency``.

Default constants (first order, for comparing networks on one configuration, not
absolute predictions): M. Horowitz, "Computing's energy problem (and what we can do
about it)", ISSCC 2014, 45 nm: 8-bit integer multiply 0.2 pJ, 32-bit multiply 3.1 pJ,
32-bit add 0.1 pJ -> a 16-bit multiply ~0.8 pJ (quadratic in width) plus the 32-bit
accumulate ~0.9 pJ, rounded to ``pj_per_mac = 1.0``; a 32-bit DRAM access 640 pJ ->
``pj_per_dram_byte = 160``. ``clock_mhz = 200``; ``dram_gbps = 19.2`` (one 64-bit
DDR4-2400 channel, 1 GB = 1e9 bytes).
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

__all__ = ["ArrayConfig", "load_descriptions", "network_cost", "reductions", "reduction_table",
           "format_cost", "PHASES"]

PHASES = ("fp", "bp", "wu")


@dataclass(frozen=True)
class ArrayConfig:
    """MAC array and memory system; defaults and their sources in the module docstring."""

    pox: int = 4
    poy: int = 4
    pof: int = 16
    clock_mhz: float = 200.0
    word_bits: int = 16
    dram_gbps: float = 19.2
    pj_per_mac: float = 1.0
    pj_per_dram_byte: float = 160.0

    def __post_init__(self):
        for f in ("pox", "poy", "pof", "word_bits"):
            v = getattr(self, f)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"ArrayConfig.{f} must be an integer >= 1, got {v!r}")
        for f in ("clock_mhz", "dram_gbps"):
            v = getattr(self, f)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
                raise ValueError(f"ArrayConfig.{f} must be a positive number, got {v!r}")
        for f in ("pj_per_mac", "pj_per_dram_byte"):
            v = getattr(self, f)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
                raise ValueError(f"ArrayConfig.{f} must be a number >= 0, got {v!r}")

    @property
    def lanes(self) -> int:
        return self.pox * self.poy * self.pof


def _cdiv(a: int, b: int) -> int:
    return -(-a // b)


def _prod(shape) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def _blocks(desc: dict) -> list[dict]:
    """Weighted layers with the geometry and stored tensors of their block."""
    # imported here: fxtrain pulls in numba, which the other hwgen commands do not need
    from fxtrain.grow.report import layer_walk

    blocks: list[dict] = []
    for r in layer_walk(desc):
        if "macs" in r:
            if r["type"] == "Conv2d":
                (c, h, w), (o, ho, wo), k = r["in_shape"], r["out_shape"], r["weight_shape"][2]
            else:
                (c,), (o,), h, w, ho, wo, k = r["in_shape"], r["out_shape"], 1, 1, 1, 1, 1
            blocks.append({"name": r["name"], "type": r["type"], "params": r["params"],
                           "macs": r["macs"], "C": c, "H": h, "W": w, "O": o, "Ho": ho, "Wo": wo,
                           "K": k, "in_words": _prod(r["in_shape"]),
                           "out_words": _prod(r["out_shape"]), "side_bits": 0})
        elif blocks:  # activation layers before the first weighted layer cost nothing
            b = blocks[-1]
            b["out_words"] = _prod(r["out_shape"])
            if r["type"] == "ReLU":
                b["side_bits"] += _prod(r["in_shape"])
            elif r["type"] == "MaxPool2d":
                b["side_bits"] += _prod(r["out_shape"]) * math.ceil(math.log2(r["k"] * r["k"]))
    return blocks


def _cycles(b: dict, cfg: ArrayConfig, first: bool) -> dict[str, int]:
    """Per-image cycles of each phase (the mapping table of the module docstring)."""
    C, H, W, O, Ho, Wo, K = (b[k] for k in ("C", "H", "W", "O", "Ho", "Wo", "K"))
    return {
        "fp": _cdiv(Wo, cfg.pox) * _cdiv(Ho, cfg.poy) * _cdiv(O, cfg.pof) * C * K * K,
        "bp": 0 if first else _cdiv(W, cfg.pox) * _cdiv(H, cfg.poy) * _cdiv(C, cfg.pof) * O * K * K,
        "wu": _cdiv(O, cfg.pof) * _cdiv(C * K * K, cfg.pox * cfg.poy) * Ho * Wo,
    }


def _dram_bytes(b: dict, cfg: ArrayConfig, batch: int, first: bool) -> dict[str, int]:
    """Bytes moved per batch by each phase (the reuse model of the module docstring)."""
    def words(n: int) -> int:
        return _cdiv(n * cfg.word_bits, 8)

    act_in, act_out = words(batch * b["in_words"]), words(batch * b["out_words"])
    side, weights = _cdiv(batch * b["side_bits"], 8), words(b["params"])
    return {
        "fp": act_in + weights + act_out + side,
        "bp": 0 if first else act_out + side + weights + act_in,
        "wu": act_in + act_out + side + 4 * weights,
    }


def _record(macs: int, cycles: int, nbytes: int, cfg: ArrayConfig) -> dict:
    compute_s = cycles / (cfg.clock_mhz * 1e6)
    dram_s = nbytes / (cfg.dram_gbps * 1e9)
    latency = max(compute_s, dram_s)
    ce, de = macs * cfg.pj_per_mac * 1e-12, nbytes * cfg.pj_per_dram_byte * 1e-12
    return {"macs": macs, "cycles": cycles,
            "utilization": macs / (cycles * cfg.lanes) if cycles else 0.0,
            "dram_bytes": nbytes, "compute_s": compute_s, "dram_s": dram_s, "latency_s": latency,
            "bound": "none" if latency == 0 else ("compute" if compute_s >= dram_s else "dram"),
            "compute_energy_j": ce, "dram_energy_j": de, "energy_j": ce + de,
            "gops": 2 * macs / latency / 1e9 if latency else 0.0}


def _sum(records: list[dict], cfg: ArrayConfig) -> dict:
    keys = ("macs", "cycles", "dram_bytes", "compute_s", "dram_s", "latency_s",
            "compute_energy_j", "dram_energy_j", "energy_j")
    t = {k: sum(r[k] for r in records) for k in keys}
    t["utilization"] = t["macs"] / (t["cycles"] * cfg.lanes) if t["cycles"] else 0.0
    t["gops"] = 2 * t["macs"] / t["latency_s"] / 1e9 if t["latency_s"] else 0.0
    bounds = {r["bound"] for r in records} - {"none"}
    t["bound"] = bounds.pop() if len(bounds) == 1 else ("mixed" if bounds else "none")
    return t


def network_cost(desc: dict, cfg: ArrayConfig | None = None, batch: int = 1) -> dict:
    """Cost of one training step on a batch of ``batch`` images.

    Returns plain JSON::

        {"name", "batch", "config": {ArrayConfig fields}, "lanes", "params",
         "layers": [{"name", "type", "params", "fp": R, "bp": R, "wu": R}, ...],
         "total": {"fp": R, "bp": R, "wu": R, "train": R}}

    with every ``R`` = ``{"macs", "cycles", "utilization", "dram_bytes", "compute_s",
    "dram_s", "latency_s", "bound", "compute_energy_j", "dram_energy_j", "energy_j",
    "gops"}`` for the whole batch (``bound``: "compute", "dram", "none" for an empty
    phase; totals may say "mixed"). ValueError for a bad description or batch.
    """
    cfg = ArrayConfig() if cfg is None else cfg
    if not isinstance(cfg, ArrayConfig):
        raise TypeError(f"cfg must be an ArrayConfig, got {type(cfg).__name__}")
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise ValueError(f"batch must be an integer >= 1, got {batch!r}")
    layers = []
    for i, b in enumerate(_blocks(desc)):
        cyc, nbytes = _cycles(b, cfg, i == 0), _dram_bytes(b, cfg, batch, i == 0)
        row = {"name": b["name"], "type": b["type"], "params": b["params"]}
        for p in PHASES:
            row[p] = _record(batch * b["macs"][p], batch * cyc[p], nbytes[p], cfg)
        layers.append(row)
    total = {p: _sum([L[p] for L in layers], cfg) for p in PHASES}
    total["train"] = _sum([L[p] for L in layers for p in PHASES], cfg)
    return {"name": str(desc.get("name", "net")), "batch": batch, "config": asdict(cfg),
            "lanes": cfg.lanes, "params": sum(L["params"] for L in layers),
            "layers": layers, "total": total}


def _si(n: float) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:.2f}{unit}"
    return f"{n:.0f}"


def format_cost(cost: dict) -> str:
    """Fixed-width table of a :func:`network_cost`: a row per layer and phase, then the
    phase totals and the training-step total (latency in µs, energy in µJ)."""
    c = cost["config"]
    head = (f"{'layer':<10} {'phase':<5} {'MACs':>9} {'cycles':>9} {'util':>6} {'DRAM KiB':>10} "
            f"{'lat us':>10} {'bound':<7} {'E uJ':>9} {'GOPS':>7}")
    lines = [f"{cost['name']}: batch {cost['batch']}, pox {c['pox']} poy {c['poy']} pof {c['pof']} "
             f"({cost['lanes']} lanes), {c['clock_mhz']:g} MHz, {c['dram_gbps']:g} GB/s, "
             f"{c['word_bits']}-bit words, {c['pj_per_mac']:g} pJ/MAC, {c['pj_per_dram_byte']:g} pJ/B",
             head, "-" * len(head)]

    def row(name, phase, r):
        return (f"{name:<10} {phase:<5} {_si(r['macs']):>9} {_si(r['cycles']):>9} "
                f"{100 * r['utilization']:>5.1f}% {r['dram_bytes'] / 1024:>10.1f} "
                f"{r['latency_s'] * 1e6:>10.1f} {r['bound']:<7} {r['energy_j'] * 1e6:>9.2f} "
                f"{r['gops']:>7.1f}")

    for L in cost["layers"]:
        lines += [row(L["name"], p, L[p]) for p in PHASES]
    lines.append("-" * len(head))
    lines += [row("total", p, cost["total"][p]) for p in (*PHASES, "train")]
    return "\n".join(lines)


#: metric name -> (label, how to read it from a network_cost)
_METRICS = {
    "macs_fp": ("MACs FP", lambda c: c["total"]["fp"]["macs"]),
    "macs_train": ("MACs train", lambda c: c["total"]["train"]["macs"]),
    "params": ("params", lambda c: c["params"]),
    "dram_energy_j": ("DRAM energy", lambda c: c["total"]["train"]["dram_energy_j"]),
    "energy_j": ("energy", lambda c: c["total"]["train"]["energy_j"]),
    "latency_s": ("latency", lambda c: c["total"]["train"]["latency_s"]),
}


def reductions(named: dict[str, dict]) -> dict[str, dict[str, float | None]]:
    """Percentage reduction of each :func:`network_cost` against the first entry
    (positive = smaller; None where the first is 0 and the other is not) for
    ``macs_fp, macs_train`` (per batch), ``params``, ``dram_energy_j``, ``energy_j``,
    ``latency_s`` (training step)."""
    if not named:
        raise ValueError("need at least one network cost")
    base = next(iter(named.values()))
    out = {}
    for name, cost in named.items():
        out[name] = {}
        for key, (_, get) in _METRICS.items():
            b, o = get(base), get(cost)
            out[name][key] = (0.0 if o == 0 else None) if b == 0 else 100.0 * (b - o) / b
    return out


def reduction_table(named: dict[str, dict]) -> str:
    """The CGaP-style table: per network, each metric's value and its % reduction
    relative to the first entry (MACs per batch, params, DRAM energy in µJ, latency in
    ms of one training step)."""
    red = reductions(named)
    fmt = {"dram_energy_j": lambda v: f"{v * 1e6:.1f}uJ", "energy_j": lambda v: f"{v * 1e6:.1f}uJ",
           "latency_s": lambda v: f"{v * 1e3:.3f}ms"}
    width = max(8, *(len(n) for n in named))
    head = f"{'network':<{width}}" + "".join(f" {label:>20}" for label, _ in _METRICS.values())
    lines = [f"reductions relative to {next(iter(named))!r} (value, -x% = x% smaller)", head,
             "-" * len(head)]
    for name, cost in named.items():
        cells = []
        for key, (_, get) in _METRICS.items():
            v, pct = get(cost), red[name][key]
            text = fmt.get(key, _si)(v)
            cells.append(f" {text + (' (   n/a)' if pct is None else f' ({(-pct or 0.0):+6.1f}%)'):>20}")
        lines.append(f"{name:<{width}}" + "".join(cells))
    return "\n".join(lines)


def load_descriptions(path: str | Path) -> dict[str, dict]:
    """Network descriptions from a JSON file: either one ``describe()`` dict (named by its
    ``name``, else the file stem) or ``{"phases": {name: describe-dict, ...}}`` (a value
    may also be ``{"describe": describe-dict}``), in file order. ValueError naming the
    file and the problem for a missing, unreadable or malformed file."""
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as exc:
        raise ValueError(f"cannot read network description {str(p)!r}: {exc.strerror or exc}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{p}: not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{p}: expected a JSON object, got {type(data).__name__}")
    if "phases" in data:
        phases = data["phases"]
        if not isinstance(phases, dict) or not phases:
            raise ValueError(f"{p}: 'phases' must be a non-empty object of name -> description")
        out = {}
        for name, d in phases.items():
            if isinstance(d, dict) and "describe" in d:
                d = d["describe"]
            if not isinstance(d, dict) or "layers" not in d or "input_shape" not in d:
                raise ValueError(f"{p}: phase {name!r} is not a network description "
                                 "(needs 'input_shape' and 'layers')")
            out[str(name)] = d
        return out
    if "layers" not in data or "input_shape" not in data:
        raise ValueError(f"{p}: not a network description (needs 'input_shape' and 'layers', "
                         "or 'phases')")
    return {str(data.get("name", p.stem)): data}


# The cycle model of the generated training accelerator (hwgen/rtl/accel_core.v): per
# instruction, state by state; hwgen compile writes it into config.json and hwgen simulate
# sets it against Verilator (docs/accelerator.md).
from hwgen.accel_perf import DRAM_LATENCY, DRAM_STALL_EVERY, accel_cycles  # noqa: E402,F401
