"""The accelerator's program, DRAM map and image without a simulator: the format round
trip, regions that never overlap, packing and unpacking, and clear refusals."""
from __future__ import annotations

import json

import numpy as np
import pytest

from fxtrain.nn.layers import Conv2d, Flatten, Linear, MaxPool2d, ReLU
from fxtrain.nn.network import Network
from fxtrain.nn.update import lr_constants
from fxtrain.presets import fpl19, sr16
from hwgen.compiler.build import compile_network
from hwgen.compiler.dram_map import dram_map
from hwgen.compiler.image import pack_image, unpack
from hwgen.compiler.program import DERIVED, FIELDS, OPCODES, assemble, decode_line


def net(layers=None, recipe=None, shape=(2, 8, 8)):
    layers = layers or [Conv2d("conv0", 2, 5), ReLU("relu0"), MaxPool2d("pool0", 2), Flatten("flatten"),
                        Linear("fc", 5 * 4 * 4, 3)]
    return Network(layers, recipe or fpl19(batch=4, groups=2), shape, seed=2, name="p")


def program(n, pof=4):
    c = {L.name: lr_constants(n.recipe, n.plan, n.plan[L.name]) for L in n.weighted_layers}
    return assemble(n.describe(), c, pof)


def test_every_instruction_round_trips_its_fields():
    prog, _ = program(net())
    assert prog[-1].op == "HALT" and {i.op for i in prog} <= set(OPCODES)
    for ins in prog:
        f = decode_line(ins.hex((3, 2, 4)))
        assert len(f) == FIELDS and f[0] & 0xFF == OPCODES[ins.op]
        assert (f[3], f[4], f[5], f[6]) == (ins.C, ins.H, ins.W, ins.O)
        assert f[15] == ins.shift & 0xFF and f[16] == ins.acc_bits
        derived = dict(zip(DERIVED, f[20:]))
        assert derived["hw"] == ins.H * ins.W and derived["cq_hw"] == -(-ins.C // 6) * ins.H * ins.W
        assert derived["wb"] == -(-ins.W // 3) and derived["hbwb"] == -(-ins.H // 2) * derived["wb"]
        assert derived["tc"] == -(-ins.C // 4) and derived["pof_kk_pof"] == 16 * ins.K * ins.K


def test_regions_are_aligned_and_disjoint_and_the_image_round_trips():
    n = net()
    regions = dram_map(n.describe(), 4, 4, 2, steps=2)
    spans = sorted((r.base, r.base + r.words, k) for k, r in regions.items()
                   if k not in ("_end", "act4", "grad3"))  # Flatten: act4 is act3, grad3 is grad4
    for (a0, a1, ka), (b0, b1, kb) in zip(spans, spans[1:]):
        assert a1 <= b0, (ka, kb)
    assert all(r.base % 16 == 0 for r in regions.values())
    assert regions["act4"].base == regions["act3"].base and regions["grad3"].base == regions["grad4"].base
    rng = np.random.default_rng(0)
    x = rng.integers(-30000, 30000, (4, 2, 8, 8)).astype(np.int16)
    y = rng.integers(0, 3, 4)
    img = pack_image(regions, n.state_dict(), x, y, regions["_end"].base)
    np.testing.assert_array_equal(unpack(regions, img, "act0"), x)
    for k in ("conv0.weight", "fc.weight", "fc.momentum"):
        np.testing.assert_array_equal(unpack(regions, img, k), n.params[k])


@pytest.mark.parametrize("layers,recipe,message", [
    ([Conv2d("conv0", 2, 4, k=3, stride=2, pad=1), Flatten("f"), Linear("fc", 64, 3)], None,
     "conv0: the accelerator builds 3x3 pad 1 and 1x1 pad 0 convolutions of stride 1"),
    ([Conv2d("conv0", 2, 4, k=5, pad=2), Flatten("f"), Linear("fc", 256, 3)], None, "k=5"),
    ([Conv2d("conv0", 2, 4), MaxPool2d("pool0", 4), Flatten("f"), Linear("fc", 16, 3)], None,
     "pool0: the accelerator builds 2x2 max-pooling"),
    (None, "sr16", "rounding 'stochastic' is not built in the accelerator"),
    (None, "shift", "requantization shift 56 .* outside the accelerator's -16..48"),
])
def test_unsupported_networks_are_refused_by_name(layers, recipe, message):
    if recipe == "sr16":
        rng = np.random.default_rng(0)
        n = net(recipe=sr16(batch=4, groups=2, calib=(rng.random((4, 2, 8, 8)), rng.integers(0, 3, 4))))
    else:
        n = net(layers)
    d = n.describe()
    if recipe == "shift":  # a plan whose conv0 output fraction sits 56 bits below its sum's
        d["plan"]["layers"]["conv0"]["activation"]["format"] = "Q16.-26"
    c = {L.name: lr_constants(n.recipe, n.plan, n.plan[L.name]) for L in n.weighted_layers}
    with pytest.raises(ValueError, match=message):
        assemble(d, c, 4)


def test_softmax_loss_and_bad_lanes_are_refused(tmp_path):
    n = net()
    d = n.describe()
    d["plan"]["loss"] = "softmax_xent"
    c = {L.name: lr_constants(n.recipe, n.plan, n.plan[L.name]) for L in n.weighted_layers}
    with pytest.raises(ValueError, match="squared hinge only"):
        assemble(d, c, 4)
    with pytest.raises(ValueError, match="--pof must be an integer in 1..64, got 0"):
        compile_network(n.describe(), tmp_path / "o", 2, 2, 0)
    (tmp_path / "keep").mkdir()
    (tmp_path / "keep" / "mine.txt").write_text("not an accelerator folder")
    with pytest.raises(ValueError, match="is not an hwgen compile folder"):
        compile_network(n.describe(), tmp_path / "keep", 2, 2, 2)
    assert (tmp_path / "keep" / "mine.txt").read_text() == "not an accelerator folder"
    assert json.dumps(d)  # the description stays plain JSON


@pytest.mark.parametrize("lanes,dw,expect", [
    ((4, 2, 4), 1, {}),  # one word per cycle: never a line
    # (pool0 loads relu0's mask into EBUF: its argmax carries it)
    ((4, 2, 4), 4, {("conv0", "CONV_FP"): 0b101, ("conv0", "CONV_WU"): 0b011, ("pool0", "POOL_Y"): 0b011,
                    ("fc", "CONV_FP"): 0b100}),
    ((3, 2, 4), 2, {("conv0", "CONV_FP"): 0b100,  # 2 does not divide POX = 3: pixel loads stay words
                    ("conv0", "CONV_WU"): 0b010,  # 6 XBUF banks are no power of two: not skewed
                    ("pool0", "POOL_Y"): 0b011}),
    ((4, 2, 4), 8, {("conv0", "CONV_FP"): 0b000,  # 8 divides neither POX nor POF
                    ("conv0", "CONV_WU"): 0b001,
                    ("pool0", "POOL_Y"): 0b001}),  # 8 words in XBUF's 8 banks, not in EBUF's 4
])
def test_wide_load_flags_follow_the_layout_rule(lanes, dw, expect):
    n = net()
    prog, _ = program(n, lanes[2])
    for ins in prog:
        flags = decode_line(ins.hex(lanes, dw))[0] >> 16 & 7
        assert flags == expect.get(ins.label and (ins.label[0], ins.op), flags if expect else 0), (ins.label, ins.op)
    # a base off the line is never wide, whatever the layout
    ins = next(i for i in prog if i.op == "POOL_Y")
    ins.src_a += 1
    assert decode_line(ins.hex(lanes, max(dw, 2)))[0] >> 16 & 1 == 0


def test_fusion_writes_the_same_regions_in_fewer_passes():
    n = net()
    c = {L.name: lr_constants(n.recipe, n.plan, n.plan[L.name]) for L in n.weighted_layers}
    fused, regions = assemble(n.describe(), c, 4)
    apart, _ = assemble(n.describe(), c, 4, fuse=False)
    ops = [i.op for i in fused]
    assert "RELU_Y" not in ops and "RELU_MASK" not in ops and "POOL_ARG" not in ops
    assert len(apart) == len(fused) + 4  # relu0's y, mask and BP, pool0's argmax
    fp = next(i for i in fused if i.op == "CONV_FP" and i.label[0] == "conv0")
    pool = next(i for i in fused if i.op == "POOL_Y")
    by_dst = {(i.op, i.dst) for i in apart}
    # the fused instructions write where the separate passes did
    assert ("RELU_Y", fp.dst) in by_dst and ("RELU_MASK", fp.aux) in by_dst
    assert ("POOL_Y", pool.dst) in by_dst and ("POOL_ARG", pool.aux) in by_dst
    assert (fp.dst, fp.aux) == (regions["act2"].base, regions["mask1"].base)
    for ins in (fp, pool):
        f = decode_line(ins.hex((4, 2, 4), 4))
        assert f[0] >> 21 & 1 == 1 and f[40] == ins.aux
    # relu0 precedes the pool: its argmax carries relu0's mask, so UNPOOL writes relu0's
    # gradient where RELU_BP did
    assert decode_line(pool.hex((4, 2, 4), 4))[0] >> 22 & 1 == 1 and pool.src_b == regions["mask1"].base
    unpool = next(i for i in fused if i.op == "UNPOOL")
    assert unpool.dst == next(i for i in apart if i.op == "RELU_BP").dst == regions["grad1"].base
    assert "RELU_BP" not in ops
    # the fc layer has no ReLU after it; a separate pass never sets the bit
    assert not next(i for i in fused if i.label == ("fc", "fp")).fused
    assert all(decode_line(i.hex((4, 2, 4)))[0] >> 21 & 1 == 0 for i in apart)
    # a second result off the line keeps the drain and the pool one word wide
    assert decode_line(fp.hex((4, 2, 4), 4))[0] >> 20 & 1 == 1
    fp.aux += 1
    pool.aux += 2
    assert decode_line(fp.hex((4, 2, 4), 4))[0] >> 20 & 1 == 0
    assert decode_line(pool.hex((4, 2, 4), 4))[0] >> 19 & 1 == 0


@pytest.mark.parametrize("lanes,dw,lines", [
    ((4, 2, 8), 4, True),    # 8 channel lanes divide POF = 8: a tile's channels fill one group
    ((2, 2, 8), 8, True),
    ((4, 2, 4), 4, False),   # 8 channel lanes span two groups of POF = 4
    ((3, 2, 4), 2, False),   # 6 does not divide 4
    ((4, 2, 8), 1, False),   # one word per line
])
def test_weight_gradient_drain_writes_lines_where_a_tile_fills_one_group(lanes, dw, lines):
    prog, _ = program(net(), lanes[2])
    wu = [i for i in prog if i.op == "CONV_WU"]
    assert wu and all(decode_line(i.hex(lanes, dw))[0] >> 20 & 1 == lines for i in wu)
    if lines:
        wu[0].dst += 1  # a gradient base off the line
        assert decode_line(wu[0].hex(lanes, dw))[0] >> 20 & 1 == 0


def test_a_relu_before_a_convolution_runs_in_its_bp_drain():
    n = net([Conv2d("conv0", 2, 4), ReLU("relu0"), Conv2d("conv1", 4, 4), ReLU("relu1"),
             Flatten("flatten"), Linear("fc", 4 * 8 * 8, 3)])
    c = {L.name: lr_constants(n.recipe, n.plan, n.plan[L.name]) for L in n.weighted_layers}
    fused, regions = assemble(n.describe(), c, 4)
    apart, _ = assemble(n.describe(), c, 4, fuse=False)
    bp = next(i for i in fused if i.label == ("conv1", "bp"))
    relu_bp = next(i for i in apart if i.label == ("relu0", "bp"))
    # conv1's BP writes relu0's gradient, the product of its own and relu0's mask, which it
    # loads per image from where FP wrote it
    assert bp.fused and (bp.dst, bp.aux) == (relu_bp.dst, relu_bp.src_b) == (regions["grad1"].base,
                                                                            regions["mask1"].base)
    assert bp.e_len == relu_bp.e_len == 4 * 8 * 8
    assert [i.label for i in fused if i.op == "RELU_BP"] == [("relu1", "bp")]  # relu1 precedes a Flatten
    # the mask's 4 words of a row must lie in distinct EBUF banks for a line drain
    assert decode_line(bp.hex((4, 2, 4), 4))[0] >> 17 & 0b1001 == 0b1001
    assert decode_line(bp.hex((4, 2, 2), 4))[0] >> 17 & 0b1001 == 0
