"""Capture everything one fixed-point training step computes, as bundle tensors.

:func:`capture_step` runs ``net.train_step`` once with its ``record`` and turns the
record into :class:`~fxtrain.vectors.bundle.Tensor` objects named
``step{s}/{phase}/{layer}.{role}[.g{group}]`` (``s`` = the engine's step counter before
the step, so it is also the ``step`` of every stochastic-rounding key):

===== ====================== ========================================================
phase role                   tensor
===== ====================== ========================================================
fp    input.image            the quantized input batch (plan's input format)
fp    input.label            class ids (index words)
fp    L.weight               weights W before the step (read by FP and BP)
fp    L.acc                  conv/fc accumulator (the plan's FP width, fraction f_in + f_W)
fp    L.pre_activation       its requantized output (the last layer's are the logits)
fp    relu.mask, relu.activation     ReLU derivative bit and output
fp    pool.argmax, pool.activation   window index ``ky*k + kx`` and pooled output
bp    loss.loss_gradient     dL/dlogits in the logits' format
bp    L.acc                  BP accumulator (fraction f_e + f_W), layers after the first
bp    L.local_gradient       error passed to the layer's input (weighted, ReLU, pool)
wu    L.acc.gG               WU accumulator of group G (fraction f_e + f_in)
wu    L.weight_gradient.gG   its requantized weight gradient G_g
wu    L.momentum             momentum V before the step
wu    L.momentum_accumulated.gG  V after ``V += round(G_g * lr_q)`` of groups 0..G
wu    L.weight_updated       W after ``W -= round(s_q * V)``
wu    L.momentum_updated     V after ``V = round(V * m_q)``
wu    L.lr_q, L.s_q, L.m_q   the 16-bit constants (scalars)
===== ====================== ========================================================

FP accumulators, outputs, masks, argmaxes, BP outputs and weight gradients are the
engine's own arrays. The BP and WU accumulators and the intermediate momenta are
recomputed with the same ops and keys, and checked at capture time: requantizing each
accumulator must give the engine's output, and replaying the update must give the
engine's new W and V, else RuntimeError (the capture would not describe the engine).
"""
from __future__ import annotations

import numpy as np

from .. import ops
from ..nn.layers import Conv2d, Linear, MaxPool2d, ReLU
from ..numerics import QFormat, requantize, sr_key
from .bundle import Tensor
from .words import WordFormat

_M32 = 0xFFFFFFFF
KEY_ROLES = ("activation", "local_gradient", "weight_gradient", "momentum", "update")


def sr_keys(net, step: int) -> dict[str, dict[str, int]]:
    """``{layer: {role: sr_key(seed, step, layer_index, role)}}`` of the weighted layers:
    the base keys of every stochastically rounded tensor of that step (fxtrain.nn.network)."""
    return {L.name: {r: sr_key(net.seed, step & _M32, li, r) for r in KEY_ROLES}
            for li, L in enumerate(net.layers) if L.weighted}


class _Out:
    """Collects tensors of one step."""

    def __init__(self, step: int):
        self.step, self.items = step, []

    def add(self, phase, layer, role, array, fmt: WordFormat, group=None):
        name = f"step{self.step}/{phase}/{layer}.{role}" + ("" if group is None else f".g{group}")
        self.items.append(Tensor(name, np.array(array, copy=True), fmt, self.step, phase, layer, role, group))


def _check_same(what: str, mine: np.ndarray, engine: np.ndarray) -> None:
    if mine.shape != engine.shape or not np.array_equal(mine, engine):
        raise RuntimeError(f"vector capture disagrees with the engine on {what}; "
                           "fxtrain.vectors.capture must follow fxtrain.nn.network")


def _requant(acc, f_src, spec, key):
    return requantize(acc, f_src, spec.fmt, spec.rounding, spec.overflow,
                      key=key if spec.rounding == "stochastic" else None)


