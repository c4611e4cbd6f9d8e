"""Per-unit saliency: which filters and neurons matter, measured during fixed-point training.

Criteria (``CRITERIA``):

- ``"taylor"`` — first-order Taylor estimate of the loss change if the unit's incoming
  weights were zeroed, accumulated over training steps:
  ``S_o = sum over steps t of | sum_{c,k} W_t[o,c,k] * G_t[o,c,k] |`` with ``W_t`` the
  weights the step used and ``G_t = sum_g G_g`` its weight gradient (sum of the on-chip
  groups' requantized gradients). Integer-exact in int64 in fixed point: ``W*G`` is a
  16x16-bit product, the per-unit sum has at most ``C*K*K`` terms, and the running sum
  saturates at ``2**63 - 1`` instead of wrapping (it would take ~2**29 steps of
  full-scale products to get there). Its fraction is ``f_W + f_G``, so scores rank units
  within a layer; :meth:`Saliency.normalized` gives real values for comparisons across
  layers. Why: removing unit ``o`` changes the loss by ``-sum w * dL/dw`` to first order
  (Molchanov et al., ICLR 2017; LeCun's optimal brain damage without the second-order
  term); accumulating ``|.|`` per step rather than ``|sum|`` over steps keeps units that
  matter with changing sign. It sees the unit's effect through the gradient, so a unit
  whose outgoing weights are all zero scores exactly 0.
- ``"l1"`` — ``sum_{c,k} |W[o,c,k]|`` of the current weights (Li et al., ICLR 2017,
  "Pruning filters for efficient ConvNets"): no state, blind to the data and to the
  unit's outgoing weights. It is the train-then-prune baseline's criterion.

Compatibility: scores are deterministic functions of the weights and gradients the engine
computes, so a run and its resumed copy rank units identically.
"""
from __future__ import annotations

import numpy as np

from ..nn.network import Network

CRITERIA = ("taylor", "l1")
_MAX = np.int64(2**63 - 1)


def unit_l1(net: Network, name: str) -> np.ndarray:
    """``sum |W[o, ...]|`` per unit ``o`` (int64 in fixed point, float64 in float mode)."""
    W = net.params[f"{name}.weight"]
    a = np.abs(W.reshape(W.shape[0], -1).astype(np.float64 if net.float64 else np.int64))
    return a.sum(axis=1)


def unit_taylor(W: np.ndarray, grads: list[np.ndarray], float64: bool = False) -> np.ndarray:
    """``| sum_{c,k} W[o] * sum_g G_g[o] |`` per unit ``o``, exact in int64 (or float64)."""
    dt = np.float64 if float64 else np.int64
    G = np.zeros(W.shape, dtype=dt)
    for g in grads:
        G += g.astype(dt)
    p = W.astype(dt).reshape(W.shape[0], -1) * G.reshape(W.shape[0], -1)
    return np.abs(p.sum(axis=1))


