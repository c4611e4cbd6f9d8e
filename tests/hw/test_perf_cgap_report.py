"""`hwgen perf` reads the report of a real `fxtrain cgap` run (the join DESIGN.md asks
for: fxtrain writes plain JSON, hwgen costs it)."""
import json

from fxtrain.cli import main as fxtrain_main
from hwgen.cli import main as hwgen_main
from hwgen.perf import ArrayConfig, load_descriptions, network_cost


def test_hwgen_perf_costs_every_phase_of_a_cgap_run(tmp_path, capsys):
    out = tmp_path / "run"
    assert fxtrain_main(["cgap", "--model", "lenet", "--image-size", "28", "--limit-train", "80",
                         "--limit-test", "40", "--batch", "20", "--epochs", "3", "--grow-every", "1",
                         "--grow-epochs", "1", "--prune-epoch", "2", "--no-plot", "--quiet",
                         "--out", str(out)]) == 0
    report = out / "report.json"
    phases = load_descriptions(report)
    assert {"seed", "peak", "pruned", "final"} <= set(phases)
    macs = {k: network_cost(v, ArrayConfig(), batch=20)["total"]["train"]["macs"] for k, v in phases.items()}
    assert macs["seed"] < macs["peak"] and macs["pruned"] < macs["peak"]
    rep = json.loads(report.read_text())
    for k in phases:  # the engine's MAC count and the cost model's agree
        assert macs[k] == 20 * rep["phase_reports"][k]["total"]["macs"]["train"]
    capsys.readouterr()
    assert hwgen_main(["perf", "--describe", str(report), "--batch", "20"]) == 0
    text = capsys.readouterr().out
    for k in ("seed", "peak", "pruned", "final"):
        assert k in text
