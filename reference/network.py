"""Oracle of one whole fixed-point training step (FP, loss gradient, BP, WU), plain ints.

``train_step(desc, params, x, labels)`` recomputes, from the definitions and with only
``reference.numerics`` and ``reference.ops``, everything ``Network.train_step`` does on one
batch. ``desc`` is ``Network.describe()`` (plain JSON); ``params`` maps ``{layer}.weight``
and ``{layer}.momentum`` to integer arrays; ``x`` is the batch already in the input format.
Never imports fxtrain.

The step, for layers L_0 .. L_{n-1} (``li`` = position in the full layer list):

Accumulators: each weighted layer's plan gives a width per phase,
``acc_bits = {"fp": b, "bp": b, "wu": b}`` (plans of contract 1.0 had one ``acc_bits`` for
the whole network: it then applies to every layer and phase). Every sum is formed exactly
and wrapped to its width; each element whose sum (held in 64 bits) did not fit is counted
as ``{layer}.accumulator_{phase}`` (the WU count adds up over the groups).

FP. ``a_0 = x`` at fraction ``f_0`` = the plan's input fraction. A weighted layer sums
``acc = conv/linear(a, W)`` exactly, wrapped to its FP width, then requantizes ``acc`` from
``f_a + f_W`` to its ``activation`` spec (role "activation", key below). ReLU keeps
``a`` where the mask (``a >= 0`` for relu_rule "ge", ``a > 0`` for "gt") is 1. Max-pool
keeps each window's first maximum (row-major) and its index ``ky*k + kx``. Flatten is a
row-major reshape. ReLU, pool and flatten leave the fraction alone.

Loss gradient ``e`` in the logits' spec ``Q(w, f_z)``, targets ``t = +-1`` (one-vs-all):
``squared_hinge``: ``wrap_w(z - sat_w(t * 2**f_z))``, 0 where ``z*t >= 2**f_z``;
``mse``: ``wrap_w(z - t * 2**f_z)``; ``softmax_xent``: the exp2-table softmax minus the
one-hot, saturated (reference.ops.softmax_xent_grad with fmt_out = the logits' format).

BP, from the last layer back; ``e`` carries its fraction ``f_e`` (first the logits').
A weighted layer first forms, per on-chip group ``g`` (images ``g*B/G .. (g+1)*B/G - 1``),
the weight gradient ``acc_g = WU(e_g, a_g)`` requantized from ``f_e + f_a`` to its
``weight_gradient`` spec. Then, unless it is the first weighted layer, it propagates
``acc = BP(e, W)`` over the whole batch, requantized from ``f_e + f_W`` to its
``local_gradient`` spec (which becomes the new ``f_e``). ReLU multiplies by the stored
mask, pool scatters to the stored argmax, flatten reshapes back; layers at or before the
first weighted layer do no BP at all (nothing needs their gradient).

Constants (per weighted layer; Python float64 evaluated left to right exactly as written
in fxtrain/nn/update.py's docstring, then quantized exactly with the plan's ``constants``
rounding and overflow at word length w of the constants' format):
``fpl19`` scale rule: ``scale = 1.05 * 2**(lr_frac - 15) * lr_start / batch``;
``half``: ``scale = 2 * lr_start / batch``.
``lr_q = lr / (scale * batch)`` in Q(w, lr_frac), ``s_q = scale`` in Q(w, scale_frac),
``m_q = momentum`` in Q(w, 16) (momentum 0.5 saturates to 32767).
The float64 evaluation (the engine's) differs from exact arithmetic only where the exact
value is a rounding tie: "half" rule, batch 49, lr = 5 * 2**-15, lr_start = 1 gives
``(2.0 * 1 / 49) * 49 = 1.9999999999999998``, so lr_q = 2.5000000000000004 LSB -> 3,
while the exact 2.5 LSB would round half_even to 2.

WU (per weighted layer, momentum spec ``Q(16, f_V)``, update spec ``Q(16, f_W)``):
for g = 0 .. G-1: ``V = fit(V + fit(round(G_g * lr_q, f_G + lr_frac -> f_V)))``;
then ``W = fit(W - fit(round(V * s_q, f_V + scale_frac -> f_W)))`` (update spec);
then ``V = fit(round(V * m_q, f_V + 16 -> f_V))`` (momentum spec). ``fit`` is the spec's
overflow mode; each product is exact.

Stochastic-rounding keys (the engine's derivation, fxtrain/nn/network.py ``_key``,
``_requant`` and fxtrain/nn/update.py ``int_update``), all additions mod 2**32:

    K(li, role) = sr_key(seed mod 2**32, step mod 2**32, li, role)

with ``seed``/``step`` from ``desc`` (``step`` = steps completed before this one) and ``li``
the weighted layer's position in the *full* layer list (ReLU, pool, flatten count).

| tensor | key | element index i |
| --- | --- | --- |
| FP output of layer li | K(li, "activation") | row-major in the whole batch [N, ...] |
| BP output (e_in) of layer li | K(li, "local_gradient") | row-major in [N, ...] |
| G_g of layer li | K(li, "weight_gradient") + g * size(G) | row-major in G_g |
| V += ... of group g | K(li, "momentum") + g * size(V) | row-major in V |
| W -= round(s_q * V) | K(li, "update") | row-major in W |
| V = round(V * m_q) | K(li, "momentum") + G * size(V) | row-major in V |

So the group tensors are slices of one stacked [G, ...] tensor, and the momentum decay
continues that stack as slice number G (``G`` = number of groups). Worked example: with
2 groups and a 2x3 FC weight, group 1's weight gradient element (1, 0) draws
``lowbias32(K(li, "weight_gradient") + 6 + 3)``.
"""
from __future__ import annotations

