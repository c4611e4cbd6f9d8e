"""``hwgen compile``: a network (+ state + batches) -> a configured accelerator folder.

The folder holds everything ``hwgen simulate`` needs and everything an RTL team reads:

=================  ===============================================================
file               contents
=================  ===============================================================
accel_top.v        the generated top: accel_core with this network's parameters
files.f            the RTL sources of the top, one path per line (library first)
program.hex        the program (``$readmemh``, hwgen.compiler.program)
dram.hex           the DRAM image before the first step (hwgen.compiler.image)
config.json        lanes, buffer depths, widths, the DRAM map, per-instruction
                   labels and modeled cycles; ``layer_phases``: per layer-phase
                   cycles, utilization, bound, DRAM bytes, latency, energy
expected.npz       fxtrain's state after the steps (weights and momenta, int16)
vectors/           the vector bundle of the same steps (per-layer-phase tensors)
describe.json      the network description the program was assembled from
report.md          resources (against the budget, if any), modeled figures, the
                   layer-phase table, the best candidates (docs/compiler.md)
roofline.png       the MAC layer-phases on the roofline (with the ``plot`` extra)
=================  ===============================================================
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np

from fxtrain.atomic import atomic_write
from fxtrain.nn.update import lr_constants
from fxtrain.vectors.make import bundle_network
from hwgen.accel_perf import write_back_depth

from .dram_map import image_words
from .image import network_from_describe, pack_image, write_hex_words
from .lines import linear_banks
from .program import FORMAT_VERSION, MAC_OPS, assemble, program_hex
from .resources import MIN_BUFFER_WORDS, MIN_XE_WORDS

RTL = Path(__file__).resolve().parent.parent / "rtl"
LIBRARY = ("accel_core.v", "accel_loader.v", "accel_drain.v", "accel_mac.v", "accel_vu.v", "accel_banks.v",
           "sync_fifo.v", "cyclic_wbuf.v", "mac_array.v", "fx_requant.v", "lowbias32.v", "relu_mask.v",
           "maxpool.v", "hinge_grad.v", "sgd_momentum.v")

_TOP = """\
/*

accel_top: the training accelerator configured for network "{name}" by hwgen compile.
Generated file: edit the network or the lane counts and compile again.

{summary}

*/

// Language: Verilog 2005

