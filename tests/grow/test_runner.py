"""Whole CGaP runs: reproducible from the seed, resumable mid-growth bit-identically, the
no-growth schedule equal to plain training, and the CLI with report and plots."""
import json
from dataclasses import replace

import numpy as np
import pytest

from fxtrain.cli import main
from fxtrain.grow.runner import CGaPConfig, run_cgap
from fxtrain.grow.schedule import CGaPSchedule
from fxtrain.grow.surgery import widths
from fxtrain.train.loop import TrainConfig, fit

TC = TrainConfig(model="lenet", recipe="sr16", dataset="embedded", image_size=28, epochs=4, batch=20,
                 groups=2, lr=0.01, limit_train=120, limit_test=60, seed=3)
SCHED = CGaPSchedule(seed_width=0.25, grow_every=2, grow_rate=0.5, grow_epochs=2, prune_epoch=3,
                     prune_ratio=0.5, criterion="taylor", init="copy")


def _same(a, b):
    sa, sb = a.net.state_dict(), b.net.state_dict()
    assert sa.keys() == sb.keys()
    for k in sa:
        np.testing.assert_array_equal(sa[k], sb[k], err_msg=k)
    strip = lambda hs: [{k: v for k, v in h.items() if k not in ("seconds", "images_per_s")} for h in hs]
    assert strip(a.history) == strip(b.history)
    assert a.events == b.events


def test_run_grows_then_prunes_and_is_reproducible():
    cfg = CGaPConfig(TC, SCHED)
    a = run_cgap(cfg, progress=False, log=None)
    kinds = [e["kind"] for e in a.events]
    assert kinds.count("grow") >= 2 and "peak" in kinds and kinds[-1] == "prune"
    seed, peak = a.phases["seed"], a.phases["peak"]
    assert [L.get("out_ch") for L in seed["layers"]] != [L.get("out_ch") for L in peak["layers"]]
    # pruning halves every growable layer of the peak network
    pk = a.events[kinds.index("peak")]["widths"]
    assert widths(a.net) == {n: w - w // 2 for n, w in pk.items()}
    b = run_cgap(cfg, progress=False, log=None)
    _same(a, b)


def test_resume_mid_growth_is_bit_identical(tmp_path):
    cfg = CGaPConfig(TC, SCHED)
    full = run_cgap(cfg, progress=False, log=None)
    part = run_cgap(cfg, tmp_path, progress=False, stop_after=1, log=None)
    assert part.growing, "the checkpoint must be taken while the network is still growing"
    resumed = run_cgap(cfg, tmp_path, resume=True, progress=False, log=None)
    _same(full, resumed)
    assert json.loads((tmp_path / "report.json").read_text())["events"] == full.events


def test_resume_refuses_a_different_schedule(tmp_path):
    cfg = CGaPConfig(TC, SCHED)
    run_cgap(cfg, tmp_path, progress=False, stop_after=1, log=None)
    other = CGaPConfig(TC, replace(SCHED, grow_rate=0.25))
    with pytest.raises(ValueError, match="configuration differs"):
        run_cgap(other, tmp_path, resume=True, progress=False, log=None)


def test_no_growth_schedule_is_plain_training():
    """seed width 1, no growth, no pruning == `fxtrain train`, bit for bit."""
    tc = replace(TC, epochs=2)
    s = CGaPSchedule(seed_width=1.0, grow_every=0, prune_epoch=None, prune_ratio=None)
    a = run_cgap(CGaPConfig(tc, s), progress=False, log=None)
    b = fit(tc, progress=False, log=None)
    for k, v in b.net.state_dict().items():
        np.testing.assert_array_equal(a.net.state_dict()[k], v, err_msg=k)


@pytest.mark.parametrize("bad", [dict(seed_width=0), dict(seed_width=2.0), dict(grow_rate=0),
                                 dict(prune_ratio=1.0), dict(prune_ratio=None),
                                 dict(criterion="random"), dict(init="zeros"), dict(grow_every=-1)])
def test_schedule_rejects_bad_settings(bad):
    with pytest.raises(ValueError):
        replace(SCHED, **bad)


def test_cli_runs_cgap_with_baselines_and_plots(tmp_path, capsys):
    pytest.importorskip("matplotlib", reason="plots need the optional matplotlib (extra 'plot')")
    out = tmp_path / "run"
    rc = main(["cgap", "--model", "lenet", "--image-size", "28", "--limit-train", "80", "--limit-test",
               "40", "--batch", "20", "--epochs", "3", "--grow-every", "1", "--grow-epochs", "1",
               "--prune-epoch", "2", "--baselines", "--quiet", "--out", str(out)])
    assert rc == 0
    text = capsys.readouterr().out
    assert "| cgap |" in text and "| l1-prune |" in text
    summary = json.loads((out / "summary.json").read_text())["summary"]
    # train-then-prune is pruned to CGaP's final widths: equal MACs by construction
    assert summary["l1-prune"]["macs_fp"] == summary["cgap"]["macs_fp"] < summary["full"]["macs_fp"]
    rep = json.loads((out / "cgap" / "report.json").read_text())
    assert {"seed", "peak", "pruned", "final"} <= set(rep["phases"])
    for png in ("widths.png", "accuracy_vs_macs.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_rejects_a_bad_schedule(capsys):
    assert main(["cgap", "--seed-width", "0", "--out", "/nonexistent/never"]) == 2
    assert "seed_width" in capsys.readouterr().err


def test_pruning_while_still_growing_uses_the_scores_gathered_so_far():
    """A prune epoch inside the growth window ends growth without emptying the saliency
    window (an empty window would rank every unit 0 and just drop the newest ones)."""
    tc = replace(TC, epochs=3)
    s = replace(SCHED, grow_epochs=3, prune_epoch=1, init="random")
    run = run_cgap(CGaPConfig(tc, s), progress=False, log=None)
    peak = next(e for e in run.events if e["kind"] == "peak")
    prune_ev = run.events[-1]
    assert peak["reason"] == "pruning" and prune_ev["kind"] == "prune"
    assert prune_ev["window_steps"] == prune_ev["step"] > 0
