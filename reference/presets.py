"""The fpl19 and sr16 plans derived from their definitions in docs/training.md ("The fpl19
plan, rule by rule", "The sr16 plan, rule by rule"), independently of fxtrain:
``fpl19_plan(layers)`` and ``sr16_plan(layers, seed, x, labels, ...)`` return the plan JSON
(``Network.describe()["plan"]``'s shape) for a ``describe()`` layer list. The differential
tests run the oracle on these plans, not on the engine's, so a wrong rule in the engine's
binding (or calibration) cannot hide behind the oracle. Never imports fxtrain.
"""
from __future__ import annotations

import math

from . import float_step

WORD = 16
WEIGHT_FRACS = (15, 15, 15, 16, 16, 16, 16)
MOMENTUM_FRACS = (19, 19, 19, 20, 20, 20, 20)
INPUT_FRAC = 15
WEIGHTED = ("Conv2d", "Linear")


def _spec(f: int, rounding: str, overflow: str) -> dict:
    return {"format": f"Q{WORD}.{f}", "rounding": rounding, "overflow": overflow}


def _table(t: tuple, j: int) -> int:
    return t[min(j, len(t) - 1)]


def fpl19_plan(layers: list[dict], loss: str = "squared_hinge", relu_rule: str = "ge",
               acc: dict | None = None) -> dict:
    """The fpl19 plan of a layer list (dicts with "type" and "name", as describe() gives).

    ``loss`` and ``relu_rule`` are the preset's unless a caller overrides them; ``acc``
    ({layer: {fp, bp, wu}}) replaces the preset's accumulator widths per layer."""
    weighted = [L for L in layers if L["type"] in WEIGHTED]
    if not weighted:
        raise ValueError("a network needs at least one Conv2d or Linear layer")
    out: dict[str, dict] = {}
    f = INPUT_FRAC
    f_in: dict[str, int] = {}
    f_w: dict[str, int] = {}
    for j, L in enumerate(weighted):
        name = L["name"]
        f_in[name], f_w[name] = f, _table(WEIGHT_FRACS, j)
        fa = f + f_w[name] - 16
        if j == len(weighted) - 1 and loss in ("squared_hinge", "mse"):
            fa = max(0, min(fa, WORD - 2))
        out[name] = {"activation": _spec(fa, "half_up", "saturate"),
                     "weight": _spec(f_w[name], "half_up", "wrap"),
                     "update": _spec(f_w[name], "half_up", "wrap")}
        f = fa
    fe = f
    for j in range(len(weighted) - 1, -1, -1):
        L = weighted[j]
        name = L["name"]
        fg = fe + f_in[name] - 16
        flg = fe + f_w[name] - 16
        fv = _table(MOMENTUM_FRACS, j)
        bits = 64 if L["type"] == "Conv2d" else 32
        widths = (acc or {}).get(name, {"fp": bits, "bp": bits, "wu": bits})
        out[name].update({
            "local_gradient": _spec(flg, "half_up", "saturate"),
            "weight_gradient": _spec(fg, "half_up", "saturate"),
            "momentum": _spec(fv, "half_up", "wrap"),
            "lr_frac": 16 + fv - fg, "scale_frac": 16 + f_w[name] - fv,
            "acc_bits": dict(widths)})
        fe = flg
    return {"recipe": "fpl19", "float64": False, "input": _spec(INPUT_FRAC, "half_even", "saturate"),
            "relu_rule": relu_rule, "loss": loss, "optimizer": "fpl19",
            "constants": _spec(16, "half_even", "saturate"), "scale_rule": "fpl19",
            "layers": out}


SR16_ROUNDING = {"activation": "half_even", "local_gradient": "half_even", "weight_gradient": "stochastic",
                 "momentum": "stochastic", "update": "stochastic", "input": "half_even",
                 "constant": "half_even"}
FRAC_LIMIT = 32


