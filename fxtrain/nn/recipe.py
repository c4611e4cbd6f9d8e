"""Training recipes: per layer and tensor role a format, a rounding mode and an overflow mode.

A :class:`Recipe` is a *template* (rules such as "output fraction = sum of the operand
fractions - 16", or fractions calibrated from data); binding it to a network's layers gives
a :class:`Plan`: the concrete :class:`TensorSpec` of every tensor every layer produces.
The plan is what the engine executes, what checkpoints store and what vector bundles
record, so hardware sees exactly the numbers the engine used.

Roles (fxtrain.numerics.ROLES): ``activation`` (a layer's requantized output, the
pre-activation of a following ReLU), ``weight``, ``bias``, ``local_gradient`` (the error
a layer passes to its input), ``weight_gradient`` (per on-chip group), ``momentum``,
``update`` (the rounding of the weight step; its format is the weight's) and
``constant`` (lr, scale and momentum constants).

Accumulators: every weighted layer has a width for each phase, ``fp``, ``bp`` and ``wu``
(16..64 bits; 64 keeps every sum of 16-bit products exact). The recipe gives a rule per
layer kind (``conv``, ``linear``) and optional per-layer overrides; the plan records the
resulting width of every layer and phase (:class:`LayerPlan` ``acc_bits``).
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, replace

from ..numerics import OVERFLOW_MODES, ROUNDING_MODES, QFormat

LAYER_ROLES = ("weight", "bias", "activation", "local_gradient", "weight_gradient", "momentum", "update")
PHASES = ("fp", "bp", "wu")
LAYER_KINDS = ("conv", "linear")
ACC_MIN, ACC_MAX = 16, 64


def acc_widths(value, what: str) -> dict[str, int]:
    """``value`` (an int for every phase, or {phase: int} naming all three) as
    {"fp": b, "bp": b, "wu": b}, each ACC_MIN..ACC_MAX; anything else is a ValueError
    naming ``what``."""
    if isinstance(value, dict):
        unknown = set(value) - set(PHASES)
        missing = set(PHASES) - set(value)
        if unknown or missing:
            raise ValueError(f"{what}: accumulator widths need exactly the phases {PHASES}, "
                             f"got {sorted(value)}")
        out = {ph: value[ph] for ph in PHASES}
    else:
        out = {ph: value for ph in PHASES}
    for ph, b in out.items():
        if isinstance(b, bool) or not isinstance(b, int) or not ACC_MIN <= b <= ACC_MAX:
            raise ValueError(f"{what}: accumulator width of phase {ph!r} must be an integer "
                             f"{ACC_MIN}..{ACC_MAX} (64 = exact), got {b!r}")
    return out


@dataclass(frozen=True)
class TensorSpec:
    """How one tensor is stored and produced: ``fmt``, ``rounding`` and ``overflow``."""

    fmt: QFormat
    rounding: str = "half_up"
    overflow: str = "saturate"

    def __post_init__(self) -> None:
        if not isinstance(self.fmt, QFormat):
            raise TypeError(f"TensorSpec.fmt must be a QFormat, got {self.fmt!r}")
        if self.rounding not in ROUNDING_MODES:
            raise ValueError(f"unknown rounding {self.rounding!r}; expected one of {ROUNDING_MODES}")
        if self.overflow not in OVERFLOW_MODES:
            raise ValueError(f"unknown overflow {self.overflow!r}; expected one of {OVERFLOW_MODES}")

    @property
    def f(self) -> int:
        return self.fmt.f

    def with_f(self, f: int) -> "TensorSpec":
        return replace(self, fmt=QFormat(self.fmt.w, f))

    def to_json(self) -> dict:
        return {"format": str(self.fmt), "rounding": self.rounding, "overflow": self.overflow}

    @classmethod
    def from_json(cls, d: dict) -> "TensorSpec":
        """Inverse of :meth:`to_json`; ValueError for anything but exactly those three strings."""
        if not isinstance(d, dict) or set(d) != {"format", "rounding", "overflow"} \
                or not all(isinstance(v, str) for v in d.values()):
            raise ValueError(f"malformed tensor spec {d!r}: expected "
                             "{'format': 'Q<w>.<f>', 'rounding': ..., 'overflow': ...}")
        return cls(QFormat.parse(d["format"]), d["rounding"], d["overflow"])


@dataclass
class LayerPlan:
    """Concrete specs of one layer's tensors (roles it does not have are None)."""

    activation: TensorSpec | None = None
    local_gradient: TensorSpec | None = None
    weight: TensorSpec | None = None
    bias: TensorSpec | None = None
    weight_gradient: TensorSpec | None = None
    momentum: TensorSpec | None = None
    update: TensorSpec | None = None
    #: fraction of the 16-bit learning-rate constant lr_q and of the scale constant s_q
    lr_frac: int | None = None
    scale_frac: int | None = None
    #: accumulator width per phase {"fp", "bp", "wu"} (weighted layers)
    acc_bits: dict[str, int] | None = None

    def to_json(self) -> dict:
        d = {r: getattr(self, r).to_json() for r in LAYER_ROLES if getattr(self, r) is not None}
        if self.lr_frac is not None:
            d["lr_frac"], d["scale_frac"] = self.lr_frac, self.scale_frac
        if self.acc_bits is not None:
            d["acc_bits"] = dict(self.acc_bits)
        return d

    @classmethod
    def from_json(cls, d: dict, default_acc: int | None = None) -> "LayerPlan":
        """``default_acc``: the width of every phase when ``d`` has no ``acc_bits`` (plans
        written before contract 1.1 had one width for the whole network)."""
        if not isinstance(d, dict):
            raise ValueError(f"a layer plan must be a JSON object, got {d!r}")
        d = dict(d)
        consts = {k: d.pop(k) for k in ("lr_frac", "scale_frac") if k in d}
        if len(consts) == 1:
            raise ValueError("layer plan needs both lr_frac and scale_frac, or neither")
        for k, v in consts.items():
            if isinstance(v, bool) or not isinstance(v, int) or not -64 <= v <= 64:
                raise ValueError(f"layer plan {k} must be an integer in [-64, 64], got {v!r}")
        acc = d.pop("acc_bits", default_acc)
        unknown = set(d) - set(LAYER_ROLES)
        if unknown:
            raise ValueError(f"unknown tensor roles in layer plan: {sorted(unknown)}")
        acc = None if acc is None else acc_widths(acc, "layer plan")
        return cls(**{r: TensorSpec.from_json(v) for r, v in d.items()}, **consts, acc_bits=acc)


