"""The training loop: data order, LR schedule, evaluation, per-epoch checkpoints, resume.

Reproducibility: the batch order of epoch e is ``shuffle_order(n, seed, e)``, weights come
from ``seed``, stochastic-rounding keys from (seed, step, layer, role). A run stopped after
any epoch and resumed from its checkpoint therefore ends bit-identical to an
uninterrupted run (tests/train/test_resume.py proves it).
"""
from __future__ import annotations

import hashlib
import math
import os
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from ..data import Dataset, load_dataset, pad_to, shuffle_order, to_unit_float
from ..data.load import DATASET_NAMES
from ..nn.losses import loss_and_grad
from ..nn.models import MODELS
from ..nn.network import Network
from ..failpoint import failpoint
from ..nn.presets import PRESETS, float64
from .checkpoint import load_checkpoint, save_checkpoint
from .progress import Progress
from .rundir import RunDir


@dataclass
class TrainConfig:
    """Everything that defines a run (stored in every checkpoint)."""

    model: str = "cnn1x"
    recipe: str = "fpl19"
    float64: bool = False
    dataset: str = "embedded"
    data_dir: str | None = None
    image_size: int = 32
    epochs: int = 1
    batch: int = 40
    groups: int = 1
    lr: float = 0.01
    momentum: float = 0.5
    #: "constant", "step:EVERY:GAMMA" (lr *= GAMMA every EVERY epochs) or "cosine"
    schedule: str = "constant"
    seed: int = 0
    limit_train: int | None = None
    limit_test: int | None = None
    #: kept so that checkpoints written before contract 1.1 still load; accumulator
    #: overflows are now always counted (per layer and phase), so it has no effect
    count_accumulator_overflow: bool = False
    #: the calibrated recipe's word length, update rounding and overflow
    #: (fxtrain.presets.calibrated); the other recipes take the defaults only
    word: int = 16
    update_rounding: str = "stochastic"
    overflow: str = "saturate"
    #: the fixed recipes (fpl19, sr16): overflow of the momentum and weight update words,
    #: "saturate" or "wrap" (None: the recipe's own; fpl19 wraps, as the hardware does)
    update_overflow: str | None = None

    def __post_init__(self) -> None:
        if self.model not in MODELS:
            raise ValueError(f"unknown model {self.model!r}; expected one of {sorted(MODELS)}")
        if self.recipe not in PRESETS:
            raise ValueError(f"unknown recipe {self.recipe!r}; expected one of {sorted(PRESETS)}")
        if self.dataset not in DATASET_NAMES:
            raise ValueError(f"unknown dataset {self.dataset!r}; expected one of {DATASET_NAMES}")
        for what, v, lo in (("epochs", self.epochs, 0), ("batch", self.batch, 1),
                            ("groups", self.groups, 1), ("image_size", self.image_size, 0),
                            ("seed", self.seed, 0)):
            if not _is_int(v) or v < lo:
                raise ValueError(f"{what} must be an integer >= {lo}, got {v!r}")
        for what, v in (("limit_train", self.limit_train), ("limit_test", self.limit_test)):
            if v is not None and (not _is_int(v) or v < 1):
                raise ValueError(f"{what} must be a positive number of images (leave it unset "
                                 f"for all of them), got {v!r}")
        if not (_is_real(self.lr) and math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"lr must be a finite number > 0, got {self.lr!r}")
        if not (_is_real(self.momentum) and 0 <= self.momentum < 1):
            raise ValueError(f"momentum must lie in [0, 1), got {self.momentum!r}")
        if self.update_overflow is not None:
            if self.update_overflow not in ("saturate", "wrap"):
                raise ValueError(f"update_overflow must be 'saturate' or 'wrap', got {self.update_overflow!r}")
            if self.recipe == "calibrated":
                raise ValueError("update_overflow is for the fixed recipes; the calibrated recipe "
                                 "sets every role's overflow with overflow")
        if self.data_dir is not None:
            # stored absolute, so that eval from another working directory finds the data
            self.data_dir = os.path.abspath(os.fspath(self.data_dir))
        if self.recipe != "calibrated" and (self.word, self.update_rounding, self.overflow) != \
                (16, "stochastic", "saturate"):
            raise ValueError(f"word, update_rounding and overflow apply to the calibrated recipe only "
                             f"(recipe {self.recipe!r} fixes its own)")
        lr_at(self, 0)  # validates the schedule
        make_recipe(self)  # validates word, rounding and overflow

    def run_key(self) -> dict:
        """The fields a resumed run must share with the original: all but ``epochs`` (unless
        the schedule depends on it, as cosine does) and ``data_dir`` (the data are compared
        by digest instead, so a moved dataset still resumes)."""
        d = asdict(self)
        if self.schedule != "cosine":
            d.pop("epochs")
        d.pop("data_dir")
        d.pop("count_accumulator_overflow")
        return d