def calibrated_frac(m: float, headroom: int, word: int = WORD) -> int:
    """``(w - 1) - (floor(log2 m) + 1) - headroom`` for ``m > 0`` (floor(log2) exactly, by
    frexp), ``w - 1 - headroom`` for 0 or a non-finite m, clamped to [-32, 32]."""
    if m > 0 and math.isfinite(m):
        f = (word - 1) - math.frexp(m)[1] - headroom  # frexp: m = x * 2**e, 0.5 <= x < 1
    else:
        f = word - 1 - headroom
    return max(-FRAC_LIMIT, min(FRAC_LIMIT, f))


def calibrated_plan(layers: list[dict], seed: int, x, labels, batch: int, groups: int, lr_start: float,
                    word: int = WORD, name: str = "sr16", loss: str = "squared_hinge",
                    relu_rule: str = "ge", rounding: dict | None = None, overflow: dict | None = None,
                    headroom_bits: int = 3, weight_headroom_bits: int = 2) -> dict:
    """The plan of a calibrated recipe (sr16 by default, any ``word``), calibrated on the
    float batch ``(x, labels)`` with the network's own float initial weights
    (``float_step.he_uniform(layers, seed)``)."""
    r = dict(SR16_ROUNDING if rounding is None else rounding)
    o = {role: "saturate" for role in SR16_ROUNDING} if overflow is None else dict(overflow)
    weighted = [L for L in layers if L["type"] in WEIGHTED]
    if not weighted:
        raise ValueError("a network needs at least one Conv2d or Linear layer")
    w = float_step.he_uniform(layers, seed)
    m = float_step.magnitudes(layers, w, x, labels, loss, relu_rule, batch // groups)

    def spec(role, f):
        return {"format": f"Q{word}.{f}", "rounding": r[role], "overflow": o[role]}

    def frac(v, h):
        return calibrated_frac(v, h, word)

    scale = 2.0 * lr_start / batch
    out: dict[str, dict] = {}
    for j, L in enumerate(weighted):
        lname, st = L["name"], m[L["name"]]
        fw = frac(st["weight"], weight_headroom_bits)
        fa = frac(st["activation"], headroom_bits)
        if j == len(weighted) - 1 and loss in ("squared_hinge", "mse"):
            fa = max(0, min(fa, word - 2))
        fg = frac(st["weight_gradient"], headroom_bits)
        out[lname] = {"activation": spec("activation", fa), "weight": spec("update", fw),
                      "update": spec("update", fw),
                      "local_gradient": spec("local_gradient", frac(st["local_gradient"], headroom_bits)),
                      "weight_gradient": spec("weight_gradient", fg), "momentum": spec("momentum", fg),
                      "lr_frac": 15, "scale_frac": 14 - math.frexp(scale)[1],  # 13 - floor(log2 scale)
                      "acc_bits": {"fp": 32, "bp": 32, "wu": 32}}
    # the constants are 16-bit registers whatever the data word
    return {"recipe": name, "float64": False,
            "input": spec("input", frac(m["input"]["activation"], headroom_bits)),
            "relu_rule": relu_rule, "loss": loss, "optimizer": "fpl19",
            "constants": {"format": "Q16.16", "rounding": r["constant"], "overflow": o["constant"]},
            "scale_rule": "half", "layers": out}


def sr16_plan(layers: list[dict], seed: int, x, labels, batch: int, groups: int, lr_start: float,
              loss: str = "squared_hinge", relu_rule: str = "ge", rounding: dict | None = None,
              headroom_bits: int = 3, weight_headroom_bits: int = 2) -> dict:
    """The sr16 plan: :func:`calibrated_plan` at 16 bits with sr16's modes."""
    return calibrated_plan(layers, seed, x, labels, batch, groups, lr_start, loss=loss, relu_rule=relu_rule,
                           rounding=rounding, headroom_bits=headroom_bits,
                           weight_headroom_bits=weight_headroom_bits)
