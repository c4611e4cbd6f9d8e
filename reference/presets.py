"""The fpl19 plan derived from its definition in docs/training.md ("The fpl19 plan, rule by
rule"), independently of fxtrain: ``fpl19_plan(layers)`` returns the plan JSON
(``Network.describe()["plan"]``'s shape) for a ``describe()`` layer list. The differential
tests run the oracle on this plan, not on the engine's, so a wrong rule in the engine's
binding cannot hide behind the oracle. Never imports fxtrain.
"""
from __future__ import annotations

WORD = 16
WEIGHT_FRACS = (15, 15, 15, 16, 16, 16, 16)
MOMENTUM_FRACS = (19, 19, 19, 20, 20, 20, 20)
INPUT_FRAC = 15
WEIGHTED = ("Conv2d", "Linear")


def _spec(f: int, rounding: str, overflow: str) -> dict:
    return {"format": f"Q{WORD}.{f}", "rounding": rounding, "overflow": overflow}


def _table(t: tuple, j: int) -> int:
    return t[min(j, len(t) - 1)]


def fpl19_plan(layers: list[dict], loss: str = "squared_hinge") -> dict:
    """The fpl19 plan of a layer list (dicts with "type" and "name", as describe() gives)."""
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
            fa = min(fa, WORD - 2)
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
        out[name].update({
            "local_gradient": _spec(flg, "half_up", "saturate"),
            "weight_gradient": _spec(fg, "half_up", "saturate"),
            "momentum": _spec(fv, "half_up", "wrap"),
            "lr_frac": 16 + fv - fg, "scale_frac": 16 + f_w[name] - fv,
            "acc_bits": {"fp": bits, "bp": bits, "wu": bits}})
        fe = flg
    return {"recipe": "fpl19", "float64": False, "input": _spec(INPUT_FRAC, "half_even", "saturate"),
            "relu_rule": "ge", "loss": loss, "optimizer": "fpl19",
            "constants": _spec(16, "half_even", "saturate"), "scale_rule": "fpl19",
            "layers": out}