def capture_step(net, x: np.ndarray, labels: np.ndarray) -> tuple[list[Tensor], dict]:
    """Run one ``net.train_step(x, labels)`` and return (tensors, step metadata).

    ``x`` is the quantized batch (``net.quantize_input``), ``labels`` class ids. The
    network advances by one step exactly as without capture. Float64 networks are refused.
    """
    if net.float64:
        raise ValueError("golden vectors need a fixed-point recipe, not a float64 network")
    s = net.step
    plan = net.plan
    keys = sr_keys(net, s)
    before = {k: v.copy() for k, v in net.params.items()}
    rec: dict = {}
    metrics = net.train_step(x, labels, record=rec)
    out = _Out(s)
    fwd = rec["forward"]
    labels = np.asarray(labels)
    out.add("fp", "input", "image", fwd[0]["input"], WordFormat.of_qformat(plan.input.fmt))
    out.add("fp", "input", "label", labels, WordFormat.index_for(net.num_classes))
    fmt_in: dict[int, QFormat] = {}
    cur = plan.input.fmt
    for li, (L, r) in enumerate(zip(net.layers, fwd)):
        fmt_in[li] = cur
        if isinstance(L, (Conv2d, Linear)):
            lp = plan[L.name]
            W = before[f"{L.name}.weight"]
            f_acc = cur.f + lp.weight.f
            _check_same(f"fp {L.name}", _requant(r["acc"], f_acc, lp.activation, keys[L.name]["activation"]),
                        r["output"])
            out.add("fp", L.name, "weight", W, WordFormat.of_qformat(lp.weight.fmt))
            out.add("fp", L.name, "acc", r["acc"], WordFormat.fixed(plan.acc(L.name, "fp"), f_acc))
            cur = lp.activation.fmt
            out.add("fp", L.name, "pre_activation", r["output"], WordFormat.of_qformat(cur))
        elif isinstance(L, ReLU):
            out.add("fp", L.name, "mask", r["mask"], WordFormat("mask", 1))
            out.add("fp", L.name, "activation", r["output"], WordFormat.of_qformat(cur))
        elif isinstance(L, MaxPool2d):
            out.add("fp", L.name, "argmax", r["argmax"], WordFormat.index_for(L.k * L.k))
            out.add("fp", L.name, "activation", r["output"], WordFormat.of_qformat(cur))
    _capture_backward(net, rec, before, keys, fmt_in, out)
    consts = _capture_update(net, rec, before, keys, out)
    meta = {"step": s, "loss": float(metrics["loss"]), "correct": int(metrics["correct"]),
            "overflows": dict(metrics["overflows"]), "lr": float(net.recipe.lr),
            "constants": consts, "sr_keys": keys}
    return _ordered(net, out.items), meta


def _ordered(net, items: list[Tensor]) -> list[Tensor]:
    """fp in layer order, bp in backward order (as computed), wu in layer order."""
    pos = {L.name: i for i, L in enumerate(net.layers)}
    phase = {"fp": 0, "bp": 1, "wu": 2}
    return sorted(items, key=lambda t: (phase[t.phase], pos.get(t.layer, -1) if t.phase == "wu" else 0))


