"""The console script: --version, --help, train/eval on a tiny run."""
import subprocess
import sys

from fxtrain import __version__
from fxtrain.cli import main


def test_version_and_help():
    out = subprocess.run([sys.executable, "-m", "fxtrain.cli", "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and __version__ in out.stdout
    out = subprocess.run([sys.executable, "-m", "fxtrain.cli", "--help"], capture_output=True, text=True)
    for sub in ("train", "eval", "demo"):
        assert sub in out.stdout


def test_train_then_eval(tmp_path, capsys):
    rc = main(["train", "--model", "lenet", "--image-size", "28", "--recipe", "fpl19", "--epochs", "1",
               "--limit-train", "80", "--limit-test", "40", "--out", str(tmp_path), "--quiet"])
    assert rc == 0 and (tmp_path / "checkpoint.npz").exists() and (tmp_path / "history.json").exists()
    printed = capsys.readouterr().out
    # the plan's accumulator widths, before training: fpl19 sums convolutions exactly
    assert ("accumulator bits fp/bp/wu: conv0 64/64/64, conv1 64/64/64, fc0 32/32/32, "
            "fc 32/32/32") in printed
    assert main(["eval", str(tmp_path / "checkpoint.npz")]) == 0
    assert "test accuracy" in capsys.readouterr().out
