"""The result store of a sweep: ``STORE/results.sqlite`` plus one run directory per cell
(``STORE/cells/<key>/``, a normal fxtrain run directory with its checkpoint).

Why SQLite: every write is one transaction, so a killed client or a power loss leaves the
last committed state (the journal rolls back a torn write), there is no dependency
beyond the standard library, and a study is queryable with any SQLite tool. A cell's
rows are written only from its finished result, in one transaction with its status, so
a reader never sees half a cell.

Tables::

    cells(key PRIMARY KEY, sweep, status, config JSON, axes JSON, attempts, error,
          fxtrain_version, data_sha256, wall_seconds, updated)
    epochs(key, epoch, lr, train_loss, train_accuracy, test_loss, test_accuracy,
           overflows, accumulator_overflows, diverged, seconds, zero_update_fraction,
           PRIMARY KEY (key, epoch))

``zero_update_fraction`` is the share of weight words a step left unchanged, over the
epoch (fxtrain.nn.Network.train_step's ``zero_updates``); stores written before it
existed get the column on open, NULL for their old rows.

``status`` is ``done``, ``diverged`` (finished, but the run broke down: see
:func:`diverged`) or ``failed`` (an error; ``error`` holds it, and a rerun tries again).
"""
from __future__ import annotations

import json
import math
import os
import sqlite3
import time
from pathlib import Path

from .. import __version__

SCHEMA = """
CREATE TABLE IF NOT EXISTS cells (
    key TEXT PRIMARY KEY, sweep TEXT NOT NULL, status TEXT NOT NULL, config TEXT NOT NULL,
    axes TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, error TEXT,
    fxtrain_version TEXT NOT NULL, data_sha256 TEXT, wall_seconds REAL, updated TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS epochs (
    key TEXT NOT NULL, epoch INTEGER NOT NULL, lr REAL, train_loss REAL, train_accuracy REAL,
    test_loss REAL, test_accuracy REAL, overflows INTEGER, accumulator_overflows INTEGER,
    diverged INTEGER NOT NULL, seconds REAL, zero_update_fraction REAL, PRIMARY KEY (key, epoch));
"""
EPOCH_COLUMNS = ("key", "epoch", "lr", "train_loss", "train_accuracy", "test_loss", "test_accuracy",
                 "overflows", "accumulator_overflows", "diverged", "seconds", "zero_update_fraction")
FINISHED = ("done", "diverged")


def diverged(history: list[dict], num_classes: int) -> list[bool]:
    """Per epoch: the loss is not finite, or the test accuracy is at most chance + 2 points
    after the first epoch (what fpl19 did at lr 0.002 under 32-bit sums: 10.08%)."""
    out = []
    for i, h in enumerate(history):
        bad = not math.isfinite(h["train_loss"]) or not math.isfinite(h["test_loss"])
        bad |= i > 0 and h["test_accuracy"] <= 1.0 / num_classes + 0.02
        out.append(bool(bad))
    return out


class Store:
    """``STORE/`` (created if missing): the SQLite file and the cells' run directories."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        if self.path.exists() and not self.path.is_dir():
            raise ValueError(f"sweep store {self.path} exists and is not a directory")
        (self.path / "cells").mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(self.path / "results.sqlite", timeout=30)
        try:
            self.db.executescript(SCHEMA)
            have = {r[1] for r in self.db.execute("PRAGMA table_info(epochs)")}
            if "zero_update_fraction" not in have:  # a store from before the column
                with self.db:
                    self.db.execute("ALTER TABLE epochs ADD COLUMN zero_update_fraction REAL")
        except sqlite3.DatabaseError as exc:
            raise ValueError(f"{self.path / 'results.sqlite'} is not a sweep store: {exc}") from None

    def close(self) -> None:
        self.db.close()

    def cell_dir(self, key: str) -> Path:
        return self.path / "cells" / key

    def status(self, key: str) -> str | None:
        row = self.db.execute("SELECT status FROM cells WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def record(self, key: str, sweep: str, config: dict, axes: dict, result: dict) -> str:
        """Write a finished cell (its epochs and status) in one transaction; returns the status."""
        hist = result["history"]
        div = diverged(hist, result["num_classes"])
        status = "diverged" if any(div) else "done"
        with self.db:
            self.db.execute("DELETE FROM epochs WHERE key = ?", (key,))
            self.db.executemany(
                f"INSERT INTO epochs ({', '.join(EPOCH_COLUMNS)}) VALUES "
                f"({', '.join('?' * len(EPOCH_COLUMNS))})",
                [(key, h["epoch"], h["lr"], h["train_loss"], h["train_accuracy"], h["test_loss"],
                  h["test_accuracy"], int(sum(h["overflows"].values())),
                  int(sum(v for k, v in h["overflows"].items() if ".accumulator_" in k)), int(d),
                  h["seconds"], h.get("zero_update_fraction")) for h, d in zip(hist, div)])
            self._upsert(key, sweep, status, config, axes, None, result.get("data_sha256"),
                         result.get("wall_seconds"))
        return status

    def fail(self, key: str, sweep: str, config: dict, axes: dict, error: str) -> None:
        with self.db:
            self._upsert(key, sweep, "failed", config, axes, error, None, None)

    def _upsert(self, key, sweep, status, config, axes, error, digest, wall) -> None:
        self.db.execute(
            "INSERT INTO cells (key, sweep, status, config, axes, attempts, error, fxtrain_version, "
            "data_sha256, wall_seconds, updated) VALUES (?, ?, ?, ?, ?, 1, ?, ?, ?, ?, ?) "
            "ON CONFLICT(key) DO UPDATE SET status = excluded.status, error = excluded.error, "
            "attempts = cells.attempts + 1, data_sha256 = excluded.data_sha256, "
            "wall_seconds = excluded.wall_seconds, updated = excluded.updated",
            (key, sweep, status, json.dumps(config, sort_keys=True), json.dumps(axes, sort_keys=True),
             error, __version__, digest, wall, time.strftime("%Y-%m-%dT%H:%M:%S")))

    def rows(self, sweep: str | None = None) -> list[dict]:
        """Every cell with its final epoch's metrics (for reports)."""
        q = ("SELECT c.key, c.sweep, c.status, c.config, c.axes, c.error, c.wall_seconds, "
             "e.epoch, e.test_accuracy, e.train_accuracy, e.test_loss, e.overflows, "
             "e.zero_update_fraction FROM cells c "
             "LEFT JOIN epochs e ON e.key = c.key AND e.epoch = (SELECT MAX(epoch) FROM epochs "
             "WHERE key = c.key)" + (" WHERE c.sweep = ?" if sweep else "") + " ORDER BY c.key")
        cols = ("key", "sweep", "status", "config", "axes", "error", "wall_seconds", "epoch",
                "test_accuracy", "train_accuracy", "test_loss", "overflows", "zero_update_fraction")
        out = []
        for r in self.db.execute(q, (sweep,) if sweep else ()):
            d = dict(zip(cols, r))
            d["config"], d["axes"] = json.loads(d["config"]), json.loads(d["axes"])
            out.append(d)
        return out

    def epochs(self, key: str) -> list[dict]:
        cur = self.db.execute("SELECT * FROM epochs WHERE key = ? ORDER BY epoch", (key,))
        names = [c[0] for c in cur.description]
        return [dict(zip(names, r)) for r in cur]