class Saliency:
    """Running per-unit saliency of a network's growable layers under one criterion.

    Usage: ``W = s.snapshot(net)``, ``net.train_step(x, y, gradients=g)``,
    ``s.observe(net, W, g)``. ``scores(net)`` returns the current
    scores; growth and pruning must be mirrored with :meth:`grown` / :meth:`pruned`.
    """

    def __init__(self, criterion: str = "taylor"):
        if criterion not in CRITERIA:
            raise ValueError(f"unknown saliency criterion {criterion!r}; expected one of {CRITERIA}")
        self.criterion = criterion
        self.acc: dict[str, np.ndarray] = {}
        self.steps = 0

    @property
    def stateful(self) -> bool:
        return self.criterion == "taylor"

    def _layers(self, net: Network) -> list[str]:
        return [L.name for L in net.weighted_layers[:-1]]

    def _ensure(self, net: Network) -> None:
        for name in self._layers(net):
            n = net.params[f"{name}.weight"].shape[0]
            if name not in self.acc:
                self.acc[name] = np.zeros(n, np.float64 if net.float64 else np.int64)
            elif len(self.acc[name]) != n:
                raise ValueError(f"saliency of {name} tracks {len(self.acc[name])} units but the "
                                 f"layer has {n}: mirror growth/pruning with grown()/pruned()")

    def snapshot(self, net: Network) -> dict[str, np.ndarray] | None:
        """The weights a step is about to use (None when the criterion does not need them)."""
        if not self.stateful:
            return None
        return {n: net.params[f"{n}.weight"].copy() for n in self._layers(net)}

    def observe(self, net: Network, weights: dict[str, np.ndarray] | None,
                grads: dict[str, list[np.ndarray]]) -> None:
        """Accumulate one step: ``weights`` from :meth:`snapshot`, ``grads`` the step's
        weight gradients (``train_step(..., gradients=grads)``)."""
        if not self.stateful:
            return
        self._ensure(net)
        for name in self._layers(net):
            t = unit_taylor(weights[name], grads[name], net.float64)
            if net.float64:
                self.acc[name] += t
            else:
                self.acc[name] = np.minimum(self.acc[name], _MAX - t) + t
        self.steps += 1

    def scores(self, net: Network) -> dict[str, np.ndarray]:
        """Current score per unit of every growable layer (copies)."""
        if self.criterion == "l1":
            return {n: unit_l1(net, n) for n in self._layers(net)}
        self._ensure(net)
        return {n: a.copy() for n, a in self.acc.items()}

    def normalized(self, net: Network) -> dict[str, np.ndarray]:
        """Scores as real numbers (taylor: mean per step; fixed point scaled by 2**-(f_W+f_G)),
        comparable across layers."""
        out = {}
        for n, s in self.scores(net).items():
            s = s.astype(np.float64)
            if not net.float64:
                lp = net.plan[n]
                f = lp.weight.f + (lp.weight_gradient.f if self.stateful else 0)
                s = s * 2.0 ** -f
            out[n] = s / max(self.steps, 1) if self.stateful else s
        return out

    def reset(self) -> None:
        """Start a new accumulation window (keeps the layer sizes)."""
        for a in self.acc.values():
            a[:] = 0
        self.steps = 0

    def grown(self, name: str, n_new: int) -> None:
        """New units start with score 0."""
        if name in self.acc:
            self.acc[name] = np.concatenate([self.acc[name], np.zeros(n_new, self.acc[name].dtype)])

    def pruned(self, name: str, keep: np.ndarray) -> None:
        if name in self.acc:
            self.acc[name] = self.acc[name][np.unique(keep)]

    # ---------------------------------------------------------------- checkpoints
    def state_arrays(self) -> dict[str, np.ndarray]:
        return {f"saliency.{n}": a.copy() for n, a in self.acc.items()}

    def state_meta(self) -> dict:
        return {"criterion": self.criterion, "steps": self.steps}

    def load_state(self, arrays: dict[str, np.ndarray], meta: dict) -> None:
        if meta.get("criterion") != self.criterion:
            raise ValueError(f"saliency state is for criterion {meta.get('criterion')!r}, "
                             f"not {self.criterion!r}")
        self.acc = {k[len("saliency."):]: np.array(v, copy=True) for k, v in arrays.items()
                    if k.startswith("saliency.")}
        self.steps = int(meta["steps"])


def select_keep(scores: np.ndarray, *, ratio: float | None = None, threshold: float | None = None,
                count: int | None = None, min_units: int = 1) -> np.ndarray:
    """Indices of the units to keep (ascending) when pruning by score.

    Exactly one rule: ``ratio``: remove ``floor(ratio * n)`` lowest-scoring units;
    ``threshold``: remove units scoring below ``threshold * mean(scores)``; ``count``: keep
    the ``count`` highest-scoring units. Ties: among equal scores the higher index goes
    first, so the choice is deterministic. At least ``min_units`` units stay.
    Example: scores [5, 1, 1, 9], ratio 0.5 -> remove indices 2 then 1 -> keep [0, 3].
    """
    s = np.asarray(scores, dtype=np.float64)
    n = len(s)
    if sum(v is not None for v in (ratio, threshold, count)) != 1:
        raise ValueError("give exactly one of ratio, threshold and count")
    if np.isnan(s).any():
        raise ValueError("saliency scores contain NaN")
    min_units = max(1, min(int(min_units), n))
    # lowest score first; among ties the highest index first
    order = np.lexsort((-np.arange(n), s))
    if ratio is not None:
        if not 0 <= ratio < 1:
            raise ValueError(f"prune ratio must be in [0, 1), got {ratio}")
        k = int(np.floor(ratio * n))
    elif count is not None:
        if isinstance(count, bool) or not isinstance(count, (int, np.integer)) or count < 1:
            raise ValueError(f"keep count must be a positive integer, got {count!r}")
        k = n - int(count)
    else:
        if not threshold >= 0:
            raise ValueError(f"prune threshold must be >= 0, got {threshold}")
        k = int(np.sum(s < threshold * s.mean())) if n else 0
    k = max(0, min(k, n - min_units))
    return np.sort(order[k:])