_PLAN_FIELDS = ("recipe", "float64", "input", "relu_rule", "loss", "optimizer", "constants",
                "scale_rule", "layers")
_LOSSES = ("squared_hinge", "mse", "softmax_xent")  # fxtrain.nn.losses.LOSSES (which imports us)


@dataclass
class Plan:
    """A recipe bound to one network: every tensor's spec, plus global settings."""

    recipe: str
    float64: bool
    input: TensorSpec
    relu_rule: str
    loss: str
    optimizer: str
    constants: TensorSpec
    #: how lr/batch splits into lr_q * s_q: "fpl19" (scale = 1.05 * 2**(f_lr-15) * lr_start/batch)
    #: or "half" (scale = 2 * lr_start / batch, so lr_q = 0.5 at lr_start)
    scale_rule: str = "fpl19"
    layers: dict[str, LayerPlan] = field(default_factory=dict)

    def __getitem__(self, layer: str) -> LayerPlan:
        return self.layers[layer]

    def acc(self, layer: str, phase: str) -> int:
        """Accumulator width of ``layer`` in ``phase`` ("fp", "bp" or "wu")."""
        return self.layers[layer].acc_bits[phase]

    def acc_table(self) -> dict[str, dict[str, int]]:
        """{layer: {"fp": b, "bp": b, "wu": b}} for every weighted layer, in order."""
        return {k: dict(v.acc_bits) for k, v in self.layers.items() if v.acc_bits is not None}

    def acc_summary(self) -> str:
        """One line: every weighted layer's accumulator widths, e.g.
        ``accumulator bits fp/bp/wu: conv0 64/64/64, ..., fc 32/32/32``."""
        rows = ", ".join(f"{k} {v['fp']}/{v['bp']}/{v['wu']}" for k, v in self.acc_table().items())
        return f"accumulator bits fp/bp/wu: {rows}"

    def to_json(self) -> dict:
        return {
            "recipe": self.recipe, "float64": self.float64, "input": self.input.to_json(),
            "relu_rule": self.relu_rule, "loss": self.loss,
            "optimizer": self.optimizer, "constants": self.constants.to_json(),
            "scale_rule": self.scale_rule, "layers": {k: v.to_json() for k, v in self.layers.items()},
        }

    @classmethod
    def from_json(cls, d: dict) -> "Plan":
        """Inverse of :meth:`to_json` (plus contract 1.0's global ``acc_bits``); every field
        is checked, and anything else is a ValueError naming the field."""
        if not isinstance(d, dict):
            raise ValueError(f"a plan must be a JSON object, got {type(d).__name__}")
        missing = [k for k in _PLAN_FIELDS if k not in d]
        if missing:
            raise ValueError(f"plan is missing fields {missing}")
        unknown = sorted(set(d) - set(_PLAN_FIELDS) - {"acc_bits"})
        if unknown:
            raise ValueError(f"plan has unknown fields {unknown}")
        for k, allowed in (("relu_rule", ("ge", "gt")), ("loss", _LOSSES), ("optimizer", ("fpl19",)),
                           ("scale_rule", ("fpl19", "half"))):
            if d[k] not in allowed:
                raise ValueError(f"plan {k} must be one of {allowed}, got {d[k]!r}")
        if not isinstance(d["recipe"], str) or not isinstance(d["float64"], bool):
            raise ValueError("plan recipe must be a string and float64 a boolean")
        if not isinstance(d["layers"], dict) or not d["layers"]:
            raise ValueError("plan layers must be a non-empty JSON object {name: layer plan}")
        legacy = d.get("acc_bits")  # contract 1.0: one width for every layer and phase
        if legacy is not None:
            acc_widths(legacy, "plan acc_bits")
        layers = {}
        for k, v in d["layers"].items():
            try:
                layers[k] = LayerPlan.from_json(v, legacy)
            except ValueError as exc:
                raise ValueError(f"plan layer {k!r}: {exc}") from None
        return cls(recipe=d["recipe"], float64=d["float64"], input=TensorSpec.from_json(d["input"]),
                   relu_rule=d["relu_rule"], loss=d["loss"], optimizer=d["optimizer"],
                   constants=TensorSpec.from_json(d["constants"]), scale_rule=d["scale_rule"],
                   layers=layers)

    def dumps(self) -> str:
        return json.dumps(self.to_json(), indent=1, sort_keys=True)


