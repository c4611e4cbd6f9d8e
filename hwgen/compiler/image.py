"""DRAM images: pack a network's state and a batch into words, unpack words into tensors.

Both follow :func:`hwgen.compiler.dram_map.dram_map`; weight-like tensors go through
:class:`hwgen.layout.CyclicLayout` (``bank_images`` then ``dram_image``, and back).
"""
from __future__ import annotations

import numpy as np

from fxtrain.nn.layers import Conv2d, Flatten, Linear, MaxPool2d, ReLU
from fxtrain.nn.network import Network
from fxtrain.nn.recipe import Plan
from fxtrain.presets import fpl19
from fxtrain.vectors.words import WordFormat, decode_hex, encode_hex

from .dram_map import Region

_LAYERS = {"Conv2d": Conv2d, "Linear": Linear, "ReLU": ReLU, "MaxPool2d": MaxPool2d, "Flatten": Flatten}


def network_from_describe(desc: dict) -> Network:
    """A fixed-point Network with the layers, seed, hyper-parameters and plan of a
    ``Network.describe()`` dict (its weights are the seed's initialisation)."""
    try:
        layers = []
        for d in desc["layers"]:
            kw = {k: v for k, v in d.items() if k != "type"}
            cls = _LAYERS.get(d["type"])
            if cls is None:
                raise ValueError(f"layer type {d['type']!r} is not supported")
            layers.append(cls(**kw))
        h = desc["hyper"]
        recipe = fpl19(lr=float(h["lr"]), momentum=float(h["momentum"]), batch=int(h["batch"]),
                       groups=int(h["groups"]), lr_start=float(h["lr_start"]))
        plan = Plan.from_json(desc["plan"])
    except (KeyError, TypeError) as exc:
        raise ValueError(f"not a Network.describe() dict: {type(exc).__name__}: {exc}") from None
    if plan.float64:
        raise ValueError("a float64 plan has no fixed-point hardware")
    net = Network(layers, recipe, tuple(desc["input_shape"]), seed=int(desc.get("seed", 0)),
                  name=str(desc.get("name", "net")))
    if net.plan.to_json() != plan.to_json():
        net.plan = plan  # any fixed-point plan: the step reads net.plan only
    net.step = int(desc.get("step", 0))
    return net


def _weight_words(r: Region, W: np.ndarray) -> np.ndarray:
    W4 = W.reshape(r.layout.O, r.layout.C, r.layout.K, r.layout.K)
    return r.layout.dram_image(r.layout.bank_images(W4))


def pack_image(regions: dict[str, Region], state: dict, x: np.ndarray, labels: np.ndarray,
               words: int) -> np.ndarray:
    """uint16 DRAM image of ``words`` words: weights and momenta from ``state`` (cyclic),
    the batch ``x`` (int16 [B, C, H, W]) and ``labels``; everything else zero."""
    img = np.zeros(words, dtype=np.uint16)

    def put(r: Region, flat: np.ndarray) -> None:
        if flat.size != r.words:
            raise ValueError(f"{r.name}: {flat.size} words do not fill its {r.words}-word region")
        img[r.base:r.base + r.words] = flat.astype(np.int64).astype(np.uint16)

    put(regions["act0"], np.asarray(x).reshape(-1))
    put(regions["labels"], np.asarray(labels).reshape(-1))
    for name, r in regions.items():
        if r.layout is not None and (name.endswith(".weight") or name.endswith(".momentum")):
            put(r, _weight_words(r, np.asarray(state[name])))
    return img


def unpack(regions: dict[str, Region], img: np.ndarray, name: str) -> np.ndarray:
    """The int16 tensor of region ``name`` from a DRAM image (weights back to [O, C, ...])."""
    r = regions[name]
    flat = np.asarray(img[r.base:r.base + r.words]).astype(np.uint16).view(np.int16)
    if r.layout is None:
        return flat.reshape(r.shape)
    return r.layout.weights(r.layout.banks_from_dram(flat)).reshape(r.shape)


#: a DRAM word as the bundle format's raw unsigned 16-bit word (fxtrain.vectors.words)
DRAM_WORD = WordFormat("index", 16)


def read_hex_words(path, count: int) -> np.ndarray:
    """The first ``count`` words of a ``$writememh`` dump as uint16 (Icarus's "// 0x..."
    address lines are dropped; anything else that is not a 4-digit word, e.g. an undefined
    'xxxx', is a ValueError naming the line)."""
    with open(path, "rb") as fh:
        lines = [ln.strip() for ln in fh if not ln.lstrip().startswith(b"//") and ln.strip()]
    if len(lines) < count:
        raise ValueError(f"{path}: {len(lines)} words, expected {count}")
    return decode_hex(b"".join(ln.lower() + b"\n" for ln in lines[:count]), DRAM_WORD, count, str(path))


def write_hex_words(path, img: np.ndarray) -> None:
    """``$readmemh`` text of uint16 words, one per line (fxtrain.vectors.words.encode_hex)."""
    with open(path, "wb") as fh:
        fh.write(encode_hex(np.asarray(img, dtype=np.uint16), DRAM_WORD))
