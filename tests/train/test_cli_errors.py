"""Every user error of the fxtrain CLI is one line, `fxtrain CMD: error: ...`, exit 2."""
import pytest

from fxtrain.cli import main

TINY = ["--model", "lenet", "--image-size", "28", "--data", "synthetic", "--batch", "20",
        "--limit-train", "40", "--limit-test", "20", "--quiet"]


def _file(tmp_path, name, data=b"not a checkpoint"):
    p = tmp_path / name
    p.write_bytes(data)
    return str(p)


CASES = {
    "lr inf": (["train", *TINY, "--lr", "inf"], "lr must be a finite number > 0, got inf"),
    "lr nan": (["train", *TINY, "--lr", "nan"], "lr must be a finite number > 0, got nan"),
    "schedule inf": (["train", *TINY, "--schedule", "step:1:inf"], "a finite GAMMA > 0"),
    "limit 0": (["train", *TINY, "--limit-train", "0"], "limit_train must be a positive number"),
    "momentum 1": (["train", *TINY, "--momentum", "1"], "momentum must lie in [0, 1)"),
    "unknown data": (["train", *TINY, "--data", "imagenet"], "unknown dataset 'imagenet'"),
    "cifar no dir": (["train", *TINY, "--data", "cifar10"], "--data-dir DIR"),
    "out is a file": (lambda t: ["train", *TINY, "--out", _file(t, "f")], "exists and is not a directory"),
    "groups": (["train", *TINY, "--groups", "3"], "batch 20 is not a multiple of groups 3"),
    "eval missing": (lambda t: ["eval", str(t / "none.npz")], "does not exist"),
    "eval corrupt": (lambda t: ["eval", _file(t, "c.npz")], "is corrupt or truncated"),
    "eval no dir": (lambda t: ["eval", str(t / "none.npz"), "--data-dir", "x"], "does not exist"),
    "cgap lr": (["cgap", *TINY, "--lr", "inf"], "lr must be a finite number"),
    "demo limit": (["demo", "--limit-train", "0"], "limit_train must be a positive number"),
    "vectors lr": (lambda t: ["vectors", "--lr", "-1", "--out", str(t / "b")], "lr"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_user_errors_are_one_line(case, tmp_path, capsys):
    argv, want = CASES[case]
    argv = argv(tmp_path) if callable(argv) else argv
    rc = main(argv)
    err = capsys.readouterr().err
    assert rc == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith(f"fxtrain {argv[0]}: error: "), lines[0]
    assert want in lines[0], lines[0]


def test_debug_env_shows_the_traceback(monkeypatch):
    monkeypatch.setenv("FXTRAIN_DEBUG", "1")
    with pytest.raises(ValueError, match="lr must be a finite number"):
        main(["train", *TINY, "--lr", "inf"])