@dataclass
class Recipe:
    """A training recipe template; see the module docstring and fxtrain.presets.

    Hyper-parameters: ``lr`` (current learning rate, changed by schedules), ``lr_start``
    (fixes the split of lr/batch into two 16-bit constants), ``momentum``, ``batch`` and
    ``groups`` (on-chip batch groups; each group's weight gradient is requantized on its own).
    """

    name: str
    lr: float = 0.01
    momentum: float = 0.5
    batch: int = 40
    groups: int = 1
    lr_start: float | None = None
    float64: bool = False
    #: data word length of every tensor (2..16; the int16 kernels hold any of them)
    word: int = 16
    #: word length of the lr/scale/momentum constants (16-bit registers whatever ``word``)
    const_word: int = 16
    #: accumulator width rule per layer kind: an int for every kind and phase, or
    #: {"conv": w, "linear": w} with w an int or {"fp": b, "bp": b, "wu": b}
    acc_bits: int | dict = 32
    #: per-layer overrides of the rule {layer name: int or {phase: b}}
    acc_override: dict = field(default_factory=dict)
    relu_rule: str = "ge"
    loss: str = "squared_hinge"
    optimizer: str = "fpl19"
    input_f: int = 15
    #: weight and momentum fractions per weight layer, in order; the last entry repeats
    weight_fracs: tuple[int, ...] = (15, 15, 15, 16, 16, 16, 16)
    momentum_fracs: tuple[int, ...] = (19, 19, 19, 20, 20, 20, 20)
    #: "sum-16": output fraction = sum of operand fractions - 16 (fpl19);
    #: "calibrated": fractions from a float warm-up batch (sr16), see fxtrain.nn.calibrate
    frac_rule: str = "sum-16"
    headroom_bits: int = 1
    weight_headroom_bits: int = 2
    scale_rule: str = "fpl19"
    #: float warm-up batch (x in [0, 1), integer labels) for frac_rule == "calibrated"
    calibration: tuple | None = field(default=None, repr=False, compare=False)
    rounding: dict[str, str] = field(default_factory=lambda: {
        "activation": "half_up", "local_gradient": "half_up", "weight_gradient": "half_up",
        "momentum": "half_up", "update": "half_up", "input": "half_even", "constant": "half_even"})
    overflow: dict[str, str] = field(default_factory=lambda: {
        "activation": "saturate", "local_gradient": "saturate", "weight_gradient": "saturate",
        "momentum": "wrap", "update": "wrap", "input": "saturate", "constant": "saturate"})
    #: explicit per-layer fraction overrides {layer: {role: f}} (set by calibration)
    fracs: dict[str, dict[str, int]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.lr_start is None:
            self.lr_start = self.lr
        for what, v in (("batch", self.batch), ("groups", self.groups)):
            if not isinstance(v, int) or v < 1:
                raise ValueError(f"recipe {what} must be a positive integer, got {v!r}")
        if self.batch % self.groups:
            raise ValueError(f"batch {self.batch} is not a multiple of groups {self.groups}")
        if not (math.isfinite(self.lr) and self.lr > 0 and math.isfinite(self.lr_start)
                and self.lr_start > 0) or not 0 <= self.momentum < 1:
            raise ValueError(f"need finite lr > 0, lr_start > 0 and 0 <= momentum < 1, got "
                             f"lr={self.lr}, lr_start={self.lr_start}, momentum={self.momentum}")
        for what, v, lo, hi in (("word", self.word, 2, 16), ("const_word", self.const_word, 2, 32)):
            if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
                raise ValueError(f"recipe {self.name}: {what} must be an integer {lo}..{hi}, got {v!r}")
        self.acc_rule()  # validates acc_bits
        for layer, v in self.acc_override.items():
            acc_widths(v, f"recipe {self.name}: acc_override[{layer!r}]")
        if self.relu_rule not in ("ge", "gt"):
            raise ValueError(f"relu_rule must be 'ge' or 'gt', got {self.relu_rule!r}")
        if self.frac_rule not in ("sum-16", "calibrated"):
            raise ValueError(f"unknown frac_rule {self.frac_rule!r}")
        for table in (self.rounding, self.overflow):
            for role in ("activation", "local_gradient", "weight_gradient", "momentum", "update",
                         "input", "constant"):
                if role not in table:
                    raise ValueError(f"recipe {self.name}: no rounding/overflow for role {role!r}")
        for r in self.rounding.values():
            if r not in ROUNDING_MODES:
                raise ValueError(f"unknown rounding {r!r}; expected one of {ROUNDING_MODES}")
        for o in self.overflow.values():
            if o not in OVERFLOW_MODES:
                raise ValueError(f"unknown overflow {o!r}; expected one of {OVERFLOW_MODES}")

    def acc_rule(self) -> dict[str, dict[str, int]]:
        """{"conv": {phase: b}, "linear": {phase: b}} from ``acc_bits``."""
        a = self.acc_bits
        if isinstance(a, dict) and set(a) <= set(LAYER_KINDS) and set(a):
            missing = set(LAYER_KINDS) - set(a)
            if missing:
                raise ValueError(f"recipe {self.name}: acc_bits has no rule for {sorted(missing)}")
            return {k: acc_widths(a[k], f"recipe {self.name}: acc_bits[{k!r}]") for k in LAYER_KINDS}
        if isinstance(a, dict) and not set(a) <= set(PHASES):
            raise ValueError(f"recipe {self.name}: acc_bits keys must be layer kinds {LAYER_KINDS} "
                             f"or phases {PHASES}, got {sorted(a)}")
        w = acc_widths(a, f"recipe {self.name}: acc_bits")
        return {k: dict(w) for k in LAYER_KINDS}

    def acc_for(self, layer: str, kind: str) -> dict[str, int]:
        """The widths of one weighted layer: its override, else its kind's rule."""
        if layer in self.acc_override:
            return acc_widths(self.acc_override[layer], f"acc_override[{layer!r}]")
        return self.acc_rule()[kind]

    def spec(self, role: str, f: int) -> TensorSpec:
        return TensorSpec(QFormat(self.word, f), self.rounding[role], self.overflow[role])

    @property
    def group_size(self) -> int:
        return self.batch // self.groups
