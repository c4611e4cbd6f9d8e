"""Model reports: shapes, parameters, bytes and MACs per layer of a plain-JSON network.

Input everywhere is the dict of :meth:`fxtrain.nn.network.Network.describe` (or a
minimal ``{"input_shape": [C, H, W], "layers": [...]}``); nothing here needs a
``Network`` object, so CGaP reports, the study and ``hwgen.perf`` share one count.

Layers (every field required; ``type`` one of these):

====================  ==========================================================
``Conv2d``            ``name, in_ch, out_ch, k, stride, pad`` (square kernel)
``Linear``            ``name, in_f, out_f`` (input must be a vector: Flatten first)
``ReLU``/``Flatten``  ``name``
``MaxPool2d``         ``name, k`` (window k x k, stride k, floor of H/k, W/k)
====================  ==========================================================

MACs per image, counted as the terms of the sums in docs/numerics.md:

- FP: Conv ``O*C*K*K*Ho*Wo`` (products with padding zeros included, as the hardware
  computes them); Linear ``in*out``.
- WU: the weight gradient ``g[o,c,ky,kx] = sum_{y,x} e[o,y,x]*a[c,yS+ky-P,xS+kx-P]``
  has the same terms as FP: ``O*C*K*K*Ho*Wo``; Linear ``in*out``.
- BP: the input gradient ``e_in[c,i,j]`` sums only over error elements that exist, so
  it has one term per FP product whose activation lies *inside* the image:
  ``O*C*n_y*n_x`` with ``n_y = #{(y, ky): 0 <= y*S + ky - P < H}``. Without padding
  this equals FP; a 3x3 pad-1 conv on 32x32 has ``n_y = 94`` against ``Ho*K = 96``.
  Linear ``in*out``. The first weighted layer has no BP (zero): the engine does not
  propagate a gradient to the input image.

Bytes: ``ceil(params * w / 8)`` with ``w`` the word length of the plan's weight
(``weight_bytes``) and momentum (``momentum_bytes``) formats; 16 bits when the
description has no ``plan``. Training state = weights + momentum.
"""
from __future__ import annotations

from typing import Any

from ..numerics.formats import QFormat

__all__ = ["compare", "format_report", "layer_shapes", "layer_walk", "model_report", "DEFAULT_WORD_BITS"]

#: word length assumed when a description carries no plan
DEFAULT_WORD_BITS = 16

_FIELDS = {
    "Conv2d": ("in_ch", "out_ch", "k", "stride", "pad"),
    "Linear": ("in_f", "out_f"),
    "ReLU": (),
    "MaxPool2d": ("k",),
    "Flatten": (),
}
_WEIGHTED = ("Conv2d", "Linear")
_PHASES = ("fp", "bp", "wu")


def _int(v: Any, what: str, minimum: int) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v < minimum:
        raise ValueError(f"{what} must be an integer >= {minimum}, got {v!r}")
    return v


def _check_desc(desc: Any) -> tuple[tuple[int, ...], list]:
    if not isinstance(desc, dict):
        raise ValueError(f"network description must be a dict, got {type(desc).__name__}")
    for key in ("input_shape", "layers"):
        if key not in desc:
            raise ValueError(f"network description has no {key!r}")
    shape = desc["input_shape"]
    if not isinstance(shape, (list, tuple)) or len(shape) != 3:
        raise ValueError(f"input_shape must be [C, H, W], got {shape!r}")
    shape = tuple(_int(v, "input_shape entry", 1) for v in shape)
    if not isinstance(desc["layers"], list):
        raise ValueError(f"layers must be a list, got {type(desc['layers']).__name__}")
    return shape, desc["layers"]


