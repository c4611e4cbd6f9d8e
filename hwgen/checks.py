"""Static checks of the RTL library: Verilator lint, Icarus elaboration, Yosys synthesis.

Split out of :mod:`hwgen.sim` (which runs simulations); ``hwgen.sim`` still re-exports
every public name here (``sim.lint``, ``sim.synth``, ...) so older callers keep working.

- :func:`lint`: ``verilator --lint-only -Wall`` on one library module (submodules found in
  :func:`hwgen.sim.rtl_dir` by name); :class:`LintResult` is ok iff exit 0 and no
  ``%Warning``/``%Error`` line.
- :func:`elaborate`: Icarus ``-g2005`` elaboration plus a time-0 run, so a module's
  ``initial`` parameter guard (``$error`` naming the parameter) shows up in the output.
- :func:`synth`: out-of-context ``yosys synth_xilinx`` with resource counts
  (:class:`SynthReport`: LUT, FF, DSP, BRAM18, LUTRAM/SRL, CARRY, latches).

Library lookups go through the ``hwgen.sim`` module object at call time (``_sim.rtl_dir()``),
so a test that monkeypatches ``hwgen.sim.rtl_dir`` redirects these checks too.
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

from hwgen import sim as _sim
from hwgen.sim import ToolMissing

__all__ = ["LintResult", "SynthReport", "ToolMissing", "elaborate", "lint", "synth"]

# ----------------------------------------------------------------------------- lint


@dataclass(frozen=True)
class LintResult:
    """Outcome of ``verilator --lint-only -Wall``: ok iff exit 0 and no %Warning/%Error."""

    module: str
    ok: bool
    output: str
    command: tuple[str, ...]


def lint(module: str, parameters: Mapping[str, object] | None = None) -> LintResult:
    """Run ``verilator --lint-only -Wall`` on library module `module` (submodules via -y)."""
    _sim.setup_verilator_env()
    params = _sim._check_parameters(parameters)
    cmd = ["verilator", "--lint-only", "-Wall", "--top-module", module, "-y", str(_sim.rtl_dir()),
           *[f"-G{k}={v}" for k, v in params.items()], str(_sim.rtl_source(module))]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    out = proc.stdout + proc.stderr
    ok = proc.returncode == 0 and not re.search(r"^%(Warning|Error)", out, re.M)
    return LintResult(module, ok, out, tuple(cmd))


def elaborate(module: str, parameters: Mapping[str, object] | None = None) -> str:
    """Elaborate `module` with Icarus and run time 0 with no stimulus; return all output.

    This fires the modules' ``initial`` parameter guards, so a test can check that an
    illegal parameter is reported by name. Raises ToolMissing without Icarus.
    """
    for exe in ("iverilog", "vvp"):
        if shutil.which(exe) is None:
            raise ToolMissing(f"Icarus Verilog: {exe!r} not on PATH (apt-get install iverilog)")
    params = _sim._check_parameters(parameters)
    with tempfile.TemporaryDirectory(prefix="hwgen-elab-") as tmp:
        vvp = Path(tmp) / "a.vvp"
        cmd = ["iverilog", "-g2005", "-o", str(vvp), "-s", module, "-y", str(_sim.rtl_dir()),
               "-Y", ".v", *[f"-P{module}.{k}={v}" for k, v in params.items()],
               str(_sim.rtl_source(module))]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        out = proc.stdout + proc.stderr
        if proc.returncode == 0:
            run = subprocess.run(["vvp", "-n", str(vvp)], capture_output=True, text=True)
            out += run.stdout + run.stderr
    return out


# ----------------------------------------------------------------------------- synthesis


@dataclass(frozen=True)
class SynthReport:
    """Yosys ``synth_xilinx`` cell counts, grouped into FPGA resources.

    lut: LUT1..LUT6; ff: FD* flip-flops; dsp: DSP48*; bram18: block RAM in 18 Kb units
    (a RAMB36 counts 2); lutram: distributed RAM and SRL shift registers; carry: CARRY4/8;
    latches: LD* primitives and any generic latch cells (must be 0 in this library).
    """

    module: str
    parameters: dict
    cells: dict
    lut: int
    ff: int
    dsp: int
    bram18: int
    lutram: int
    carry: int
    latches: int

    def table(self) -> str:
        rows = [("LUT", self.lut), ("FF", self.ff), ("DSP", self.dsp), ("BRAM18", self.bram18),
                ("LUTRAM/SRL", self.lutram), ("CARRY", self.carry), ("latches", self.latches)]
        head = f"{self.module} {self.parameters or ''}".rstrip()
        return "\n".join([head] + [f"  {name:<11}{count:>8}" for name, count in rows])


def _classify(cells: Mapping[str, int]) -> dict[str, int]:
    c = {"lut": 0, "ff": 0, "dsp": 0, "bram18": 0, "lutram": 0, "carry": 0, "latches": 0}
    for name, n in cells.items():
        if re.fullmatch(r"LUT[1-6]", name):
            c["lut"] += n
        elif name.startswith("FD"):
            c["ff"] += n
        elif name.startswith("DSP"):
            c["dsp"] += n
        elif name.startswith("RAMB36"):
            c["bram18"] += 2 * n
        elif name.startswith("RAMB18"):
            c["bram18"] += n
        elif name.startswith(("RAM", "SRL")):
            c["lutram"] += n
        elif name.startswith("CARRY"):
            c["carry"] += n
        elif name.startswith("LD") or "LATCH" in name.upper():
            c["latches"] += n
    return c


def synth(module: str, parameters: Mapping[str, object] | None = None,
          family: str = "xc7") -> SynthReport:
    """Synthesize library module `module` with ``yosys synth_xilinx`` (out of context: no
    I/O buffers) and count its resources. Raises ToolMissing without yosys and
    RuntimeError with the log tail if yosys fails."""
    yosys = shutil.which("yosys")
    if yosys is None:
        raise ToolMissing("yosys not on PATH (apt-get install yosys)")
    if not _sim._IDENT.match(family):
        raise ValueError(f"bad FPGA family {family!r}")
    params = _sim._check_parameters(parameters)
    src = _sim.rtl_source(module)
    with tempfile.TemporaryDirectory(prefix="hwgen-synth-") as tmp:
        stat = Path(tmp) / "stat.json"
        proc, data = _yosys(yosys, module, src, params, family, stat)
    if data is None:
        tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-20:])
        raise RuntimeError(f"yosys failed on {module}:\n{tail}")
    design = data.get("design") or next(iter(data["modules"].values()))
    cells = dict(design["num_cells_by_type"])
    return SynthReport(module, params, cells, **_classify(cells))


def synth_files(top: str, files: Sequence[str | Path], family: str = "xc7") -> SynthReport:
    """``yosys synth_xilinx`` of module ``top`` read from ``files`` (e.g. a generated
    accelerator's files.f), out of context, with its resource counts."""
    yosys = shutil.which("yosys")
    if yosys is None:
        raise ToolMissing("yosys not on PATH (apt-get install yosys)")
    if not _sim._IDENT.match(top) or not _sim._IDENT.match(family):
        raise ValueError(f"bad top module {top!r} or FPGA family {family!r}")
    with tempfile.TemporaryDirectory(prefix="hwgen-synth-") as tmp:
        stat = Path(tmp) / "stat.json"
        script = "; ".join([f'read_verilog -defer "{Path(f)}"' for f in files]
                           + [f"hierarchy -top {top}",
                              f"synth_xilinx -family {family} -top {top} -flatten -noiopad -noclkbuf",
                              f"tee -q -o {stat} stat -json"])
        proc = subprocess.run([yosys, "-q", "-p", script], capture_output=True, text=True)
        data = json.loads(stat.read_text()) if proc.returncode == 0 and stat.is_file() else None
    if data is None:
        tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-20:])
        raise RuntimeError(f"yosys failed on {top}:\n{tail}")
    design = data.get("design") or next(iter(data["modules"].values()))
    cells = dict(design["num_cells_by_type"])
    return SynthReport(top, {}, cells, **_classify(cells))


