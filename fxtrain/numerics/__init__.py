"""The numerics contract in code (docs/numerics.md): formats, requantization with six
rounding and two overflow modes, counter-based stochastic rounding, accumulators."""
from .accum import acc_matmul, acc_sum
from .formats import CONTRACT_VERSION, OVERFLOW_MODES, ROUNDING_MODES, QFormat
from .overflow import saturate, wrap
from .requant import dequantize, quantize, requantize
from .rng import ROLES, lowbias32, sr_key

__all__ = [
    "CONTRACT_VERSION", "OVERFLOW_MODES", "ROUNDING_MODES", "ROLES", "QFormat",
    "acc_matmul", "acc_sum", "dequantize", "lowbias32", "quantize", "requantize",
    "saturate", "sr_key", "wrap",
]
