"""Run directories: an existing run is never overwritten by accident, one process at a
time, a bad --out is refused before any training, leftovers of a crash are tidied, and
the derived files follow the checkpoint (content and permissions)."""
import dataclasses
import json
import os
import signal
import subprocess
import sys

import numpy as np
import pytest

from fxtrain.cli import main
from fxtrain.train import loop
from fxtrain.train.checkpoint import derived_is_current, load_checkpoint, save_checkpoint
from fxtrain.train.loop import TrainConfig, fit
from fxtrain.train.rundir import RunDir, RunDirError, RunLockedError


def cfg(**kw):
    base = dict(model="lenet", recipe="fpl19", dataset="synthetic", image_size=28, epochs=1, batch=20,
                seed=3, limit_train=40, limit_test=20)
    base.update(kw)
    return TrainConfig(**base)


def _no_training(monkeypatch):
    """Make any attempt to load data fail loudly: the refusal must come first."""
    def boom(*a, **k):
        raise AssertionError("data were loaded before the run directory was checked")
    monkeypatch.setattr(loop, "load_data", boom)


def test_existing_run_is_refused_then_resumed_or_replaced(tmp_path, monkeypatch):
    fit(cfg(), out=tmp_path, progress=False, log=None)
    before = (tmp_path / "checkpoint.npz").read_bytes()
    with monkeypatch.context() as m:
        _no_training(m)
        with pytest.raises(RunDirError, match=r"already holds a lenet fpl19 run after epoch 1.*--resume.*--force"):
            fit(cfg(model="cnn1x", image_size=32), out=tmp_path, progress=False, log=None)
    assert (tmp_path / "checkpoint.npz").read_bytes() == before
    # --force replaces it, with another model
    run = fit(cfg(model="cnn1x", image_size=32), out=tmp_path, force=True, progress=False, log=None)
    _, meta = load_checkpoint(tmp_path / "checkpoint.npz")
    assert meta["model"] == "cnn1x" and len(meta["history"]) == 1 == len(run.history)


def test_cli_refuses_existing_run_in_one_line(tmp_path, capsys):
    args = ["train", "--model", "lenet", "--image-size", "28", "--data", "synthetic", "--batch", "20",
            "--limit-train", "40", "--limit-test", "20", "--out", str(tmp_path), "--quiet"]
    assert main(args) == 0
    capsys.readouterr()
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("fxtrain train: error: ") and "already holds" in err and "\n" not in err


def test_second_process_fails_at_once_naming_the_holder(tmp_path, monkeypatch):
    with RunDir(tmp_path):
        with monkeypatch.context() as m:
            _no_training(m)
            with pytest.raises(RunLockedError, match=rf"{tmp_path} is in use by pid {os.getpid()} on "):
                fit(cfg(), out=tmp_path, progress=False, log=None)
    # released: the next run goes ahead
    fit(cfg(), out=tmp_path, progress=False, log=None)


def test_lock_of_a_killed_process_does_not_block(tmp_path):
    code = ("import sys, time; from fxtrain.train.rundir import RunDir; "
            "d = RunDir(sys.argv[1]).open(); print('held', flush=True); time.sleep(60)")
    p = subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().strip() == "held"
        with pytest.raises(RunLockedError, match=f"pid {p.pid}"):
            RunDir(tmp_path).open()
    finally:
        p.send_signal(signal.SIGKILL)
        p.wait()
    assert (tmp_path / ".lock").exists()  # the stale lock file is still there ...
    with RunDir(tmp_path):  # ... and does not block
        pass


def test_bad_out_is_refused_before_training(tmp_path, monkeypatch):
    _no_training(monkeypatch)
    f = tmp_path / "file"
    f.write_text("not a directory")
    with pytest.raises(RunDirError, match="exists and is not a directory"):
        fit(cfg(), out=f, progress=False, log=None)
    if os.geteuid() == 0:  # root ignores permission bits; /sys refuses even root
        ro = "/sys"
        if os.access(ro, os.W_OK) and not os.path.exists("/sys/kernel"):  # pragma: no cover
            pytest.skip("no directory here is read-only for this user")
    else:
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o555)
    with pytest.raises(RunDirError, match="not writable"):
        fit(cfg(), out=ro, progress=False, log=None)
    with pytest.raises(RunDirError, match="nothing to resume"):
        fit(cfg(), out=tmp_path / "typo", resume=True, progress=False, log=None)
    assert not (tmp_path / "typo").exists()


