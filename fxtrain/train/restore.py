"""A network rebuilt from its checkpoint alone, and ``fxtrain eval`` on top of it.

Evaluation trusts the checkpoint, not the training data: the model, its input shape and
class count, and every fraction of the plan come from the checkpoint's metadata. A
calibrated recipe (sr16) is therefore never recalibrated, the training split is never
read, and the rebuilt plan is compared with the stored one field by field.
"""
from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import numpy as np

from ..data import Dataset, load_dataset
from ..nn.models import MODELS
from ..nn.network import Network
from ..nn.presets import float64
from ..nn.recipe import Plan
from .checkpoint import load_checkpoint
from .loop import TrainConfig, evaluate, make_recipe, prepare


def _fracs_of(plan: Plan) -> dict[str, dict[str, int]]:
    """The calibrated fractions that bind to ``plan`` again (see fxtrain.nn.plan.bind)."""
    fr = {"input": {"activation": plan.input.f}}
    for name, lp in plan.layers.items():
        fr[name] = {"weight": lp.weight.f, "activation": lp.activation.f,
                    "weight_gradient": lp.weight_gradient.f, "local_gradient": lp.local_gradient.f}
    return fr


def _shapes(arrays: dict, meta: dict, cfg: TrainConfig) -> tuple[tuple[int, int, int], int]:
    if "input_shape" in meta and "num_classes" in meta:
        c, h, w = (int(v) for v in meta["input_shape"])
        return (c, h, w), int(meta["num_classes"])
    # checkpoints written before the shapes were stored: read them off the weights
    weights = [k for k in arrays if k.endswith(".weight")]
    first = next((arrays[k] for k in weights if arrays[k].ndim == 4), None)
    last = arrays[weights[-1]] if weights else None
    if first is None or last is None or last.ndim != 2 or not cfg.image_size:
        raise ValueError("the checkpoint does not record its input shape and it cannot be "
                         "read off its weights")
    return (int(first.shape[1]), cfg.image_size, cfg.image_size), int(last.shape[0])


def network_from_checkpoint(arrays: dict[str, np.ndarray], meta: dict) -> tuple[TrainConfig, Network]:
    """(config, network with the checkpoint's plan and parameters) without any data."""
    try:
        cfg = TrainConfig(**meta["config"])
        plan = Plan.from_json(meta["plan"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"checkpoint metadata unusable: {type(exc).__name__}: {exc}") from None
    (c, h, _), k = _shapes(arrays, meta, cfg)
    recipe = make_recipe(cfg)
    if recipe.frac_rule == "calibrated":
        recipe = replace(recipe, fracs=_fracs_of(plan))
    if cfg.float64:
        recipe = float64(recipe)
    net = MODELS[cfg.model](in_channels=c, image_size=h, num_classes=k, recipe=recipe, seed=cfg.seed)
    if net.plan.to_json() != meta["plan"]:
        raise ValueError(f"the {cfg.recipe} recipe of this fxtrain binds to another plan than the "
                         "checkpoint's (written by an incompatible version?)")
    net.load_state_dict(arrays)
    return cfg, net


def evaluate_checkpoint(path: str | os.PathLike, data: str | None = None,
                        data_dir: str | os.PathLike | None = None) -> dict:
    """Test accuracy and loss of checkpoint ``path`` on the test split of ``data`` (default:
    the run's dataset) from ``data_dir`` (default: the run's folder, stored absolute)."""
    arrays, meta = load_checkpoint(path)
    cfg, net = network_from_checkpoint(arrays, meta)
    name = data or cfg.dataset
    folder = data_dir if data_dir is not None else (cfg.data_dir if name == cfg.dataset else None)
    test: Dataset = load_dataset(name, "test", folder)
    if cfg.limit_test and data is None:
        test = test.take(cfg.limit_test)
    x = prepare(test, cfg.image_size)
    if x.shape[1:] != net.input_shape:
        raise ValueError(f"{name} test images are {list(x.shape[1:])}, the network takes "
                         f"{list(net.input_shape)}")
    if test.num_classes != net.num_classes:
        raise ValueError(f"{name} has {test.num_classes} classes, the network {net.num_classes}")
    ev = evaluate(net, x, test.y)
    return {"checkpoint": str(Path(path)), "model": cfg.model, "recipe": cfg.recipe,
            "epoch": meta.get("epoch"), "dataset": name, "images": len(test), **ev}
