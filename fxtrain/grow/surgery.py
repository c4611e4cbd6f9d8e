"""Growing and pruning learning units (conv filters, FC neurons) of a live network.

A *unit* of a weighted layer ``L`` is one output channel (Conv2d) or one output neuron
(Linear): row ``o`` of ``L.weight`` and of ``L.momentum``. Its *consumer* is the next
weighted layer ``N``; the unit feeds ``N`` through input channel ``o`` (Conv2d after
ReLU/pool) or, after a Flatten of a ``[C, H, W]`` map, through the ``H*W`` input columns
``o*H*W .. (o+1)*H*W - 1`` of ``N.weight`` (row-major flatten). The last weighted layer's
units are the classes and are never grown or pruned.

Exactness guarantees (tests/grow/test_surgery.py proves them against the engine and the
oracle):

- :func:`grow` appends units at the end of ``L``'s output axis with nonzero incoming
  weights and **zero** outgoing slices in ``N`` (and zero momentum everywhere new). Every
  product a new unit contributes to ``N``'s accumulator is ``a * 0 = 0``, so the logits,
  the loss and every stored tensor of the old units are bit-identical right after growth,
  whatever the rounding modes and accumulator width.
- :func:`prune` keeps the units listed in ``keep`` (in their old order) and deletes the
  others' rows of ``L`` and their input slices of ``N`` (weights and momentum). A pruned
  unit whose outgoing slices are all zero contributed exactly zero, so outputs stay
  bit-identical; otherwise they change by that unit's contribution.

Neither changes the layer *names* or positions, so the bound plan (fractions, rounding)
and every stochastic-rounding key ``K(li, role)`` stay what they were: a grown or pruned
network keeps training bit-exactly against ``reference.network``, which reads the new
widths from ``net.describe()``.

New incoming weights (``init``):

- ``"random"``: He-uniform ``U(-b, b)``, ``b = scale * sqrt(6 / fan_in)`` — the same rule
  as a fresh network — drawn from ``np.random.default_rng([seed, event, li])`` (``seed``
  the network's, ``event`` the caller's growth-event number, ``li`` the layer's position),
  quantized round-half-even with saturation to the layer's weight format.
- ``"copy"``: the incoming weights of the ``n_new`` most salient existing units (highest
  score first, cycling if ``n_new`` exceeds the width), plus the ``"random"`` draw scaled
  by ``noise`` so copies do not move in lockstep; the sum saturates to the weight
  format (a copy near full scale must not wrap and flip sign).
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..nn.layers import Conv2d, Flatten, Linear, MaxPool2d, ReLU
from ..nn.network import Network
from ..nn.plan import bind
from ..numerics import dequantize, quantize

INIT_RULES = ("random", "copy")


def growable(net: Network) -> list[str]:
    """Names of the layers whose units may grow or be pruned: every weighted layer but the last."""
    return [L.name for L in net.weighted_layers[:-1]]


def widths(net: Network) -> dict[str, int]:
    """Current number of units of every growable layer."""
    return {L.name: _units(L) for L in net.weighted_layers[:-1]}


def _units(L) -> int:
    return L.out_ch if isinstance(L, Conv2d) else L.out_f


def _index(net: Network, name: str) -> int:
    for i, L in enumerate(net.layers):
        if L.name == name:
            return i
    raise ValueError(f"no layer named {name!r}; layers are {[L.name for L in net.layers]}")


def consumer(net: Network, name: str) -> tuple[int, int]:
    """(position of the next weighted layer after ``name``, input columns per unit).

    Columns per unit is 1 unless a Flatten sits in between, then the map's H*W.
    """
    li = _index(net, name)
    if name not in growable(net):
        raise ValueError(f"layer {name!r} is not growable; growable layers: {growable(net)}")
    per = 1
    for j in range(li + 1, len(net.layers)):
        L = net.layers[j]
        if L.weighted:
            return j, per
        if isinstance(L, Flatten):
            c, h, w = net.shapes[j]
            per = h * w
        elif not isinstance(L, (ReLU, MaxPool2d)):  # pragma: no cover - the zoo has no others
            raise TypeError(f"cannot grow across layer {L!r}")
    raise ValueError(f"layer {name!r} has no consumer")  # pragma: no cover - growable excludes it


def _resized(L, n: int, axis: str):
    if axis == "out":
        return replace(L, out_ch=n) if isinstance(L, Conv2d) else replace(L, out_f=n)
    return replace(L, in_ch=n) if isinstance(L, Conv2d) else replace(L, in_f=n)


def _install(net: Network, layers: list, params: dict[str, np.ndarray]) -> None:
    """Swap in new layer shapes and parameters, re-deriving shapes; the plan must not change."""
    shapes = [net.input_shape]
    for L in layers:
        shapes.append(L.out_shape(shapes[-1]))
    plan = bind(net.recipe, layers)
    if plan.to_json() != net.plan.to_json():  # pragma: no cover - plans depend on names only
        raise RuntimeError("resizing changed the numeric plan; growth would not be exact")
    for L in layers:
        if L.weighted:
            for k in ("weight", "momentum"):
                if params[f"{L.name}.{k}"].shape != L.weight_shape:  # pragma: no cover
                    raise RuntimeError(f"{L.name}.{k}: shape {params[f'{L.name}.{k}'].shape} "
                                       f"!= {L.weight_shape}")
    net.layers, net.shapes, net.params = layers, shapes, params


def _init_units(net: Network, li: int, n_new: int, init: str, scale: float, event: int,
                scores: np.ndarray | None, noise: float) -> np.ndarray:
    L = net.layers[li]
    shape = (n_new,) + L.weight_shape[1:]
    bound = scale * np.sqrt(6.0 / L.fan_in)
    rng = np.random.default_rng([net.seed, int(event), li])
    draw = rng.uniform(-bound, bound, size=shape)
    spec = net.plan[L.name].weight
    W = net.params[f"{L.name}.weight"]
    if init == "random":
        w = quantize(draw, spec.fmt, "half_even", "saturate")
    else:  # copy
        if scores is None or len(scores) != W.shape[0]:
            raise ValueError(f"init 'copy' needs one saliency score per unit of {L.name} "
                             f"({W.shape[0]}), got {None if scores is None else len(scores)}")
        # stable: ties go to the lower index, so the choice is reproducible
        order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")
        src = order[np.arange(n_new) % len(order)]
        base = W[src] if net.float64 else W[src].astype(np.int64)
        if net.float64:
            return base + dequantize(quantize(noise * draw, spec.fmt, "half_even", "saturate"), spec.fmt)
        w = base + quantize(noise * draw, spec.fmt, "half_even", "saturate").astype(np.int64)
        lo, hi = spec.fmt.min_int, spec.fmt.max_int
        return np.clip(w, lo, hi).astype(W.dtype)
    return dequantize(w, spec.fmt) if net.float64 else w.astype(W.dtype)


def grow(net: Network, layer: str, n_new: int, *, init: str = "random", scale: float = 1.0,
         event: int = 0, scores: np.ndarray | None = None, noise: float = 0.25) -> np.ndarray:
    """Append ``n_new`` units to ``layer`` in place; returns their indices.

    New incoming weights follow ``init`` (module docstring), new momentum is zero, and the
    consumer's new input slices (weights and momentum) are zero, so the network's outputs
    are bit-identical right after the call. ``event`` numbers the growth event (it seeds
    the draw, so a run is reproducible and resumable); ``scores`` (one per existing unit)
    is needed by ``init="copy"``.
    """
    if init not in INIT_RULES:
        raise ValueError(f"unknown init {init!r}; expected one of {INIT_RULES}")
    if isinstance(n_new, bool) or not isinstance(n_new, (int, np.integer)) or n_new < 0:
        raise ValueError(f"n_new must be a non-negative integer, got {n_new!r}")
    if not (np.isfinite(scale) and scale >= 0 and np.isfinite(noise) and noise >= 0):
        raise ValueError(f"scale and noise must be finite and >= 0, got {scale}, {noise}")
    ci, per = consumer(net, layer)
    li = _index(net, layer)
    n_new = int(n_new)
    old = _units(net.layers[li])
    if n_new == 0:
        return np.arange(old, old)
    L, N = net.layers[li], net.layers[ci]
    params = dict(net.params)
    w_new = _init_units(net, li, n_new, init, scale, event, scores, noise)
    wk, vk = f"{L.name}.weight", f"{L.name}.momentum"
    params[wk] = np.concatenate([net.params[wk], w_new], axis=0)
    params[vk] = np.concatenate([net.params[vk], np.zeros_like(w_new, dtype=net.params[vk].dtype)], axis=0)
    for k in ("weight", "momentum"):
        P = net.params[f"{N.name}.{k}"]
        pad = np.zeros((P.shape[0], n_new * per) + P.shape[2:], dtype=P.dtype)
        params[f"{N.name}.{k}"] = np.concatenate([P, pad], axis=1)
    layers = list(net.layers)
    layers[li] = _resized(L, old + n_new, "out")
    layers[ci] = _resized(N, _in_width(N) + n_new * per, "in")
    _install(net, layers, params)
    return np.arange(old, old + n_new)


def _in_width(L) -> int:
    return L.in_ch if isinstance(L, Conv2d) else L.in_f


def prune(net: Network, layer: str, keep) -> None:
    """Keep only units ``keep`` (distinct indices, any order; kept in ascending order) of
    ``layer`` in place, compacting its weights and momentum and the consumer's input
    slices (input channels, or the H*W FC columns per channel after a Flatten)."""
    ci, per = consumer(net, layer)
    li = _index(net, layer)
    L, N = net.layers[li], net.layers[ci]
    n = _units(L)
    keep = np.asarray(keep)
    if keep.ndim != 1 or keep.dtype.kind not in "iu":
        raise ValueError(f"keep must be a 1-d integer array of unit indices, got {keep!r}")
    keep = np.unique(keep)
    if len(keep) == 0:
        raise ValueError(f"pruning would remove every unit of {layer}; keep at least one")
    if keep[0] < 0 or keep[-1] >= n:
        raise ValueError(f"keep indices must lie in [0, {n}) for {layer}, got {keep.min()}..{keep.max()}")
    cols = (keep[:, None] * per + np.arange(per)[None, :]).reshape(-1)
    params = dict(net.params)
    for k in ("weight", "momentum"):
        params[f"{L.name}.{k}"] = np.ascontiguousarray(net.params[f"{L.name}.{k}"][keep])
        params[f"{N.name}.{k}"] = np.ascontiguousarray(net.params[f"{N.name}.{k}"][:, cols])
    layers = list(net.layers)
    layers[li] = _resized(L, len(keep), "out")
    layers[ci] = _resized(N, len(keep) * per, "in")
    _install(net, layers, params)


def resized_layers(layers: list, input_shape: tuple[int, ...], target: dict[str, int]) -> list:
    """``layers`` with the listed layers' unit counts set to ``target`` and every input
    width re-derived along the chain (a pure function of shapes: no parameters)."""
    weighted = [L.name for L in layers if L.weighted]
    unknown = set(target) - set(weighted[:-1])
    if unknown:
        raise ValueError(f"cannot resize {sorted(unknown)}: growable layers are {weighted[:-1]}")
    out, shape = [], tuple(input_shape)
    for L in layers:
        if isinstance(L, Conv2d):
            L = replace(L, in_ch=shape[0], out_ch=int(target.get(L.name, L.out_ch)))
        elif isinstance(L, Linear):
            L = replace(L, in_f=shape[0], out_f=int(target.get(L.name, L.out_f)))
        if L.weighted and _units(L) < 1:
            raise ValueError(f"{L.name}: width must be >= 1, got {_units(L)}")
        shape = L.out_shape(shape)
        out.append(L)
    return out


def set_widths(net: Network, target: dict[str, int]) -> None:
    """Resize a freshly built network to ``target`` widths with zero weights in every new
    row and column: the shape-only step of restoring a grown or pruned checkpoint, whose
    parameters are loaded afterwards with ``net.load_state_dict``."""
    unknown = set(target) - set(growable(net))
    if unknown:
        raise ValueError(f"cannot resize {sorted(unknown)}: growable layers are {growable(net)}")
    for name in growable(net):
        if name not in target:
            continue
        want, have = int(target[name]), widths(net)[name]
        if want < 1:
            raise ValueError(f"{name}: width must be >= 1, got {want}")
        if want > have:
            grow(net, name, want - have, scale=0.0)
        elif want < have:
            prune(net, name, np.arange(want))
