"""Word formats of bundle tensors and the ``$readmemh`` text codec.

Every tensor in a vector bundle is a grid of words of one :class:`WordFormat`:

========== ========= ====== ===================================================
format     kind      signed meaning
========== ========= ====== ===================================================
``Q16.14`` fixed     yes    two's complement, ``bits`` = 16, ``frac`` = 14
``Q32.29`` fixed     yes    a raw accumulator (``bits`` = the plan's acc_bits)
``mask``   mask      no     the ReLU derivative, ``bits`` = 1
``index``  index     no     pool argmax ``ky*k + kx`` or a class label
========== ========= ====== ===================================================

Storage dtype (``.npy``): signed ``int8/16/32/64`` for ``bits <= 8/16/32/64``,
unsigned ``uint8/16/32`` likewise.

Hex text (``.hex``, for Verilog ``$readmemh``): one word per line, row-major (C order)
flat index order, exactly ``ceil(bits/4)`` lowercase hex digits, each line ended by
``\\n``, no header or comments. A signed word is written as its ``bits``-bit two's
complement, so the unused high bits of the top digit are zero. Worked examples at
``Q16.x``: ``-1 -> ffff``, ``-32768 -> 8000``, ``5 -> 0005``; at ``Q12.x``:
``-1 -> fff``; at ``Q14.x`` (4 digits, top digit <= 3): ``-1 -> 3fff``, ``-8192 -> 2000``;
a mask word is one digit ``0`` or ``1``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

KINDS = ("fixed", "mask", "index")
_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
_DEC = np.full(256, 255, dtype=np.uint8)
for _i, _c in enumerate(b"0123456789abcdef"):
    _DEC[_c] = _i
for _i, _c in enumerate(b"ABCDEF"):
    _DEC[_c] = 10 + _i
_NL = ord("\n")
_QNAME = re.compile(r"^Q(\d+)\.(-?\d+)$")


@dataclass(frozen=True)
class WordFormat:
    """Format of one tensor's words: ``kind`` (fixed, mask, index), ``bits``, ``frac``."""

    kind: str
    bits: int
    frac: int | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown word kind {self.kind!r}; expected one of {KINDS}")
        b = self.bits
        if isinstance(b, bool) or not isinstance(b, (int, np.integer)):
            raise ValueError(f"word bits must be an integer, got {b!r}")
        lo, hi = {"fixed": (2, 64), "mask": (1, 1), "index": (1, 32)}[self.kind]
        if not lo <= b <= hi:
            raise ValueError(f"{self.kind} words need {lo} <= bits <= {hi}, got {b}")
        if (self.kind == "fixed") != (self.frac is not None):
            raise ValueError(f"{self.kind} words {'need' if self.kind == 'fixed' else 'have no'} a fraction")
        if self.frac is not None and (isinstance(self.frac, bool) or not isinstance(self.frac, (int, np.integer))):
            raise ValueError(f"fraction must be an integer, got {self.frac!r}")
        object.__setattr__(self, "bits", int(b))
        if self.frac is not None:
            object.__setattr__(self, "frac", int(self.frac))

    @classmethod
    def fixed(cls, bits: int, frac: int) -> "WordFormat":
        return cls("fixed", bits, frac)

    @classmethod
    def of_qformat(cls, fmt) -> "WordFormat":
        """From a :class:`fxtrain.numerics.QFormat`."""
        return cls("fixed", fmt.w, fmt.f)

    @classmethod
    def index_for(cls, n_values: int) -> "WordFormat":
        """Unsigned index words wide enough for ``0 .. n_values-1`` (at least 1 bit)."""
        return cls("index", max(1, (int(n_values) - 1).bit_length()))

    @property
    def signed(self) -> bool:
        return self.kind == "fixed"

    @property
    def name(self) -> str:
        return f"Q{self.bits}.{self.frac}" if self.kind == "fixed" else self.kind

    @property
    def hex_digits(self) -> int:
        return -(-self.bits // 4)

    @property
    def min_int(self) -> int:
        return -(1 << (self.bits - 1)) if self.signed else 0

    @property
    def max_int(self) -> int:
        return (1 << (self.bits - 1)) - 1 if self.signed else (1 << self.bits) - 1

    @property
    def dtype(self) -> np.dtype:
        for n in (8, 16, 32, 64):
            if self.bits <= n:
                return np.dtype(f"{'int' if self.signed else 'uint'}{n}")
        raise AssertionError  # pragma: no cover - bits <= 64 is validated

    def to_json(self) -> dict:
        return {"format": self.name, "bits": self.bits, "frac": self.frac, "signed": self.signed}

    @classmethod
    def from_json(cls, d: dict) -> "WordFormat":
        """Inverse of :meth:`to_json`; the fields must agree with each other."""
        name = d.get("format")
        m = _QNAME.match(name) if isinstance(name, str) else None
        kind = "fixed" if m else name
        fmt = cls(kind, d.get("bits"), d.get("frac"))
        if fmt.to_json() != {k: d.get(k) for k in ("format", "bits", "frac", "signed")}:
            raise ValueError(f"inconsistent word format {d!r} (expected {fmt.to_json()})")
        return fmt

    def check(self, a: np.ndarray, what: str) -> np.ndarray:
        """``a`` as this format's dtype; ValueError naming ``what`` if a value does not fit."""
        a = np.asarray(a)
        if a.dtype.kind not in "iub":
            raise TypeError(f"{what}: words must be integers, got dtype {a.dtype}")
        if a.size:
            lo, hi = a.min(), a.max()
            if int(lo) < self.min_int or int(hi) > self.max_int:
                raise ValueError(f"{what}: values in [{int(lo)}, {int(hi)}] do not fit {self.name} "
                                 f"words ([{self.min_int}, {self.max_int}])")
        return a.astype(self.dtype, order="C", copy=False)  # keeps 0-d scalars 0-d


def encode_hex(a: np.ndarray, fmt: WordFormat) -> bytes:
    """The ``$readmemh`` text of ``a`` (row-major, one word per line), see the module doc."""
    a = fmt.check(a, "hex encode").reshape(-1)
    d = fmt.hex_digits
    if fmt.signed:
        u = a.astype(np.int64).view(np.uint64)
        if fmt.bits < 64:
            u = u & np.uint64((1 << fmt.bits) - 1)
    else:
        u = a.astype(np.uint64)
    shifts = (np.arange(d - 1, -1, -1, dtype=np.uint64) * np.uint64(4))
    out = np.empty((a.size, d + 1), dtype=np.uint8)
    out[:, :d] = _HEX[((u[:, None] >> shifts[None, :]) & np.uint64(15)).astype(np.intp)]
    out[:, d] = _NL
    return out.tobytes()


def decode_hex(data: bytes, fmt: WordFormat, count: int, what: str) -> np.ndarray:
    """Parse ``$readmemh`` text written by :func:`encode_hex` back to a flat array.

    Strict: exactly ``count`` lines of ``fmt.hex_digits`` hex digits each ending in
    ``\\n`` (either letter case). Raises ValueError naming ``what`` and the first bad line
    (1-based) for a wrong line count, a truncated last line, a bad character or a word
    with bits set above ``fmt.bits``.
    """
    d = fmt.hex_digits
    raw = np.frombuffer(data, dtype=np.uint8)
    if raw.size != count * (d + 1) or (raw.size and raw[-1] != _NL):
        _bad_layout(raw, d, count, what)
    lines = raw.reshape(count, d + 1)
    if count and np.any(lines[:, d] != _NL):
        _bad_layout(raw, d, count, what)
    nib = _DEC[lines[:, :d]]
    bad = np.flatnonzero(np.any(nib == 255, axis=1))
    if bad.size:
        i = int(bad[0])
        raise ValueError(f"{what}: line {i + 1} is {_line(lines[i])!r}, not {d} hex digits")
    u = np.zeros(count, dtype=np.uint64)
    for j in range(d):  # d <= 16 digit columns, each a vectorized step
        u = (u << np.uint64(4)) | nib[:, j].astype(np.uint64)
    if fmt.bits < 64:
        over = np.flatnonzero(u >> np.uint64(fmt.bits))
        if over.size:
            i = int(over[0])
            raise ValueError(f"{what}: line {i + 1} ({_line(lines[i])!r}) has bits set above the "
                             f"{fmt.bits}-bit {fmt.name} word")
    if not fmt.signed:
        return u.astype(fmt.dtype)
    if fmt.bits == 64:
        return u.view(np.int64)
    v = u.astype(np.int64)
    neg = (u >> np.uint64(fmt.bits - 1)).astype(bool)
    v[neg] -= np.int64(1) << np.int64(fmt.bits)
    return v.astype(fmt.dtype)


def _line(row: np.ndarray) -> str:
    return row.tobytes().decode("latin-1").rstrip("\n")


def _bad_layout(raw: np.ndarray, d: int, count: int, what: str) -> None:
    """Raise the most specific layout error (only on the error path)."""
    ends = np.flatnonzero(raw == _NL)
    n_lines = ends.size + (1 if raw.size and raw[-1] != _NL else 0)
    starts = np.concatenate(([0], ends[:-1] + 1)) if ends.size else np.zeros(0, dtype=np.intp)
    wrong = np.flatnonzero(ends - starts != d)
    if wrong.size:
        i = int(wrong[0])
        text = raw[starts[i]:ends[i]].tobytes().decode("latin-1")
        raise ValueError(f"{what}: line {i + 1} is {text!r}, expected {d} hex digits per line")
    if raw.size and raw[-1] != _NL:
        raise ValueError(f"{what}: the last line (line {n_lines}) has no newline: file truncated? "
                         f"expected {count} lines of {d} hex digits")
    raise ValueError(f"{what}: {n_lines} lines, expected {count} lines of {d} hex digits "
                     f"({count * (d + 1)} bytes, got {raw.size}): file truncated or padded?")
