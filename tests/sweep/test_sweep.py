"""`fxtrain sweep` on dask: specs refused before anything runs, a tiny sweep on a local
cluster, a rerun that does no work, a killed worker whose cell resumes to the same words,
an externally started scheduler, and the report."""
import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest

pytest.importorskip("distributed", reason="the sweep tests need dask.distributed (the sweep extra)")

from fxtrain.cli import main  # noqa: E402
from fxtrain.sweep import SpecError, parse_spec  # noqa: E402
from fxtrain.sweep.run import run_sweep  # noqa: E402
from fxtrain.sweep.store import Store  # noqa: E402
from fxtrain.train.checkpoint import load_checkpoint  # noqa: E402
from fxtrain.train.loop import fit  # noqa: E402

FIXED = """
[fixed]
model = "lenet"
image_size = 28
data = "synthetic"
epochs = 1
batch = 20
limit_train = 40
limit_test = 20
"""
TINY = '[sweep]\nname = "tiny"\n' + FIXED + """
recipe = "calibrated"
[grid]
word = [8, 16]
rounding = ["half_even", "stochastic"]
[[cells]]
recipe = "fpl19"
"""


@pytest.mark.parametrize("text, match", [
    ("[sweep]\nname = 'x'\n[fixed]\nmodle = 'lenet'\n[grid]\nseed = [0]", r"unknown key \['modle'\] in \[fixed\]"),
    ("[sweep]\nname = 'x'\n[grid]\nseed = [0]\nwords = [8]", r"unknown key \['words'\] in \[grid\]"),
    ("[sweep]\nname = 'x'\n[grids]\nseed = [0]", r"unknown table \['grids'\]"),
    ("[sweep]\n[grid]\nseed = [0]", "needs name"),
    ("[sweep]\nname = 'x'\n[grid]\nseed = []", "seed must be a non-empty list"),
    ("[sweep]\nname = 'x'\n[grid]\nseed = [1, 1]", "lists a value twice"),
    ("[sweep]\nname = 'x'\n[fixed]\nseed = 1\n[grid]\nseed = [0]", "both in \\[fixed\\] and a \\[grid\\] axis"),
    ("[sweep]\nname = 'x'\n[fixed]\nseed = 1", "no cells"),
    ("[sweep]\nname = 'x'\n[grid]\nlr = [0.01, inf]", r"cell 1 .*lr must be a finite number"),
    ("[sweep]\nname = 'x'\n[fixed]\nrecipe = 'calibrated'\n[grid]\nword = [8, 40]", "word must be an integer 2..16"),
    ("[sweep]\nname = 'x'\n[grid]\nrecipe = ['fpl19']\n[[cells]]\nrecipe = 'fpl19'", "are the same run"),
    ("[sweep\nname = 'x'", "not valid TOML"),
])
def test_bad_specs_are_refused_naming_the_key(text, match):
    with pytest.raises(SpecError, match=match):
        parse_spec(text, "spec.toml").cells()


