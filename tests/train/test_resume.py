"""A run stopped between epochs and resumed ends bit-identical to the uninterrupted run."""
import numpy as np
import pytest

from fxtrain.train.checkpoint import load_checkpoint
from fxtrain.train.loop import TrainConfig, fit


def cfg(**kw):
    base = dict(model="lenet", recipe="sr16", dataset="embedded", image_size=28, epochs=3, batch=40,
                groups=2, lr=0.01, schedule="step:1:0.5", seed=11, limit_train=120, limit_test=40)
    base.update(kw)
    return TrainConfig(**base)


@pytest.mark.parametrize("recipe", ["sr16", "fpl19"])
def test_resume_is_bit_identical(tmp_path, recipe):
    full = fit(cfg(recipe=recipe), out=tmp_path / "full", progress=False, log=None)
    part = tmp_path / "part"
    fit(cfg(recipe=recipe), out=part, progress=False, stop_after=1, log=None)
    arrays, meta = load_checkpoint(part / "checkpoint.npz")
    assert meta["epoch"] == 1
    resumed = fit(cfg(recipe=recipe), out=part, resume=True, progress=False, log=None)
    a, b = full.net.state_dict(), resumed.net.state_dict()
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    assert [h["test_accuracy"] for h in full.history] == [h["test_accuracy"] for h in resumed.history]
    # and the weights really moved: the comparison is not between two untouched inits
    assert not np.array_equal(a["conv0.weight"], fit(cfg(recipe=recipe, epochs=0), progress=False,
                                                     log=None).net.params["conv0.weight"])


def test_resume_refuses_a_different_config(tmp_path):
    fit(cfg(epochs=1), out=tmp_path, progress=False, log=None)
    with pytest.raises(ValueError, match="configuration differs"):
        fit(cfg(epochs=2, lr=0.02), out=tmp_path, resume=True, progress=False, log=None)
    with pytest.raises(ValueError, match="nothing to resume"):
        fit(cfg(), out=tmp_path / "empty", resume=True, progress=False, log=None)


def test_schedule_validation():
    with pytest.raises(ValueError, match="schedule"):
        cfg(schedule="step:0:0.5")
    with pytest.raises(ValueError, match="unknown schedule"):
        cfg(schedule="exp")
    with pytest.raises(ValueError, match="unknown model"):
        cfg(model="resnet")