`resetall
`timescale 1ns / 1ps
`default_nettype none

module accel_top
(
    input  wire            clk,
    input  wire            rst,
    input  wire            start,
    output wire            busy,
    output wire            done,
    output wire [{pa}:0]   prog_addr,
    input  wire [1311:0]   prog_data,
    output wire            mem_req_valid,
    input  wire            mem_req_ready,
    output wire            mem_req_we,
    output wire [31:0]     mem_req_addr,
    output wire [{rsp}:0]  mem_req_wdata,
    output wire [{strb}:0]    mem_req_wstrb,
    input  wire            mem_rsp_valid,
    input  wire [{rsp}:0]  mem_rsp_data,
    output wire            trace_valid,
    output wire [{pa}:0]   trace_pc
);

accel_core #(
{params}
)
core_inst (
    .clk(clk), .rst(rst), .start(start), .busy(busy), .done(done),
    .prog_addr(prog_addr), .prog_data(prog_data),
    .mem_req_valid(mem_req_valid), .mem_req_ready(mem_req_ready), .mem_req_we(mem_req_we),
    .mem_req_addr(mem_req_addr), .mem_req_wdata(mem_req_wdata), .mem_req_wstrb(mem_req_wstrb),
    .mem_rsp_valid(mem_rsp_valid), .mem_rsp_data(mem_rsp_data),
    .trace_valid(trace_valid), .trace_pc(trace_pc)
);

endmodule

`resetall
"""

PROG_AW = 10


def _pow2_at_least(n: int, lo: int = 2) -> int:
    v = lo
    while v < n:
        v *= 2
    return v


def _ceil(a: int, b: int) -> int:
    return -(-a // b)


def bank_rows(ins, pox: int, poy: int, pof: int) -> tuple[int, int]:
    """Words per XBUF bank and per EBUF bank that one item of ``ins`` fills, in the layout
    accel_core's loader writes for it (its header): pixel (FP/BP XBUF: channels x
    ceil(H/POY) x ceil(W/POX)), channel (WU: images x ceil(channels/banks) x H*W), or
    linear (vector ops: ceil(words/banks) over the largest power of two of banks, which
    the layout interleaves)."""
    npix = pox * poy
    if ins.op == "CONV_WU":
        return (ins.gs * _ceil(ins.C, npix) * ins.H * ins.W, ins.gs * _ceil(ins.O, pof) * ins.H * ins.W)
    if ins.op in ("CONV_FP", "CONV_BP"):
        chans = ins.x_len // (ins.H * ins.W)
        return chans * _ceil(ins.H, poy) * _ceil(ins.W, pox), _ceil(ins.e_len, pof)
    return _ceil(ins.x_len, linear_banks(npix)), _ceil(ins.e_len, linear_banks(pof))


def hardware_params(prog, pox: int, poy: int, pof: int, f_z: int,
                    minimum: dict | None = None, dw: int = 1) -> dict:
    """The accel_core parameters a program needs: words per XBUF bank (POX*POY banks) and
    per EBUF bank (POF banks) from :func:`bank_rows`, and per cyclic weight bank, each
    rounded up to a power of two, XBUF and EBUF at least MIN_XE_WORDS and the weight
    banks MIN_BUFFER_WORDS, so that each maps to block RAM and networks of similar size
    share one build; ``minimum`` raises any of them. ``dw``: DRAM words per line (DW)."""
    rows = [bank_rows(i, pox, poy, pof) for i in prog]
    x = max([r[0] for r in rows] + [2])
    e = max([r[1] for r in rows] + [2])
    w = max([-(-i.w_len // pof) for i in prog if i.op in MAC_OPS] + [2])
    p = {"POX": pox, "POY": poy, "POF": pof, "XBUF_DEPTH": _pow2_at_least(x, MIN_XE_WORDS),
         "EBUF_DEPTH": _pow2_at_least(e, MIN_XE_WORDS),
         "WBUF_DEPTH": _pow2_at_least(w, MIN_BUFFER_WORDS), "PROG_AW": PROG_AW,
         "F_Z": f_z, "WB_DEPTH": write_back_depth(pox, poy, pof), "DW": dw}
    for k, v in (minimum or {}).items():
        p[k] = max(p[k], int(v))
    if len(prog) > 1 << PROG_AW:
        raise ValueError(f"the program has {len(prog)} instructions; the program memory holds "
                         f"{1 << PROG_AW}")
    return p


def top_source(name: str, params: dict, summary: str) -> str:
    width = max(len(k) for k in params)
    lines = [f"    .{k.ljust(width)}({v})" for k, v in params.items()]
    return _TOP.format(name=name, summary=summary, pa=PROG_AW - 1, rsp=16 * int(params.get("DW", 1)) - 1,
                       strb=int(params.get("DW", 1)) - 1,
                       params=",\n".join(lines))


def _check_lanes(pox: int, poy: int, pof: int) -> None:
    for what, v in (("pox", pox), ("poy", poy), ("pof", pof)):
        if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= 64:
            raise ValueError(f"--{what} must be an integer in 1..64, got {v!r}")


def compile_network(desc: dict, out: str | os.PathLike, pox: int | None, poy: int | None,
                    pof: int | None, state: dict | None = None, batches: list | None = None,
                    steps: int = 1, seed: int = 0, minimum: dict | None = None, force: bool = False,
                    budget=None, dram_words: int | None = None, fuse: bool = True) -> dict:
    """Write the accelerator folder ``out`` (see the module docstring) and return config.

    ``budget`` (a :class:`hwgen.compiler.choose.Budget`) with the lanes None lets the
    compiler choose them (the most modeled images/s that fits); with explicit lanes it
    checks them against the budget. Either way ``config.json`` and ``report.md`` carry
    the resources and the modeled figures. ``dram_words`` fixes DW, the DRAM line
    (default: :func:`hwgen.compiler.choose.line_words` of the budget, or 1 without one).
    ``fuse`` runs each ReLU after a convolution in its FP drain and writes a pool's argmax
    with its maxima (hwgen.compiler.program.assemble); False keeps them separate passes.

    ``batches`` is a list of ``(x int16 [B, C, H, W], labels int64 [B])``, one per step;
    without it ``steps`` random batches are drawn from ``seed``. ``state`` is a
    ``state_dict()`` without ``step`` (default: the description's seeded initialisation).
    """
    from hwgen import perf

    from .choose import check_budget, choose, evaluate, fitting_params, useful_macs
    from .phases import roofline_plot

    if (pox, poy, pof) == (None, None, None):
        if budget is None:
            raise ValueError("give the lanes (--pox --poy --pof) or a budget (--device, or --dsp "
                             "--bram-kbit --mhz --dram-gbps) to choose them")
    else:
        _check_lanes(pox, poy, pof)
    if dram_words is not None and (isinstance(dram_words, bool) or not isinstance(dram_words, int)
                                   or dram_words not in (1, 2, 4, 8, 16, 32, 64)):
        raise ValueError(f"--dram-words must be a power of two in 1..64, got {dram_words!r}")
    net = network_from_describe(desc)
    if state is not None:
        net.load_state_dict({k: np.asarray(v) for k, v in state.items() if k != "step"})
    B = net.recipe.batch
    if batches is None:
        rng = np.random.default_rng(seed)
        fmt = net.plan.input.fmt
        lo, hi = -(1 << (fmt.w - 1)), 1 << (fmt.w - 1)
        batches = [(rng.integers(lo // 2, hi // 2, size=(B,) + net.input_shape).astype(fmt.dtype),
                    rng.integers(0, net.num_classes, size=B).astype(np.int64)) for _ in range(steps)]
    steps = len(batches)
    for s, (x, y) in enumerate(batches):
        if x.shape != (B,) + net.input_shape or x.dtype != np.int16:
            raise ValueError(f"batch {s}: x must be int16 {[B, *net.input_shape]}, got {x.dtype} "
                             f"{list(x.shape)}")
        if np.asarray(y).shape != (B,):
            raise ValueError(f"batch {s}: labels must have shape [{B}], got {list(np.asarray(y).shape)}")
    d = net.describe()
    constants = {L.name: lr_constants(net.recipe, net.plan, net.plan[L.name]) for L in net.weighted_layers}
    f_z = net.logits_f
    candidates = None
    if pox is None:
        widest = max(s_[-1] for s_ in [tuple(net.input_shape)] + [tuple(x) for x in net.shapes] if len(s_) == 3)
        chosen, candidates = choose(d, lambda f: assemble(d, constants, f, 1, fuse)[0],
                                    lambda p_, x, y, f: hardware_params(p_, x, y, f, f_z, minimum),
                                    budget, widest, dw=dram_words)
        pox, poy, pof = chosen["POX"], chosen["POY"], chosen["POF"]
    prog, regions = assemble(d, constants, pof, steps, fuse)
    params = hardware_params(prog, pox, poy, pof, f_z, minimum, dram_words or 1)
    if budget is not None:
        params = fitting_params(params, budget, dram_words)
    if budget is not None:
        check_budget(params, budget)
    words = image_words(regions)
    img = pack_image(regions, net.state_dict(), batches[0][0], batches[0][1], words)
    for s in range(1, steps):
        ra, rl = regions[f"act0@{s}"], regions[f"labels@{s}"]
        img[ra.base:ra.base + ra.words] = batches[s][0].reshape(-1).astype(np.int64).astype(np.uint16)
        img[rl.base:rl.base + rl.words] = np.asarray(batches[s][1]).astype(np.uint16)

    out = Path(out)
    if out.exists() and any(out.iterdir()):
        if not force and not (out / "config.json").exists():
            raise ValueError(f"{out} exists and is not an hwgen compile folder; pick another --out")
        shutil.rmtree(out / "vectors", ignore_errors=True)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write(out / "describe.json", (json.dumps(d, indent=1) + "\n").encode())
    bundle_network(out / "vectors", net, batches, overwrite=True)
    expected = {k: v for k, v in net.state_dict().items() if k != "step"}
    tmp = out / ".expected.tmp.npz"
    np.savez(tmp, **expected)
    os.replace(tmp, out / "expected.npz")

    cost = perf.accel_cycles(prog, params)
    step_prog = assemble(d, constants, pof, 1, fuse)[0]
    from .choose import Budget

    clock = budget if budget is not None else Budget(1, 1, 200.0, 1.0)  # figures at 200 MHz
    modeled = evaluate(step_prog, params, clock, useful_macs(d), net.recipe.batch)
    summary = (f"lanes POX={pox} POY={poy} POF={pof}; banks of words: XBUF {pox * poy}x{params['XBUF_DEPTH']}, "
               f"EBUF {pof}x{params['EBUF_DEPTH']}, WBUF {pof}x{params['WBUF_DEPTH']}; DRAM lines of "
               f"{params['DW']} words; logits Q16.{f_z}")
    atomic_write(out / "accel_top.v", top_source(d["name"], params, summary).encode())
    files = [str(RTL / f) for f in LIBRARY] + [str((out / "accel_top.v").resolve())]
    atomic_write(out / "files.f", ("\n".join(files) + "\n").encode())
    atomic_write(out / "program.hex", program_hex(prog, (pox, poy, pof), int(params["DW"])).encode())
    tmp_hex = out / ".dram.hex.tmp"
    write_hex_words(tmp_hex, img)
    os.replace(tmp_hex, out / "dram.hex")
    config = {
        "format_version": 1, "program_format": FORMAT_VERSION, "network": d["name"], "steps": steps,
        "lanes": {"pox": pox, "poy": poy, "pof": pof}, "params": params,
        "dram": {"words": words, "latency": perf.DRAM_LATENCY, "stall_every": perf.DRAM_STALL_EVERY},
        "widths": {"word": 16, "accumulator": net.plan.acc_table(), "mac_accumulator": 64},
        "regions": {k: {"base": r.base, "words": r.words, "shape": list(r.shape),
                        "cyclic": r.layout is not None} for k, r in regions.items() if k != "_end"},
        "program": [{"op": i.op, "layer": i.label[0], "phase": i.label[1], "dst": i.dst,
                     "aux": i.aux, "fused": i.extra.get("fused") or (i.label[0] if i.fused else None),
                     "mask_of": i.extra.get("mask_of"),
                     "modeled_cycles": c} for i, c in zip(prog, cost["instructions"])],
        "modeled_cycles": {"total": cost["total"], "per_layer_phase": cost["per_layer_phase"]},
        "pox": pox, "poy": poy, "pof": pof, "resources": modeled["resources"],
        "modeled": {k: modeled[k] for k in ("cycles", "gops", "images_per_s", "latency_s", "dram_bytes",
                                             "energy_j", "utilization", "ceiling_gops", "peak_gops")}
                   | {"mhz": clock.mhz, "per_step": True},
        "layer_phases": modeled["layer_phases"],
        "budget": None if budget is None else {"dsp": budget.dsp, "bram_kbit": budget.bram_kbit,
                                               "mhz": budget.mhz, "dram_gbps": budget.dram_gbps,
                                               "family": budget.family},
        "candidates": None if candidates is None else [
            {"pox": c["params"]["POX"], "poy": c["params"]["POY"], "pof": c["params"]["POF"],
             "dsp": c["resources"]["dsp"], "bram_blocks": c["resources"]["bram_blocks"],
             "cycles": c["cycles"], "images_per_s": c["images_per_s"], "gops": c["gops"]}
            for c in candidates[:20]],
    }
    atomic_write(out / "config.json", (json.dumps(config, indent=1) + "\n").encode())
    lanes = pox * poy * pof
    plotted = roofline_plot(modeled["layer_phases"], lanes, clock.mhz, out / "roofline.png",
                            f"{d['name']}: POX={pox} POY={poy} POF={pof} at {clock.mhz:g} MHz")
    atomic_write(out / "report.md", report_text(config, modeled, plotted).encode())
    return config


def _fusion_lines(program: list) -> list[str]:
    """report.md's account of the ReLUs and argmaxes that run inside other instructions."""
    said, out = set(), []
    for p in program:
        relu = p.get("fused")
        at = f"{p['layer']}.{p['phase']}"
        if p["op"] == "CONV_FP" and relu:
            said.add(f"{relu} in {at}'s drain (y and its mask)")
        elif p["op"] == "CONV_BP" and relu:
            said.add(f"{relu}'s mask multiply in {at}'s drain")
        elif p["op"] == "UNPOOL" and relu:
            said.add(f"{relu}'s mask multiply in {at} (the mask rides in the argmax)")
        elif p["op"] == "POOL_Y" and relu:
            said.add(f"{p['layer']}'s argmax with its maxima")
    for s in sorted(said):
        out.append(f"- {s}")
    return (["Fused (no pass of their own; `--no-fuse` separates them):", "", *out, ""]
            if out else [])


def report_text(config: dict, modeled: dict, roofline: bool = False) -> str:
    """report.md: the configuration, resources against the budget, modeled figures and,
    per layer-phase, cycles, utilization, bound, DRAM traffic, latency and energy
    (:mod:`.phases`); ``roofline``: roofline.png was written next to it."""
    r, m, b = config["resources"], config["modeled"], config["budget"]
    lines = [f"# Accelerator for {config['network']}", "",
             f"Lanes POX={config['pox']} POY={config['poy']} POF={config['pof']} "
             f"({config['pox'] * config['poy'] * config['pof']} MACs); buffers in banks of words: XBUF "
             f"{config['pox'] * config['poy']}x{config['params']['XBUF_DEPTH']}, EBUF "
             f"{config['pof']}x{config['params']['EBUF_DEPTH']}, WBUF "
             f"{config['pof']}x{config['params']['WBUF_DEPTH']}; DRAM lines of "
             f"{config['params'].get('DW', 1)} words.", "",
             "| resource | used | budget |", "| --- | ---: | ---: |",
             f"| DSP blocks | {r['dsp']} | {b['dsp'] if b else '-'} |",
             f"| block RAM (Kbit) | {r['bram_bits'] / 1024:.0f} ({r['bram_blocks']} blocks) | "
             f"{b['bram_kbit'] if b else '-'} |",
             f"| LUTs (estimate) | {r['lut_estimate']} | - |", "",
             f"Modeled at {m['mhz']:g} MHz, one training step: {m['cycles']:,} cycles, "
             f"{m['latency_s'] * 1e3:.2f} ms, {m['images_per_s']:.1f} images/s, {m['gops']:.2f} GOPS, "
             f"MAC utilization {100 * m['utilization']:.1f}%, DRAM {m['dram_bytes'] / 1e6:.2f} MB, "
             f"energy {m['energy_j'] * 1e3:.3f} mJ (hwgen.perf's per-MAC and per-byte constants).", "",
             f"Peak {m['peak_gops']:.1f} GOPS (every lane, every cycle); lane-occupancy ceiling "
             f"{m['ceiling_gops']:.1f} GOPS: the step's rate if loads, drains and vector passes were "
             "free and the lanes only multiplied. Ragged tiles and channel counts below the lanes "
             "set it; overlap and a wider DRAM port can approach it, never pass it.", "",
             *_fusion_lines(config["program"]),
             "Per layer-phase (bound: what the phase spends more cycles on, the lanes "
             "multiplying or the DRAM port taking one request, a word or a line, per cycle; "
             "drains overlap the beats, loads do not):", "",
             "| layer-phase | cycles | share | MAC utilization | bound | DRAM KB | ops/byte | "
             "latency us | energy uJ |",
             "| --- | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: |"]
    total = modeled["cycles"] or 1
    for p in modeled["layer_phases"]:
        lines.append(f"| {p['phase']} | {p['cycles']:,} | {100 * p['cycles'] / total:.1f}% | "
                     f"{100 * p['utilization']:.1f}% | {p['bound']} | {p['dram_bytes'] / 1e3:.1f} | "
                     f"{p['intensity']:.2f} | {p['latency_s'] * 1e6:.1f} | {p['energy_j'] * 1e6:.2f} |")
    if roofline:
        lines += ["", "![roofline of the MAC layer-phases](roofline.png)"]
    if config.get("candidates"):
        lines += ["", "Best candidates under the budget:", "",
                  "| POX | POY | POF | DSP | blocks | images/s | GOPS |", "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
        for c in config["candidates"][:10]:
            lines.append(f"| {c['pox']} | {c['poy']} | {c['pof']} | {c['dsp']} | {c['bram_blocks']} | "
                         f"{c['images_per_s']:.1f} | {c['gops']:.2f} |")
    return "\n".join(lines) + "\n"
