"""make_bundle / `fxtrain vectors`: the bundle's steps are `fxtrain train`'s first steps,
and the CLI writes, verifies and refuses as documented."""
import json
import subprocess
import sys

import numpy as np
import pytest

from fxtrain.train.loop import TrainConfig, fit
from fxtrain.vectors.bundle import load_bundle
from fxtrain.vectors.make import make_bundle

SMALL = dict(model="lenet", image_size=28, batch=4, groups=2, seed=3, limit_train=8)


@pytest.mark.parametrize("recipe", ["fpl19", "sr16"])
def test_bundle_steps_are_the_training_runs_steps(tmp_path, recipe):
    """Two captured steps end on the parameters of a 2-step `fxtrain train` epoch."""
    b = load_bundle(make_bundle(tmp_path / "b", recipe=recipe, steps=2, **SMALL))
    run = fit(TrainConfig(recipe=recipe, epochs=1, limit_test=4, **SMALL), progress=False, log=None)
    assert run.net.step == 2 and b.manifest["plan"] == run.net.plan.to_json()
    for L in run.net.weighted_layers:
        np.testing.assert_array_equal(b.get(1, "wu", L.name, "weight_updated"), run.net.params[f"{L.name}.weight"])
        np.testing.assert_array_equal(b.get(1, "wu", L.name, "momentum_updated"),
                                      run.net.params[f"{L.name}.momentum"])
    cfg = b.manifest["config"]
    assert (cfg["model"], cfg["recipe"], cfg["steps"], cfg["groups"]) == ("lenet", recipe, 2, 2)
    ids = [i for s in b.manifest["steps"] for i in s["images"]]
    assert sorted(ids) == list(range(8))
    assert b.manifest["model"]["hyper"]["groups"] == 2


def test_make_bundle_rejects_bad_requests(tmp_path):
    with pytest.raises(ValueError, match="steps must be a positive integer"):
        make_bundle(tmp_path / "b", steps=0, **SMALL)
    with pytest.raises(ValueError, match="3 steps of batch 4 need 12 training images, the data has 8"):
        make_bundle(tmp_path / "b", steps=3, **SMALL)
    with pytest.raises(ValueError, match="multiple of groups"):
        make_bundle(tmp_path / "b", **{**SMALL, "groups": 3})
    assert not (tmp_path / "b").exists()


def _cli(argv):
    """The real console entry point (its shared handler turns user errors into exit 2)."""
    from fxtrain.cli import main

    return main(argv)


def test_cli_vectors_then_check(tmp_path, capsys):
    out = tmp_path / "vec"
    argv = ["vectors", "--model", "lenet", "--image-size", "28", "--recipe", "fpl19", "--batch", "2",
            "--groups", "1", "--seed", "0", "--data", "embedded", "--limit-train", "4", "--out", str(out)]
    assert _cli(argv) == 0
    text = capsys.readouterr().out
    assert "1 step(s) of lenet under fpl19" in text and "hwgen banks" in text
    assert _cli(["vectors-check", str(out)]) == 0
    assert "ok:" in capsys.readouterr().out
    assert _cli(argv) == 2  # exists, no --force
    assert "already exists" in capsys.readouterr().err
    assert _cli(argv + ["--force", "--steps", "2"]) == 0
    assert len(json.loads((out / "manifest.json").read_text())["steps"]) == 2
    f = out / "step1/bp/loss.loss_gradient.hex"
    f.write_bytes(f.read_bytes()[:-1])
    assert _cli(["vectors-check", str(out)]) == 1
    assert "loss.loss_gradient.hex" in capsys.readouterr().err


def test_package_exports():
    import fxtrain.vectors as v

    assert v.make_bundle is make_bundle and v.load_bundle is load_bundle
    with pytest.raises(AttributeError):
        v.nothing_here


def test_fxtrain_vectors_never_imports_hwgen():
    """The layering rule of DESIGN.md, checked at run time in a clean interpreter."""
    code = ("import sys, fxtrain.vectors.cli, fxtrain.vectors.make, fxtrain.vectors.capture, "
            "fxtrain.vectors.bundle; print(sorted(m for m in sys.modules if m.split('.')[0] == 'hwgen'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
