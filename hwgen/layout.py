"""Cyclic weight storage for P lanes: the one definition of where every weight lives.

The same stored words serve the forward pass (FP: fixed input channel c, P consecutive
output channels) and the backward pass (BP: fixed output channel o, P consecutive input
channels, kernel flipped 180 degrees), each reading every one of the P banks exactly
once per cycle. The on-chip buffer RTL, the compiler's memory images and the DRAM image
all follow this module; tests/hw/test_layout.py proves the properties below.

Shapes. Weights ``W[O, C, K, K]`` (any integer dtype), ``P >= 1`` lanes = banks.
Output channels form ``TO = ceil(O/P)`` tiles, input channels ``TC = ceil(C/P)`` tiles;
tile ``(to, tc)`` holds the P x P pairs ``o = to*P + oi``, ``c = tc*P + ci``
(``0 <= oi, ci < P``). Pairs with ``o >= O`` or ``c >= C`` are padding and hold zero,
so ragged shapes (e.g. after pruning) need no special case.

Placement (``KK = K*K``, ``t = to*TC + tc``)::

    bank(o, c)             = (o + c) mod P
    address(o, c, ky, kx)  = (t*P + oi)*KK + ky*K + kx
    depth (words per bank) = TO * TC * P * KK

Within a tile, bank ``b`` holds for each ``oi`` the one pair with ``ci = (b - oi) mod P``;
the address names ``(t, oi, ky, kx)`` and the bank then names ``ci``, so the map is a
bijection from the padded index space onto ``[0, P) x [0, depth)``.

FP read group (``c, ky, kx`` fixed, ``o0`` a multiple of P, lane ``i`` wants
``W[o0+i, c, ky, kx]``): lane i sits in bank ``(i + ci) mod P`` -- all P banks, once.
Bank b reads address ``(t*P + (b - ci) mod P)*KK + ky*K + kx``.

BP read group (``o, ky, kx`` fixed, ``c0`` a multiple of P, lane ``j`` wants
``W[o, c0+j, K-1-ky, K-1-kx]``): lane j sits in bank ``(oi + j) mod P``; every bank
reads the same address ``(t*P + oi)*KK + (K-1-ky)*K + (K-1-kx)``. The 180-degree flip is
only address order: a BP sweep walks each KK block downwards.

Barrel rotation. With ``bank_out[b]`` the word read from bank b, the lanes are
``lane[i] = bank_out[(i + r) mod P]`` with ``r = c mod P`` for FP and ``r = o mod P``
for BP (lane i takes bank i + r; ``r = 0`` is the identity).

DRAM image. ``dram[a*P + b] = bank b, address a``: a linear burst deals words to the
banks round-robin, P words per buffer address. Tile ``t`` is the contiguous range
``[t*P*P*KK, (t+1)*P*P*KK)``, so one output-channel tile row (fixed ``to``, all ``tc``)
is one contiguous burst.

Worked example (P=4, K=1, O=6, C=5; docs/hardware.md has the full table):
``(o, c) = (5, 4)``: to=1, tc=1, t=3, oi=1 -> bank (5+4) mod 4 = 1, address 3*4+1 = 13.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def _as_int_array(x, name: str) -> np.ndarray:
    a = np.asarray(x)
    if a.dtype.kind not in "iu":
        raise TypeError(f"{name} must hold integers, got dtype {a.dtype}")
    return a.astype(np.int64)


def _check_range(a: np.ndarray, lo: int, hi: int, name: str) -> None:
    if a.size and (a.min() < lo or a.max() >= hi):
        raise ValueError(f"{name} must lie in [{lo}, {hi}), got values in [{a.min()}, {a.max()}]")


@dataclass(frozen=True)
class CyclicLayout:
    """Cyclic P-bank placement of weights ``W[O, C, K, K]`` (see the module docstring)."""

    O: int
    C: int
    K: int
    P: int

    def __post_init__(self) -> None:
        for name in ("O", "C", "K", "P"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise ValueError(f"CyclicLayout.{name} must be an integer >= 1, got {v!r}")
            object.__setattr__(self, name, int(v))

    @classmethod
    def for_weights(cls, W: np.ndarray, P: int) -> "CyclicLayout":
        """The layout of weight tensor ``W[O, C, K, K]`` on P banks."""
        W = np.asarray(W)
        if W.ndim != 4 or W.shape[2] != W.shape[3]:
            raise ValueError(f"weights must have shape [O, C, K, K], got {W.shape}")
        return cls(W.shape[0], W.shape[1], W.shape[2], P)

    @property
    def tiles_o(self) -> int:
        return -(-self.O // self.P)

    @property
    def tiles_c(self) -> int:
        return -(-self.C // self.P)

    @property
    def kk(self) -> int:
        return self.K * self.K

    @property
    def depth(self) -> int:
        """Words per bank: ceil(O/P) * ceil(C/P) * P * K*K (padding lanes included)."""
        return self.tiles_o * self.tiles_c * self.P * self.kk

    # ------------------------------------------------------------------ single words

    def locate(self, o, c, ky, kx) -> tuple[np.ndarray, np.ndarray]:
        """(bank, address) of ``W[o, c, ky, kx]``; arguments broadcast. Padding
        coordinates (``O <= o < TO*P`` or ``C <= c < TC*P``) are valid: they hold zero."""
        P, K = self.P, self.K
        o, c = _as_int_array(o, "o"), _as_int_array(c, "c")
        ky, kx = _as_int_array(ky, "ky"), _as_int_array(kx, "kx")
        _check_range(o, 0, self.tiles_o * P, "o")
        _check_range(c, 0, self.tiles_c * P, "c")
        _check_range(ky, 0, K, "ky")
        _check_range(kx, 0, K, "kx")
        t = (o // P) * self.tiles_c + c // P
        return (o + c) % P, (t * P + o % P) * self.kk + ky * K + kx

    # ------------------------------------------------------------------ read groups

    def fp_group(self, c, o0, ky, kx) -> tuple[np.ndarray, np.ndarray]:
        """Per-bank addresses ``[..., P]`` (index = bank) and rotation ``r = c mod P`` of
        the FP read of ``W[o0:o0+P, c, ky, kx]``; o0 must be a multiple of P."""
        P, K = self.P, self.K
        c, o0 = _as_int_array(c, "c"), _as_int_array(o0, "o0")
        ky, kx = _as_int_array(ky, "ky"), _as_int_array(kx, "kx")
        self._check_group(o0, self.O, "o0", c, self.C, "c", ky, kx)
        ci = c % P
        base = ((o0 // P) * self.tiles_c + c // P) * P * self.kk + ky * K + kx
        oi = (np.arange(P) - ci[..., None]) % P
        return base[..., None] + oi * self.kk, ci

    def bp_group(self, o, c0, ky, kx) -> tuple[np.ndarray, np.ndarray]:
        """Per-bank addresses ``[..., P]`` and rotation ``r = o mod P`` of the BP read of
        ``W[o, c0:c0+P, K-1-ky, K-1-kx]``; c0 must be a multiple of P."""
        P, K = self.P, self.K
        o, c0 = _as_int_array(o, "o"), _as_int_array(c0, "c0")
        ky, kx = _as_int_array(ky, "ky"), _as_int_array(kx, "kx")
        self._check_group(c0, self.C, "c0", o, self.O, "o", ky, kx)
        oi = o % P
        t = (o // P) * self.tiles_c + c0 // P
        addr = (t * P + oi) * self.kk + (K - 1 - ky) * K + (K - 1 - kx)
        return np.broadcast_to(addr[..., None], addr.shape + (P,)), oi

    def _check_group(self, start, n_start, s_name, fixed, n_fixed, f_name, ky, kx) -> None:
        _check_range(start, 0, n_start, s_name)
        if start.size and np.any(start % self.P):
            raise ValueError(f"{s_name} must be a multiple of P={self.P}")
        _check_range(fixed, 0, n_fixed, f_name)
        _check_range(ky, 0, self.K, "ky")
        _check_range(kx, 0, self.K, "kx")

    def rotate(self, bank_words: np.ndarray, r) -> np.ndarray:
        """The barrel rotation: ``lane[..., i] = bank_words[..., (i + r) mod P]``."""
        r = _as_int_array(r, "r")
        idx = (np.arange(self.P) + r[..., None]) % self.P
        words = np.asarray(bank_words)
        idx = np.broadcast_to(idx, np.broadcast_shapes(idx.shape, words.shape))
        return np.take_along_axis(np.broadcast_to(words, idx.shape), idx, axis=-1)

    def fp_read(self, images: np.ndarray, c, o0, ky, kx) -> np.ndarray:
        """Lanes ``[..., P]`` of the FP read ``W[o0:o0+P, c, ky, kx]`` (zeros past O)."""
        addr, r = self.fp_group(c, o0, ky, kx)
        return self.rotate(self._read(images, addr), r)

    def bp_read(self, images: np.ndarray, o, c0, ky, kx) -> np.ndarray:
        """Lanes ``[..., P]`` of the BP read ``W[o, c0:c0+P, K-1-ky, K-1-kx]`` (zeros past C)."""
        addr, r = self.bp_group(o, c0, ky, kx)
        return self.rotate(self._read(images, addr), r)

    def _read(self, images: np.ndarray, addr: np.ndarray) -> np.ndarray:
        images = self._check_images(images)
        return images[np.arange(self.P), addr]

    # ------------------------------------------------------------------ images

    def _check_images(self, images: np.ndarray) -> np.ndarray:
        images = np.asarray(images)
        if images.shape != (self.P, self.depth):
            raise ValueError(f"bank images must have shape (P, depth) = {(self.P, self.depth)}, "
                             f"got {images.shape}")
        return images

    def _padded_view_index(self) -> tuple[np.ndarray, np.ndarray]:
        """Advanced indices (ci, oi) pairing bank b with in-tile row oi: ci = (b - oi) mod P."""
        oi = np.arange(self.P)[:, None]
        b = np.arange(self.P)[None, :]
        return (b - oi) % self.P, np.broadcast_to(oi, (self.P, self.P))

    def bank_images(self, W: np.ndarray) -> np.ndarray:
        """Bank contents ``[P, depth]`` (W's dtype) with padding lanes zero."""
        W = np.asarray(W)
        if W.dtype.kind not in "iu":
            raise TypeError(f"weights must be an integer array, got dtype {W.dtype}")
        if W.shape != (self.O, self.C, self.K, self.K):
            raise ValueError(f"weights must have shape {(self.O, self.C, self.K, self.K)}, "
                             f"got {W.shape}")
        P, TO, TC = self.P, self.tiles_o, self.tiles_c
        Wp = np.zeros((TO * P, TC * P, self.K, self.K), dtype=W.dtype)
        Wp[: self.O, : self.C] = W
        A = Wp.reshape(TO, P, TC, P, self.kk).transpose(0, 2, 1, 3, 4)  # [to, tc, oi, ci, kk]
        ci, oi = self._padded_view_index()  # [oi, b]
        G = A[:, :, oi, ci, :]  # [to, tc, oi, b, kk]
        return np.ascontiguousarray(G.transpose(3, 0, 1, 2, 4).reshape(P, self.depth))

    def weights(self, images: np.ndarray) -> np.ndarray:
        """Inverse of :meth:`bank_images`: ``W[O, C, K, K]`` (padding words are dropped)."""
        images = self._check_images(images)
        P, TO, TC = self.P, self.tiles_o, self.tiles_c
        I5 = images.reshape(P, TO, TC, P, self.kk)  # [b, to, tc, oi, kk]
        oi = np.arange(P)[:, None]
        ci = np.arange(P)[None, :]
        A = I5[(oi + ci) % P, :, :, np.broadcast_to(oi, (P, P)), :]  # [oi, ci, to, tc, kk]
        Wp = A.transpose(2, 0, 3, 1, 4).reshape(TO * P, TC * P, self.K, self.K)
        return np.ascontiguousarray(Wp[: self.O, : self.C])

    def dram_image(self, images: np.ndarray) -> np.ndarray:
        """Flat DRAM word order ``dram[a*P + b] = images[b, a]``."""
        return np.ascontiguousarray(self._check_images(images).T).reshape(-1)

    def banks_from_dram(self, dram: np.ndarray) -> np.ndarray:
        """Inverse of :meth:`dram_image`."""
        dram = np.asarray(dram)
        if dram.shape != (self.P * self.depth,):
            raise ValueError(f"DRAM image must be flat with P*depth = {self.P * self.depth} words, "
                             f"got shape {dram.shape}")
        return np.ascontiguousarray(dram.reshape(self.depth, self.P).T)


def bank_images(W: np.ndarray, P: int) -> np.ndarray:
    """Bank contents ``[P, depth]`` of weights ``W[O, C, K, K]`` on P banks."""
    return CyclicLayout.for_weights(W, P).bank_images(W)


def dram_image(W: np.ndarray, P: int) -> np.ndarray:
    """The flat DRAM image of ``W[O, C, K, K]`` for P banks (see :class:`CyclicLayout`)."""
    layout = CyclicLayout.for_weights(W, P)
    return layout.dram_image(layout.bank_images(W))