def _spatial_bp_terms(size: int, out: int, k: int, stride: int, pad: int) -> int:
    """#{(y, ky): 0 <= y < out, 0 <= ky < k, 0 <= y*stride + ky - pad < size}."""
    n = 0
    for ky in range(k):
        lo = max(0, -((ky - pad) // stride))          # ceil((pad - ky) / stride)
        hi = min(out - 1, (size - 1 + pad - ky) // stride)
        n += max(0, hi - lo + 1)
    return n


def _walk(desc: dict) -> list[dict]:
    """Every layer with its in/out shapes; weighted ones also get weight_shape, params, macs."""
    shape, layers = _check_desc(desc)
    rows, names, first = [], set(), True
    for i, L in enumerate(layers):
        if not isinstance(L, dict):
            raise ValueError(f"layer {i} must be a dict, got {type(L).__name__}")
        name = L.get("name", f"#{i}")
        where = f"layer {name!r} (index {i})"
        if not isinstance(name, str) or not name:
            raise ValueError(f"{where}: name must be a non-empty string")
        if name in names:
            raise ValueError(f"{where}: duplicate layer name")
        names.add(name)
        kind = L.get("type")
        if kind not in _FIELDS:
            raise ValueError(f"{where}: unknown layer type {kind!r}; expected one of {sorted(_FIELDS)}")
        missing = [f for f in _FIELDS[kind] if f not in L]
        if missing:
            raise ValueError(f"{where} ({kind}): missing field(s) {missing}")
        v = {f: _int(L[f], f"{where}: {f}", 0 if f == "pad" else 1) for f in _FIELDS[kind]}
        row: dict[str, Any] = {"name": name, "type": kind, "in_shape": list(shape)}
        if kind == "Conv2d":
            if len(shape) != 3:
                raise ValueError(f"{where}: Conv2d needs a [C, H, W] input, got {list(shape)}")
            c, h, w = shape
            if c != v["in_ch"]:
                raise ValueError(f"{where}: in_ch {v['in_ch']} does not match the {c} input channels")
            k, s, p = v["k"], v["stride"], v["pad"]
            ho, wo = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
            if h + 2 * p < k or w + 2 * p < k:
                raise ValueError(f"{where}: input {h}x{w} with pad {p} too small for kernel {k}")
            o = v["out_ch"]
            shape = (o, ho, wo)
            fp = o * c * k * k * ho * wo
            bp = 0 if first else o * c * _spatial_bp_terms(h, ho, k, s, p) * _spatial_bp_terms(w, wo, k, s, p)
            row.update(weight_shape=[o, c, k, k], params=o * c * k * k)
        elif kind == "Linear":
            if len(shape) != 1:
                raise ValueError(f"{where}: Linear needs a vector input (Flatten first), got {list(shape)}")
            if shape[0] != v["in_f"]:
                raise ValueError(f"{where}: in_f {v['in_f']} does not match the {shape[0]} inputs")
            shape = (v["out_f"],)
            fp = v["in_f"] * v["out_f"]
            bp = 0 if first else fp
            row.update(weight_shape=[v["out_f"], v["in_f"]], params=fp)
        elif kind == "MaxPool2d":
            if len(shape) != 3:
                raise ValueError(f"{where}: MaxPool2d needs a [C, H, W] input, got {list(shape)}")
            c, h, w = shape
            if h < v["k"] or w < v["k"]:
                raise ValueError(f"{where}: input {h}x{w} smaller than the pool window {v['k']}")
            shape = (c, h // v["k"], w // v["k"])
            row["k"] = v["k"]
        elif kind == "Flatten":
            n = 1
            for d in shape:
                n *= d
            shape = (n,)
        row["out_shape"] = list(shape)
        if kind in _WEIGHTED:
            row["macs"] = {"fp": fp, "bp": bp, "wu": fp}
            first = False
        rows.append(row)
    return rows


def layer_walk(desc: dict) -> list[dict]:
    """Every layer in order (weighted or not): ``{"name", "type", "in_shape",
    "out_shape"}``, plus ``"k"`` for MaxPool2d and, for weighted layers, ``"weight_shape",
    "params", "macs": {"fp", "bp", "wu"}`` (per image). Same validation as
    :func:`layer_shapes`; for consumers such as ``hwgen.perf`` that need the activation
    layers' shapes too (ReLU masks, pool argmax)."""
    return _walk(desc)


def layer_shapes(desc: dict) -> list[dict]:
    """Per weighted layer, in order: ``{"name", "type", "in_shape", "out_shape",
    "weight_shape", "params"}`` (shapes as lists: [C, H, W] or [n]; weight [O, C, K, K]
    or [out, in]). ValueError naming the layer for an unknown type, a missing or
    non-integer field, or a shape that does not fit the previous layer's output."""
    keys = ("name", "type", "in_shape", "out_shape", "weight_shape", "params")
    return [{k: r[k] for k in keys} for r in _walk(desc) if r["type"] in _WEIGHTED]


def _word_bits(desc: dict, name: str, role: str) -> int:
    plan = desc.get("plan")
    if plan is None:
        return DEFAULT_WORD_BITS
    try:
        fmt = plan["layers"][name][role]["format"]
    except (KeyError, TypeError):
        raise ValueError(f"layer {name!r}: the plan has no {role} format "
                         f"(plan['layers'][{name!r}][{role!r}]['format'])") from None
    return QFormat.parse(fmt).w


def _nbytes(count: int, bits: int) -> int:
    return (count * bits + 7) // 8


def model_report(desc: dict, batch: int = 1) -> dict:
    """Params, bytes and MACs of every weighted layer and the whole network.

    Returns plain JSON::

        {"name", "input_shape", "batch",
         "layers": [{"name", "type", "in_shape", "out_shape", "weight_shape", "params",
                     "weight_bits", "momentum_bits", "weight_bytes", "momentum_bytes",
                     "state_bytes", "macs": {"fp", "bp", "wu", "train"}}, ...],
         "total": {"params", "weight_bytes", "momentum_bytes", "state_bytes",
                   "macs": {"fp", "bp", "wu", "train"},
                   "macs_batch": {"fp", "bp", "wu", "train"}}}

    ``macs`` are per image (``train = fp + bp + wu``); ``macs_batch`` = ``batch`` x
    ``macs``. ``state_bytes`` = weight + momentum bytes. See the module docstring for
    the exact counts.
    """
    batch = _int(batch, "batch", 1)
    layers = []
    for r in _walk(desc):
        if r["type"] not in _WEIGHTED:
            continue
        wb, mb = _word_bits(desc, r["name"], "weight"), _word_bits(desc, r["name"], "momentum")
        macs = dict(r["macs"], train=sum(r["macs"].values()))
        layers.append({k: r[k] for k in ("name", "type", "in_shape", "out_shape", "weight_shape", "params")}
                      | {"weight_bits": wb, "momentum_bits": mb,
                         "weight_bytes": _nbytes(r["params"], wb),
                         "momentum_bytes": _nbytes(r["params"], mb),
                         "state_bytes": _nbytes(r["params"], wb) + _nbytes(r["params"], mb),
                         "macs": macs})
    total = {k: sum(L[k] for L in layers)
             for k in ("params", "weight_bytes", "momentum_bytes", "state_bytes")}
    total["macs"] = {p: sum(L["macs"][p] for L in layers) for p in (*_PHASES, "train")}
    total["macs_batch"] = {p: batch * m for p, m in total["macs"].items()}
    return {"name": str(desc.get("name", "net")), "input_shape": list(desc["input_shape"]),
            "batch": batch, "layers": layers, "total": total}


def _si(n: float) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:.2f}{unit}"
    return f"{n:g}"


def format_report(report: dict) -> str:
    """A fixed-width table of a :func:`model_report`: one row per weighted layer and a
    total row; columns layer, weight shape, output shape, params, weight KiB and MACs
    per image for FP, BP and WU (k/M/G = 1e3/1e6/1e9)."""
    head = (f"{'layer':<12} {'weight':<14} {'output':<12} {'params':>10} {'KiB':>9} "
            f"{'MAC FP':>9} {'MAC BP':>9} {'MAC WU':>9}")
    lines = [f"{report['name']}: input {'x'.join(map(str, report['input_shape']))}, MACs per image",
             head, "-" * len(head)]

    def row(name, wshape, oshape, d):
        m = d["macs"]
        return (f"{name:<12} {wshape:<14} {oshape:<12} {d['params']:>10} "
                f"{d['weight_bytes'] / 1024:>9.2f} {_si(m['fp']):>9} {_si(m['bp']):>9} {_si(m['wu']):>9}")

    for L in report["layers"]:
        lines.append(row(L["name"], "x".join(map(str, L["weight_shape"])),
                         "x".join(map(str, L["out_shape"])), L))
    lines.append("-" * len(head))
    lines.append(row("total", "", "", report["total"]))
    return "\n".join(lines)


_COMPARED = ("params", "weight_bytes", "momentum_bytes", "state_bytes")


def _pct(base: float, other: float) -> float | None:
    """Percentage reduction of ``other`` relative to ``base``; None if base is 0 and other is not."""
    if base == 0:
        return 0.0 if other == 0 else None
    return 100.0 * (base - other) / base


def compare(base: dict, other: dict) -> dict:
    """Percentage reductions of ``other`` against ``base`` (positive = smaller), keys
    ``params, weight_bytes, momentum_bytes, state_bytes, macs_fp, macs_bp, macs_wu,
    macs_train``. Each argument is a :func:`model_report` or a network description
    (reported with batch 1). A value is None when the base is 0 and the other is not
    (0.0 when both are 0)."""
    b, o = (d if "total" in d else model_report(d) for d in (base, other))
    out = {k: _pct(b["total"][k], o["total"][k]) for k in _COMPARED}
    for p in (*_PHASES, "train"):
        out[f"macs_{p}"] = _pct(b["total"]["macs"][p], o["total"]["macs"][p])
    return out