from collections import namedtuple

import numpy as np

from . import ops
from .numerics import overflow as fit_bits
from .numerics import quantize, requantize, sr_key

_M32 = 2**32
WEIGHTED = ("Conv2d", "Linear")
LOSSES = ("squared_hinge", "mse", "softmax_xent")

Spec = namedtuple("Spec", "w f rounding overflow")
Fmt = namedtuple("Fmt", "w f")  # what reference.ops.softmax_xent_grad reads of fmt_out


def parse_format(text: str) -> tuple[int, int]:
    """'Q16.15' -> (16, 15); 'Q16.-3' -> (16, -3)."""
    if not isinstance(text, str) or not text.startswith("Q") or "." not in text:
        raise ValueError(f"cannot parse fixed-point format {text!r}: expected 'Q<w>.<f>'")
    w, _, f = text[1:].partition(".")
    try:
        return int(w), int(f)
    except ValueError:
        raise ValueError(f"cannot parse fixed-point format {text!r}: expected 'Q<w>.<f>'") from None


def spec_of(d: dict) -> Spec:
    """A plan tensor spec {"format", "rounding", "overflow"} as a Spec."""
    try:
        w, f = parse_format(d["format"])
        return Spec(w, f, d["rounding"], d["overflow"])
    except (KeyError, TypeError):
        raise ValueError(f"malformed tensor spec {d!r}") from None


def storage(w: int):
    """Storage dtype of a w-bit word (int8 / int16 / int32), as in docs/numerics.md."""
    return np.int8 if w <= 8 else np.int16 if w <= 16 else np.int32


def acc_width(plan: dict, layer: str, phase: str) -> int:
    """The accumulator width of ``layer`` in ``phase`` (module docstring, "Accumulators")."""
    widths = plan["layers"][layer].get("acc_bits", plan.get("acc_bits"))
    if isinstance(widths, dict):
        widths = widths[phase]
    if not isinstance(widths, int) or not 2 <= widths <= 64:
        raise ValueError(f"plan gives layer {layer!r} no accumulator width for {phase!r}")
    return widths


def layer_key(desc: dict, li: int, role: str, offset: int = 0) -> int:
    """``(K(li, role) + offset) mod 2**32``; see the module docstring."""
    return (sr_key(desc["seed"] % _M32, desc["step"] % _M32, li, role) + offset) % _M32


