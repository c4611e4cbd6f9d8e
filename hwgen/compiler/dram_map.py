"""The accelerator's DRAM address map: the one definition of where every tensor lives.

The program assembler (:mod:`hwgen.compiler.program`), the image packer and the
unpacker (:mod:`hwgen.compiler.image`) all call :func:`dram_map`; nothing else computes
an address. Words are 16 bits, addresses count words.

Tensors (``n`` = the network's layers, tensor ``i`` = the input of layer ``i``; tensor 0
is the batch, tensor ``n`` the logits), each a contiguous region, in this order:

==========================  ======================================  ==================
region                      contents                                layout
==========================  ======================================  ==================
``labels``                  the batch's class ids                   [B]
``act{i}``, i = 0..n        FP tensor i (act0 = the batch)          [B, C, H, W] / [B, F]
``labels@s``, ``act0@s``    step s's batch (s >= 1, several steps)  as above
``mask{li}``                ReLU li's derivative bits (0/1 words)   like its input
``arg{li}``                 MaxPool li's argmax (0..3; 4 where a    like its output
                            fused ReLU before it has mask 0 there)
``grad{i}``                 dL/d(tensor i), i > first weighted      like act{i}
``{L}.weight``              weights of layer L                      cyclic, P = POF
``{L}.momentum``            momentum of layer L                     cyclic, P = POF
``{L}.wgrad{g}``            weight gradient G_g of group g          cyclic, P = POF
==========================  ======================================  ==================

A Flatten layer's output is its input's region (``act{i+1}`` aliases ``act{i}``, and
``grad{i}`` aliases ``grad{i+1}``). "cyclic" is :class:`hwgen.layout.CyclicLayout` with
P = POF lanes, linear layers as [O, C, 1, 1]: ``dram[a*P + b]`` holds bank b, address a,
padding slots are zero. The weight-gradient regions of one layer follow each other, so
group g's starts at ``wgrad0 + g * words``.

Regions start at multiples of 16 words (a burst boundary), beginning at word 0.
"""
from __future__ import annotations

from dataclasses import dataclass

from hwgen.layout import CyclicLayout

ALIGN = 16


@dataclass(frozen=True)
class Region:
    """One tensor's words: ``base`` .. ``base + words``; ``shape`` is its logical shape and
    ``layout`` is None (row-major) or the :class:`CyclicLayout` of a weight-like tensor."""

    name: str
    base: int
    words: int
    shape: tuple
    layout: CyclicLayout | None = None


def layer_shapes(desc: dict) -> list[tuple]:
    """Tensor shapes (without the batch) of a ``Network.describe()`` dict: [in, out0, ...]."""
    shapes = [tuple(int(v) for v in desc["input_shape"])]
    for L in desc["layers"]:
        c = shapes[-1]
        t = L["type"]
        if t == "Conv2d":
            k, s, p = L["k"], L["stride"], L["pad"]
            shapes.append((L["out_ch"], (c[1] + 2 * p - k) // s + 1, (c[2] + 2 * p - k) // s + 1))
        elif t == "MaxPool2d":
            shapes.append((c[0], c[1] // L["k"], c[2] // L["k"]))
        elif t == "Flatten":
            n = 1
            for v in c:
                n *= v
            shapes.append((n,))
        elif t == "Linear":
            shapes.append((L["out_f"],))
        else:  # ReLU
            shapes.append(c)
    return shapes


def weight_layout(L: dict, pof: int) -> CyclicLayout:
    """The cyclic layout of a Conv2d or Linear layer's weights on POF banks."""
    if L["type"] == "Conv2d":
        return CyclicLayout(L["out_ch"], L["in_ch"], L["k"], pof)
    return CyclicLayout(L["out_f"], L["in_f"], 1, pof)


def first_weighted(desc: dict) -> int:
    return min(i for i, L in enumerate(desc["layers"]) if L["type"] in ("Conv2d", "Linear"))


def _size(shape: tuple) -> int:
    n = 1
    for v in shape:
        n *= v
    return n


def dram_map(desc: dict, pof: int, batch: int, groups: int, steps: int = 1) -> dict[str, Region]:
    """{region name: Region} for ``steps`` training steps of ``desc`` with ``batch`` images
    in ``groups`` on-chip groups on an array with ``pof`` filter lanes (see the module
    docstring; step s >= 1 reads its batch from ``act0@s`` and ``labels@s``). Every call
    with the same arguments returns the same map."""
    shapes = layer_shapes(desc)
    layers = desc["layers"]
    regions: dict[str, Region] = {}
    top = 0

    def add(name: str, shape: tuple, layout: CyclicLayout | None = None) -> None:
        nonlocal top
        words = layout.P * layout.depth if layout is not None else _size(shape)
        regions[name] = Region(name, top, words, shape, layout)
        top += -(-words // ALIGN) * ALIGN

    add("labels", (batch,))
    add("act0", (batch,) + shapes[0])
    for s in range(1, steps):
        add(f"labels@{s}", (batch,))
        add(f"act0@{s}", (batch,) + shapes[0])
    for i, L in enumerate(layers):
        if L["type"] == "Flatten":
            regions[f"act{i + 1}"] = Region(f"act{i + 1}", regions[f"act{i}"].base,
                                            regions[f"act{i}"].words, (batch,) + shapes[i + 1])
        else:
            add(f"act{i + 1}", (batch,) + shapes[i + 1])
        if L["type"] == "ReLU":
            add(f"mask{i}", (batch,) + shapes[i])
        elif L["type"] == "MaxPool2d":
            add(f"arg{i}", (batch,) + shapes[i + 1])
    fw = first_weighted(desc)
    n = len(layers)
    add(f"grad{n}", (batch,) + shapes[n])
    for i in range(n - 1, fw, -1):
        if layers[i]["type"] == "Flatten":
            r = regions[f"grad{i + 1}"]
            regions[f"grad{i}"] = Region(f"grad{i}", r.base, r.words, (batch,) + shapes[i])
        else:
            add(f"grad{i}", (batch,) + shapes[i])
    for L in layers:
        if L["type"] not in ("Conv2d", "Linear"):
            continue
        lay = weight_layout(L, pof)
        shape = (lay.O, lay.C, lay.K, lay.K) if L["type"] == "Conv2d" else (lay.O, lay.C)
        add(f"{L['name']}.weight", shape, lay)
        add(f"{L['name']}.momentum", shape, lay)
        for g in range(groups):
            add(f"{L['name']}.wgrad{g}", shape, lay)
    regions["_end"] = Region("_end", top, 0, ())
    return regions


def image_words(regions: dict[str, Region]) -> int:
    """Words the DRAM image spans (the end of the last region)."""
    return regions["_end"].base
