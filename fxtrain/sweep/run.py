"""Running a sweep on dask.distributed: each cell is one task, one training run.

- **Where.** By default a ``LocalCluster`` of ``workers`` processes, one thread each, with
  ``NUMBA_NUM_THREADS`` set so that the workers together use the machine's cores once.
  ``scheduler="tcp://HOST:PORT"`` uses an existing cluster instead (``dask scheduler``
  and ``dask worker`` on any machines that share the store's file system).
- **Resume, and a killed worker.** A cell trains in its own fxtrain run directory
  (``STORE/cells/<key>``), checkpointing after every epoch. A task that starts there
  again (a rerun of the spec, or dask retrying a task whose worker died) resumes from the
  checkpoint and ends with the same words as an undisturbed run (docs/reliability.md).
- **Skips.** Cells whose key the store records as ``done`` or ``diverged`` are not run
  again. ``failed`` cells are.
- **Recording.** Only the client writes the store, one transaction per finished cell.
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from .spec import Cell, SweepSpec
from .store import FINISHED, Store


def run_cell(config: dict, cell_dir: str) -> dict:
    """On a worker: train one cell in ``cell_dir``, resuming from its checkpoint if any."""
    from ..train.checkpoint import load_checkpoint
    from ..train.loop import TrainConfig, fit

    cfg = TrainConfig(**config)
    t = time.perf_counter()
    resume = (Path(cell_dir) / "checkpoint.npz").exists()
    run = fit(cfg, out=cell_dir, resume=resume, progress=False, log=None)
    digest = None
    if cfg.epochs:
        _, meta = load_checkpoint(Path(cell_dir) / "checkpoint.npz")
        digest = meta.get("train_data_sha256")
    return {"history": run.history, "num_classes": run.net.num_classes, "data_sha256": digest,
            "wall_seconds": time.perf_counter() - t, "resumed": resume}


def _client(workers: int | None, scheduler: str | None):
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError:
        raise RuntimeError("fxtrain sweep needs dask.distributed: pip install -e '.[sweep]'") from None
    if scheduler:
        return Client(scheduler, timeout="20s"), None
    cores = os.cpu_count() or 1
    n = workers or cores
    # workers inherit the environment: numba reads its thread count at import
    os.environ["NUMBA_NUM_THREADS"] = str(max(1, cores // n))
    cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=":0")
    return Client(cluster), cluster


def _eta(done: int, total: int, t0: float) -> str:
    if not done:
        return "?"
    s = (time.perf_counter() - t0) / done * (total - done)
    return f"{int(s // 60)}m{int(s % 60):02d}s"


def run_sweep(spec: SweepSpec, store_path: str | os.PathLike, workers: int | None = None,
              scheduler: str | None = None, progress: bool = True) -> dict:
    """Run every unfinished cell of ``spec`` into the store; returns the summary
    ``{"cells", "ran", "skipped", "failed", "diverged"}``."""
    cells = spec.cells()  # validates everything before anything runs
    store = Store(store_path)
    try:
        todo = [c for c in cells if store.status(c.key) not in FINISHED]
        summary = {"cells": len(cells), "ran": 0, "skipped": len(cells) - len(todo), "failed": 0,
                   "diverged": 0}
        if not todo:
            return summary
        client, cluster = _client(workers, scheduler)
        try:
            _run(client, spec, store, todo, summary, progress)
        finally:
            client.close()
            if cluster is not None:
                cluster.close()
        return summary
    finally:
        store.close()


def _run(client, spec: SweepSpec, store: Store, todo: list[Cell], summary: dict, progress: bool) -> None:
    from dask.distributed import as_completed

    say = (lambda m: print(m, file=sys.stderr, flush=True)) if progress else (lambda m: None)
    say(f"sweep {spec.name}: {len(todo)} cells to run, {summary['skipped']} already done; "
        f"dashboard {client.dashboard_link}")
    futures = {}
    for c in todo:
        cfg = c.config
        f = client.submit(run_cell, cfg, str(store.cell_dir(c.key)), key=f"fxtrain-cell-{c.key}",
                          pure=False, retries=2)
        futures[f] = (c, cfg)
    t0 = time.perf_counter()
    done = 0
    for f in as_completed(futures):
        c, cfg = futures[f]
        try:
            res = f.result()
            status = store.record(c.key, spec.name, cfg, c.axes, res)
            summary["ran"] += 1
            summary["diverged"] += status == "diverged"
            last = res["history"][-1] if res["history"] else {}
            note = f"test acc {last.get('test_accuracy', float('nan')):.4f}" + (" (diverged)" if status == "diverged" else "")
        except Exception as exc:  # the cell's error, kept in the store; the sweep goes on
            store.fail(c.key, spec.name, cfg, c.axes, f"{type(exc).__name__}: {exc}")
            summary["failed"] += 1
            note = f"FAILED: {type(exc).__name__}: {exc}"
        done += 1
        running = sum(1 for g in futures if g.status == "pending")
        say(f"[{done}/{len(todo)} done, {min(running, len(client.nthreads()))} running, "
            f"{summary['failed']} failed, ETA {_eta(done, len(todo), t0)}] {c.key[:8]} "
            f"{', '.join(f'{k}={v}' for k, v in c.axes.items()) or 'cell'}: {note}")
