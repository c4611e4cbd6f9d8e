"""Checkpoints: atomic, pickle-free, clear errors on damage."""
import json

import numpy as np
import pytest

from fxtrain.train.checkpoint import load_checkpoint, save_checkpoint


def test_round_trip(tmp_path):
    arrays = {"conv0.weight": np.arange(12, dtype=np.int16).reshape(3, 4), "step": np.array(5)}
    p = save_checkpoint(tmp_path / "c.npz", arrays, {"epoch": 2})
    got, meta = load_checkpoint(p)
    np.testing.assert_array_equal(got["conv0.weight"], arrays["conv0.weight"])
    assert got["conv0.weight"].dtype == np.int16 and meta["epoch"] == 2
    assert json.loads((tmp_path / "c.json").read_text())["epoch"] == 2
    assert not [f for f in tmp_path.iterdir() if f.name.endswith(".tmp")]


def test_overwrite_keeps_a_whole_file(tmp_path):
    p = tmp_path / "c.npz"
    save_checkpoint(p, {"a": np.zeros(3)}, {"epoch": 1})
    save_checkpoint(p, {"a": np.ones(3)}, {"epoch": 2})
    got, meta = load_checkpoint(p)
    assert meta["epoch"] == 2 and got["a"].tolist() == [1, 1, 1]


def test_truncated_and_foreign_files(tmp_path):
    p = save_checkpoint(tmp_path / "c.npz", {"a": np.zeros(1000)}, {"epoch": 1})
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="corrupt or truncated"):
        load_checkpoint(p)
    q = tmp_path / "plain.npz"
    np.savez(q, a=np.zeros(2))
    with pytest.raises(ValueError, match="not an fxtrain checkpoint"):
        load_checkpoint(q)
    with pytest.raises(FileNotFoundError):
        load_checkpoint(tmp_path / "missing.npz")


def test_object_arrays_are_never_unpickled(tmp_path):
    q = tmp_path / "evil.npz"
    np.savez(q, a=np.array([{"x": 1}], dtype=object), __meta__=np.frombuffer(b"{}", np.uint8))
    with pytest.raises(ValueError):
        load_checkpoint(q)
