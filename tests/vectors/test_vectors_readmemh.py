"""The .hex files load into a real simulator's $readmemh with the .npy's values
(Icarus Verilog, skipped where it is not installed)."""
import shutil
import subprocess

import numpy as np
import pytest

from fxtrain.nn import Conv2d, Flatten, Linear, MaxPool2d, Network, ReLU
from fxtrain.presets import fpl19
from fxtrain.vectors.make import bundle_network
from hwgen.bundle_banks import add_banks

pytestmark = pytest.mark.skipif(shutil.which("iverilog") is None, reason="iverilog not installed")

PICK = ["step0/fp/conv0.pre_activation", "step0/fp/conv0.acc", "step0/fp/relu0.mask", "step0/fp/pool0.argmax",
        "step0/bp/loss.loss_gradient", "step0/wu/fc.lr_q", "banks/P3/step0/fp/conv0.weight.bank2"]


def _tb(bundle, entries) -> str:
    lines = ["module tb;", "integer i;"]
    body = []
    for k, e in enumerate(entries):
        n = max(1, int(np.prod(e["shape"])))
        sign = "signed " if e["signed"] else ""
        lines.append(f"reg {sign}[{e['bits'] - 1}:0] m{k} [0:{n - 1}];")
        body += [f'  $readmemh("{bundle / e["files"]["hex"]["path"]}", m{k});',
                 f'  for (i = 0; i < {n}; i = i + 1) $display("{k} %0d", m{k}[i]);']
    return "\n".join(lines + ["initial begin", *body, "  $finish;", "end", "endmodule", ""])


def test_icarus_reads_the_hex_files(tmp_path):
    layers = [Conv2d("conv0", 1, 3, 3, 1, 1), ReLU("relu0"), MaxPool2d("pool0", 2), Flatten("flatten"),
              Linear("fc", 12, 3)]
    net = Network(layers, fpl19(lr=0.05, batch=2), (1, 4, 4), seed=2)
    x = net.quantize_input(np.random.default_rng(1).uniform(-1, 1, (2, 1, 4, 4)))
    path = bundle_network(tmp_path / "b", net, [(x, np.array([1, 2]))])
    b = add_banks(path, 3)
    entries = [b.entries[n] for n in PICK]
    assert any(int(b[n].min()) < 0 for n in PICK)  # negative words are exercised
    (tmp_path / "tb.v").write_text(_tb(path, entries))
    subprocess.run(["iverilog", "-g2005", "-o", str(tmp_path / "tb"), str(tmp_path / "tb.v")], check=True,
                   capture_output=True)
    out = subprocess.run(["vvp", "-n", str(tmp_path / "tb")], check=True, capture_output=True, text=True).stdout
    got: dict[int, list[int]] = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0].isdigit():
            got.setdefault(int(parts[0]), []).append(int(parts[1]))
    for k, name in enumerate(PICK):
        assert got[k] == b[name].reshape(-1).tolist(), name
