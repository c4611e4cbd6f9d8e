"""Golden vectors: capture every tensor of fixed-point training steps into a verified
bundle of ``.npy`` + ``$readmemh`` ``.hex`` files (docs/vectors.md).

- :func:`load_bundle` reads and verifies a bundle; :func:`write_bundle` and
  :func:`extend_bundle` write one atomically (:mod:`fxtrain.vectors.bundle`).
- :func:`capture_step`, :func:`capture_steps`, :func:`bundle_network` capture steps of any
  fixed-point :class:`~fxtrain.nn.Network`; :func:`make_bundle` the first steps of
  ``fxtrain train`` (imported on first use: they load the engine).
- :class:`WordFormat`, :func:`encode_hex`, :func:`decode_hex`: word formats and hex text.
"""
from .bundle import Bundle, BundleError, Tensor, extend_bundle, load_bundle, write_bundle
from .words import WordFormat, decode_hex, encode_hex

_LAZY = {"capture_step": "capture", "sr_keys": "capture", "capture_steps": "make",
         "bundle_network": "make", "make_bundle": "make"}

__all__ = ["Bundle", "BundleError", "Tensor", "WordFormat", "decode_hex", "encode_hex", "extend_bundle",
           "load_bundle", "write_bundle", *_LAZY]


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
