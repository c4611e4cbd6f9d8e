"""The compiler's resource model against ``yosys synth_xilinx``: DSPs and BRAM18 of
generated accelerator tops (the whole accel_core, version-2 controller).

    python benchmarks/accel_synth.py [--configs 1x1x2,2x2x2,4x2x4,4x2x4/4] [--family xc7]

A configuration is POXxPOYxPOF, optionally /DW (DRAM words per line, default 1). Each
compiles a small network (``hwgen compile`` with explicit lanes, so its buffers are what
that network needs: XBUF and EBUF banks of at least 256 words, weight banks of at least
128) and synthesizes
the top out of context. Prints a Markdown table: the model's DSP and BRAM18 counts
(hwgen.compiler.resources) beside yosys' counts, the LUTs, and the synthesis time.
Synthesis time grows with the lanes (about 45 s for 3 DSPs here).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fxtrain.nn.layers import Conv2d, Flatten, Linear, MaxPool2d, ReLU  # noqa: E402
from fxtrain.nn.network import Network  # noqa: E402
from fxtrain.presets import fpl19  # noqa: E402
from hwgen import checks  # noqa: E402
from hwgen.compiler.build import compile_network  # noqa: E402
from hwgen.compiler.resources import resources  # noqa: E402


def network(channels: int, side: int) -> Network:
    """conv 1 -> channels on side x side, ReLU, pool, FC to 4 classes (batch 2, 1 group)."""
    layers = [Conv2d("conv0", 1, channels), ReLU("relu0"), MaxPool2d("pool0", 2), Flatten("flatten"),
              Linear("fc", channels * (side // 2) ** 2, 4)]
    return Network(layers, fpl19(batch=2, groups=1), (1, side, side), name=f"syn{channels}x{side}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--configs", default="1x1x2,2x2x2,4x2x4,4x2x4/4", help="POXxPOYxPOF[/DW] list")
    ap.add_argument("--family", default="xc7")
    a = ap.parse_args(argv)
    if checks.shutil.which("yosys") is None:
        ap.error("yosys is not installed (apt-get install yosys)")
    print("| POX x POY x POF | DW | network | banks x words: XBUF / EBUF / WBUF | DSP model | DSP yosys | "
          "BRAM18 model | BRAM18 yosys | LUT yosys | LUT estimate | synth s |")
    print("| --- | ---: | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for cfg in a.configs.split(","):
        lanes, _, dw = cfg.lower().partition("/")
        pox, poy, pof = (int(v) for v in lanes.split("x"))
        dw = int(dw or 1)
        net = network(max(2, pof), 8 if pox * poy > 1 else 4)
        with tempfile.TemporaryDirectory(prefix="accel-synth-") as tmp:
            c = compile_network(net.describe(), Path(tmp) / "top", pox, poy, pof, dram_words=dw)
            files = (Path(tmp) / "top" / "files.f").read_text().split()
            t = time.perf_counter()
            rep = checks.synth_files("accel_top", files, a.family)
            secs = time.perf_counter() - t
        p = c["params"]
        model = resources(p)
        print(f"| {pox} x {poy} x {pof} | {dw} | {net.name} | {pox * poy}x{p['XBUF_DEPTH']} / "
              f"{pof}x{p['EBUF_DEPTH']} / {pof}x{p['WBUF_DEPTH']} | {model.dsp} | {rep.dsp} | {model.bram_blocks} | {rep.bram18} | "
              f"{rep.lut} | {model.lut_estimate} | {secs:.0f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
