"""Binding a recipe to a network: every tensor's fraction, rounding and overflow.

Fraction rules (the recipe's ``frac_rule``):

- ``sum-16`` (fpl19): a layer's output fraction is the sum of its operands' fractions
  minus 16 — a fixed 16-bit shift after every 16x16 multiply:
  activation ``f_a + f_W - 16``, local gradient ``f_e + f_W - 16``, weight gradient
  ``f_e + f_a - 16``; momentum fractions come from the recipe's table.
- ``calibrated`` (sr16): each tensor's fraction is chosen from its largest magnitude in a
  float64 warm-up batch, ``f = (w - 1) - (floor(log2 max) + 1) - headroom``, so the value
  fits with ``headroom`` spare integer bits (weights get ``weight_headroom_bits``);
  momentum shares the weight gradient's fraction.

Learning-rate constants: lr/batch is split into two 16-bit words, ``lr_q`` (fraction
``lr_frac``) multiplying each group's weight gradient into the momentum, and ``s_q``
(fraction ``scale_frac``) multiplying the momentum into the weight step.
"""
from __future__ import annotations

import math
from dataclasses import replace

from ..numerics import QFormat
from .recipe import LayerPlan, Plan, Recipe, TensorSpec


def frac_for(maxabs: float, w: int = 16, headroom: int = 1) -> int:
    """Largest fraction that holds ``maxabs`` in a w-bit word with ``headroom`` spare bits.

    Example: frac_for(0.9) == 14 (0.9 needs 0 integer bits, +1 headroom); frac_for(1.0) == 13.
    """
    if not maxabs > 0 or not math.isfinite(maxabs):
        return w - 1 - headroom
    return (w - 1) - (math.floor(math.log2(maxabs)) + 1) - headroom


def _entry(table: tuple[int, ...], j: int) -> int:
    return table[min(j, len(table) - 1)]


def bind(recipe: Recipe, layers: list) -> Plan:
    """The concrete :class:`Plan` of ``recipe`` on ``layers`` (see the module docstring)."""
    cal = recipe.frac_rule == "calibrated"
    if cal and not recipe.fracs:
        raise ValueError(f"recipe {recipe.name!r} is calibrated but has no fractions yet: "
                         "give it a calibration batch (see fxtrain.presets.sr16)")
    fr = recipe.fracs
    w = recipe.word

    def calf(layer: str, role: str) -> int:
        try:
            return int(fr[layer][role])
        except KeyError:
            raise ValueError(f"calibrated recipe has no fraction for {layer}.{role}") from None

    f = calf("input", "activation") if cal else recipe.input_f
    plan = Plan(
        recipe=recipe.name, float64=recipe.float64, input=recipe.spec("input", f),
        relu_rule=recipe.relu_rule, loss=recipe.loss,
        optimizer=recipe.optimizer, scale_rule=recipe.scale_rule,
        constants=TensorSpec(QFormat(recipe.const_word, 16), recipe.rounding["constant"],
                             recipe.overflow["constant"]),
    )
    weighted = [L for L in layers if L.weighted]
    if not weighted:
        raise ValueError("a network needs at least one Conv2d or Linear layer")
    names = {L.name for L in weighted}
    stray = set(recipe.acc_override) - names
    if stray:
        raise ValueError(f"recipe {recipe.name}: acc_override names layers this network does not "
                         f"have: {sorted(stray)} (weighted layers: {sorted(names)})")
    f_in: dict[str, int] = {}
    j = 0
    for L in layers:
        if not L.weighted:
            continue
        f_in[L.name] = f
        fW = calf(L.name, "weight") if cal else _entry(recipe.weight_fracs, j)
        fa = calf(L.name, "activation") if cal else f + fW - 16
        if L is weighted[-1] and recipe.loss in ("squared_hinge", "mse"):
            fa = max(0, min(fa, w - 2))  # the +-1 targets live in the logits' format
        plan.layers[L.name] = LayerPlan(
            activation=recipe.spec("activation", fa),
            weight=TensorSpec(recipe.spec("update", fW).fmt, recipe.rounding["update"],
                              recipe.overflow["update"]),
            update=recipe.spec("update", fW),
            acc_bits=recipe.acc_for(L.name, L.kind),
        )
        f = fa
        j += 1
    fe = f  # loss gradients are held in the logits' format
    for j in range(len(weighted) - 1, -1, -1):
        L = weighted[j]
        lp = plan.layers[L.name]
        fW = lp.weight.f
        fG = calf(L.name, "weight_gradient") if cal else fe + f_in[L.name] - 16
        flg = calf(L.name, "local_gradient") if cal else fe + fW - 16
        fV = fG if cal else _entry(recipe.momentum_fracs, j)
        lp.weight_gradient = recipe.spec("weight_gradient", fG)
        lp.local_gradient = recipe.spec("local_gradient", flg)
        lp.momentum = recipe.spec("momentum", fV)
        if recipe.scale_rule == "fpl19":
            lp.lr_frac, lp.scale_frac = 16 + fV - fG, 16 + fW - fV
        else:
            scale = 2.0 * recipe.lr_start / recipe.batch
            lp.lr_frac, lp.scale_frac = 15, 13 - math.floor(math.log2(scale))
        fe = flg
    return plan


def calibrated(recipe: Recipe, stats: dict[str, dict[str, float]]) -> Recipe:
    """A copy of ``recipe`` with fractions chosen from float max-abs ``stats``
    ({layer: {role: max|x|}}, plus {"input": {"activation": ...}})."""
    fr: dict[str, dict[str, int]] = {}
    for layer, roles in stats.items():
        fr[layer] = {}
        for role, m in roles.items():
            h = recipe.weight_headroom_bits if role == "weight" else recipe.headroom_bits
            # +-32 keeps every shift between two calibrated tensors inside requantize's +-64
            fr[layer][role] = max(-32, min(32, frac_for(m, recipe.word, h)))
    return replace(recipe, fracs=fr)
