"""`fxtrain eval` trusts the checkpoint: the stored plan (no recalibration), no training
split, --data-dir honoured on its own, data folders stored absolute."""
import gzip
import os
import struct

import numpy as np
import pytest

from fxtrain.cli import main
from fxtrain.data import load as load_mod
from fxtrain.train import restore
from fxtrain.train.checkpoint import load_checkpoint
from fxtrain.train.loop import TrainConfig, fit
from fxtrain.train.restore import evaluate_checkpoint, network_from_checkpoint


def _idx(arr: np.ndarray) -> bytes:
    return b"\0\0\x08" + bytes([arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape) + arr.tobytes()


def write_fashion(d, n_train=60, n_test=30, seed=0):
    """A small Fashion-MNIST folder (real IDX format) of class-dependent images."""
    rng = np.random.default_rng(seed)
    d.mkdir(parents=True, exist_ok=True)
    for split, n, img, lab in (("train", n_train, "train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
                               ("test", n_test, "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")):
        y = rng.integers(0, 10, n).astype(np.uint8)
        x = rng.integers(0, 40, (n, 28, 28)).astype(np.uint8)
        for i, c in enumerate(y):
            x[i, 2 * c:2 * c + 6, 4:24] = 220
        (d / (img + ".gz")).write_bytes(gzip.compress(_idx(x)))
        (d / (lab + ".gz")).write_bytes(gzip.compress(_idx(y)))


def test_sr16_eval_uses_the_stored_plan_and_no_training_data(tmp_path, monkeypatch):
    c = TrainConfig(model="lenet", recipe="sr16", dataset="synthetic", image_size=28, epochs=1, batch=20,
                    seed=5, limit_train=60, limit_test=40)
    run = fit(c, out=tmp_path, progress=False, log=None)
    arrays, meta = load_checkpoint(tmp_path / "checkpoint.npz")

    real = load_mod.load_dataset

    def test_only(name, split="train", data_dir=None, **kw):
        if split == "train":
            raise AssertionError("eval read the training split")
        return real(name, split, data_dir, **kw)
    monkeypatch.setattr(restore, "load_dataset", test_only)
    # a recalibration would see other data: make sure none happens by changing what it would see
    monkeypatch.setattr("fxtrain.train.loop.load_data", lambda *a: (_ for _ in ()).throw(
        AssertionError("eval loaded the training data")))
    r = evaluate_checkpoint(tmp_path / "checkpoint.npz")
    assert r["accuracy"] == run.history[-1]["test_accuracy"]
    assert r["loss"] == run.history[-1]["test_loss"]
    _, net = network_from_checkpoint(arrays, meta)
    assert net.plan.to_json() == meta["plan"] == run.net.plan.to_json()


def test_a_plan_that_does_not_rebind_is_refused(tmp_path):
    c = TrainConfig(model="lenet", recipe="fpl19", dataset="synthetic", image_size=28, epochs=1, batch=20,
                    limit_train=40, limit_test=20)
    fit(c, out=tmp_path, progress=False, log=None)
    arrays, meta = load_checkpoint(tmp_path / "checkpoint.npz")
    meta["plan"]["layers"]["conv0"]["activation"]["format"] = "Q16.13"
    with pytest.raises(ValueError, match="binds to another plan"):
        network_from_checkpoint(arrays, meta)


def test_data_dir_is_honoured_alone_and_stored_absolute(tmp_path, monkeypatch, capsys):
    write_fashion(tmp_path / "fm")
    monkeypatch.chdir(tmp_path)
    rc = main(["train", "--model", "lenet", "--image-size", "28", "--data", "fashion-mnist",
               "--data-dir", "fm", "--batch", "20", "--limit-test", "30", "--out", "run", "--quiet"])
    assert rc == 0
    _, meta = load_checkpoint(tmp_path / "run" / "checkpoint.npz")
    assert meta["config"]["data_dir"] == str(tmp_path / "fm")
    # from another working directory, with the stored (absolute) folder
    other = tmp_path / "elsewhere"
    other.mkdir()
    monkeypatch.chdir(other)
    capsys.readouterr()
    assert main(["eval", str(tmp_path / "run" / "checkpoint.npz")]) == 0
    assert "on 30 fashion-mnist images" in capsys.readouterr().out
    # moved data: --data-dir alone (without --data) points eval at them
    os.rename(tmp_path / "fm", tmp_path / "moved")
    assert main(["eval", str(tmp_path / "run" / "checkpoint.npz")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("fxtrain eval: error: Fashion-MNIST test files") and "--data-dir DIR" in err
    assert main(["eval", str(tmp_path / "run" / "checkpoint.npz"), "--data-dir", "../moved"]) == 0
    assert "on 30 fashion-mnist images" in capsys.readouterr().out
