"""IDX files (the MNIST / Fashion-MNIST container) and the full Fashion-MNIST loader.

IDX layout: bytes 0-1 are zero, byte 2 is the element type code, byte 3 the number of
dimensions ``d``; then ``d`` big-endian uint32 sizes; then the elements, big-endian,
row-major. Files may be gzip-compressed (detected by the gzip magic, not the name).
Every mismatch between header and body is an error naming the file: a truncated
download must never turn into a silently shorter dataset.
"""
from __future__ import annotations

import os
import zlib
from pathlib import Path

import numpy as np

from .dataset import FASHION_MNIST_CLASSES, Dataset, DatasetFormatError, check_split

#: IDX type code -> big-endian numpy dtype.
IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

#: Where the Debian/Ubuntu package ``dataset-fashion-mnist`` puts the files.
DEFAULT_FASHION_MNIST_DIRS: tuple[str, ...] = ("/usr/share/datasets/fashion-mnist",)
FASHION_MNIST_APT_PACKAGE = "dataset-fashion-mnist"

_FASHION_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
_GZIP_MAGIC = b"\x1f\x8b"


#: no IDX file we read is near this (Fashion-MNIST's largest is 47 MB): a gzip stream that
#: inflates beyond it is refused before it can exhaust memory
MAX_IDX_BYTES = 2**30


def gunzip_if_gzip(raw: bytes, source: str = "<bytes>", limit: int = MAX_IDX_BYTES) -> bytes:
    """``raw`` itself, or its gzip content (detected by the magic), at most ``limit`` bytes."""
    if raw[:2] != _GZIP_MAGIC:
        return raw
    d = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    out = []
    n = 0
    try:
        chunk = d.decompress(raw, limit + 1)
        while chunk:
            out.append(chunk)
            n += len(chunk)
            if n > limit:
                raise DatasetFormatError(f"{source}: gzip stream inflates beyond {limit} bytes; refused")
            chunk = d.decompress(d.unconsumed_tail, limit + 1 - n) if d.unconsumed_tail else b""
        if not d.eof:
            raise DatasetFormatError(f"{source}: corrupt or truncated gzip stream (ends early)")
    except zlib.error as e:
        raise DatasetFormatError(f"{source}: corrupt or truncated gzip stream ({e})") from e
    # members after the first (gzip allows several) are not part of an IDX download
    if d.unused_data.strip(b"\0"):
        raise DatasetFormatError(f"{source}: trailing data after the gzip stream")
    return b"".join(out)


def _read_bytes(path: Path) -> bytes:
    return gunzip_if_gzip(path.read_bytes(), str(path))


def parse_idx(data: bytes, source: str = "<bytes>") -> np.ndarray:
    """Decode IDX bytes into a native-endian array; ``source`` names the file in errors."""
    if len(data) < 4:
        raise DatasetFormatError(f"{source}: {len(data)} bytes is too short for an IDX header (4)")
    if data[0] != 0 or data[1] != 0:
        raise DatasetFormatError(
            f"{source}: bad IDX magic {data[:4].hex()}: the first two bytes must be 00 00"
        )
    code, ndim = data[2], data[3]
    if code not in IDX_DTYPES:
        raise DatasetFormatError(
            f"{source}: unknown IDX element type 0x{code:02x}; known: "
            + ", ".join(f"0x{c:02x}" for c in IDX_DTYPES)
        )
    if ndim == 0:
        raise DatasetFormatError(f"{source}: IDX header declares 0 dimensions")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DatasetFormatError(
            f"{source}: truncated IDX header: expected {header} bytes, file has {len(data)}"
        )
    dims = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    dtype = IDX_DTYPES[code]
    expected = header + int(np.prod(dims, dtype=object)) * dtype.itemsize
    if len(data) != expected:
        what = "truncated" if len(data) < expected else "trailing bytes in"
        raise DatasetFormatError(
            f"{source}: {what} IDX file: header {dims} of {dtype.name} needs "
            f"{expected} bytes, file has {len(data)}"
        )
    arr = np.frombuffer(data, dtype=dtype, offset=header).reshape(dims)
    return arr.astype(dtype.newbyteorder("="))


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (plain or gzip) into a native-endian array of its declared shape."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"IDX file not found: {p}")
    return parse_idx(_read_bytes(p), str(p))


def _find_file(directory: Path, stem: str) -> Path | None:
    for name in (stem, stem + ".gz"):
        if (directory / name).is_file():
            return directory / name
    return None


def find_fashion_mnist_dir(data_dir: str | os.PathLike | None = None, split: str = "train") -> Path:
    """The directory holding the Fashion-MNIST files of ``split``.

    An explicit ``data_dir`` is the only place looked at (its ``fashion-mnist`` subfolder
    is accepted too); without one, :data:`DEFAULT_FASHION_MNIST_DIRS`. FileNotFoundError
    lists every directory tried and how to get the files.
    """
    check_split(split)
    if data_dir is not None:
        candidates = [Path(data_dir), Path(data_dir) / "fashion-mnist"]
    else:
        candidates = [Path(d) for d in DEFAULT_FASHION_MNIST_DIRS]
    for d in candidates:
        if all(_find_file(d, stem) is not None for stem in _FASHION_FILES[split]):
            return d
    names = " and ".join(f"{s}[.gz]" for s in _FASHION_FILES[split])
    tried = ", ".join(str(d) for d in candidates)
    raise FileNotFoundError(
        f"Fashion-MNIST {split} files ({names}) not found; tried: {tried}. Install them with "
        f"`apt-get install {FASHION_MNIST_APT_PACKAGE}` (puts them in "
        f"{DEFAULT_FASHION_MNIST_DIRS[0]}) or pass data_dir / --data-dir DIR pointing at a "
        f"folder that holds them."
    )


def read_fashion_mnist_arrays(
    data_dir: str | os.PathLike | None = None, split: str = "train"
) -> tuple[np.ndarray, np.ndarray]:
    """Raw ``(images uint8 [N, 28, 28], labels uint8 [N])`` of one split, fully validated."""
    d = find_fashion_mnist_dir(data_dir, split)
    img_path, lab_path = (_find_file(d, s) for s in _FASHION_FILES[split])
    images, labels = read_idx(img_path), read_idx(lab_path)
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (28, 28):
        raise DatasetFormatError(
            f"{img_path}: expected uint8 images [N, 28, 28], got {images.dtype} {images.shape}"
        )
    if labels.dtype != np.uint8 or labels.ndim != 1:
        raise DatasetFormatError(
            f"{lab_path}: expected uint8 labels [N], got {labels.dtype} {labels.shape}"
        )
    if images.shape[0] != labels.shape[0]:
        raise DatasetFormatError(
            f"{img_path} holds {images.shape[0]} images but {lab_path} holds "
            f"{labels.shape[0]} labels"
        )
    if labels.size and int(labels.max()) >= len(FASHION_MNIST_CLASSES):
        raise DatasetFormatError(
            f"{lab_path}: label {int(labels.max())} out of range [0, {len(FASHION_MNIST_CLASSES)})"
        )
    return images, labels


def load_fashion_mnist(data_dir: str | os.PathLike | None = None, split: str = "train") -> Dataset:
    """Full Fashion-MNIST (60,000 train / 10,000 test) as a Dataset with x ``[N, 1, 28, 28]``."""
    images, labels = read_fashion_mnist_arrays(data_dir, split)
    return Dataset(
        x=images[:, None, :, :],
        y=labels.astype(np.int64),
        class_names=FASHION_MNIST_CLASSES,
        name="fashion-mnist",
        split=split,
    )
