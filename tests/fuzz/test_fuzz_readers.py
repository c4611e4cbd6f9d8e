"""Fuzz every reader of untrusted files: a mutated or random input is either read or
refused with the reader's documented error, never anything else (fxtrain.testing.fuzz).

The CI budget is FUZZ_EXAMPLES inputs per reader and strategy (default 1000 byte-level
mutations, plus 1000 structural JSON edits for the two JSON readers); set
FXTRAIN_FUZZ_EXAMPLES for more, or run the atheris harness for hours:
``python scripts/fuzz.py READER``. Any finding is a bug to fix, and its input belongs in
``KNOWN_CRASHERS`` below so it stays fixed.
"""
import json
import os

import pytest
from hypothesis import HealthCheck, given, settings

from fxtrain.testing import strategies as fst
from fxtrain.testing.fuzz import TARGETS, mutate

FUZZ_EXAMPLES = int(os.environ.get("FXTRAIN_FUZZ_EXAMPLES", "1000"))
_SETTINGS = dict(deadline=None, suppress_health_check=list(HealthCheck))


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_seeds_are_accepted(name):
    """The seeds are valid inputs: a fuzzer that only ever sees refusals tests little."""
    t = TARGETS[name]
    for seed in t.seeds():
        t.run(seed)


def _byte_fuzz(name, examples):
    t = TARGETS[name]

    @settings(max_examples=examples, **_SETTINGS)
    @given(data=fst.mutated_bytes(t.seeds()))
    def run(data):
        t.run(data)
    run()


@pytest.mark.parametrize("name", ["idx", "cifar", "checkpoint", "plan"])
def test_byte_mutations(name):
    _byte_fuzz(name, FUZZ_EXAMPLES)


def test_byte_mutations_bundle():
    _byte_fuzz("bundle", FUZZ_EXAMPLES // 2)  # each input copies a bundle directory


@pytest.mark.parametrize("name", ["bundle", "plan"])
def test_json_edits(name):
    t = TARGETS[name]
    doc = json.loads(t.seeds()[0])

    @settings(max_examples=FUZZ_EXAMPLES // 2, **_SETTINGS)
    @given(edited=fst.mutated_json(doc))
    def run(edited):
        t.run(json.dumps(edited).encode())
    run()


# inputs the fuzzers found once, kept so each stays fixed (reader, bytes)
KNOWN_CRASHERS = [
    # a manifest whose "plan" is null crashed `vectors-check` with a TypeError
    ("bundle", b'{"schema": "fxtrain-vectors", "schema_version": 2, "contract_version": "1.1", '
               b'"model": {"name": "x"}, "plan": null, "steps": [], "additions": [], "tensors": []}'),
]


@pytest.mark.parametrize("name, data", KNOWN_CRASHERS)
def test_known_crashers_stay_fixed(name, data):
    TARGETS[name].run(data)


def test_mutate_is_deterministic():
    seed = TARGETS["idx"].seeds()[0]
    assert mutate(seed, b"\x00\x00\x02\x07") != seed
    assert mutate(seed, b"\x05\x01\x02\x03") == mutate(seed, b"\x05\x01\x02\x03")


# directed versions of what the fuzzers look for

def test_gzip_inflation_is_capped():
    import gzip

    from fxtrain.data import DatasetFormatError
    from fxtrain.data.idx import gunzip_if_gzip

    bomb = gzip.compress(bytes(100_000))
    assert len(bomb) < 1000
    with pytest.raises(DatasetFormatError, match="inflates beyond 10000 bytes"):
        gunzip_if_gzip(bomb, "bomb.gz", limit=10_000)
    assert gunzip_if_gzip(bomb, "ok.gz", limit=100_000) == bytes(100_000)
    with pytest.raises(DatasetFormatError, match="ends early"):
        gunzip_if_gzip(bomb[:-12], "cut.gz")


def _zip(members, compression=None):
    import io
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression or zipfile.ZIP_STORED) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return buf.getvalue()


def _npy_header(shape, dtype="<i2"):
    import io

    import numpy as np

    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": dtype, "fortran_order": False, "shape": shape})
    return buf.getvalue()


@pytest.mark.parametrize("members, compression, match", [
    ({"a.npy": _npy_header((10**12,)) + bytes(8)}, None, r"header <i2\[1000000000000\] needs"),
    ({"a.npy": _npy_header((4,)) + bytes(8)}, "deflate", "is compressed"),
    ({"a.txt": b"hello"}, None, "is not an .npy array"),
    ({}, None, "empty archive"),
])
def test_checkpoint_members_are_checked_before_numpy_reads(members, compression, match):
    import zipfile
    from pathlib import Path

    from fxtrain.train.checkpoint import _parse

    data = _zip(members, zipfile.ZIP_DEFLATED if compression else None)
    with pytest.raises(ValueError, match=match):
        _parse(Path("c.npz"), data)


def test_harness_lists_every_reader():
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location("fuzz_script", Path(__file__).parents[2] / "scripts" / "fuzz.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert sorted(mod.READERS) == sorted(TARGETS)
    assert mod.main(["fuzz.py", "nosuch"]) == 2
