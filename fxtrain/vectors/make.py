"""Make a vector bundle: from any network and batches, or from a training configuration.

:func:`bundle_network` captures steps of a network you built yourself;
:func:`make_bundle` builds the model exactly like ``fxtrain train`` (same weights, same
sr16 calibration, same batch order), so step ``k`` of the bundle is step ``k`` of
``fxtrain train`` with the same flags (epoch 0's ``k``-th batch of
``shuffle_order(n, seed, 0)``).
"""
from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np

from .. import __version__
from ..data import shuffle_order
from ..train.loop import TrainConfig, build_network, load_data, prepare
from .bundle import Tensor, write_bundle
from .capture import capture_step


def capture_steps(net, batches: Iterable[tuple]) -> tuple[list[Tensor], dict]:
    """Capture one training step per ``(x, labels)`` or ``(x, labels, image_ids)`` batch
    (``x`` quantized); returns (tensors, metadata for :func:`write_bundle`)."""
    model = net.describe()  # before the first step: the state the vectors start from
    tensors, steps = [], []
    for b in batches:
        x, y = b[0], b[1]
        t, meta = capture_step(net, x, y)
        if len(b) > 2:
            meta["images"] = [int(i) for i in np.asarray(b[2]).reshape(-1)]
        tensors += t
        steps.append(meta)
    if not steps:
        raise ValueError("no batches to capture")
    meta = {"fxtrain_version": __version__, "model": model, "plan": net.plan.to_json(),
            "seeds": {"network": net.seed, "sr_key_seed": net.seed}, "steps": steps}
    return tensors, meta


def bundle_network(out: str | os.PathLike, net, batches: Iterable[tuple], config: dict | None = None,
                   overwrite: bool = False) -> Path:
    """Capture ``batches`` on ``net`` (see :func:`capture_steps`) and write the bundle to ``out``."""
    tensors, meta = capture_steps(net, batches)
    meta["config"] = config
    return write_bundle(out, meta, tensors, overwrite=overwrite)


def make_bundle(out: str | os.PathLike, *, model: str = "cnn1x", recipe: str = "fpl19", batch: int = 4,
                groups: int = 1, seed: int = 0, data: str = "embedded", data_dir: str | None = None,
                image_size: int = 32, steps: int = 1, lr: float = 0.01, momentum: float = 0.5,
                limit_train: int | None = None, overwrite: bool = False) -> Path:
    """The first ``steps`` training steps of ``fxtrain train`` with these settings, as a bundle."""
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps!r}")
    cfg = TrainConfig(model=model, recipe=recipe, dataset=data, data_dir=data_dir, image_size=image_size,
                      epochs=1, batch=batch, groups=groups, lr=lr, momentum=momentum, seed=seed,
                      limit_train=limit_train)
    train, _ = load_data(cfg)
    if steps * batch > len(train):
        raise ValueError(f"{steps} steps of batch {batch} need {steps * batch} training images, "
                         f"the data has {len(train)}")
    net = build_network(cfg, train)
    order = shuffle_order(len(train), cfg.seed, 0)

    def batches():
        for k in range(steps):
            idx = order[k * batch:(k + 1) * batch]
            sub = replace(train, x=train.x[idx], y=train.y[idx])
            yield net.quantize_input(prepare(sub, cfg.image_size)), sub.y, idx

    tensors, meta = capture_steps(net, batches())
    meta["config"] = {**asdict(cfg), "steps": steps, "data_order": "shuffle_order(len(train), seed, 0)"}
    meta["seeds"]["data_order"] = cfg.seed
    return write_bundle(out, meta, tensors, overwrite=overwrite)
