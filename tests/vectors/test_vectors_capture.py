"""Captured bundles against the engine and the oracle.

A tiny hand-built net (conv, relu, conv, relu, pool, flatten, fc, relu, fc; batch 4 in 2
on-chip groups) runs 2 captured steps under fpl19, sr16 and an all-stochastic sr16.
An identical second network runs the same steps without capture: every recorded tensor
must equal its record and parameters (assert_array_equal). The tensors the capture
computes itself (BP and WU accumulators, the momentum after each group) are checked
against the plain-int oracle in reference/ instead.
"""
from dataclasses import replace

import numpy as np
import pytest

from fxtrain.nn import Conv2d, Flatten, Linear, MaxPool2d, Network, ReLU
from fxtrain.numerics import CONTRACT_VERSION, sr_key
from fxtrain.presets import float64, fpl19, sr16
from fxtrain.vectors.bundle import load_bundle, write_bundle
from fxtrain.vectors.capture import capture_step
from fxtrain.vectors.make import bundle_network, capture_steps
from reference import network as oracle
from reference import ops as rops
from reference.numerics import overflow as ref_fit
from reference.numerics import requantize as ref_requantize

STEPS, BATCH, GROUPS = 2, 4, 2
SHAPE = (1, 6, 6)
ALL_STOCHASTIC = {r: "stochastic" for r in ("activation", "local_gradient", "weight_gradient",
                                            "momentum", "update")} | {"input": "half_even", "constant": "half_even"}


def layers():
    return [Conv2d("conv0", 1, 2, 3, 1, 1), ReLU("relu0"), Conv2d("conv1", 2, 3, 3, 1, 1), ReLU("relu1"),
            MaxPool2d("pool0", 2), Flatten("flatten"), Linear("fc0", 27, 5), ReLU("relu2"),
            Linear("fc", 5, 3)]


def data(step):
    rng = np.random.default_rng(100 + step)
    x = np.round(rng.uniform(-1, 0.875, (BATCH, *SHAPE)) * 8) / 8  # coarse grid: pool ties
    x[0] = 0.0  # exact zero pre-activations
    return x, rng.integers(0, 3, BATCH)


def make_net(kind):
    if kind == "fpl19":
        r = fpl19(lr=0.05, batch=BATCH, groups=GROUPS)
    else:
        r = sr16(lr=0.05, batch=BATCH, groups=GROUPS, calib=data(0))
        if kind == "sr16-all":
            r = replace(r, rounding=dict(ALL_STOCHASTIC))
    return Network(layers(), r, SHAPE, seed=7, name="tiny")


def batches(net):
    for s in range(STEPS):
        xf, y = data(s)
        yield net.quantize_input(xf), y, np.arange(s * BATCH, (s + 1) * BATCH)


@pytest.fixture(scope="module", params=["fpl19", "sr16", "sr16-all"])
def case(request, tmp_path_factory):
    """(kind, captured net, its tensors and metadata, the loaded bundle, fresh runs)."""
    net = make_net(request.param)
    start = net.describe()
    tensors, meta = capture_steps(net, batches(net))
    path = write_bundle(tmp_path_factory.mktemp("b") / "bundle", {**meta, "config": None}, tensors)
    fresh = make_net(request.param)
    runs = []
    for x, y, _ in batches(fresh):
        before = {k: v.copy() for k, v in fresh.params.items()}
        desc = fresh.describe()
        rec: dict = {}
        fresh.train_step(x, y, record=rec)
        runs.append({"x": x, "y": y, "before": before, "desc": desc, "rec": rec,
                     "after": {k: v.copy() for k, v in fresh.params.items()}})
    return {"kind": request.param, "net": net, "start": start, "tensors": tensors, "meta": meta,
            "bundle": load_bundle(path), "runs": runs}


def eq(a, b, what):
    assert np.asarray(a).shape == np.asarray(b).shape, what
    np.testing.assert_array_equal(a, b, err_msg=what)


