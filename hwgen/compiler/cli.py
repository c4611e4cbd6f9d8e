"""``hwgen compile`` and ``hwgen simulate``: the training accelerator from the command line.

    hwgen compile (--model NAME | --describe NET.json) [--state STATE.npz]
                  [--batch-file BATCH.npz] (--pox N --poy N --pof N | --device PRESET |
                  --dsp N --bram-kbit N --mhz F --dram-gbps X) --out DIR
    hwgen simulate DIR [--simulator verilator|icarus] [--waves]

``NET.json`` is ``Network.describe()``; ``STATE.npz`` is ``np.savez`` of ``state_dict()``
without ``step``; ``BATCH.npz`` holds ``x`` (int16 [B, C, H, W], or [S*B, ...] for S
steps) and ``labels`` (int64 [B] or [S*B]). Without them the description's seeded
initialisation and ``--steps`` random batches (``--seed``) are used.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np


def register(sub) -> None:
    c = sub.add_parser("compile", help="network -> accelerator top, program, DRAM image, expected state",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = c.add_mutually_exclusive_group(required=True)
    src.add_argument("--model", metavar="NAME", help="a zoo network: cnn1x, cnn2x, cnn4x, lenet")
    src.add_argument("--describe", metavar="NET.json", help="a Network.describe() dict")
    c.add_argument("--state", metavar="STATE.npz", help="np.savez of state_dict() without step")
    c.add_argument("--batch-file", metavar="BATCH.npz", help="x (int16) and labels (int64)")
    for lane in ("pox", "poy", "pof"):
        c.add_argument(f"--{lane}", type=int, help=f"MAC lanes, {lane.upper()} (omit all three to "
                       "let a budget choose them)")
    b = c.add_argument_group("constraints (hwgen.compiler.choose)")
    b.add_argument("--device", help="a preset: " + ", ".join(sorted(_devices())))
    b.add_argument("--dsp", type=int, help="DSP blocks")
    b.add_argument("--bram-kbit", type=float, help="block RAM, Kbit")
    b.add_argument("--mhz", type=float, help="clock, MHz")
    b.add_argument("--dram-gbps", type=float, help="DRAM bandwidth, GB/s")
    b.add_argument("--dram-words", type=int, metavar="DW",
                   help="DRAM words per line, a power of two in 1..64 (default: the widest the "
                        "budget's bandwidth serves and the lanes take, 1 without a budget)")
    b.add_argument("--family", choices=("xilinx", "stratix10"), default="xilinx",
                   help="DSP block kind for --dsp (default xilinx: one 25x18 multiplier)")
    c.add_argument("--no-fuse", action="store_true",
                   help="run each ReLU and each pool's argmax as passes of their own (default: a "
                        "ReLU after a convolution runs in its FP drain, a pool writes its argmax "
                        "with its maxima)")
    c.add_argument("--out", required=True, metavar="DIR", help="the accelerator folder to write")
    c.add_argument("--steps", type=int, default=1, help="random batches when no --batch-file (default 1)")
    c.add_argument("--seed", type=int, default=0, help="seed of the random batches (default 0)")
    m = c.add_argument_group("--model options")
    m.add_argument("--recipe", default="fpl19", help="the recipe; the accelerator builds fpl19")
    m.add_argument("--batch", type=int, default=4, help="images per step (default 4)")
    m.add_argument("--groups", type=int, default=2, help="on-chip groups (default 2)")
    m.add_argument("--image-size", type=int, help="input height and width (model default)")
    m.add_argument("--in-channels", type=int, help="input channels (model default)")
    m.add_argument("--lr", type=float, default=0.01, help="learning rate (default 0.01)")
    m.add_argument("--momentum", type=float, default=0.5, help="momentum (default 0.5)")
    m.add_argument("--net-seed", type=int, default=0, help="seed of the weights (default 0)")
    for buf, what in (("xbuf", "input buffer"), ("ebuf", "second-operand buffer"),
                      ("wbuf", "weight buffer, per bank")):
        c.add_argument(f"--{buf}-depth", type=int, metavar="WORDS",
                       help=f"at least this many words in the {what} (default: what the network needs)")
    c.add_argument("--force", action="store_true", help="overwrite a non-empty --out that is not "
                   "an accelerator folder")
    s = sub.add_parser("simulate", help="run a compiled accelerator in RTL simulation and check it")
    s.add_argument("folder", metavar="DIR")
    s.add_argument("--simulator", choices=("verilator", "icarus"), default="verilator")
    s.add_argument("--max-cycles", type=int, default=200_000_000, help="give up after this many cycles")
    s.add_argument("--waves", action="store_true", help="record DIR/run/waves.vcd (Verilator: a "
                   "separate --trace build)")


def _devices() -> dict:
    from .resources import DEVICES

    return DEVICES


def _budget(args):
    from .choose import Budget

    nums = {"--dsp": args.dsp, "--bram-kbit": args.bram_kbit, "--mhz": args.mhz,
            "--dram-gbps": args.dram_gbps}
    given = [k for k, v in nums.items() if v is not None]
    if args.device:
        if given:
            raise ValueError(f"--device sets every budget; drop {' '.join(given)}")
        if args.device not in _devices():
            raise ValueError(f"unknown device {args.device!r}; presets: {', '.join(sorted(_devices()))}")
        return Budget.of(_devices()[args.device])
    if not given:
        return None
    missing = [k for k, v in nums.items() if v is None]
    if missing:
        raise ValueError(f"a budget needs --dsp --bram-kbit --mhz --dram-gbps; missing {' '.join(missing)}")
    return Budget(args.dsp, args.bram_kbit, args.mhz, args.dram_gbps, args.family)


def _npz(path: str, what: str) -> dict:
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except (OSError, ValueError) as exc:
        raise ValueError(f"cannot read {what} {path}: {exc}") from None


def _describe(args) -> dict:
    if args.describe:
        try:
            desc = json.loads(Path(args.describe).read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise ValueError(f"cannot read {args.describe}: {exc}") from None
        if not isinstance(desc, dict) or "layers" not in desc or "plan" not in desc:
            raise ValueError(f"{args.describe} is not a Network.describe() dict (no 'layers'/'plan')")
        return desc
    from fxtrain.models import MODELS
    from fxtrain.presets import fpl19

    if args.model not in MODELS:
        raise ValueError(f"unknown model {args.model!r}; expected one of {sorted(MODELS)}")
    if args.recipe != "fpl19":
        raise ValueError(f"--recipe {args.recipe!r}: the accelerator builds fpl19 (stochastic "
                         "rounding is not in the RTL yet)")
    kw = {k: v for k, v in (("image_size", args.image_size), ("in_channels", args.in_channels)) if v}
    recipe = fpl19(lr=args.lr, momentum=args.momentum, batch=args.batch, groups=args.groups)
    return MODELS[args.model](recipe=recipe, seed=args.net_seed, **kw).describe()


def _batches(path: str, batch: int) -> list:
    z = _npz(path, "batch file")
    if set(z) != {"x", "labels"}:
        raise ValueError(f"{path} must hold exactly 'x' and 'labels', got {sorted(z)}")
    x, y = z["x"], z["labels"]
    if x.dtype != np.int16 or x.ndim != 4:
        raise ValueError(f"{path}: x must be int16 [B, C, H, W], got {x.dtype} {list(x.shape)}")
    if y.dtype.kind not in "iu" or y.shape != (x.shape[0],):
        raise ValueError(f"{path}: labels must be integers [{x.shape[0]}], got {y.dtype} {list(y.shape)}")
    if x.shape[0] % batch or x.shape[0] == 0:
        raise ValueError(f"{path}: {x.shape[0]} images is not a positive multiple of the batch {batch}")
    return [(x[i:i + batch], y[i:i + batch].astype(np.int64)) for i in range(0, x.shape[0], batch)]


def _compile(args) -> int:
    from .build import compile_network

    desc = _describe(args)
    state = _npz(args.state, "state") if args.state else None
    if state is not None and "step" in state:
        raise ValueError(f"{args.state} holds 'step': save state_dict() without it")
    batches = _batches(args.batch_file, int(desc["hyper"]["batch"])) if args.batch_file else None
    lanes = (args.pox, args.poy, args.pof)
    budget = _budget(args)
    if None in lanes and lanes != (None, None, None):
        raise ValueError("give all of --pox --poy --pof, or none of them (a budget chooses them)")
    if lanes == (None, None, None) and budget is None:
        raise ValueError("give the lanes (--pox --poy --pof) or a budget (--device, or --dsp "
                         "--bram-kbit --mhz --dram-gbps) to choose them")
    what = (f"POX={args.pox} POY={args.poy} POF={args.pof}" if args.pox else
            "the lanes that fit the budget")
    print(f"compiling {desc['name']} for {what} ...", flush=True)
    minimum = {f"{b.upper()}_DEPTH": getattr(args, f"{b}_depth") for b in ("xbuf", "ebuf", "wbuf")
               if getattr(args, f"{b}_depth")}
    cfg = compile_network(desc, args.out, args.pox, args.poy, args.pof, state=state, batches=batches,
                          steps=args.steps, seed=args.seed, minimum=minimum, force=args.force,
                          budget=budget, dram_words=args.dram_words,
                          fuse=not args.no_fuse)
    p = cfg["params"]
    print(f"wrote {args.out}: accel_top.v, files.f, program.hex ({len(cfg['program'])} instructions), "
          f"dram.hex ({cfg['dram']['words']} words), config.json, expected.npz, vectors/")
    print(f"buffers (banks x words): XBUF {p['POX'] * p['POY']}x{p['XBUF_DEPTH']}, EBUF "
          f"{p['POF']}x{p['EBUF_DEPTH']}, WBUF {p['POF']}x{p['WBUF_DEPTH']}; DRAM lines of {p['DW']} "
          f"words; accumulators {cfg['widths']['accumulator']}")
    m, r = cfg["modeled"], cfg["resources"]
    print(f"lanes POX={cfg['pox']} POY={cfg['poy']} POF={cfg['pof']}: {r['dsp']} DSP, "
          f"{r['bram_blocks']} block RAMs ({r['bram_bits'] / 1024:.0f} Kbit), ~{r['lut_estimate']} LUTs")
    print(f"modeled at {m['mhz']:g} MHz: {m['cycles']:,} cycles per step, {m['images_per_s']:.1f} images/s, "
          f"{m['gops']:.2f} GOPS (report.md)")
    print(f"modeled cycles: {cfg['modeled_cycles']['total']} for {cfg['steps']} step(s)")
    return 0


def _simulate(args) -> int:
    from .simulate import simulate

    print(f"simulating {args.folder} on {args.simulator} (building once per parameter set) ...", flush=True)
    r = simulate(args.folder, args.simulator, args.max_cycles, args.waves)
    print("\n".join(r.lines))
    print(f"{'layer-phase':<16} {'simulated':>10} {'modeled':>10} {'diff':>7}")
    for k, v in r.per_layer_phase.items():
        d = (v["modeled"] - v["simulated"]) / v["simulated"] * 100 if v["simulated"] else 0.0
        print(f"{k:<16} {v['simulated']:>10} {v['modeled']:>10} {d:>+6.2f}%")
    rate = r.cycles / r.wall_seconds if r.wall_seconds else 0.0
    print(f"simulation: {r.cycles} cycles in {r.wall_seconds:.2f} s ({rate:,.0f} cycles/s)")
    if r.first_mismatch:
        print(f"first mismatch: {r.first_mismatch}")
    diff = (r.modeled_cycles - r.cycles) / r.cycles * 100 if r.cycles else 0.0
    print(f"{r.tensors_equal}/{r.tensors_total} weight and momentum tensors bit-identical; "
          f"cycles simulated {r.cycles}, modeled {r.modeled_cycles} ({diff:+.2f}%)")
    return 0 if r.ok else 1


def run(args) -> int:
    return _compile(args) if args.cmd == "compile" else _simulate(args)
