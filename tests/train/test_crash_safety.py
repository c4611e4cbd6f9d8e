"""kill -9 at random and at chosen points of `fxtrain train` (within epochs, between them,
and in every phase of a checkpoint write), resume each time, and require the final state
to be bit-identical to an uninterrupted run, no leftover temporary files, and a json that
never disagrees with its npz without saying so (it names the digest of the npz it was
derived from, and the next start rebuilds it)."""
import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from fxtrain.train.checkpoint import derived_is_current, leftover_temporaries, load_checkpoint
from fxtrain.train.rundir import RUN_FILES

EPOCHS = 8
ARGS = ["--model", "lenet", "--image-size", "28", "--recipe", "sr16", "--data", "synthetic",
        "--batch", "20", "--groups", "2", "--limit-train", "400", "--limit-test", "40",
        "--schedule", "cosine", "--seed", "7", "--epochs", str(EPOCHS), "--quiet"]
# kills at chosen points: mid-epoch steps, and each phase of each file's atomic write
FAILPOINTS = ["train-step@5", "checkpoint.npz:mid-write@1", "checkpoint.npz:before-rename@1",
              "checkpoint.npz:after-rename@1", "train-step@27", "checkpoint.json:mid-write@1",
              "checkpoint.json:before-rename@1", "history.json:before-rename@1",
              "checkpoint.npz:after-rename@2"]
RANDOM_KILLS = 5
RESULT_KEYS = ("epoch", "lr", "train_loss", "train_accuracy", "overflows", "test_loss", "test_accuracy")


def _start(out, failpoint=None):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("FXTRAIN_FAILPOINT", None)
    if failpoint:
        env["FXTRAIN_FAILPOINT"] = failpoint
    resume = ["--resume"] if (out / "checkpoint.npz").exists() else []
    return subprocess.Popen([sys.executable, "-m", "fxtrain.cli", "train", *ARGS, "--out", str(out), *resume],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _check_consistent(out):
    """What any reader may rely on at any moment, even right after a kill."""
    ck = out / "checkpoint.npz"
    if not ck.exists():
        return None
    arrays, meta = load_checkpoint(ck)  # never torn
    js = out / "checkpoint.json"
    if js.exists() and not derived_is_current(ck):
        stale = json.loads(js.read_text())
        assert stale["npz_sha256"] != hashlib.sha256(ck.read_bytes()).hexdigest(), \
            "checkpoint.json disagrees with checkpoint.npz but names its digest"
    return meta["epoch"]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    """The reference run, as a subprocess like the killed ones; also times a whole run."""
    out = tmp_path_factory.mktemp("ref")
    t = time.perf_counter()
    p = _start(out)
    _, err = p.communicate(timeout=600)
    assert p.returncode == 0, err
    return out, time.perf_counter() - t


def test_kill9_anywhere_then_resume_is_bit_identical(tmp_path, uninterrupted):
    ref_dir, seconds = uninterrupted
    out = tmp_path / "run"
    rng = random.Random(20261201)
    fps = list(FAILPOINTS)
    rng.shuffle(fps)
    # chosen points first (each fires: the run is far from done), then kills at random
    # moments of a whole run's duration: imports, data loading, steps, evaluation, writes
    plan = [("failpoint", fp) for fp in fps]
    plan += [("random", rng.uniform(0.1, 0.9) * seconds) for _ in range(RANDOM_KILLS)]
    kills = 0
    for kind, arg in plan:
        if _check_consistent(out) == EPOCHS:
            break
        p = _start(out, arg if kind == "failpoint" else None)
        if kind == "random":
            try:
                p.wait(timeout=arg)
            except subprocess.TimeoutExpired:
                p.send_signal(signal.SIGKILL)
        _, err = p.communicate(timeout=600)
        if p.returncode == -signal.SIGKILL:
            kills += 1
        else:  # it finished before the kill came
            assert p.returncode == 0, err
        _check_consistent(out)
    while _check_consistent(out) != EPOCHS:  # finish the run
        p = _start(out)
        _, err = p.communicate(timeout=600)
        assert p.returncode == 0, err
    assert kills >= len(FAILPOINTS) + 1, f"only {kills} kills happened"

    # bit-identical to the uninterrupted run
    a, meta = load_checkpoint(out / "checkpoint.npz")
    b, ref_meta = load_checkpoint(ref_dir / "checkpoint.npz")
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    strip = [{k: h[k] for k in RESULT_KEYS} for h in meta["history"]]
    assert strip == [{k: h[k] for k in RESULT_KEYS} for h in ref_meta["history"]]
    # tidy: no temporaries, derived files current
    p = _start(out)  # a last start on the finished run: trains nothing, tidies
    _, err = p.communicate(timeout=300)
    assert p.returncode == 0, err
    assert leftover_temporaries(out, RUN_FILES) == []
    assert derived_is_current(out / "checkpoint.npz")
    assert json.loads((out / "history.json").read_text()) == meta["history"]
    print(f"crash safety: {kills} kills survived")  # the figure in docs/reliability.md


def test_a_kill_leaves_a_temporary_that_the_next_start_removes(tmp_path):
    out = tmp_path / "run"
    p = _start(out, "checkpoint.npz:mid-write@1")
    p.communicate(timeout=300)
    assert p.returncode == -signal.SIGKILL
    left = leftover_temporaries(out, RUN_FILES)
    assert [q.name.startswith(".checkpoint.npz.") for q in left] == [True]
    assert not (out / "checkpoint.npz").exists()
    p = _start(out, "train-step@1")  # opens (and tidies) the run directory, then dies
    p.communicate(timeout=300)
    assert p.returncode == -signal.SIGKILL
    assert leftover_temporaries(out, RUN_FILES) == []