def test_bad_spec_from_the_cli_is_one_line(tmp_path, capsys):
    p = tmp_path / "s.toml"
    p.write_text("[sweep]\nname = 'x'\n[grid]\nseeds = [0]")
    assert main(["sweep", str(p), "--out", str(tmp_path / "st")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("fxtrain sweep: error: ") and "seeds" in err and "\n" not in err
    assert not (tmp_path / "st").exists()  # refused before anything was created


def test_keys_follow_config_and_version():
    from fxtrain.sweep.spec import cell_key

    cells = parse_spec(TINY).cells()
    assert len({c.key for c in cells}) == 5
    cfg = cells[0].config
    assert cell_key(cfg) == cells[0].key and cell_key(cfg, "9.9") != cells[0].key


def test_tiny_sweep_runs_then_reruns_nothing(tmp_path, capsys):
    spec = tmp_path / "tiny.toml"
    spec.write_text(TINY)
    assert main(["sweep", str(spec), "--out", str(tmp_path / "st"), "--workers", "2"]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert json.loads(last) == {"cells": 5, "ran": 5, "skipped": 0, "failed": 0, "diverged": 0}
    store = Store(tmp_path / "st")
    rows = store.rows()
    assert sorted(r["status"] for r in rows) == ["done"] * 5
    # every cell's words are those of the same run trained directly
    from fxtrain.sweep.spec import Cell

    c = next(r for r in rows if r["axes"] == {"word": 8, "rounding": "half_even"})
    direct = fit(Cell(dict(parse_spec(TINY).fixed, word=8, rounding="half_even")).train_config(),
                 progress=False, log=None)
    a, _ = load_checkpoint(tmp_path / "st" / "cells" / c["key"] / "checkpoint.npz")
    for k, v in direct.net.state_dict().items():
        np.testing.assert_array_equal(a[k], v, err_msg=k)
    store.close()
    assert main(["sweep", str(spec), "--out", str(tmp_path / "st"), "--workers", "2", "--quiet"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1]) == \
        {"cells": 5, "ran": 0, "skipped": 5, "failed": 0, "diverged": 0}
    # the report: one row per cell, the axes by name
    assert main(["sweep-report", str(tmp_path / "st"), "--csv", str(tmp_path / "r.csv"),
                 "--plots", str(tmp_path / "plots")]) == 0
    assert sorted(p.name for p in (tmp_path / "plots").iterdir()) == [
        "accuracy_per_epoch.png", "accuracy_vs_word.png", "overflows_vs_word.png",
        "zero_updates_vs_word.png"]
    assert (tmp_path / "plots" / "accuracy_vs_word.png").read_bytes()[:4] == b"\x89PNG"
    lines = (tmp_path / "r.csv").read_text().splitlines()
    assert lines[0].startswith("rounding,word,recipe,status,epochs,test_accuracy")  # axes by name, sorted
    assert len(lines) == 6
    head = lines[0].split(",")
    zero = [float(r.split(",")[head.index("zero_update_fraction")]) for r in lines[1:]]
    assert all(0.0 <= z <= 1.0 for z in zero) and max(zero) > 0  # 8-bit updates lose some


def test_a_store_from_before_the_zero_update_column_opens(tmp_path):
    import sqlite3

    (tmp_path / "old").mkdir()
    db = sqlite3.connect(tmp_path / "old" / "results.sqlite")
    db.executescript("""CREATE TABLE epochs (key TEXT NOT NULL, epoch INTEGER NOT NULL, lr REAL,
        train_loss REAL, train_accuracy REAL, test_loss REAL, test_accuracy REAL, overflows INTEGER,
        accumulator_overflows INTEGER, diverged INTEGER NOT NULL, seconds REAL,
        PRIMARY KEY (key, epoch));
        INSERT INTO epochs VALUES ('k', 1, 0.01, 1.0, 0.5, 1.0, 0.5, 0, 0, 0, 1.0);""")
    db.commit()
    db.close()
    store = Store(tmp_path / "old")
    assert store.epochs("k")[0]["zero_update_fraction"] is None  # old rows: unknown, not zero
    store.close()


def test_killed_worker_cell_resumes_to_the_same_words(tmp_path, monkeypatch):
    """The worker dies with SIGKILL in the middle of epoch 2 (a failpoint, once); dask
    retries the task on a fresh worker, which resumes from the epoch-1 checkpoint."""
    text = '[sweep]\nname = "kill"\n' + FIXED.replace("epochs = 1", "epochs = 3").replace(
        "limit_train = 40", "limit_train = 80") + '\nrecipe = "sr16"\n[grid]\nseed = [4]\n'
    monkeypatch.setenv("FXTRAIN_FAILPOINT", "train-step@7")
    monkeypatch.setenv("FXTRAIN_FAILPOINT_ONCE", str(tmp_path / "killed-once"))
    spec = parse_spec(text)
    summary = run_sweep(spec, tmp_path / "st", workers=1, progress=False)
    monkeypatch.delenv("FXTRAIN_FAILPOINT")
    assert (tmp_path / "killed-once").exists(), "the failpoint never fired: no worker was killed"
    assert summary == {"cells": 1, "ran": 1, "skipped": 0, "failed": 0, "diverged": 0}
    cell = spec.cells()[0]
    a, meta = load_checkpoint(tmp_path / "st" / "cells" / cell.key / "checkpoint.npz")
    direct = fit(cell.train_config(), progress=False, log=None)
    for k, v in direct.net.state_dict().items():
        np.testing.assert_array_equal(a[k], v, err_msg=k)
    assert [h["test_accuracy"] for h in meta["history"]] == [h["test_accuracy"] for h in direct.history]


def test_external_scheduler(tmp_path):
    """A scheduler and a worker started as separate processes (as on a cluster)."""
    sched = tmp_path / "scheduler.json"
    env = {**os.environ, "NUMBA_NUM_THREADS": "1"}
    procs = [subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_scheduler", "--scheduler-file",
                               str(sched), "--no-dashboard", "--host", "127.0.0.1"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    try:
        for _ in range(200):
            if sched.exists() and sched.stat().st_size:
                break
            time.sleep(0.1)
        address = json.loads(sched.read_text())["address"]
        procs.append(subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_worker", address,
                                       "--nthreads", "1", "--no-dashboard"], env=env,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        text = '[sweep]\nname = "ext"\n' + FIXED + '\n[grid]\nseed = [0, 1]\n'
        summary = run_sweep(parse_spec(text), tmp_path / "st", scheduler=address, progress=False)
        assert summary == {"cells": 2, "ran": 2, "skipped": 0, "failed": 0, "diverged": 0}
    finally:
        for p in procs:
            p.kill()
            p.wait()


def test_word_length_plots_leave_the_float64_reference_out():
    from fxtrain.sweep.report import family_rows

    def row(**config):
        return {"config": {"recipe": "calibrated", "word": 16, "update_rounding": "stochastic", **config},
                "test_accuracy": 0.8}

    rows = [row(), row(float64=True), row(recipe="fpl19"), dict(row(word=8), test_accuracy=None)]
    assert family_rows(rows) == [rows[0]]