class _Counter:
    """Overflow counts per tag, keeping only tags that overflowed (as the engine reports)."""

    def __init__(self):
        self.counts: dict[str, int] = {}

    def add(self, tag: str, n: int) -> None:
        if n:
            self.counts[tag] = self.counts.get(tag, 0) + int(n)


def _requant(acc, f_src: int, spec: Spec, key: int, counter: _Counter, tag: str) -> np.ndarray:
    k = key if spec.rounding == "stochastic" else None
    y, n = requantize(acc, f_src, spec.w, spec.f, spec.rounding, spec.overflow, key=k)
    counter.add(tag, n)
    return y.astype(storage(spec.w))


# ------------------------------------------------------------------ constants

def lr_constants(desc: dict, layer: str) -> dict:
    """lr_q, s_q, m_q of one weighted layer (module docstring, "Constants")."""
    plan, hyper = desc["plan"], desc["hyper"]
    lp = plan["layers"][layer]
    c = spec_of(plan["constants"])
    lr, lr_start, batch = float(hyper["lr"]), float(hyper["lr_start"]), int(hyper["batch"])
    f_lr, f_s = int(lp["lr_frac"]), int(lp["scale_frac"])
    if plan["scale_rule"] == "fpl19":
        scale = 1.05 * 2.0 ** (f_lr - 15) * lr_start / batch
    elif plan["scale_rule"] == "half":
        scale = 2.0 * lr_start / batch
    else:
        raise ValueError(f"unknown scale_rule {plan['scale_rule']!r}; expected 'fpl19' or 'half'")

    def q(v: float, f: int) -> int:
        return int(quantize([v], c.w, f, c.rounding, c.overflow)[0][0])

    return {"lr_q": q(lr / (scale * batch), f_lr), "lr_frac": f_lr,
            "s_q": q(scale, f_s), "scale_frac": f_s,
            "m_q": q(float(hyper["momentum"]), 16), "m_frac": 16}


# ------------------------------------------------------------------ loss gradient

def loss_grad(loss: str, z, labels, spec: Spec) -> np.ndarray:
    """The loss gradient in the logits' spec (module docstring, "Loss gradient")."""
    z = np.asarray(z)
    n, k = z.shape
    t = -np.ones((n, k), dtype=np.int64)
    for i, lab in enumerate(labels):
        t[i, lab] = 1
    if loss == "squared_hinge":
        return ops.squared_hinge_grad(z, t, spec.f, spec.w)
    if loss == "mse":
        if not 0 <= spec.f <= spec.w - 2:
            raise ValueError(f"mse needs the +-1 targets to fit the logits' Q{spec.w}.{spec.f}")
        return ops.mse_grad(z, t * 2**spec.f, spec.w)
    if loss == "softmax_xent":
        return ops.softmax_xent_grad(z, np.asarray(labels, dtype=np.int64), spec.f, Fmt(spec.w, spec.f))
    raise ValueError(f"unknown loss {loss!r}; expected one of {LOSSES}")


# ------------------------------------------------------------------ the step

def _check(desc: dict, params: dict, x, labels):
    plan = desc["plan"]
    if plan.get("float64"):
        raise ValueError("the oracle covers the fixed-point engine only, got a float64 plan")
    for L in desc["layers"]:
        if L["type"] not in WEIGHTED + ("ReLU", "MaxPool2d", "Flatten"):
            raise ValueError(f"unknown layer type {L['type']!r} in layer {L.get('name')!r}")
        if L["type"] in WEIGHTED:
            for p in ("weight", "momentum"):
                if f"{L['name']}.{p}" not in params:
                    raise ValueError(f"params has no {L['name']}.{p}")
    x = np.asarray(x)
    if x.dtype.kind not in "iu" or x.ndim != 4 or list(x.shape[1:]) != list(desc["input_shape"]):
        raise ValueError(f"x must be an integer batch [N, {desc['input_shape']}], got "
                         f"{x.dtype} {x.shape}")
    batch, groups = int(desc["hyper"]["batch"]), int(desc["hyper"]["groups"])
    if x.shape[0] != batch or batch % groups:
        raise ValueError(f"batch of {x.shape[0]} images; the recipe needs {batch} in {groups} groups")
    labels = [int(v) for v in np.asarray(labels).reshape(-1)]
    if len(labels) != batch:
        raise ValueError(f"{len(labels)} labels for a batch of {batch}")
    return x, labels


