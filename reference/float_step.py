"""One float64 training step's magnitudes, for deriving calibrated plans (sr16) in the
oracle: written from docs/training.md ("The sr16 plan, rule by rule"), never importing
fxtrain. Deliberately plain: every convolution is a loop over kernel offsets with one
einsum each, which is a different summation from the engine's im2col and GEMM. The
magnitudes only choose fractions by ``floor(log2 max)``, so the float order matters only
within an ulp of a power of two.

Definitions (NCHW, correlation form, zero padding):

- conv FP ``y[n,o,i,j] = sum_{c,u,v} w[o,c,u,v] * a_pad[n,c,i*s+u, j*s+v]``
- conv BP ``g = d y / d a`` (the adjoint: scatter ``e * w`` back to the input positions)
- conv WU ``G[o,c,u,v] = sum_{n,i,j} e[n,o,i,j] * a_pad[n,c,i*s+u, j*s+v]``
- ReLU mask ``a >= 0`` ("ge") or ``a > 0`` ("gt"); max-pool k x k, stride k, the first
  maximum in row-major window order; Linear ``z = a @ W.T``.
- loss gradients on +-1 targets ``t``: squared hinge ``(z - t) * (1 - z t > 0)``, MSE
  ``z - t``, softmax cross-entropy ``softmax(z) - onehot``.
"""
from __future__ import annotations

import numpy as np

WEIGHTED = ("Conv2d", "Linear")


def he_uniform(layers: list[dict], seed: int) -> dict[str, np.ndarray]:
    """The float initial weights: He-uniform, bound sqrt(6 / fan_in), drawn from
    ``numpy.random.default_rng(seed)`` layer by layer in order (``rng.uniform``)."""
    rng = np.random.default_rng(seed)
    out = {}
    for L in layers:
        if L["type"] == "Conv2d":
            shape = (L["out_ch"], L["in_ch"], L["k"], L["k"])
            fan_in = L["in_ch"] * L["k"] * L["k"]
        elif L["type"] == "Linear":
            shape, fan_in = (L["out_f"], L["in_f"]), L["in_f"]
        else:
            continue
        bound = np.sqrt(6.0 / fan_in)
        out[L["name"]] = rng.uniform(-bound, bound, size=shape)
    return out


def _pad(a, p):
    return np.pad(a, ((0, 0), (0, 0), (p, p), (p, p))) if p else a


def conv_fp(a, w, s, p):
    ap = _pad(a, p)
    o, _, k, _ = w.shape
    ho, wo = (ap.shape[2] - k) // s + 1, (ap.shape[3] - k) // s + 1
    y = np.zeros((a.shape[0], o, ho, wo))
    for u in range(k):
        for v in range(k):
            y += np.einsum("nchw,oc->nohw", ap[:, :, u:u + s * ho:s, v:v + s * wo:s][:, :, :ho, :wo],
                           w[:, :, u, v])
    return y


def conv_bp(e, w, in_hw, s, p):
    n, _, ho, wo = e.shape
    _, c, k, _ = w.shape
    g = np.zeros((n, c, in_hw[0] + 2 * p, in_hw[1] + 2 * p))
    for u in range(k):
        for v in range(k):
            g[:, :, u:u + s * ho:s, v:v + s * wo:s] += np.einsum("nohw,oc->nchw", e, w[:, :, u, v])
    return g[:, :, p:p + in_hw[0], p:p + in_hw[1]]


def conv_wu(e, a, k, s, p):
    ap = _pad(a, p)
    _, o, ho, wo = e.shape
    g = np.zeros((o, a.shape[1], k, k))
    for u in range(k):
        for v in range(k):
            g[:, :, u, v] = np.einsum("nohw,nchw->oc", e, ap[:, :, u:u + s * ho:s, v:v + s * wo:s][:, :, :ho, :wo])
    return g


