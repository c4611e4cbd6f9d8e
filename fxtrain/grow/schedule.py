"""The CGaP schedule: when and how much to grow, when and how much to prune.

A run has three phases over one epoch budget (``epochs`` of the training config):

1. **Growth** from the *seed* network (every growable layer at ``seed_width`` x its full
   width, rounded, at least one unit). Every ``grow_every`` steps (steps counted from
   the start of the run, first event at step ``grow_every``) each layer below its cap
   (``max_width`` x full width) gains ``ceil(grow_rate * width)`` units, capped. Growth
   stops at the first of: every layer at its cap; the end of epoch ``grow_epochs``; or,
   with ``plateau_patience`` > 0, that many epochs in a row whose mean training loss did
   not improve on the best by more than ``plateau_delta`` (relative). The moment growth
   stops is the *peak*; the saliency window restarts there.
2. **Settling**: training at the peak widths while saliency accumulates.
3. **Pruning** at the start of epoch ``prune_epoch`` (0-based; None: never): per layer,
   keep units by ``criterion`` scores, either the top ``1 - prune_ratio`` fraction or an
   explicit ``prune_widths`` mapping (the train-then-prune baseline prunes the full model
   to CGaP's final widths this way, so both end with equal MACs). The remaining epochs
   fine-tune the pruned network.

Growth is uniform in rate across layers; which units are *kept* is where saliency
decides. A schedule with ``seed_width=1``, ``grow_every=0`` and no pruning is ordinary
training (bit-identical to ``fxtrain train``; tested).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

from .saliency import CRITERIA
from .surgery import INIT_RULES


@dataclass
class CGaPSchedule:
    """See the module docstring for the meaning of every field."""

    seed_width: float = 0.25
    max_width: float = 1.0
    #: steps between growth events (0: never grow)
    grow_every: int = 25
    grow_rate: float = 0.25
    grow_epochs: int = 2
    plateau_patience: int = 0
    plateau_delta: float = 0.01
    prune_epoch: int | None = 3
    prune_ratio: float | None = 0.5
    prune_widths: dict[str, int] | None = field(default=None)
    criterion: str = "taylor"
    init: str = "random"
    init_scale: float = 1.0

    def __post_init__(self) -> None:
        if not 0 < self.seed_width <= self.max_width:
            raise ValueError(f"need 0 < seed_width <= max_width, got {self.seed_width}, {self.max_width}")
        if not (math.isfinite(self.max_width) and self.max_width <= 64):
            raise ValueError(f"max_width must be a finite multiple of the full width <= 64, got {self.max_width}")
        for name in ("grow_every", "grow_epochs", "plateau_patience"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise ValueError(f"{name} must be a non-negative integer, got {v!r}")
        if not (math.isfinite(self.grow_rate) and self.grow_rate > 0):
            raise ValueError(f"grow_rate must be > 0, got {self.grow_rate}")
        if not self.plateau_delta >= 0:
            raise ValueError(f"plateau_delta must be >= 0, got {self.plateau_delta}")
        if self.prune_epoch is not None:
            if isinstance(self.prune_epoch, bool) or not isinstance(self.prune_epoch, int) or self.prune_epoch < 0:
                raise ValueError(f"prune_epoch must be a non-negative integer or None, got {self.prune_epoch!r}")
            if (self.prune_ratio is None) == (self.prune_widths is None):
                raise ValueError("pruning needs exactly one of prune_ratio and prune_widths")
            if self.prune_ratio is not None and not 0 <= self.prune_ratio < 1:
                raise ValueError(f"prune_ratio must be in [0, 1), got {self.prune_ratio}")
        if self.criterion not in CRITERIA:
            raise ValueError(f"unknown criterion {self.criterion!r}; expected one of {CRITERIA}")
        if self.init not in INIT_RULES:
            raise ValueError(f"unknown init {self.init!r}; expected one of {INIT_RULES}")
        if not (math.isfinite(self.init_scale) and self.init_scale > 0):
            raise ValueError(f"init_scale must be > 0, got {self.init_scale}")

    def seed_widths(self, full: dict[str, int]) -> dict[str, int]:
        return {n: max(1, round(self.seed_width * w)) for n, w in full.items()}

    def cap_widths(self, full: dict[str, int]) -> dict[str, int]:
        seed = self.seed_widths(full)
        return {n: max(seed[n], round(self.max_width * w)) for n, w in full.items()}

    def growth(self, width: int, cap: int) -> int:
        """Units one event adds to a layer of ``width`` units capped at ``cap``."""
        return max(0, min(math.ceil(self.grow_rate * width), cap - width))

    def grows_at(self, step: int) -> bool:
        return self.grow_every > 0 and step > 0 and step % self.grow_every == 0

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict) -> "CGaPSchedule":
        return cls(**d)