def forward(desc: dict, params: dict, x, counter: _Counter | None = None) -> list[dict]:
    """Per-layer records {layer, input, f_in, [acc], [mask], [argmax], output, f_out}."""
    plan = desc["plan"]
    counter = counter if counter is not None else _Counter()
    a, f = np.asarray(x), spec_of(plan["input"]).f
    out = []
    for li, L in enumerate(desc["layers"]):
        rec = {"layer": L["name"], "input": a, "f_in": f}
        t = L["type"]
        if t in WEIGHTED:
            W = params[f"{L['name']}.weight"]
            lp = plan["layers"][L["name"]]
            bits = acc_width(plan, L["name"], "fp")
            acc, n_acc = (ops.conv2d_fp(a, W, L["stride"], L["pad"], bits, stats=True) if t == "Conv2d"
                          else ops.linear_fp(a, W, bits, stats=True))
            counter.add(f"{L['name']}.accumulator_fp", n_acc)
            rec["acc"] = acc
            act = spec_of(lp["activation"])
            a = _requant(acc, f + spec_of(lp["weight"]).f, act,
                         layer_key(desc, li, "activation"), counter, f"{L['name']}.activation")
            f = act.f
        elif t == "ReLU":
            a, rec["mask"] = ops.relu_fp(a, plan["relu_rule"])
        elif t == "MaxPool2d":
            a, rec["argmax"] = ops.maxpool_fp(a, L["k"])
        else:  # Flatten
            a = a.reshape(a.shape[0], -1)
        rec["output"], rec["f_out"] = a, f
        out.append(rec)
    return out


def train_step(desc: dict, params: dict[str, np.ndarray], x, labels) -> dict:
    """Every intermediate of one training step, recomputed from the definitions.

    Returns {"forward": [per-layer records], "logits", "loss_grad", "backward": {layer:
    gradient it passes to its input}, "weight_gradients": {layer: [G_g]}, "constants":
    {layer: {...}}, "params": {name: new weight / momentum in storage dtype},
    "overflows": {tag: count, nonzero only}, "keys": {(li, role): K(li, role)}}.
    ``params`` is not modified.
    """
    x, labels = _check(desc, params, x, labels)
    plan, hyper, layers = desc["plan"], desc["hyper"], desc["layers"]
    groups = int(hyper["groups"])
    gs = int(hyper["batch"]) // groups
    counter = _Counter()
    fwd = forward(desc, params, x, counter)
    weighted = [i for i, L in enumerate(layers) if L["type"] in WEIGHTED]
    if not weighted:
        raise ValueError("a network needs at least one Conv2d or Linear layer")
    first_w = weighted[0]
    z_spec = spec_of(plan["layers"][layers[weighted[-1]]["name"]]["activation"])
    z = fwd[-1]["output"]
    e = loss_grad(plan["loss"], z, labels, z_spec)
    res = {"forward": fwd, "logits": z, "loss_grad": e, "backward": {}, "weight_gradients": {},
           "constants": {}, "params": {}, "keys": {}}
    fe = z_spec.f
    for li in range(len(layers) - 1, first_w - 1, -1):
        L, rec = layers[li], fwd[li]
        name, a_in = L["name"], rec["input"]
        if L["type"] in WEIGHTED:
            lp = plan["layers"][name]
            conv = L["type"] == "Conv2d"
            W = params[f"{name}.weight"]
            gspec = spec_of(lp["weight_gradient"])
            G = []
            bits = acc_width(plan, name, "wu")
            for g in range(groups):
                e_g, a_g = e[g * gs:(g + 1) * gs], a_in[g * gs:(g + 1) * gs]
                acc, n_acc = (ops.conv2d_wu(e_g, a_g, L["k"], L["stride"], L["pad"], bits, stats=True)
                              if conv else ops.linear_wu(e_g, a_g, bits, stats=True))
                counter.add(f"{name}.accumulator_wu", n_acc)
                G.append(_requant(acc, fe + rec["f_in"], gspec,
                                  layer_key(desc, li, "weight_gradient", g * acc.size),
                                  counter, f"{name}.weight_gradient"))
            res["weight_gradients"][name] = G
            if li > first_w:
                bits = acc_width(plan, name, "bp")
                acc, n_acc = (ops.conv2d_bp(e, W, a_in.shape[2:], L["stride"], L["pad"], bits, stats=True)
                              if conv else ops.linear_bp(e, W, bits, stats=True))
                counter.add(f"{name}.accumulator_bp", n_acc)
                lg = spec_of(lp["local_gradient"])
                e = _requant(acc, fe + spec_of(lp["weight"]).f, lg,
                             layer_key(desc, li, "local_gradient"), counter, f"{name}.local_gradient")
                fe = lg.f
                res["backward"][name] = e
        elif li > first_w:
            if L["type"] == "ReLU":
                e = ops.relu_bp(e, rec["mask"])
            elif L["type"] == "MaxPool2d":
                e = ops.maxpool_bp(e, rec["argmax"], a_in.shape[2:], L["k"])
            else:
                e = np.asarray(e).reshape(a_in.shape)
            res["backward"][name] = e
    for li in weighted:
        name = layers[li]["name"]
        res["keys"].update({(li, r): layer_key(desc, li, r) for r in
                            ("activation", "local_gradient", "weight_gradient", "momentum", "update")})
        c = res["constants"][name] = lr_constants(desc, name)
        W, V = _update(desc, li, params[f"{name}.weight"], params[f"{name}.momentum"],
                       res["weight_gradients"][name], c, counter)
        res["params"][f"{name}.weight"], res["params"][f"{name}.momentum"] = W, V
    res["overflows"] = counter.counts
    return res


