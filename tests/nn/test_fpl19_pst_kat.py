"""Known-answer test: fxtrain's fpl19 cnn1x against the FPL'19 group's golden model.

tests/data/fpl19_pst_kat.npz holds initial states, batches and the state after every step,
computed by the group's public bit-accurate model (provenance and layout in
tests/data/fpl19_pst_kat.README.md). Every weight and momentum word must be equal after
every step: this is the outside truth the fpl19 preset answers to (exact convolution
sums, 32-bit FC sums, half-up rounding, 16-bit wrapping updates).
"""
import hashlib
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from fxtrain.models import cnn1x
from fxtrain.presets import fpl19

KAT = Path(__file__).resolve().parents[1] / "data" / "fpl19_pst_kat.npz"
SHA256 = "c966fdc40fc3d23ffef1821890dbc8706cc5a97840b9baabf10f19752cc00277"


def _load():
    assert hashlib.sha256(KAT.read_bytes()).hexdigest() == SHA256, f"{KAT} changed"
    d = np.load(KAT, allow_pickle=False)
    return d, json.loads(str(d["meta"]))["cases"]


CASES = [c["name"] for c in _load()[1]]


def _net(case: dict, d, recipe=None):
    r = recipe or fpl19(lr=case["lr"], momentum=case["mom"], batch=case["B"], groups=case["groups"],
                        lr_start=case["lr_start"])
    net = cnn1x(recipe=r)
    p = f"{case['name']}/init/"
    state = {k[len(p):]: d[k] for k in d.files if k.startswith(p)}
    state["step"] = np.array(0, dtype=np.int64)
    net.load_state_dict(state)
    return net


def _run(net, case, d):
    """Steps the case through ``net``; yields (step, {name: (engine, golden)})."""
    P = case["name"]
    for s in range(case["steps"]):
        net.train_step(d[f"{P}/step{s}/x"], d[f"{P}/step{s}/labels"])
        yield s, {k: (v, d[f"{P}/step{s}/after/{k}"]) for k, v in net.params.items()}


@pytest.mark.parametrize("name", CASES)
def test_fpl19_pst_kat_every_word(name):
    d, cases = _load()
    case = next(c for c in cases if c["name"] == name)
    net = _net(case, d)
    assert sorted(net.params) == sorted(k.split("/init/")[1] for k in d.files
                                        if k.startswith(f"{name}/init/"))
    for s, pairs in _run(net, case, d):
        for k, (got, want) in pairs.items():
            assert got.dtype == want.dtype == np.int16, k
            np.testing.assert_array_equal(got, want, err_msg=f"{name} step {s} {k}")


def test_fpl19_pst_kat_detects_32_bit_conv_sums():
    """The same run with 32-bit wrapping convolution sums (the engine's old fpl19) is far
    from the golden model: the test above can fail, and the conv width matters."""
    d, cases = _load()
    case = cases[0]
    base = fpl19(lr=case["lr"], momentum=case["mom"], batch=case["B"], groups=case["groups"],
                 lr_start=case["lr_start"])
    net = _net(case, d, replace(base, acc_bits=32))
    s, pairs = next(_run(net, case, d))
    differing = sum(int(np.count_nonzero(g != w)) for g, w in pairs.values())
    assert differing > 10_000, differing
