"""Pure integer kernels (docs/ops.md): conv/linear FP, BP, WU accumulators, ReLU, max-pool,
loss gradients and the momentum updates; conv FP/BP fused with requantization (and with
the ReLU next to them), max-pool BP fused with the ReLU's.

Accumulating ops form every sum exactly and return int64 sums wrapped to ``acc_bits``
(default 32; 64 is exact for 16-bit operands); ``stats=True`` adds the count of elements
whose sum did not fit. The caller requantizes them with
:func:`fxtrain.numerics.requantize` per its plan's width for that layer and phase.
Flatten is ``a.reshape(N, -1)``: row-major (C, H, W) order, no op needed.
``fxtrain.ops.table`` (needs hypothesis) lists every op with its oracle twin.
"""
from .activation import RELU_RULES, relu_bp, relu_fp
from .conv import conv2d_bp, conv2d_fp
from .conv_wu import conv2d_wu
from .conv_requant import (conv2d_bp_requant, conv2d_bp_requant_mask, conv2d_fp_requant,
                           conv2d_fp_requant_relu)
from .linear import linear_bp, linear_fp, linear_wu
from .losses import (mse_grad, mse_loss, softmax_xent_loss, squared_hinge_grad,
                     squared_hinge_loss)
from .pool import maxpool_bp, maxpool_bp_mask, maxpool_fp
from .softmax import EXP2_LUT, softmax_q, softmax_xent_grad
from .update import fpl19_accumulate, fpl19_apply, fpl19_decay, fpl19_step, sgd_momentum

__all__ = [
    "EXP2_LUT", "RELU_RULES",
    "conv2d_bp", "conv2d_bp_requant", "conv2d_bp_requant_mask", "conv2d_fp", "conv2d_fp_requant",
    "conv2d_fp_requant_relu", "conv2d_wu",
    "fpl19_accumulate", "fpl19_apply", "fpl19_decay", "fpl19_step",
    "linear_bp", "linear_fp", "linear_wu",
    "maxpool_bp", "maxpool_bp_mask", "maxpool_fp",
    "mse_grad", "mse_loss",
    "relu_bp", "relu_fp",
    "sgd_momentum",
    "softmax_q", "softmax_xent_grad", "softmax_xent_loss",
    "squared_hinge_grad", "squared_hinge_loss",
]