def _round_product(x, c: int, f_src: int, spec: Spec, key: int):
    """round(x * c) from f_src to spec, fitted by the spec's overflow: (list of ints, n)."""
    prods = [int(v) * c for v in np.asarray(x).flat]
    k = key if spec.rounding == "stochastic" else None
    y, n = requantize(prods, f_src, spec.w, spec.f, spec.rounding, spec.overflow, key=k)
    return [int(v) for v in y], n


def _update(desc, li, W, V, grads, c, counter):
    """The FPL'19 three-step update of one layer (module docstring, "WU")."""
    name = desc["layers"][li]["name"]
    lp = desc["plan"]["layers"][name]
    mspec, uspec = spec_of(lp["momentum"]), spec_of(lp["update"])
    f_G = spec_of(lp["weight_gradient"]).f
    shape = np.asarray(W).shape
    w_list = [int(v) for v in np.asarray(W).flat]
    v_list = [int(v) for v in np.asarray(V).flat]
    size = len(v_list)

    def fit(vals, spec, tag):
        out = []
        for v in vals:
            y, over = fit_bits(v, spec.w, spec.overflow)
            counter.add(tag, over)
            out.append(y)
        return out

    for g, G in enumerate(grads):
        inc, n = _round_product(G, c["lr_q"], f_G + c["lr_frac"], mspec,
                                layer_key(desc, li, "momentum", g * size))
        counter.add(f"{name}.momentum", n)
        v_list = fit([v + d for v, d in zip(v_list, inc)], mspec, f"{name}.momentum")
    dec, n = _round_product(v_list, c["s_q"], mspec.f + c["scale_frac"], uspec,
                            layer_key(desc, li, "update"))
    counter.add(f"{name}.update", n)
    w_list = fit([w - d for w, d in zip(w_list, dec)], uspec, f"{name}.update")
    v_list, n = _round_product(v_list, c["m_q"], mspec.f + c["m_frac"], mspec,
                               layer_key(desc, li, "momentum", len(grads) * size))
    counter.add(f"{name}.momentum", n)
    return (np.array(w_list, dtype=storage(uspec.w)).reshape(shape),
            np.array(v_list, dtype=storage(mspec.w)).reshape(shape))
