"""Independent, deliberately slow oracle for the fxtrain numerics contract (docs/numerics.md).

Plain Python integers, one element at a time, written from the contract text. It never
imports fxtrain, so a bug shared by engine and oracle would have to be written twice.
"""
from .numerics import (
    CONTRACT_VERSION,
    DETERMINISTIC_MODES,
    OVERFLOW_MODES,
    ROLES,
    ROUNDING_MODES,
    acc_matmul,
    acc_sum,
    lowbias32,
    overflow,
    quantize,
    random_word,
    requantize,
    round_rational,
    round_shift,
    saturate,
    sr_key,
    stochastic_addend,
    wrap,
)

__all__ = [
    "CONTRACT_VERSION", "DETERMINISTIC_MODES", "OVERFLOW_MODES", "ROLES", "ROUNDING_MODES",
    "acc_matmul", "acc_sum", "lowbias32", "overflow", "quantize", "random_word", "requantize",
    "round_rational", "round_shift", "saturate", "sr_key", "stochastic_addend", "wrap",
]
