"""Cyclic bank images of a vector bundle's weights: ``hwgen banks BUNDLE --lanes P``.

Reads a bundle written by ``fxtrain vectors`` (verifying it), lays every weight-shaped
tensor out on P banks with :mod:`hwgen.layout` (the one definition of the cyclic
storage) and adds, under ``banks/P{P}/``, for each source tensor ``NAME``:

- ``banks/P{P}/NAME.bank{b}`` (``b = 0..P-1``): bank b's words, address order,
  ``[depth]`` (``hwgen.layout.bank_images(W, P)[b]``), one ``$readmemh`` file per BRAM;
- ``banks/P{P}/NAME.dram``: the flat DRAM image ``dram[a*P + b] = bank b, address a``.

Each is a regular bundle tensor (``.npy`` + ``.hex``, checksums in the manifest) with the
source's step/phase/layer/role and a ``layout`` field
``{"kind": "cyclic_bank" | "cyclic_dram", "lanes": P, "bank": b, "depth": ...,
"source": NAME, "weight_shape": [O, C, K, K]}``. FC weights ``[out, in]`` are laid out as
``[out, in, 1, 1]`` (K = 1). Default sources: the weights and momenta before and after
the step (roles weight, weight_updated, momentum, momentum_updated); ``--roles`` may
add momentum_accumulated and weight_gradient (per group).

This lives in hwgen because fxtrain never imports hwgen (DESIGN.md): the bundle format
is fxtrain's (``fxtrain.vectors.extend_bundle`` adds the files atomically), the layout
is hwgen's.
"""
from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Sequence

if TYPE_CHECKING:  # imported where used, so that `hwgen --help` stays fast
    from fxtrain.vectors.bundle import Bundle, Tensor

DEFAULT_ROLES = ("weight", "weight_updated", "momentum", "momentum_updated")
#: roles whose tensors have the layer's weight shape (``acc`` only in phase wu)
WEIGHT_ROLES = DEFAULT_ROLES + ("momentum_accumulated", "weight_gradient")


def bank_tensors(bundle: Bundle, lanes: int, roles: Sequence[str] = DEFAULT_ROLES) -> list[Tensor]:
    """Bank and DRAM image tensors of every row-major tensor with a role in ``roles``."""
    from fxtrain.vectors.bundle import Tensor
    from fxtrain.vectors.words import WordFormat

    from .layout import CyclicLayout

    if isinstance(lanes, bool) or not isinstance(lanes, int) or lanes < 1:
        raise ValueError(f"lanes must be an integer >= 1, got {lanes!r}")
    bad = set(roles) - set(WEIGHT_ROLES)
    if bad:
        raise ValueError(f"roles {sorted(bad)} are not weight-shaped; choose from {list(WEIGHT_ROLES)}")
    rows = [e for e in bundle.manifest["tensors"] if e["layout"] is None]
    wshape = {(e["step"], e["layer"]): e["shape"] for e in rows if e["role"] == "weight"}
    out: list[Tensor] = []
    for e in rows:
        if e["role"] not in roles:
            continue
        if e["shape"] != wshape.get((e["step"], e["layer"])) or len(e["shape"]) not in (2, 4):
            raise ValueError(f"{e['name']}: shape {e['shape']} is not the layer's weight shape "
                             f"{wshape.get((e['step'], e['layer']))}")
        W = bundle[e["name"]]
        if W.ndim == 2:
            W = W.reshape(*W.shape, 1, 1)
        lay = CyclicLayout.for_weights(W, lanes)
        images = lay.bank_images(W)
        fmt = WordFormat.from_json(e)
        base = f"banks/P{lanes}/{e['name']}"
        common = {"lanes": lanes, "depth": lay.depth, "source": e["name"], "weight_shape": list(W.shape)}
        src = dict(fmt=fmt, step=e["step"], phase=e["phase"], layer=e["layer"], role=e["role"],
                   group=e["group"])
        for b in range(lanes):
            out.append(Tensor(f"{base}.bank{b}", images[b], layout={"kind": "cyclic_bank", "bank": b,
                                                                    **common}, **src))
        out.append(Tensor(f"{base}.dram", lay.dram_image(images), layout={"kind": "cyclic_dram", **common},
                          **src))
    if not out:
        raise ValueError(f"the bundle has no tensors with roles {list(roles)}")
    return out


def add_banks(bundle_dir, lanes: int, roles: Sequence[str] = DEFAULT_ROLES, overwrite: bool = False) -> Bundle:
    """Add ``banks/P{lanes}/`` to the bundle at ``bundle_dir`` atomically; returns the
    re-verified bundle. ``overwrite`` replaces an existing ``banks/P{lanes}``."""
    from fxtrain.vectors.bundle import extend_bundle, load_bundle

    b = load_bundle(bundle_dir)
    tensors = bank_tensors(b, lanes, roles)
    addition = {"tool": "hwgen banks", "lanes": lanes, "roles": list(roles),
                "layout": "hwgen.layout.CyclicLayout: bank = (o + c) mod P"}
    return extend_bundle(b.path, tensors, f"banks/P{lanes}", addition, overwrite=overwrite)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("bundle", metavar="BUNDLE_DIR", help="a bundle written by `fxtrain vectors`")
    p.add_argument("--lanes", "-L", type=int, required=True, metavar="P", help="lanes = banks")
    p.add_argument("--roles", default=",".join(DEFAULT_ROLES),
                   help=f"comma-separated tensor roles to lay out (default {','.join(DEFAULT_ROLES)})")
    p.add_argument("--force", action="store_true", help="replace an existing banks/P{P}")


def run(args: argparse.Namespace) -> int:
    """Execute parsed ``banks`` arguments; exit status 0 ok, 2 on bad input."""
    from fxtrain.vectors.bundle import BundleError

    roles = tuple(r for r in args.roles.split(",") if r)
    try:
        b = add_banks(args.bundle, args.lanes, roles, overwrite=args.force)
    except (BundleError, ValueError, FileExistsError, FileNotFoundError) as exc:
        print(f"hwgen banks: error: {exc}", file=sys.stderr)
        return 2
    n = sum(1 for e in b.manifest["tensors"] if e["name"].startswith(f"banks/P{args.lanes}/"))
    print(f"{b.path}: wrote {n} bank/DRAM image tensors under banks/P{args.lanes}/")
    return 0


def register(sub) -> None:
    """Add the ``banks`` subcommand to an argparse subparsers object."""
    p = sub.add_parser("banks", help="cyclic bank and DRAM images of a vector bundle's weights")
    add_arguments(p)
    p.set_defaults(func=run)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m hwgen.bundle_banks", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(p)
    return run(p.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