def _capture_backward(net, rec, before, keys, fmt_in, out: _Out) -> None:
    plan = net.plan
    groups, gs = net.recipe.groups, net.recipe.group_size
    fwd, back = rec["forward"], rec["backward"]
    last = len(net.layers) - 1
    first_w = min(i for i, L in enumerate(net.layers) if L.weighted)
    efmt = plan[net.weighted_layers[-1].name].activation.fmt
    out.add("bp", "loss", "loss_gradient", rec["loss_grad"], WordFormat.of_qformat(efmt))
    for li in range(last, first_w - 1, -1):
        L, r = net.layers[li], fwd[li]
        e = rec["loss_grad"] if li == last else back[net.layers[li + 1].name]
        a_in = r["input"]
        if isinstance(L, (Conv2d, Linear)):
            lp, conv = plan[L.name], isinstance(L, Conv2d)
            k = keys[L.name]
            wu_bits, bp_bits = plan.acc(L.name, "wu"), plan.acc(L.name, "bp")
            f_g = efmt.f + fmt_in[li].f
            for g in range(groups):
                sl = slice(g * gs, (g + 1) * gs)
                acc = (ops.conv2d_wu(e[sl], a_in[sl], L.k, L.stride, L.pad, wu_bits) if conv
                       else ops.linear_wu(e[sl], a_in[sl], wu_bits))
                G = rec["weight_gradients"][L.name][g]
                _check_same(f"wu {L.name} group {g}", _requant(
                    acc, f_g, lp.weight_gradient, (k["weight_gradient"] + g * acc.size) & _M32), G)
                out.add("wu", L.name, "acc", acc, WordFormat.fixed(wu_bits, f_g), group=g)
                out.add("wu", L.name, "weight_gradient", G, WordFormat.of_qformat(lp.weight_gradient.fmt),
                        group=g)
            if li > first_w:
                W = before[f"{L.name}.weight"]
                acc = (ops.conv2d_bp(e, W, a_in.shape[2:], L.stride, L.pad, bp_bits) if conv
                       else ops.linear_bp(e, W, bp_bits))
                f_b = efmt.f + lp.weight.f
                _check_same(f"bp {L.name}", _requant(acc, f_b, lp.local_gradient, k["local_gradient"]),
                            back[L.name])
                out.add("bp", L.name, "acc", acc, WordFormat.fixed(bp_bits, f_b))
                efmt = lp.local_gradient.fmt
                out.add("bp", L.name, "local_gradient", back[L.name], WordFormat.of_qformat(efmt))
        elif li > first_w and isinstance(L, (ReLU, MaxPool2d)):
            out.add("bp", L.name, "local_gradient", back[L.name], WordFormat.of_qformat(efmt))


def _capture_update(net, rec, before, keys, out: _Out) -> dict:
    """Replay the FPL'19 update with the engine's ops and keys to expose the momentum after
    each group; check the replay against the engine's new W and V."""
    plan = net.plan
    consts = {}
    for L in net.weighted_layers:
        lp, c, k = plan[L.name], rec["constants"][L.name], keys[L.name]
        mspec, uspec = lp.momentum, lp.update
        cw = plan.constants.fmt.w
        consts[L.name] = dict(c)
        V = before[f"{L.name}.momentum"]
        out.add("wu", L.name, "momentum", V, WordFormat.of_qformat(mspec.fmt))
        grads = rec["weight_gradients"][L.name]
        for g, G in enumerate(grads):
            V, _ = ops.fpl19_accumulate(V, G, c["lr_q"], lp.weight_gradient.f, c["lr_frac"], mspec.f,
                                        rounding=mspec.rounding, overflow=mspec.overflow,
                                        key=(k["momentum"] + g * G.size) & _M32)
            out.add("wu", L.name, "momentum_accumulated", V, WordFormat.of_qformat(mspec.fmt), group=g)
        W, _ = ops.fpl19_apply(before[f"{L.name}.weight"], V, c["s_q"], mspec.f, c["scale_frac"], uspec.f,
                               rounding=uspec.rounding, overflow=uspec.overflow, key=k["update"])
        V, _ = ops.fpl19_decay(V, c["m_q"], mspec.f, rounding=mspec.rounding, overflow=mspec.overflow,
                               key=(k["momentum"] + len(grads) * V.size) & _M32)
        _check_same(f"{L.name} weight update", W, net.params[f"{L.name}.weight"])
        _check_same(f"{L.name} momentum update", V, net.params[f"{L.name}.momentum"])
        out.add("wu", L.name, "weight_updated", W, WordFormat.of_qformat(uspec.fmt))
        out.add("wu", L.name, "momentum_updated", V, WordFormat.of_qformat(mspec.fmt))
        for role, f in (("lr_q", c["lr_frac"]), ("s_q", c["scale_frac"]), ("m_q", c["m_frac"])):
            out.add("wu", L.name, role, np.asarray(c[role], dtype=np.int64), WordFormat.fixed(cw, f))
    return consts
