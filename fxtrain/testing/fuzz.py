"""Fuzz targets for every reader of untrusted files, shared by the hypothesis fuzz tests
(tests/fuzz/) and the long-running atheris harness (``python scripts/fuzz.py READER``).

A target takes arbitrary bytes and feeds them to one reader. It returns normally when
the reader either accepted the input or refused it with the reader's documented error;
any other exception (TypeError, IndexError, MemoryError, a numpy internal error ...)
propagates, and that is a finding. Each target has a valid seed input that the fuzzers
mutate, so that they reach past the first header check.

=============  ==========================================  ========================
reader         function                                    documented refusal
=============  ==========================================  ========================
``idx``        ``parse_idx(gunzip_if_gzip(data))``          DatasetFormatError
``cifar``      ``parse_cifar_batch(data)``                  DatasetFormatError
``checkpoint`` ``load_checkpoint`` of the bytes             ValueError
``bundle``     ``load_bundle`` with ``data`` as manifest    BundleError
``plan``       ``Plan.from_json(json.loads(data))``         ValueError
=============  ==========================================  ========================
"""
from __future__ import annotations

import functools
import gzip
import json
import pickle
import shutil
import struct
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

__all__ = ["TARGETS", "Target", "mutate"]


@dataclass(frozen=True)
class Target:
    """One reader: ``run(data)`` (see the module docstring) and ``seeds()`` to mutate."""

    name: str
    run: Callable[[bytes], None]
    seeds: Callable[[], list[bytes]]


# ------------------------------------------------------------------ idx

def _idx_bytes(a: np.ndarray, code: int) -> bytes:
    return bytes([0, 0, code, a.ndim]) + struct.pack(f">{a.ndim}I", *a.shape) + a.tobytes()


def _idx_seeds() -> list[bytes]:
    img = (np.arange(2 * 28 * 28) % 251).astype(">u1").reshape(2, 28, 28)
    lab = np.array([3, 9], ">u1")
    return [_idx_bytes(img, 0x08), gzip.compress(_idx_bytes(lab, 0x08), mtime=0),
            _idx_bytes(np.arange(6, dtype=">i4").reshape(2, 3), 0x0C)]


def _idx(data: bytes) -> None:
    from ..data import DatasetFormatError
    from ..data.idx import gunzip_if_gzip, parse_idx

    try:
        a = parse_idx(gunzip_if_gzip(data, "fuzz", limit=2**20), "fuzz")
    except DatasetFormatError:
        return
    assert a.dtype.isnative and a.ndim >= 1


# ------------------------------------------------------------------ cifar

def _cifar_seeds() -> list[bytes]:
    data = (np.arange(2 * 3072) % 256).astype(np.uint8).reshape(2, 3072)
    d = {b"batch_label": b"fuzz", b"labels": [1, 7], b"data": data, b"filenames": [b"a.png", b"b.png"]}
    return [pickle.dumps(d, protocol=p) for p in (2, 4, 5)]


def _cifar(data: bytes) -> None:
    from ..data import DatasetFormatError, parse_cifar_batch

    try:
        x, y = parse_cifar_batch(data, "fuzz")
    except DatasetFormatError:
        return
    assert x.dtype.str == "|u1" and x.ndim == 4 and x.shape[1:] == (3, 32, 32) and x.flags.owndata
    assert y.dtype == np.int64 and y.shape == (x.shape[0],)


# ------------------------------------------------------------------ checkpoint

def _checkpoint_seeds() -> list[bytes]:
    from ..train.checkpoint import _npz_bytes

    meta = {"format": "fxtrain-checkpoint", "version": 1, "epoch": 1, "config": {"model": "lenet"}}
    return [_npz_bytes({"conv0.weight": np.arange(24, dtype=np.int16).reshape(2, 3, 2, 2),
                        "step": np.array(3, np.int64)}, meta)]


def _checkpoint(data: bytes) -> None:
    from ..train.checkpoint import _parse

    try:
        arrays, meta = _parse(Path("fuzz.npz"), data)
    except ValueError:
        return
    assert isinstance(meta, dict) and all(isinstance(a, np.ndarray) for a in arrays.values())


# ------------------------------------------------------------------ bundle

@functools.lru_cache(maxsize=1)
def _template_bundle() -> Path:
    """A two-tensor bundle written once per process; targets copy it."""
    from ..vectors.bundle import Tensor, write_bundle
    from ..vectors.words import WordFormat

    root = Path(tempfile.mkdtemp(prefix="fxtrain-fuzz-"))
    t = [Tensor("step0/fp/conv0.acc", np.array([[-5, 7], [2**31 - 1, -2**31]]),
                WordFormat.fixed(32, 10), 0, "fp", "conv0", "acc"),
         Tensor("step0/wu/conv0.weight_gradient.g0", np.array([-3, 2, 1], np.int16),
                WordFormat.fixed(16, 9), 0, "wu", "conv0", "weight_gradient", group=0)]
    meta = {"model": {"name": "fuzz"}, "plan": {"recipe": "fpl19"}, "config": None,
            "steps": [{"step": 0, "loss": 1.0, "correct": 0, "overflows": {}}]}
    return write_bundle(root / "b", meta, t)


def _bundle_seeds() -> list[bytes]:
    return [(_template_bundle() / "manifest.json").read_bytes()]


def _bundle(data: bytes) -> None:
    from ..vectors.bundle import MANIFEST, BundleError, load_bundle

    work = Path(tempfile.mkdtemp(prefix="fxtrain-fuzz-run-"))
    try:
        b = work / "b"
        shutil.copytree(_template_bundle(), b)
        (b / MANIFEST).write_bytes(data)
        try:
            load_bundle(b)
        except BundleError:
            return
    finally:
        shutil.rmtree(work, ignore_errors=True)


# ------------------------------------------------------------------ plan JSON

def _plan_seeds() -> list[bytes]:
    from ..nn.models import lenet
    from ..nn.presets import fpl19

    return [json.dumps(lenet(recipe=fpl19()).plan.to_json()).encode()]


def _plan(data: bytes) -> None:
    from ..nn.recipe import Plan

    try:
        d = json.loads(data)
        plan = Plan.from_json(d)
    except (ValueError, RecursionError):
        return
    assert Plan.from_json(plan.to_json()) == plan  # what was accepted round-trips


TARGETS: dict[str, Target] = {
    "idx": Target("idx", _idx, _idx_seeds),
    "cifar": Target("cifar", _cifar, _cifar_seeds),
    "checkpoint": Target("checkpoint", _checkpoint, _checkpoint_seeds),
    "bundle": Target("bundle", _bundle, _bundle_seeds),
    "plan": Target("plan", _plan, _plan_seeds),
}


def mutate(data: bytes, choices: bytes) -> bytes:
    """A deterministic mutation of ``data`` driven by the bytes ``choices`` (for harnesses
    without a structured strategy): each 4-byte group is one edit (op, position, value)."""
    buf = bytearray(data)
    c = choices
    for i in range(0, len(c) - 3, 4):
        op, p1, p2, v = c[i:i + 4]
        if not buf:
            buf.extend(bytes([v]))
            continue
        pos = ((p1 << 8) | p2) % len(buf)
        if op % 6 == 0:
            buf[pos] ^= 1 << (v % 8)
        elif op % 6 == 1:
            buf[pos] = v
        elif op % 6 == 2:
            buf.insert(pos, v)
        elif op % 6 == 3:
            del buf[pos]
        elif op % 6 == 4:
            del buf[pos:]
        else:
            buf[pos:pos] = buf[max(0, pos - v):pos]
    return bytes(buf)
