"""`fxtrain train --recipe calibrated --word W --update-rounding MODE`: the family from the
command line, through checkpoints, resume and eval."""
import numpy as np

from fxtrain.cli import main
from fxtrain.train.checkpoint import load_checkpoint
from fxtrain.train.loop import TrainConfig, fit

TINY = ["--model", "lenet", "--image-size", "28", "--data", "synthetic", "--batch", "20",
        "--limit-train", "60", "--limit-test", "20", "--quiet"]


def test_train_resume_and_eval_an_8_bit_member(tmp_path, capsys):
    args = ["train", *TINY, "--recipe", "calibrated", "--word", "8", "--update-rounding", "half_even",
            "--epochs", "2", "--out", str(tmp_path / "r")]
    assert main(args) == 0
    arrays, meta = load_checkpoint(tmp_path / "r" / "checkpoint.npz")
    assert meta["plan"]["recipe"] == "cal8-half_even"
    assert meta["plan"]["layers"]["conv0"]["weight"]["format"].startswith("Q8.")
    assert meta["plan"]["layers"]["conv0"]["update"]["rounding"] == "half_even"
    assert arrays["conv0.weight"].dtype == np.int8
    capsys.readouterr()
    assert main(["eval", str(tmp_path / "r" / "checkpoint.npz")]) == 0
    acc = float(capsys.readouterr().out.split("test accuracy ")[1].split(",")[0])
    assert acc == round(meta["history"][-1]["test_accuracy"], 4)
    # stopped after one epoch and resumed: the same words
    cfg = dict(model="lenet", image_size=28, dataset="synthetic", batch=20, limit_train=60, limit_test=20,
               recipe="calibrated", word=8, update_rounding="half_even", epochs=2)
    fit(TrainConfig(**cfg), out=tmp_path / "p", stop_after=1, progress=False, log=None)
    fit(TrainConfig(**cfg), out=tmp_path / "p", resume=True, progress=False, log=None)
    b, _ = load_checkpoint(tmp_path / "p" / "checkpoint.npz")
    for k in arrays:
        np.testing.assert_array_equal(arrays[k], b[k], err_msg=k)


def test_word_is_refused_for_the_fixed_recipes(capsys):
    assert main(["train", *TINY, "--recipe", "fpl19", "--word", "8"]) == 2
    err = capsys.readouterr().err
    assert "apply to the calibrated recipe only" in err and len(err.strip().splitlines()) == 1
    assert main(["train", *TINY, "--recipe", "calibrated", "--word", "20"]) == 2
    assert "word must be an integer 2..16, got 20" in capsys.readouterr().err
    assert main(["train", *TINY, "--recipe", "calibrated", "--update-rounding", "nearest"]) == 2
    assert "unknown rounding" in capsys.readouterr().err


def test_old_checkpoint_configs_still_load(tmp_path):
    """Checkpoints written before these fields existed have no word/update_rounding/overflow."""
    fit(TrainConfig(model="lenet", image_size=28, dataset="synthetic", batch=20, limit_train=40,
                    limit_test=20), out=tmp_path, progress=False, log=None)
    _, meta = load_checkpoint(tmp_path / "checkpoint.npz")
    old = {k: v for k, v in meta["config"].items() if k not in ("word", "update_rounding", "overflow")}
    assert TrainConfig(**old).run_key() == TrainConfig(**meta["config"]).run_key()


def test_fpl19_with_saturating_updates(tmp_path, capsys):
    args = ["train", *TINY, "--recipe", "fpl19", "--update-overflow", "saturate", "--epochs", "1",
            "--out", str(tmp_path / "s")]
    assert main(args) == 0
    _, meta = load_checkpoint(tmp_path / "s" / "checkpoint.npz")
    assert meta["plan"]["recipe"] == "fpl19-saturate-updates"
    for lp in meta["plan"]["layers"].values():
        assert lp["momentum"]["overflow"] == lp["update"]["overflow"] == "saturate"
        assert lp["activation"]["overflow"] == "saturate" and lp["weight"]["rounding"] == "half_up"
    default = TrainConfig(model="lenet", recipe="fpl19")
    assert default.update_overflow is None
    from fxtrain.train.loop import make_recipe

    assert make_recipe(default).overflow["update"] == "wrap"  # the hardware's, unchanged
    assert main(["train", *TINY, "--recipe", "calibrated", "--update-overflow", "saturate"]) == 2
    assert "update_overflow is for the fixed recipes" in capsys.readouterr().err


def test_sweep_cells_keep_their_keys_without_update_overflow():
    from fxtrain.sweep.spec import parse_spec

    spec = parse_spec('[sweep]\nname = "k"\n[fixed]\nmodel = "lenet"\ndata = "synthetic"\n'
                      'recipe = "fpl19"\n[grid]\nseed = [0]\n[[cells]]\nrecipe = "fpl19"\n'
                      'update_overflow = "saturate"\n')
    plain, sat = spec.cells()
    assert "update_overflow" not in plain.config and sat.config["update_overflow"] == "saturate"
    assert plain.key != sat.key