def test_round_trip(case):
    b = case["bundle"]
    assert len(b.arrays) == len(case["tensors"])
    for t in case["tensors"]:
        a = b[t.name]
        assert a.dtype == t.fmt.dtype, t.name
        eq(a, t.array, t.name)
        e = b.entries[t.name]
        assert (e["step"], e["phase"], e["layer"], e["role"], e["group"], e["format"]) == \
            (t.step, t.phase, t.layer, t.role, t.group, t.fmt.name)


def test_recorded_tensors_equal_a_fresh_engine_run(case):
    """Every tensor the engine itself produces, against an uncaptured identical run."""
    b, checked = case["bundle"], set()

    def get(s, phase, layer, role, group=None):
        hits = b.find(step=s, phase=phase, layer=layer, role=role, group=group)
        assert len(hits) == 1, (s, phase, layer, role, group)
        checked.add(hits[0]["name"])
        return b.arrays[hits[0]["name"]]

    for s, run in enumerate(case["runs"]):
        rec, net = run["rec"], case["net"]
        eq(get(s, "fp", "input", "image"), run["x"], "image")
        eq(get(s, "fp", "input", "label"), run["y"], "labels")
        for L, r in zip(net.layers, rec["forward"]):
            n = L.name
            if L.weighted:
                eq(get(s, "fp", n, "weight"), run["before"][f"{n}.weight"], f"{s} {n} weight")
                eq(get(s, "fp", n, "acc"), r["acc"], f"{s} {n} fp acc")
                eq(get(s, "fp", n, "pre_activation"), r["output"], f"{s} {n} pre-activation")
                eq(get(s, "wu", n, "momentum"), run["before"][f"{n}.momentum"], f"{s} {n} momentum")
                eq(get(s, "wu", n, "weight_updated"), run["after"][f"{n}.weight"], f"{s} {n} new W")
                eq(get(s, "wu", n, "momentum_updated"), run["after"][f"{n}.momentum"], f"{s} {n} new V")
                for g, G in enumerate(rec["weight_gradients"][n]):
                    eq(get(s, "wu", n, "weight_gradient", g), G, f"{s} {n} G{g}")
                for k in ("lr_q", "s_q", "m_q"):
                    assert int(get(s, "wu", n, k)) == rec["constants"][n][k]
            elif isinstance(L, ReLU):
                eq(get(s, "fp", n, "mask"), r["mask"], f"{s} {n} mask")
                eq(get(s, "fp", n, "activation"), r["output"], f"{s} {n} output")
            elif isinstance(L, MaxPool2d):
                eq(get(s, "fp", n, "argmax"), r["argmax"], f"{s} {n} argmax")
                eq(get(s, "fp", n, "activation"), r["output"], f"{s} {n} output")
        eq(get(s, "bp", "loss", "loss_gradient"), rec["loss_grad"], "loss gradient")
        eq(get(s, "fp", "fc", "pre_activation"), rec["logits"], "logits")
        for n, e in rec["backward"].items():
            if n != "flatten":
                eq(get(s, "bp", n, "local_gradient"), e, f"{s} {n} local gradient")
    rest = {e["role"] for e in case["bundle"].manifest["tensors"] if e["name"] not in checked}
    assert rest == {"acc", "momentum_accumulated"}  # the oracle test covers these


def _oracle_plan(kind: str, desc: dict) -> dict:
    """The plan the oracle derives itself for this case (reference/presets.py)."""
    from reference.presets import fpl19_plan, sr16_plan

    if kind == "fpl19":
        return fpl19_plan(desc["layers"])
    x, y = data(0)
    h = desc["hyper"]
    return sr16_plan(desc["layers"], desc["seed"], x, y, h["batch"], h["groups"], h["lr_start"],
                     rounding=dict(ALL_STOCHASTIC) if kind == "sr16-all" else None)


