"""``hwgen`` command line: lint, simulate and synthesize modules of the RTL library.

    hwgen tools                         which simulators/tools are usable here, and why not
    hwgen lint [MODULE ...]             verilator --lint-only -Wall (all modules by default)
    hwgen sim MODULE [--simulator S]    run hwgen/tb/<MODULE>_tests.py with cocotb
    hwgen synth MODULE                  yosys synth_xilinx resource table
    hwgen banks BUNDLE --lanes P        cyclic bank and DRAM images of a vector bundle's weights
    hwgen perf (--describe F | --model M) [--pox 4 --poy 4 --pof 16 --batch B --json OUT]
                                        analytical cycles/DRAM/latency/energy per layer and
                                        phase (hwgen.perf); reductions for several phases
    hwgen widths (--describe F | --model M) [--recipe R --batch B --groups G --json OUT]
                                        per layer and phase: terms per sum, the accumulator
                                        width that makes it exact, the plan's width
    hwgen compile (--model M | --describe F) [--state S.npz --batch-file B.npz]
                  --pox N --poy N --pof N --out DIR
                                        the training accelerator for a network: top,
                                        program, DRAM image, expected state (docs/accelerator.md)
    hwgen simulate DIR [--simulator verilator|icarus]
                                        run it in RTL simulation, compare every weight and
                                        momentum word with fxtrain, cycles vs the model

``-P NAME=VALUE`` (repeatable) sets a top-level Verilog parameter. Exit status: 0 on
success, 1 when a check fails, 2 on usage errors or missing tools.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Sequence

from hwgen import bundle_banks, checks, perf, sim, widths
from hwgen.compiler import cli as accel_cli


def _param(text: str) -> tuple[str, int]:
    name, sep, value = text.partition("=")
    try:
        if not sep:
            raise ValueError
        return name.strip(), int(value, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected NAME=INTEGER, got {text!r}") from None


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="hwgen", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    sub.add_parser("tools", help="report which EDA tools are usable")
    params = argparse.ArgumentParser(add_help=False)
    params.add_argument("-P", "--param", type=_param, action="append", default=[],
                        metavar="NAME=VALUE", help="top-level Verilog parameter (repeatable)")
    lint = sub.add_parser("lint", parents=[params], help="verilator --lint-only -Wall")
    lint.add_argument("modules", nargs="*", metavar="MODULE")
    s = sub.add_parser("sim", parents=[params], help="run the module's cocotb testbench")
    s.add_argument("module", metavar="MODULE")
    s.add_argument("--simulator", choices=[*sim.SIMULATORS, "all"], default="verilator")
    s.add_argument("--testcase", help="run only this cocotb test")
    s.add_argument("--seed", type=int, help="cocotb random seed")
    s.add_argument("--waves", action="store_true", help="record waveforms in the build folder")
    y = sub.add_parser("synth", parents=[params], help="yosys synth_xilinx resource table")
    y.add_argument("module", metavar="MODULE")
    y.add_argument("--family", default="xc7", help="synth_xilinx -family (default xc7)")
    bundle_banks.register(sub)
    accel_cli.register(sub)
    _perf_parser(sub)
    wd = sub.add_parser("widths", help="exact accumulator width per layer and phase",
                        description=widths.__doc__.split("\n\n")[0])
    src = wd.add_mutually_exclusive_group(required=True)
    src.add_argument("--describe", metavar="JSON", help="a Network.describe() dict")
    src.add_argument("--model", metavar="NAME", help="a zoo network: cnn1x, cnn2x, cnn4x, lenet")
    wd.add_argument("--recipe", default="fpl19", help="preset for --model (default fpl19)")
    wd.add_argument("--in-channels", type=int, help="input channels for --model (model default)")
    wd.add_argument("--batch", type=int, help="images per step (default: the description's)")
    wd.add_argument("--groups", type=int, help="on-chip groups (default: the description's)")
    wd.add_argument("--json", metavar="OUT", help="also write the rows as JSON (atomically)")
    return p


def _widths(args: argparse.Namespace) -> int:
    if args.model:
        from fxtrain.models import MODELS
        from fxtrain.presets import PRESETS, float64

        if args.model not in MODELS:
            raise ValueError(f"unknown model {args.model!r}; expected one of {sorted(MODELS)}")
        if args.recipe not in PRESETS or args.recipe == "sr16":
            raise ValueError(f"--recipe must be one of {sorted(set(PRESETS) - {'sr16'})} for --model "
                             "(sr16 needs calibration data: pass --describe)")
        kw = {} if args.in_channels is None else {"in_channels": args.in_channels}
        hyper = {k: v for k, v in (("batch", args.batch), ("groups", args.groups)) if v}
        desc = MODELS[args.model](recipe=float64(PRESETS[args.recipe](**hyper)), **kw).describe()
    else:
        try:
            desc = json.loads(Path(args.describe).read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise ValueError(f"cannot read {args.describe}: {exc}") from None
        if not isinstance(desc, dict) or "layers" not in desc:
            raise ValueError(f"{args.describe} is not a Network.describe() dict (no 'layers')")
    rows = widths.exact_widths(desc, args.batch, args.groups)
    print(widths.format_widths(rows))
    if args.json:
        _write_json(args.json, {"rows": rows})
        print(f"wrote {args.json}")
    return 0


def _perf_parser(sub) -> None:
    d = perf.ArrayConfig()
    f = sub.add_parser("perf", help="analytical cost model: cycles, DRAM, latency, energy",
                       description=perf.__doc__.split("\n\n")[0] + " See docs/hardware.md.")
    src = f.add_mutually_exclusive_group(required=True)
    src.add_argument("--describe", metavar="JSON",
                     help="a Network.describe() dict, or {\"phases\": {name: describe-dict}}")
    src.add_argument("--model", metavar="NAME",
                     help="a zoo network with default arguments: cnn1x, cnn2x, cnn4x, lenet")
    f.add_argument("--in-channels", type=int, help="input channels for --model (model default)")
    helps = {"pox": "MAC lanes along output x", "poy": "MAC lanes along output y",
             "pof": "MAC lanes along output channels", "word_bits": "DRAM word length",
             "clock_mhz": "array clock, MHz", "dram_gbps": "DRAM bandwidth, 1e9 bytes/s",
             "pj_per_mac": "energy per 16-bit MAC, pJ", "pj_per_dram_byte": "DRAM energy per byte, pJ"}
    for name, text in helps.items():
        f.add_argument(f"--{name.replace('_', '-')}", type=type(getattr(d, name)),
                       default=getattr(d, name), help=f"{text} (default %(default)s)")
    f.add_argument("--batch", type=int,
                   help="images per training step (default: the description's hyper.batch, else 1)")
    f.add_argument("--json", metavar="OUT", help="also write the costs as JSON (atomically)")


def _write_json(path: str, obj) -> None:
    out = Path(path)
    fd, tmp = tempfile.mkstemp(dir=out.parent or ".", prefix=f".{out.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(obj, fh, indent=1)
            fh.write("\n")
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _perf(args: argparse.Namespace) -> int:
    cfg = perf.ArrayConfig(pox=args.pox, poy=args.poy, pof=args.pof, clock_mhz=args.clock_mhz,
                           word_bits=args.word_bits, dram_gbps=args.dram_gbps,
                           pj_per_mac=args.pj_per_mac, pj_per_dram_byte=args.pj_per_dram_byte)
    if args.model:
        from fxtrain.models import MODELS

        if args.model not in MODELS:
            raise ValueError(f"unknown model {args.model!r}; expected one of {sorted(MODELS)}")
        kw = {} if args.in_channels is None else {"in_channels": args.in_channels}
        nets = {args.model: MODELS[args.model](**kw).describe()}
    else:
        nets = perf.load_descriptions(args.describe)
    costs = {}
    for name, desc in nets.items():
        batch = args.batch
        if batch is None:
            hyper = desc.get("hyper")
            batch = hyper.get("batch", 1) if isinstance(hyper, dict) else 1
        try:
            costs[name] = perf.network_cost(desc, cfg, batch)
        except ValueError as exc:
            raise ValueError(f"network {name!r}: {exc}") from None
    for cost in costs.values():
        print(perf.format_cost(cost))
        print()
    result = {"networks": costs}
    if len(costs) > 1:
        print(perf.reduction_table(costs))
        result["reductions"] = perf.reductions(costs)
    if args.json:
        _write_json(args.json, result)
        print(f"wrote {args.json}")
    return 0


def _tools() -> int:
    for name in sim.SIMULATORS:
        reason = sim.simulator_missing(name)
        print(f"{name:<15} {'ok' if reason is None else 'unavailable: ' + reason}")
    try:
        print(f"{'VERILATOR_ROOT':<15} {sim.verilator_root()}")
    except sim.ToolMissing as exc:
        print(f"{'VERILATOR_ROOT':<15} {exc}")
    print(f"{'yosys':<15} {shutil.which('yosys') or 'unavailable: apt-get install yosys'}")
    print(f"{'build dir':<15} {sim.sim_build_root()}")
    return 0


def _lint(modules: Sequence[str], params: dict) -> int:
    failed = 0
    for module in modules or sim.rtl_modules():
        result = checks.lint(module, params)
        print(f"{'ok  ' if result.ok else 'FAIL'} {module}")
        if not result.ok:
            failed += 1
            print(result.output.rstrip())
    return 1 if failed else 0


def _sim(module: str, simulator: str, params: dict, args: argparse.Namespace) -> int:
    sim.rtl_source(module)
    test_module = f"hwgen.tb.{module}_tests"
    if importlib.util.find_spec(test_module) is None:
        raise ValueError(f"no testbench for {module}: expected module {test_module}")
    sims = [simulator]
    if simulator == "all":
        sims = sim.available_simulators()
        for name in sorted(set(sim.SIMULATORS) - set(sims)):
            print(f"skip {name}: {sim.simulator_missing(name)}")
    status = 0 if sims else 2
    for name in sims:
        try:
            results = sim.run_cocotb(module, test_module, params, name, testcase=args.testcase,
                                     seed=args.seed, waves=args.waves)
            print(f"PASS {module} on {name}: {results}")
        except sim.SimulationFailed as exc:
            print(f"FAIL {exc}")
            status = 1
    return status


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    params = dict(getattr(args, "param", []))
    try:
        if args.cmd == "tools":
            return _tools()
        if args.cmd == "lint":
            return _lint(args.modules, params)
        if args.cmd == "sim":
            return _sim(args.module, args.simulator, params, args)
        if args.cmd == "banks":
            return bundle_banks.run(args)
        if args.cmd == "perf":
            return _perf(args)
        if args.cmd == "widths":
            return _widths(args)
        if args.cmd in ("compile", "simulate"):
            return accel_cli.run(args)
        report = checks.synth(args.module, params, args.family)
        print(report.table())
        return 1 if report.latches else 0
    except (sim.ToolMissing, sim.BuildFailed, ValueError, TypeError, OSError, RuntimeError) as exc:
        print(f"hwgen: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