def _is_int(v) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


def _is_real(v) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)


def lr_at(cfg: TrainConfig, epoch: int) -> float:
    """Learning rate of ``epoch`` (0-based) under ``cfg.schedule``."""
    s = cfg.schedule
    if s == "constant":
        return cfg.lr
    if s == "cosine":
        total = max(cfg.epochs, 1)
        return cfg.lr * 0.5 * (1 + math.cos(math.pi * epoch / total))
    if s.startswith("step:"):
        try:
            _, every, gamma = s.split(":")
            every, gamma = int(every), float(gamma)
        except ValueError:
            raise ValueError(f"bad schedule {s!r}; expected step:EVERY:GAMMA, e.g. step:2:0.5") from None
        if every < 1 or not (math.isfinite(gamma) and gamma > 0):
            raise ValueError(f"bad schedule {s!r}: EVERY >= 1 and a finite GAMMA > 0 required")
        return cfg.lr * gamma ** (epoch // every)
    raise ValueError(f"unknown schedule {s!r}; expected constant, cosine or step:EVERY:GAMMA")


def prepare(ds: Dataset, size: int) -> np.ndarray:
    """uint8 images -> floats in [0, 1), zero-padded to ``size`` (exact in Q16.15)."""
    x = ds.x
    if size and x.shape[-1] != size:
        x = pad_to(x, size)
    return to_unit_float(x)


def load_data(cfg: TrainConfig) -> tuple[Dataset, Dataset]:
    tr = load_dataset(cfg.dataset, "train", cfg.data_dir)
    te = load_dataset(cfg.dataset, "test", cfg.data_dir)
    if cfg.limit_train:
        tr = tr.take(cfg.limit_train)
    if cfg.limit_test:
        te = te.take(cfg.limit_test)
    return tr, te


def make_recipe(cfg: TrainConfig, calib=None):
    """The recipe of ``cfg`` (``calib``: the calibration batch of a calibrated recipe)."""
    kw = {"calib": calib} if cfg.recipe in CALIBRATED else {}
    if cfg.recipe == "calibrated":
        kw.update(word=cfg.word, update_rounding=cfg.update_rounding, overflow=cfg.overflow)
    recipe = PRESETS[cfg.recipe](lr=cfg.lr, momentum=cfg.momentum, batch=cfg.batch, groups=cfg.groups,
                                 lr_start=cfg.lr, **kw)
    if cfg.update_overflow is not None:
        recipe = replace(recipe, name=f"{recipe.name}-{cfg.update_overflow}-updates",
                         overflow={**recipe.overflow, "momentum": cfg.update_overflow,
                                   "update": cfg.update_overflow})
    return recipe


#: recipes whose fractions are calibrated on the first batch of epoch 0
CALIBRATED = ("sr16", "calibrated")


def build_network(cfg: TrainConfig, train: Dataset) -> Network:
    """The model of ``cfg`` with its recipe; calibrated recipes (sr16, calibrated) calibrate
    on epoch 0's first batch."""
    calib = None
    if cfg.recipe in CALIBRATED:
        idx = shuffle_order(len(train), cfg.seed, 0)[: cfg.batch]
        calib = (prepare(train, cfg.image_size)[idx], train.y[idx])
    recipe = make_recipe(cfg, calib)
    if cfg.float64:
        recipe = float64(recipe)
    c = train.x.shape[1]
    size = cfg.image_size or train.x.shape[-1]
    net = MODELS[cfg.model](in_channels=c, image_size=size, num_classes=train.num_classes,
                            recipe=recipe, seed=cfg.seed)
    return net


def evaluate(net: Network, x: np.ndarray, y: np.ndarray, batch: int = 250) -> dict:
    """Accuracy and mean loss of ``net`` on float images ``x`` (any number of them)."""
    correct, loss = 0, 0.0
    spec = None if net.float64 else net.plan[net.weighted_layers[-1].name].activation
    for i in range(0, len(x), batch):
        z = net.forward(net.quantize_input(x[i:i + batch]))
        correct += int(np.sum(np.argmax(z, axis=1) == y[i:i + batch]))
        loss += loss_and_grad(net.plan.loss, z, y[i:i + batch], net.num_classes, spec)[1]
    n = max(len(x), 1)
    return {"accuracy": correct / n, "loss": loss / n}


def train_epoch(net: Network, x: np.ndarray, y: np.ndarray, order: np.ndarray, batch: int, label: str,
                progress: bool = True, step=None) -> dict:
    """One epoch: the full batches of ``order`` (float images ``x``, labels ``y``), each
    trained by ``step(x_q, labels)`` (default ``net.train_step``; CGaP wraps it), with a
    progress line. Returns ``train_loss``, ``train_accuracy`` (means), ``seconds``,
    ``images_per_s``, the summed ``overflows`` and ``zero_update_fraction`` (the share of
    weight words a step left unchanged, over the epoch's steps)."""
    step = step or net.train_step
    nb = len(order) // batch
    t0 = time.perf_counter()
    loss = correct = 0.0
    overflows: dict[str, int] = {}
    zero = words = 0
    with Progress(nb * batch, label, enabled=progress) as bar:
        for b in range(nb):
            failpoint("train-step")
            idx = order[b * batch:(b + 1) * batch]
            m = step(net.quantize_input(x[idx]), y[idx])
            loss += m["loss"]
            correct += m["correct"]
            for k, v in m["overflows"].items():
                overflows[k] = overflows.get(k, 0) + v
            zero += m.get("zero_updates", 0)
            words += m.get("weight_words", 0)
            bar.update(batch, loss=loss / (b + 1), acc=correct / ((b + 1) * batch))
    secs = time.perf_counter() - t0
    return {"train_loss": loss / nb, "train_accuracy": correct / (nb * batch), "seconds": secs,
            "images_per_s": nb * batch / secs, "overflows": overflows,
            "zero_update_fraction": zero / words if words else 0.0}


def _acc_note(overflows: dict) -> str:
    """`` (accumulators: fp N, wu M)``: sums that did not fit their accumulator, per phase."""
    per = {}
    for tag, n in overflows.items():
        _, _, role = tag.partition(".")
        if role.startswith("accumulator_"):
            ph = role[len("accumulator_"):]
            per[ph] = per.get(ph, 0) + n
    return f" (accumulators: {', '.join(f'{k} {v}' for k, v in sorted(per.items()))})" if per else ""


@dataclass
class Run:
    cfg: TrainConfig
    net: Network
    history: list = field(default_factory=list)
    epoch: int = 0  # epochs completed


def data_digest(ds: Dataset) -> str:
    """sha256 of a split's images and labels as used (after ``limit_*``): a resumed run
    must see the same data even if they moved to another folder."""
    h = hashlib.sha256()
    for a in (np.ascontiguousarray(ds.x), np.ascontiguousarray(ds.y, dtype=np.int64)):
        h.update(f"{a.dtype.str}{list(a.shape)}".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def _meta(run: Run, digest: str) -> dict:
    return {"config": asdict(run.cfg), "epoch": run.epoch, "step": run.net.step,
            "history": run.history, "plan": run.net.plan.to_json(), "model": run.cfg.model,
            "input_shape": list(run.net.input_shape), "num_classes": run.net.num_classes,
            "train_data_sha256": digest}


def fit(cfg: TrainConfig, out: str | Path | None = None, resume: bool = False,
        progress: bool = True, stop_after: int | None = None, log=print, force: bool = False) -> Run:
    """Train ``cfg.epochs`` epochs; checkpoint to ``out/checkpoint.npz`` after each.

    ``out`` is opened as a :class:`~fxtrain.train.rundir.RunDir` before anything else
    (checked, locked, tidied): an existing run there is continued only with ``resume``
    (same config except ``epochs``, same training data) and replaced only with ``force``.
    ``stop_after`` ends the run after that many epochs (used to test resumption).
    """
    if resume and not out:
        raise ValueError("resume needs the run directory (out)")
    if not out:
        return _fit(cfg, None, False, progress, stop_after, log)
    with RunDir(out, resume=resume, force=force) as rd:
        return _fit(cfg, rd, resume, progress, stop_after, log)


def _fit(cfg: TrainConfig, rd: RunDir | None, resume: bool, progress: bool,
         stop_after: int | None, log) -> Run:
    train, test = load_data(cfg)
    digest = data_digest(train)
    xtr, xte = prepare(train, cfg.image_size), prepare(test, cfg.image_size)
    net = build_network(cfg, train)
    run = Run(cfg, net)
    ckpt = rd.checkpoint if rd else None
    if resume:
        arrays, meta = load_checkpoint(ckpt)
        try:
            old = TrainConfig(**meta["config"])
        except (TypeError, ValueError) as exc:
            raise ValueError(f"cannot resume {ckpt}: its configuration is unreadable: {exc}") from None
        if old.run_key() != cfg.run_key():
            diff = {k: (v, cfg.run_key().get(k)) for k, v in old.run_key().items()
                    if cfg.run_key().get(k) != v}
            if "epochs" in diff:
                raise ValueError(f"cannot resume {ckpt} with --epochs {cfg.epochs}: the {cfg.schedule} "
                                 f"schedule was laid out over {old.epochs} epochs")
            raise ValueError(f"cannot resume {ckpt}: configuration differs {diff}")
        if meta.get("train_data_sha256", digest) != digest:
            raise ValueError(f"cannot resume {ckpt}: the training data differ from the run's "
                             f"(sha256 {digest[:12]} vs {meta['train_data_sha256'][:12]})")
        if meta["plan"] != net.plan.to_json():
            raise ValueError(f"cannot resume {ckpt}: the recipe binds to a different plan")
        net.load_state_dict(arrays)
        run.history, run.epoch = meta["history"], int(meta["epoch"])
    nb = len(xtr) // cfg.batch
    if nb == 0:
        raise ValueError(f"{len(xtr)} training images are fewer than one batch of {cfg.batch}")
    last = cfg.epochs if stop_after is None else min(cfg.epochs, stop_after)
    if log and not net.float64:
        log(net.plan.acc_summary())
    while run.epoch < last:
        e = run.epoch
        net.recipe = replace(net.recipe, lr=lr_at(cfg, e))
        label = f"{cfg.recipe}{'-float64' if cfg.float64 else ''} epoch {e + 1}/{cfg.epochs}"
        ep = train_epoch(net, xtr, train.y, shuffle_order(len(xtr), cfg.seed, e), cfg.batch, label, progress)
        ev = evaluate(net, xte, test.y)
        rec = {"epoch": e + 1, "lr": net.recipe.lr, **ep, "test_loss": ev["loss"],
               "test_accuracy": ev["accuracy"]}
        run.history.append(rec)
        run.epoch += 1
        if log:
            log(f"epoch {e + 1}: train acc {rec['train_accuracy']:.4f} loss {rec['train_loss']:.4f} | "
                f"test acc {rec['test_accuracy']:.4f} | {rec['images_per_s']:.0f} img/s | "
                f"overflowed elements {sum(rec['overflows'].values())}{_acc_note(rec['overflows'])}")
        if rd is not None:
            save_checkpoint(ckpt, net.state_dict(), _meta(run, digest))
            rd.write_history(run.history)
    if rd is not None:
        rd.write_history(run.history, only_if_changed=True)
    return run