def test_accumulators_and_momenta_equal_the_oracle(case):
    b, net = case["bundle"], case["net"]
    for s, run in enumerate(case["runs"]):
        desc, before = dict(run["desc"]), run["before"]
        own = _oracle_plan(case["kind"], desc)
        assert desc["plan"] == own, "the bundle's plan differs from the oracle's derivation"
        desc["plan"] = own
        ref = oracle.train_step(desc, before, run["x"], run["y"])
        layers_ = net.layers
        first_w = min(i for i, L in enumerate(layers_) if L.weighted)
        for li, L in enumerate(layers_):
            if not L.weighted:
                continue
            n, conv = L.name, isinstance(L, Conv2d)
            widths = desc["plan"]["layers"][n]["acc_bits"]  # the plan's, as the bundle records
            a_in = ref["forward"][li]["input"]
            e = ref["loss_grad"] if li == len(layers_) - 1 else ref["backward"][layers_[li + 1].name]
            eq(b.get(s, "fp", n, "acc"), ref["forward"][li]["acc"], f"{s} {n} fp acc vs oracle")
            if li > first_w:
                acc = (rops.conv2d_bp(e, before[f"{n}.weight"], a_in.shape[2:], L.stride, L.pad,
                                      widths["bp"])
                       if conv else rops.linear_bp(e, before[f"{n}.weight"], widths["bp"]))
                eq(b.get(s, "bp", n, "acc"), acc, f"{s} {n} bp acc vs oracle")
            else:
                assert not b.find(step=s, phase="bp", layer=n)
            gs = BATCH // GROUPS
            for g in range(GROUPS):
                sl = slice(g * gs, (g + 1) * gs)
                acc = (rops.conv2d_wu(e[sl], a_in[sl], L.k, L.stride, L.pad, widths["wu"]) if conv
                       else rops.linear_wu(e[sl], a_in[sl], widths["wu"]))
                eq(b.get(s, "wu", n, "acc", g), acc, f"{s} {n} wu acc g{g} vs oracle")
                eq(b.get(s, "wu", n, "weight_gradient", g), ref["weight_gradients"][n][g], f"{s} {n} G{g}")
            # momentum after each group, from the oracle's documented formula
            lp = desc["plan"]["layers"][n]
            mspec = oracle.spec_of(lp["momentum"])
            c = ref["constants"][n]
            V = [int(v) for v in before[f"{n}.momentum"].flat]
            for g, G in enumerate(ref["weight_gradients"][n]):
                key = oracle.layer_key(desc, li, "momentum", g * len(V))
                inc, _ = ref_requantize([int(v) * c["lr_q"] for v in G.flat],
                                        oracle.spec_of(lp["weight_gradient"]).f + c["lr_frac"], mspec.w,
                                        mspec.f, mspec.rounding, mspec.overflow,
                                        key=key if mspec.rounding == "stochastic" else None)
                V = [ref_fit(v + int(d), mspec.w, mspec.overflow)[0] for v, d in zip(V, inc)]
                eq(b.get(s, "wu", n, "momentum_accumulated", g).reshape(-1), V, f"{s} {n} V after g{g}")
            eq(b.get(s, "wu", n, "weight_updated"), ref["params"][f"{n}.weight"], f"{s} {n} W vs oracle")
            eq(b.get(s, "wu", n, "momentum_updated"), ref["params"][f"{n}.momentum"], f"{s} {n} V vs oracle")


def test_updated_weights_are_the_networks_params(case):
    b, net = case["bundle"], case["net"]
    assert net.step == STEPS
    for L in net.weighted_layers:
        for what, role in (("weight", "weight_updated"), ("momentum", "momentum_updated")):
            eq(b.get(STEPS - 1, "wu", L.name, role), net.params[f"{L.name}.{what}"], f"{L.name} {what}")
            for s in range(1, STEPS):  # state carries from step to step
                before = b.get(s, "fp" if what == "weight" else "wu", L.name, what)
                eq(before, b.get(s - 1, "wu", L.name, role), f"{L.name} {what} step {s}")


