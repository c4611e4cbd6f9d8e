"""Accumulator widths that make every sum of a network exact, per layer and phase.

A sum of ``K`` products of an ``a``-bit and a ``w``-bit two's-complement word satisfies
``-K * (2**(a-1) * (2**(w-1) - 1)) <= T <= K * 2**(a+w-2)``: the largest term is
``(-2**(a-1)) * (-2**(w-1)) = 2**(a+w-2)``. A signed ``b``-bit accumulator holds it iff
``2**(b-1) - 1 >= K * 2**(a+w-2)``, so the exact width is

    exact_bits(K) = a + w + floor(log2 K)          (16 x 16 bits: 32 + floor(log2 K))

Worked: K = 1 needs 32 bits ((-2**15)**2 = 2**30 is not a 31-bit word); K = 576 (cnn1x
conv5 FP, 64 channels x 3 x 3) needs 41; K = 20480 (cnn1x conv0/conv1 WU over 20 images
of 32 x 32) needs 46. Without the one corner pair (-2**15, -2**15), ``31 + ceil(log2 K)``
suffices; the two differ by one bit exactly when K is a power of two.

``K`` per phase (the longest sum of the layer, borders reach fewer terms):

=====  ===============================  ==========================
phase  Conv2d (K x K kernel, stride S)  Linear (in -> out)
=====  ===============================  ==========================
fp     C * K * K                        in
bp     O * ceil(K / S)**2               out
wu     (batch / groups) * Ho * Wo       batch / groups
=====  ===============================  ==========================

``exact_widths(desc)`` reads a ``Network.describe()`` dict (shapes, the plan's word length
and accumulator widths, batch and groups) and reports, per weighted layer and phase, K,
the exact width and the plan's width.
"""
from __future__ import annotations

import math

PHASES = ("fp", "bp", "wu")


def exact_bits(terms: int, a_bits: int = 16, w_bits: int = 16) -> int:
    """The least signed accumulator width that holds every sum of ``terms`` products of an
    ``a_bits``- and a ``w_bits``-bit word (see the module docstring)."""
    if isinstance(terms, bool) or not isinstance(terms, int) or terms < 1:
        raise ValueError(f"terms must be a positive integer, got {terms!r}")
    return a_bits + w_bits + terms.bit_length() - 1


def _plan_width(plan: dict | None, name: str, phase: str) -> int | None:
    if not plan:
        return None
    widths = plan.get("layers", {}).get(name, {}).get("acc_bits", plan.get("acc_bits"))
    return widths.get(phase) if isinstance(widths, dict) else widths


def _word(plan: dict | None, name: str, role: str) -> int:
    try:
        fmt = plan["layers"][name][role]["format"]
    except (KeyError, TypeError):
        return 16
    return int(fmt[1:].split(".")[0])


def exact_widths(desc: dict, batch: int | None = None, groups: int | None = None) -> list[dict]:
    """Per weighted layer and phase: ``{"layer", "phase", "terms", "exact_bits",
    "plan_bits", "exact"}`` (``plan_bits`` None without a plan; ``exact``: the plan's width
    is at least the exact one). ``batch``/``groups`` default to the description's hyper."""
    from fxtrain.grow.report import layer_walk  # numba and fxtrain only when asked

    hyper = desc.get("hyper") if isinstance(desc.get("hyper"), dict) else {}
    batch = int(batch if batch is not None else hyper.get("batch", 1))
    groups = int(groups if groups is not None else hyper.get("groups", 1))
    if batch < 1 or groups < 1 or batch % groups:
        raise ValueError(f"batch {batch} must be a positive multiple of groups {groups}")
    plan = desc.get("plan")
    rows = []
    for r in layer_walk(desc):
        if "macs" not in r:
            continue
        name = r["name"]
        if r["type"] == "Conv2d":
            o, c, k, _ = r["weight_shape"]
            s = int(next(L for L in desc["layers"] if L["name"] == name).get("stride", 1))
            _, ho, wo = r["out_shape"]
            terms = {"fp": c * k * k, "bp": o * math.ceil(k / s) ** 2,
                     "wu": batch // groups * ho * wo}
        else:
            o, i = r["weight_shape"]
            terms = {"fp": i, "bp": o, "wu": batch // groups}
        word = _word(plan, name, "weight")  # the recipe's one word length (16 in the presets)
        for ph in PHASES:
            need = exact_bits(terms[ph], word, word)
            have = _plan_width(plan, name, ph)
            rows.append({"layer": name, "phase": ph, "terms": terms[ph], "exact_bits": need,
                         "plan_bits": have, "exact": None if have is None else have >= need})
    return rows


def format_widths(rows: list[dict]) -> str:
    """A Markdown table of :func:`exact_widths`."""
    out = ["| layer | phase | terms K | exact width | plan width | exact? |",
           "| --- | --- | ---: | ---: | ---: | --- |"]
    for r in rows:
        have = "-" if r["plan_bits"] is None else str(r["plan_bits"])
        ok = "-" if r["exact"] is None else ("yes" if r["exact"] else "no (wraps)")
        out.append(f"| {r['layer']} | {r['phase']} | {r['terms']} | {r['exact_bits']} | {have} | {ok} |")
    return "\n".join(out)
