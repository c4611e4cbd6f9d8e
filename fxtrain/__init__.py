"""fxtrain: the bit-exact 16-bit fixed-point CNN training engine (single source of truth)."""

__version__ = "0.1.0"