def test_leftovers_are_removed_and_derived_files_rebuilt(tmp_path):
    fit(cfg(epochs=2), out=tmp_path, progress=False, stop_after=1, log=None)
    ck = tmp_path / "checkpoint.npz"
    # what a kill between the two renames and during a write leaves behind
    stale_json = (tmp_path / "checkpoint.json").read_text()
    arrays, meta = load_checkpoint(ck)
    save_checkpoint(ck, arrays, {**{k: v for k, v in meta.items() if k not in ("format", "version")},
                                 "epoch": 7})
    (tmp_path / "checkpoint.json").write_text(stale_json)
    (tmp_path / "history.json").unlink()
    junk = [tmp_path / ".checkpoint.npz.abc123.tmp", tmp_path / ".checkpoint.json.x.tmp"]
    for j in junk:
        j.write_bytes(b"partial")
    assert not derived_is_current(ck)
    with RunDir(tmp_path, resume=True) as rd:
        assert sorted(p.name for p in rd.removed_temporaries) == sorted(j.name for j in junk)
        assert set(rd.rebuilt) == {"checkpoint.json", "history.json"}
    assert derived_is_current(ck) and not any(j.exists() for j in junk)
    assert json.loads((tmp_path / "checkpoint.json").read_text())["epoch"] == 7
    assert json.loads((tmp_path / "history.json").read_text()) == meta["history"]


def test_stale_json_names_another_digest(tmp_path):
    ck = tmp_path / "checkpoint.npz"
    save_checkpoint(ck, {"a": np.arange(3)}, {"epoch": 1})
    old = json.loads((tmp_path / "checkpoint.json").read_text())
    old_text = (tmp_path / "checkpoint.json").read_bytes()
    save_checkpoint(ck, {"a": np.arange(4)}, {"epoch": 2})
    new = json.loads((tmp_path / "checkpoint.json").read_text())
    assert old["npz_sha256"] != new["npz_sha256"] and derived_is_current(ck)
    (tmp_path / "checkpoint.json").write_bytes(old_text)
    assert not derived_is_current(ck)


def test_files_follow_the_checkpoint_permissions(tmp_path):
    old = os.umask(0o027)
    try:
        fit(cfg(), out=tmp_path / "a", progress=False, log=None)
    finally:
        os.umask(old)
    modes = {n: (tmp_path / "a" / n).stat().st_mode & 0o777
             for n in ("checkpoint.npz", "checkpoint.json", "history.json")}
    assert modes == dict.fromkeys(modes, 0o640), modes  # not mkstemp's 0600, not 0644
    # a checkpoint made private by its owner keeps every derived file private
    (tmp_path / "a" / "checkpoint.npz").chmod(0o600)
    fit(cfg(epochs=2), out=tmp_path / "a", resume=True, progress=False, log=None)
    modes = {n: (tmp_path / "a" / n).stat().st_mode & 0o777
             for n in ("checkpoint.npz", "checkpoint.json", "history.json")}
    assert modes == dict.fromkeys(modes, 0o600), modes


def test_cosine_resume_with_other_epochs_is_refused(tmp_path):
    fit(cfg(epochs=2, schedule="cosine"), out=tmp_path, progress=False, stop_after=1, log=None)
    with pytest.raises(ValueError, match="cosine schedule was laid out over 2 epochs"):
        fit(cfg(epochs=3, schedule="cosine"), out=tmp_path, resume=True, progress=False, log=None)
    # a schedule that does not depend on the epoch count may be extended
    fit(cfg(epochs=2, schedule="step:1:0.5"), out=tmp_path / "s", progress=False, log=None)
    run = fit(cfg(epochs=3, schedule="step:1:0.5"), out=tmp_path / "s", resume=True, progress=False, log=None)
    assert [h["epoch"] for h in run.history] == [1, 2, 3]


def test_resume_checks_the_data_not_their_folder(tmp_path, monkeypatch):
    fit(cfg(epochs=2), out=tmp_path, progress=False, stop_after=1, log=None)
    orig = loop.load_data

    def flipped(c):  # same config, one image bit different: the digest catches it
        tr, te = orig(c)
        x = tr.x.copy()
        x[0, 0, 5, 5] ^= 1
        return dataclasses.replace(tr, x=x), te
    with monkeypatch.context() as m:
        m.setattr(loop, "load_data", flipped)
        with pytest.raises(ValueError, match="training data differ"):
            fit(cfg(epochs=2), out=tmp_path, resume=True, progress=False, log=None)
    # data_dir is not part of the run key: the same data elsewhere resume
    assert "data_dir" not in cfg(data_dir="a").run_key()
    fit(cfg(epochs=2), out=tmp_path, resume=True, progress=False, log=None)