def test_manifest_records_the_run(case):
    m, net = case["bundle"].manifest, case["net"]
    assert m["schema"] == "fxtrain-vectors" and m["schema_version"] == 2
    assert m["contract_version"] == CONTRACT_VERSION
    assert m["model"] == case["start"] and m["model"]["step"] == 0
    assert m["plan"] == net.plan.to_json() and m["seeds"]["network"] == 7
    assert [s["step"] for s in m["steps"]] == list(range(STEPS))
    assert m["steps"][1]["images"] == [4, 5, 6, 7]
    for s, st in enumerate(m["steps"]):
        for li, L in enumerate(net.layers):
            if L.weighted:
                for role in ("activation", "local_gradient", "weight_gradient", "momentum", "update"):
                    assert st["sr_keys"][L.name][role] == sr_key(7, s, li, role)
                assert st["constants"][L.name] == case["runs"][s]["rec"]["constants"][L.name]
    plan = net.plan
    e = case["bundle"].entries
    assert e["step0/fp/conv1.pre_activation"]["format"] == str(plan["conv1"].activation.fmt)
    f_acc = plan["conv0"].activation.f + plan["conv1"].weight.f
    assert e["step0/fp/conv1.acc"]["format"] == f"Q{plan.acc('conv1', 'fp')}.{f_acc}"
    # the widths the words were made with: fpl19 exact conv sums, 32-bit FC; sr16 all 32
    want = {"fpl19": (64, 32)}.get(plan.recipe, (32, 32))
    assert (plan.acc("conv1", "fp"), plan.acc("fc", "wu")) == want
    assert e["step0/wu/fc.acc.g0"]["format"].startswith(f"Q{want[1]}.")
    assert e["step0/wu/fc.weight_gradient.g1"]["format"] == str(plan["fc"].weight_gradient.fmt)
    assert e["step0/wu/fc.lr_q"]["format"] == f"Q16.{plan['fc'].lr_frac}"
    assert e["step0/fp/relu0.mask"]["format"] == "mask" and e["step0/fp/relu0.mask"]["bits"] == 1
    assert e["step0/fp/pool0.argmax"]["format"] == "index" and e["step0/fp/pool0.argmax"]["bits"] == 2
    assert e["step0/fp/input.label"]["bits"] == 2  # 3 classes
    assert e["step0/bp/loss.loss_gradient"]["format"] == str(plan["fc"].activation.fmt)
    assert e["step0/bp/pool0.local_gradient"]["format"] == str(plan["fc0"].local_gradient.fmt)


def test_every_hex_file_parses_independently(case):
    """Read each .hex with int(line, 16) and two's complement by hand: equals the .npy."""
    b = case["bundle"]
    for e in b.manifest["tensors"]:
        lines = (b.path / e["files"]["hex"]["path"]).read_text().splitlines()
        assert all(len(t) == -(-e["bits"] // 4) for t in lines), e["name"]
        vals = [int(t, 16) for t in lines]
        if e["signed"]:
            vals = [v - (1 << e["bits"]) if v >> (e["bits"] - 1) else v for v in vals]
        npy = np.load(b.path / e["files"]["npy"]["path"], allow_pickle=False)
        assert vals == npy.reshape(-1).tolist(), e["name"]


def test_float64_networks_are_refused(tmp_path):
    net = Network(layers(), float64(fpl19(batch=BATCH)), SHAPE)
    x, y = data(0)
    with pytest.raises(ValueError, match="fixed-point recipe"):
        capture_step(net, x, y)
    assert net.step == 0


def test_bundle_network_writes_a_verified_bundle(tmp_path):
    net = make_net("fpl19")
    out = bundle_network(tmp_path / "b", net, list(batches(net))[:1], config={"note": "hand"})
    b = load_bundle(out)
    assert b.manifest["config"] == {"note": "hand"} and len(b.manifest["steps"]) == 1
    with pytest.raises(ValueError, match="no batches"):
        bundle_network(tmp_path / "c", net, [])