def pool_fp(a, k):
    n, c, h, w = a.shape
    ho, wo = h // k, w // k
    y = np.full((n, c, ho, wo), -np.inf)
    arg = np.zeros((n, c, ho, wo), dtype=np.int64)
    for u in range(k):
        for v in range(k):
            cand = a[:, :, u:u + k * ho:k, v:v + k * wo:k]
            better = cand > y  # strict: the first maximum in row-major order stays
            y = np.where(better, cand, y)
            arg = np.where(better, u * k + v, arg)
    return y, arg


def pool_bp(e, arg, in_hw, k):
    n, c, ho, wo = e.shape
    g = np.zeros((n, c) + tuple(in_hw))
    for u in range(k):
        for v in range(k):
            g[:, :, u:u + k * ho:k, v:v + k * wo:k] += e * (arg == u * k + v)
    return g


def loss_grad(loss: str, z, labels, k: int):
    t = -np.ones((len(labels), k))
    t[np.arange(len(labels)), labels] = 1.0
    if loss == "squared_hinge":
        return (z - t) * (1.0 - z * t > 0)
    if loss == "mse":
        return z - t
    if loss == "softmax_xent":
        p = np.exp(z - z.max(axis=1, keepdims=True))
        return p / p.sum(axis=1, keepdims=True) - (t > 0)
    raise ValueError(f"unknown loss {loss!r}")


def magnitudes(layers: list[dict], w: dict, x, labels, loss: str, relu_rule: str, group_size: int) -> dict:
    """max |.| of every tensor sr16 calibrates, from one float64 step on ``(x, labels)``
    with weights ``w``: ``{"input": {"activation"}, layer: {weight, activation,
    weight_gradient, local_gradient}}`` (docs/training.md, "The sr16 plan")."""
    x = np.asarray(x, dtype=np.float64)
    n = len(x)
    a, cache = x, []
    for L in layers:
        t = L["type"]
        rec = {"in": a}
        if t == "Conv2d":
            a = conv_fp(a, w[L["name"]], L["stride"], L["pad"])
        elif t == "Linear":
            a = a @ w[L["name"]].T
        elif t == "ReLU":
            rec["mask"] = (a >= 0) if relu_rule == "ge" else (a > 0)
            a = a * rec["mask"]
        elif t == "MaxPool2d":
            a, rec["arg"] = pool_fp(a, L["k"])
        elif t == "Flatten":
            a = a.reshape(n, -1)
        else:
            raise ValueError(f"layer type {t!r} is not supported")
        rec["out"] = a
        cache.append(rec)
    k = a.shape[1]
    e = e_loss = loss_grad(loss, a, np.asarray(labels), k)
    first = min(i for i, L in enumerate(layers) if L["type"] in WEIGHTED)
    stats: dict = {"input": {"activation": float(np.abs(x).max())}}
    for i in range(len(layers) - 1, first - 1, -1):
        L, rec = layers[i], cache[i]
        t, a_in = L["type"], rec["in"]
        if t in WEIGHTED:
            name = L["name"]
            G = (conv_wu(e, a_in, L["k"], L["stride"], L["pad"]) if t == "Conv2d" else e.T @ a_in)
            st = {"weight": float(np.abs(w[name]).max()), "activation": float(np.abs(rec["out"]).max()),
                  # a group's sum of group_size images scales like group_size / n
                  "weight_gradient": float(np.abs(G).max()) * group_size / n}
            if i > first:
                e = (conv_bp(e, w[name], a_in.shape[2:], L["stride"], L["pad"]) if t == "Conv2d"
                     else e @ w[name])
                st["local_gradient"] = float(np.abs(e).max())
            else:  # the first layer propagates nothing: its unused entry is the loss gradient's
                st["local_gradient"] = float(np.abs(e_loss).max())
            stats[name] = st
        elif t == "ReLU":
            e = e * rec["mask"]
        elif t == "MaxPool2d":
            e = pool_bp(e, rec["arg"], a_in.shape[2:], L["k"])
        elif t == "Flatten":
            e = e.reshape(a_in.shape)
    return stats
