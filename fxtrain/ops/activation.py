"""ReLU in fixed point, with the 1-bit derivative mask stored for BP.

``rule="ge"`` (FPL'19, the default): mask = x >= 0; ``rule="gt"``: mask = x > 0. Both
give the same ``y`` (x = 0 maps to 0 either way); they differ only in whether BP passes
the gradient of an exactly-zero pre-activation. Worked example: x = [-2, 0, 3] ->
y = [0, 0, 3]; mask "ge" = [0, 1, 1], "gt" = [0, 0, 1].
"""
from __future__ import annotations

import numpy as np

from ._validate import int_array, same_shape

RELU_RULES = ("ge", "gt")


def relu_fp(x, rule: str = "ge") -> tuple[np.ndarray, np.ndarray]:
    """(y, mask): y = x * mask in x's dtype, mask uint8 (1 = gradient passes)."""
    x = int_array(x, "x")
    if rule == "ge":
        m = x >= 0
    elif rule == "gt":
        m = x > 0
    else:
        raise ValueError(f"unknown ReLU rule {rule!r}; expected one of {RELU_RULES}")
    y = np.where(m, x, np.zeros((), dtype=x.dtype)).astype(x.dtype, copy=False)
    return y, m.astype(np.uint8)


def relu_bp(e, mask) -> np.ndarray:
    """``e`` where mask != 0, else 0, in e's dtype (mask from relu_fp: uint8 or bool)."""
    e = int_array(e, "e")
    m = np.asarray(mask)
    if m.dtype != np.uint8 and m.dtype != np.bool_:
        raise TypeError(f"mask must be uint8 (from relu_fp) or bool, got dtype {m.dtype}")
    same_shape(e, m, "e", "mask")
    return np.where(m != 0, e, np.zeros((), dtype=e.dtype)).astype(e.dtype, copy=False)