def _yosys_const(name: str, value: int) -> str:
    """A parameter value as yosys' chparam reads it. It cannot decode a minus sign, so a
    negative value goes as its 32-bit two's complement (``32'shffffffc0`` for -64), which
    the module reads back as negative when the parameter is declared ``integer``."""
    if value >= 0:
        return str(value)
    if value < -(1 << 31):
        raise ValueError(f"parameter {name}={value} does not fit a 32-bit integer")
    return f"32'sh{value & 0xFFFFFFFF:08x}"


def _yosys(yosys: str, module: str, src: Path, params: dict, family: str, stat: Path):
    # `hierarchy -libdir` takes its argument verbatim: a quoted path never matches, so
    # submodules were not found. Unquoted when possible; a library folder with blanks in
    # its path instead has every library file read up front (hierarchy keeps the used ones).
    lib = _sim.rtl_dir()
    if re.search(r"\s", str(lib)):
        reads = [f'read_verilog -defer "{p}"' for p in sorted(lib.glob("*.v")) if p != src]
        libdir = ""
    else:
        reads, libdir = [], f" -libdir {lib}"
    script = "; ".join(
        [f'read_verilog -defer "{src}"', *reads]
        + [f"chparam -set {k} {_yosys_const(k, v)} {module}" for k, v in params.items()]
        + [f"hierarchy -top {module}{libdir}",
           f"synth_xilinx -family {family} -top {module} -flatten -noiopad -noclkbuf",
           f"tee -q -o {stat} stat -json"])
    proc = subprocess.run([yosys, "-q", "-p", script], capture_output=True, text=True)
    ok = proc.returncode == 0 and stat.is_file()
    return proc, json.loads(stat.read_text()) if ok else None
