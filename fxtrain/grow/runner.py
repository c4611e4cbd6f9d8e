"""A whole CGaP run: seed network, growth, settling, pruning, fine-tuning; checkpoints; resume.

Reproducibility: the data order of epoch e is ``shuffle_order(n, seed, e)`` (as in
``fxtrain train``), growth event ``j`` draws its new weights from
``default_rng([seed, j, li])``, stochastic-rounding keys come from (seed, step, layer,
role), saliency is integer and deterministic. A checkpoint (written after every epoch,
atomically) holds the parameters at their current widths, the saliency state and the
schedule's state, so a run stopped after any epoch -- in the middle of growth included --
and resumed ends bit-identical to an uninterrupted one (tests/grow/test_runner.py).
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from ..data import shuffle_order
from ..nn.network import Network
from ..train.checkpoint import atomic_write, load_checkpoint, save_checkpoint
from ..train.rundir import RunDir
from ..train.loop import TrainConfig, build_network, evaluate, load_data, lr_at, prepare, train_epoch
from .report import model_report
from .saliency import Saliency, select_keep
from .schedule import CGaPSchedule
from .surgery import grow, growable, prune, resized_layers, set_widths, widths


@dataclass
class CGaPConfig:
    """A training configuration (model, recipe, data, epochs, lr, seed...) plus a schedule."""

    train: TrainConfig = field(default_factory=TrainConfig)
    schedule: CGaPSchedule = field(default_factory=CGaPSchedule)

    def to_json(self) -> dict:
        return {"train": asdict(self.train), "schedule": self.schedule.to_json()}

    @classmethod
    def from_json(cls, d: dict) -> "CGaPConfig":
        return cls(TrainConfig(**d["train"]), CGaPSchedule.from_json(d["schedule"]))


@dataclass
class CGaPRun:
    cfg: CGaPConfig
    net: Network
    saliency: Saliency
    full_widths: dict[str, int]
    epoch: int = 0
    growing: bool = True
    pruned: bool = False
    best_loss: float | None = None
    stale: int = 0
    history: list = field(default_factory=list)
    #: one entry per growth or pruning event: step, epoch, kind, widths after it
    events: list = field(default_factory=list)
    #: network descriptions at "seed", "peak", "pruned" and "final"
    phases: dict = field(default_factory=dict)

    def meta(self) -> dict:
        return {"config": self.cfg.to_json(), "epoch": self.epoch, "step": self.net.step,
                "growing": self.growing, "pruned": self.pruned, "best_loss": self.best_loss,
                "stale": self.stale, "history": self.history, "events": self.events,
                "phases": self.phases, "widths": widths(self.net), "full_widths": self.full_widths,
                "plan": self.net.plan.to_json(), "saliency": self.saliency.state_meta()}

    def report(self) -> dict:
        """The JSON report: config, per-epoch history, events, and per phase the network
        description (``phases``, what ``hwgen perf --describe`` reads) and its model report."""
        phases = dict(self.phases, final=self.net.describe())
        batch = self.cfg.train.batch
        return {"config": self.cfg.to_json(), "full_widths": self.full_widths,
                "history": self.history, "events": self.events, "phases": phases,
                "phase_reports": {k: model_report(v, batch) for k, v in phases.items()},
                "final": self.history[-1] if self.history else None}


def seed_network(cfg: CGaPConfig, train) -> tuple[Network, dict[str, int]]:
    """The seed network and the full model's growable widths. The recipe is bound (and
    sr16 calibrated) on the full model, so fractions do not depend on the seed width."""
    full = build_network(cfg.train, train)
    fw = widths(full)
    target = cfg.schedule.seed_widths(fw)
    net = Network(resized_layers(full.layers, full.input_shape, target), full.recipe,
                  full.input_shape, cfg.train.seed, name=full.name)
    return net, fw


def _grow_event(run: CGaPRun) -> None:
    s, net = run.cfg.schedule, run.net
    caps = s.cap_widths(run.full_widths)
    scores = run.saliency.scores(net) if s.init == "copy" else {}
    j = sum(1 for e in run.events if e["kind"] == "grow")
    added = {}
    for name in growable(net):
        n = s.growth(widths(net)[name], caps[name])
        if n:
            grow(net, name, n, init=s.init, scale=s.init_scale, event=j, scores=scores.get(name))
            run.saliency.grown(name, n)
            added[name] = n
    if added:
        run.events.append({"kind": "grow", "step": net.step, "epoch": run.epoch, "added": added,
                           "widths": widths(net)})
    if widths(net) == caps:
        _stop_growth(run, "width cap")


def _stop_growth(run: CGaPRun, why: str, reset: bool = True) -> None:
    """Growth ends: record the peak and (unless pruning follows at once, which needs the
    scores gathered so far) restart the saliency window."""
    if run.growing:
        run.growing = False
        run.phases["peak"] = run.net.describe()
        run.events.append({"kind": "peak", "step": run.net.step, "epoch": run.epoch, "reason": why,
                           "widths": widths(run.net)})
        if reset:
            run.saliency.reset()


def _prune_event(run: CGaPRun) -> None:
    s, net = run.cfg.schedule, run.net
    _stop_growth(run, "pruning", reset=False)
    scores = run.saliency.scores(net)
    removed = {}
    for name in growable(net):
        if s.prune_widths is not None:
            keep = select_keep(scores[name], count=int(s.prune_widths.get(name, widths(net)[name])))
        else:
            keep = select_keep(scores[name], ratio=s.prune_ratio)
        removed[name] = widths(net)[name] - len(keep)
        prune(net, name, keep)
        run.saliency.pruned(name, keep)
    run.pruned = True
    run.phases["pruned"] = net.describe()
    run.events.append({"kind": "prune", "step": net.step, "epoch": run.epoch, "removed": removed,
                       "criterion": s.criterion, "window_steps": run.saliency.steps,
                       "widths": widths(net)})


def _step(run: CGaPRun, x, y) -> dict:
    """One training step of the run: growth when due, then the step with saliency."""
    net = run.net
    if run.growing and run.cfg.schedule.grows_at(net.step):
        _grow_event(run)
    W = run.saliency.snapshot(net)
    grads: dict | None = {} if W is not None else None
    m = net.train_step(x, y, gradients=grads)
    if W is not None:
        run.saliency.observe(net, W, grads)
    return m


def _restore(run: CGaPRun, ckpt: Path) -> None:
    arrays, meta = load_checkpoint(ckpt)
    if meta.get("config") != run.cfg.to_json():
        old, new = meta.get("config", {}), run.cfg.to_json()
        diff = {k: (old.get(k), new[k]) for k in new if old.get(k) != new[k]}
        # only the epoch budget may change between a run and its resumption
        tr_old = dict(old.get("train", {}), epochs=None)
        if tr_old != dict(new["train"], epochs=None) or old.get("schedule") != new["schedule"]:
            raise ValueError(f"cannot resume {ckpt}: configuration differs {diff}")
    if meta["plan"] != run.net.plan.to_json():
        raise ValueError(f"cannot resume {ckpt}: the recipe binds to a different plan")
    set_widths(run.net, meta["widths"])
    run.net.load_state_dict({k: v for k, v in arrays.items() if not k.startswith("saliency.")})
    run.saliency.load_state({k: v for k, v in arrays.items() if k.startswith("saliency.")},
                            meta["saliency"])
    for k in ("epoch", "growing", "pruned", "best_loss", "stale", "history", "events", "phases"):
        setattr(run, k, meta[k])


def _write_json(path: Path, obj) -> None:
    atomic_write(path, json.dumps(obj, indent=1).encode())


def run_cgap(cfg: CGaPConfig, out: str | Path | None = None, resume: bool = False,
             progress: bool = True, stop_after: int | None = None, log=print,
             force: bool = False) -> CGaPRun:
    """Run ``cfg`` for ``cfg.train.epochs`` epochs; with ``out``, checkpoint to
    ``out/checkpoint.npz`` after every epoch and write ``out/report.json`` at the end.
    ``out`` is a locked :class:`~fxtrain.train.rundir.RunDir`: ``resume`` continues the
    run in it, ``force`` replaces it; ``stop_after`` ends after that many epochs."""
    if resume and not out:
        raise ValueError("resume needs the run directory (out)")
    if not out:
        return _run_cgap(cfg, None, False, progress, stop_after, log)
    with RunDir(out, resume=resume, force=force, what="CGaP run", history=False) as rd:
        return _run_cgap(cfg, rd.path, resume, progress, stop_after, log)


def _run_cgap(cfg: CGaPConfig, out: Path | None, resume: bool, progress: bool,
              stop_after: int | None, log) -> CGaPRun:
    tc, s = cfg.train, cfg.schedule
    train, test = load_data(tc)
    xtr, xte = prepare(train, tc.image_size), prepare(test, tc.image_size)
    net, fw = seed_network(cfg, train)
    run = CGaPRun(cfg, net, Saliency(s.criterion), fw)
    run.growing = s.grow_every > 0 and s.max_width > s.seed_width and s.grow_epochs > 0
    run.phases["seed"] = net.describe()
    if not run.growing:
        run.phases["peak"] = run.phases["seed"]
    ckpt = Path(out) / "checkpoint.npz" if out else None
    if resume:
        _restore(run, ckpt)
    nb = len(xtr) // tc.batch
    if nb == 0:
        raise ValueError(f"{len(xtr)} training images are fewer than one batch of {tc.batch}")
    last = tc.epochs if stop_after is None else min(tc.epochs, stop_after)
    while run.epoch < last:
        e = run.epoch
        if s.prune_epoch is not None and e == s.prune_epoch and not run.pruned:
            _prune_event(run)
        net.recipe = replace(net.recipe, lr=lr_at(tc, e))
        label = f"cgap {'grow' if run.growing else 'prune+tune' if run.pruned else 'settle'} epoch {e + 1}/{tc.epochs}"
        ep = train_epoch(net, xtr, train.y, shuffle_order(len(xtr), tc.seed, e), tc.batch, label, progress,
                         step=lambda x, y: _step(run, x, y))
        mean_loss = ep["train_loss"]
        if run.growing:
            if run.best_loss is None or mean_loss < run.best_loss * (1 - s.plateau_delta):
                run.best_loss, run.stale = mean_loss, 0
            else:
                run.stale += 1
            if s.plateau_patience and run.stale >= s.plateau_patience:
                _stop_growth(run, "plateau")
            elif e + 1 >= s.grow_epochs:
                _stop_growth(run, "growth epochs")
        ev = evaluate(net, xte, test.y)
        rep = model_report(net.describe(), tc.batch)["total"]
        rec = {"epoch": e + 1, "step": net.step, "lr": net.recipe.lr, **ep, "test_loss": ev["loss"],
               "test_accuracy": ev["accuracy"], "widths": widths(net), "params": rep["params"],
               "macs_fp": rep["macs"]["fp"], "macs_train": rep["macs"]["train"]}
        run.history.append(rec)
        run.epoch += 1
        if log:
            log(f"epoch {e + 1}: widths {list(rec['widths'].values())} | train acc "
                f"{rec['train_accuracy']:.4f} | test acc {rec['test_accuracy']:.4f} | "
                f"FP MACs/image {rec['macs_fp']:,} | params {rec['params']:,} | {rec['images_per_s']:.0f} img/s")
        if ckpt is not None:
            save_checkpoint(ckpt, {**net.state_dict(), **run.saliency.state_arrays()}, run.meta())
    if out:
        _write_json(Path(out) / "report.json", run.report())
    return run
