"""Sweep specs: a TOML file -> validated cells, each one training run.

::

    [sweep]
    name = "precision-fashion"

    [fixed]                       # settings shared by every cell
    model = "cnn1x"
    recipe = "calibrated"
    data = "fashion-mnist"
    epochs = 3
    limit_train = 10000

    [grid]                        # the cartesian product of these lists is the set of cells
    word = [8, 12, 16]
    rounding = ["half_even", "stochastic"]
    seed = [0, 1]

    [[cells]]                     # extra single cells (merged over [fixed]), e.g. references
    recipe = "fpl19"
    word = 16

Keys (in ``[fixed]``, as ``[grid]`` axes and in ``[[cells]]``): the fields of
:class:`fxtrain.train.loop.TrainConfig` under their CLI names: ``model``, ``recipe``,
``float64``, ``data``, ``data_dir``, ``image_size``, ``epochs``, ``batch``, ``groups``,
``lr``, ``momentum``, ``schedule``, ``seed``, ``limit_train``, ``limit_test``, ``word``,
``rounding`` (the update rounding of the calibrated recipe), ``overflow`` and
``update_overflow`` (the fixed recipes' momentum and update overflow, e.g. fpl19 with
saturating updates). For the fixed recipes, ``word``, ``rounding`` and ``overflow`` are
ignored, so that one grid can hold both. Unknown tables or keys, empty axes, duplicate cells and values that
``TrainConfig`` refuses are errors before anything runs, each naming the key or cell.

A cell's key is the sha256 of its canonical configuration (sorted JSON) plus the fxtrain
version, so that a rerun of the same spec finds its finished cells, and a new version of
the engine runs them again.
"""
from __future__ import annotations

import hashlib
import itertools
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

try:  # Python >= 3.11
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - 3.10
    import tomli as tomllib

from .. import __version__

#: spec key -> TrainConfig field
KEYS = {"model": "model", "recipe": "recipe", "float64": "float64", "data": "dataset",
        "data_dir": "data_dir", "image_size": "image_size", "epochs": "epochs", "batch": "batch",
        "groups": "groups", "lr": "lr", "momentum": "momentum", "schedule": "schedule", "seed": "seed",
        "limit_train": "limit_train", "limit_test": "limit_test", "word": "word",
        "rounding": "update_rounding", "overflow": "overflow", "update_overflow": "update_overflow"}
#: only the calibrated recipe has these
FAMILY_KEYS = ("word", "rounding", "overflow")
TABLES = ("sweep", "fixed", "grid", "cells")


class SpecError(ValueError):
    """A sweep spec that cannot run; the message names the file and the key or cell."""


@dataclass
class Cell:
    """One training run: its settings under spec names, and the grid values that made it."""

    settings: dict
    axes: dict = field(default_factory=dict)

    def train_config(self):
        from ..train.loop import TrainConfig

        kw = {KEYS[k]: v for k, v in self.settings.items()}
        if kw.get("recipe", "fpl19") != "calibrated":
            for k in FAMILY_KEYS:
                kw.pop(KEYS[k], None)
        return TrainConfig(**kw)

    @property
    def config(self) -> dict:
        """The canonical configuration (every TrainConfig field, data folder made absolute;
        ``update_overflow`` only when set, so cells from before it keep their keys)."""
        c = asdict(self.train_config())
        if c.get("update_overflow") is None:
            c.pop("update_overflow", None)
        return c

    @property
    def key(self) -> str:
        return cell_key(self.config)


def cell_key(config: dict, version: str = __version__) -> str:
    text = json.dumps({"config": config, "fxtrain": version}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:20]


@dataclass
class SweepSpec:
    name: str
    fixed: dict
    grid: dict[str, list]
    extra: list[dict]
    source: str = "<spec>"

    def cells(self) -> list[Cell]:
        axes = list(self.grid)
        out = [Cell({**self.fixed, **dict(zip(axes, values))}, dict(zip(axes, values)))
               for values in itertools.product(*(self.grid[a] for a in axes))]
        out += [Cell({**self.fixed, **e}, {}) for e in self.extra]
        seen: dict[str, int] = {}
        for i, c in enumerate(out):
            try:
                k = c.key
            except (TypeError, ValueError) as exc:
                raise SpecError(f"{self.source}: cell {i} {c.settings}: {exc}") from None
            if k in seen:
                raise SpecError(f"{self.source}: cells {seen[k]} and {i} are the same run "
                                f"({_short(c.settings)}); remove one")
            seen[k] = i
        return out


def _short(d: dict) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in d.items())


def _check_keys(table: dict, where: str, source: str) -> None:
    unknown = sorted(set(table) - set(KEYS))
    if unknown:
        raise SpecError(f"{source}: unknown key{'s' if len(unknown) > 1 else ''} {unknown} in {where}; "
                        f"known: {sorted(KEYS)}")


def parse_spec(text: str, source: str = "<spec>") -> SweepSpec:
    """Parse and validate spec text (see the module docstring)."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"{source}: not valid TOML: {exc}") from None
    unknown = sorted(set(doc) - set(TABLES))
    if unknown:
        raise SpecError(f"{source}: unknown table{'s' if len(unknown) > 1 else ''} {unknown}; "
                        f"expected {list(TABLES)}")
    sweep = doc.get("sweep", {})
    if not isinstance(sweep, dict) or set(sweep) - {"name"}:
        raise SpecError(f"{source}: [sweep] holds only name = \"...\"")
    name = sweep.get("name")
    if not isinstance(name, str) or not name.strip():
        raise SpecError(f"{source}: [sweep] needs name = \"...\"")
    fixed = doc.get("fixed", {})
    grid = doc.get("grid", {})
    extra = doc.get("cells", [])
    if not isinstance(fixed, dict) or not isinstance(grid, dict) or not isinstance(extra, list):
        raise SpecError(f"{source}: [fixed] and [grid] are tables, [[cells]] an array of tables")
    _check_keys(fixed, "[fixed]", source)
    _check_keys(grid, "[grid]", source)
    for i, e in enumerate(extra):
        _check_keys(e, f"[[cells]] {i}", source)
    for k, v in grid.items():
        if not isinstance(v, list) or not v:
            raise SpecError(f"{source}: [grid] {k} must be a non-empty list, got {v!r}")
        if len(set(map(repr, v))) != len(v):
            raise SpecError(f"{source}: [grid] {k} lists a value twice: {v}")
        if k in fixed:
            raise SpecError(f"{source}: {k} is both in [fixed] and a [grid] axis")
    if not grid and not extra:
        raise SpecError(f"{source}: no cells: give [grid] axes or [[cells]]")
    return SweepSpec(name.strip(), dict(fixed), dict(grid), [dict(e) for e in extra], source)


def load_spec(path: str | os.PathLike) -> SweepSpec:
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"sweep spec {p} does not exist")
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise SpecError(f"{p}: not UTF-8 text: {exc}") from None
    return parse_spec(text, str(p))
