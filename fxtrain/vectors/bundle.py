"""The vector bundle: a directory of ``.npy`` + ``.hex`` tensors and a ``manifest.json``.

Writing is atomic: the whole bundle is built in a hidden temporary sibling directory and
renamed into place, so a reader sees either no bundle, the old one or the complete new
one (the manifest is fsynced; data files are not, since a bundle torn by a power loss
fails its checksums on load). :func:`extend_bundle` (used by ``hwgen banks``) adds tensors under one new
sub-directory the same way: files first (temporary dir, rename), manifest last
(temporary file, ``os.replace``).

Reading (:func:`load_bundle`) trusts nothing: every file named by the manifest must exist
inside the bundle, match its byte count and sha256, parse (``np.load`` with
``allow_pickle=False``; the strict hex parser of :mod:`fxtrain.vectors.words`), have the
manifest's shape and dtype, fit its word format, and the ``.hex`` words must equal the
``.npy`` words. The manifest must account for the whole bundle: its tensor list matches
the ``tensor_count`` and ``tensors_sha256`` written with it (entries removed or edited by
hand fail), it lists at least one tensor and every step it names has tensors, every file
in the directory is listed, and nothing inside the bundle is a symbolic link (the bundle
directory itself may be one). Any failure raises :class:`BundleError` naming the file.
docs/vectors.md describes the format.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..atomic import atomic_write, fsync_dir
from ..numerics import CONTRACT_VERSION
from .words import WordFormat, decode_hex, encode_hex

SCHEMA = "fxtrain-vectors"
SCHEMA_VERSION = 2
MANIFEST = "manifest.json"
PHASES = ("fp", "bp", "wu")
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*(/[A-Za-z0-9_][A-Za-z0-9_.\-]*)*$")
_ENTRY_KEYS = ("name", "step", "phase", "layer", "role", "group", "shape", "dtype", "format",
               "bits", "frac", "signed", "hex_digits", "files", "layout")


class BundleError(ValueError):
    """A bundle that cannot be trusted; ``path`` names the offending file."""

    def __init__(self, path: str | os.PathLike, msg: str):
        self.path = Path(path)
        super().__init__(f"{self.path}: {msg}")


@dataclass
class Tensor:
    """One captured tensor: its words, where it comes from, and how to store it.

    ``name`` is also its path in the bundle without extension (``step0/fp/conv0.acc``);
    ``group`` is the on-chip batch group (weight gradients) or None; ``layout`` is None
    for row-major tensors, else a plain-JSON dict (e.g. hwgen's cyclic bank images).
    """

    name: str
    array: np.ndarray
    fmt: WordFormat
    step: int
    phase: str
    layer: str
    role: str
    group: int | None = None
    layout: dict | None = None


def check_name(name: str) -> str:
    """Tensor names are relative POSIX paths of [A-Za-z0-9_.-] parts not starting with '.'."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(f"bad tensor name {name!r}: use '/'-separated parts of letters, digits, "
                         "'_', '.', '-', each starting with a letter, digit or '_'")
    return name


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _write_file(path: Path, data: bytes) -> None:
    # No fsync per file (hundreds of files, ~5 ms each): the rename makes the bundle
    # appear atomically, and a bundle torn by a power loss fails its checksums on load.
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:
        fh.write(data)


def _npy_bytes(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, a, allow_pickle=False)
    return buf.getvalue()


def _write_tensors(root: Path, tensors: list[Tensor], strip: str = "") -> list[dict]:
    """Write each tensor's .npy and .hex under ``root``; return the manifest entries
    (file paths relative to the bundle root, i.e. including ``strip``)."""
    entries, seen = [], set()
    for t in tensors:
        check_name(t.name)
        if t.name in seen:
            raise ValueError(f"duplicate tensor name {t.name!r}")
        seen.add(t.name)
        if t.phase not in PHASES:
            raise ValueError(f"{t.name}: phase must be one of {PHASES}, got {t.phase!r}")
        a = t.fmt.check(t.array, t.name)
        files = {}
        for ext, data in (("npy", _npy_bytes(a)), ("hex", encode_hex(a, t.fmt))):
            rel = f"{t.name}.{ext}"
            _write_file(root / rel[len(strip):], data)
            files[ext] = {"path": rel, "bytes": len(data), "sha256": _sha256(data)}
        entries.append({
            "name": t.name, "step": int(t.step), "phase": t.phase, "layer": t.layer, "role": t.role,
            "group": None if t.group is None else int(t.group), "shape": list(a.shape),
            "dtype": a.dtype.name, **t.fmt.to_json(), "hex_digits": t.fmt.hex_digits,
            "files": files, "layout": t.layout,
        })
    return entries


def tensors_digest(entries: list) -> str:
    """sha256 of the canonical JSON of the manifest's tensor list: the manifest carries it
    so that entries removed or edited by hand (with their files) no longer verify."""
    return _sha256(json.dumps(entries, sort_keys=True, separators=(",", ":")).encode())


def _write_manifest(root: Path, manifest: dict) -> None:
    manifest = {**manifest, "tensor_count": len(manifest["tensors"]),
                "tensors_sha256": tensors_digest(manifest["tensors"])}
    atomic_write(root / MANIFEST, json.dumps(manifest, indent=1, sort_keys=False).encode())


def _is_bundle_or_empty(path: Path) -> bool:
    if not any(path.iterdir()):
        return True
    try:
        return json.loads((path / MANIFEST).read_text()).get("schema") == SCHEMA
    except (OSError, ValueError, AttributeError):
        return False


def write_bundle(out: str | os.PathLike, meta: dict, tensors: list[Tensor], overwrite: bool = False) -> Path:
    """Write a bundle atomically to directory ``out``; returns its path.

    ``meta`` holds the plain-JSON top-level fields (model, plan, config, seeds, steps).
    An existing ``out`` is replaced only with ``overwrite=True`` and only if it is an
    empty directory or a vector bundle (never an arbitrary directory).
    """
    out = Path(out)
    if out.exists():
        if not out.is_dir():
            raise FileExistsError(f"{out} exists and is not a directory")
        if not overwrite:
            raise FileExistsError(f"{out} already exists; pass overwrite=True (--force) to replace it")
        if not _is_bundle_or_empty(out):
            raise FileExistsError(f"{out} is neither empty nor a vector bundle; refusing to replace it")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    old = None
    try:
        entries = _write_tensors(tmp, tensors)
        manifest = {"schema": SCHEMA, "schema_version": SCHEMA_VERSION,
                    "contract_version": CONTRACT_VERSION, **meta, "additions": [], "tensors": entries}
        _write_manifest(tmp, manifest)
        if out.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
            os.rename(out, old / "b")
        os.rename(tmp, out)
        fsync_dir(out.parent)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if old is not None and not out.exists():
            os.rename(old / "b", out)
        raise
    finally:
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    return out


def extend_bundle(path: str | os.PathLike, tensors: list[Tensor], subdir: str, addition: dict,
                  overwrite: bool = False) -> "Bundle":
    """Add ``tensors`` (every name under ``subdir/``) to the verified bundle at ``path``.

    ``addition`` (plain JSON, e.g. ``{"tool": "hwgen banks", "lanes": 4}``) is appended to
    the manifest's ``additions`` list. If ``subdir`` is already present it is replaced
    only with ``overwrite=True``. Returns the re-loaded, verified bundle.
    """
    b = load_bundle(path)
    root = b.path
    check_name(subdir)
    prefix = subdir + "/"
    for t in tensors:
        if not t.name.startswith(prefix):
            raise ValueError(f"tensor {t.name!r} is not under {subdir!r}")
    present = [e for e in b.manifest["tensors"] if e["name"].startswith(prefix)]
    target = root / subdir
    if (present or target.exists()) and not overwrite:
        raise FileExistsError(f"{target} already exists in the bundle; pass overwrite=True (--force)")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".add-", dir=root))
    old = Path(tempfile.mkdtemp(prefix=".old-", dir=root))
    moved = placed = False
    try:
        entries = _write_tensors(tmp, tensors, strip=prefix)
        if target.exists():
            os.rename(target, old / "d")
            moved = True
        os.rename(tmp, target)
        placed = True
        manifest = dict(b.manifest)
        manifest["tensors"] = [e for e in b.manifest["tensors"] if not e["name"].startswith(prefix)] + entries
        manifest["additions"] = [a for a in b.manifest.get("additions", []) if a.get("subdir") != subdir]
        manifest["additions"].append({**addition, "subdir": subdir})
        _write_manifest(root, manifest)
    except BaseException:
        # put the old files back so the unchanged manifest stays valid
        if placed:
            shutil.rmtree(target, ignore_errors=True)
        if moved:
            os.rename(old / "d", target)
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        shutil.rmtree(old, ignore_errors=True)
    return load_bundle(root)


# ---------------------------------------------------------------------- reading

@dataclass
class Bundle:
    """A loaded, verified bundle: ``manifest`` (dict), ``arrays`` {name: read-only array}."""

    path: Path
    manifest: dict
    arrays: dict[str, np.ndarray] = field(repr=False)

    @property
    def entries(self) -> dict[str, dict]:
        return {e["name"]: e for e in self.manifest["tensors"]}

    def __getitem__(self, name: str) -> np.ndarray:
        try:
            return self.arrays[name]
        except KeyError:
            raise KeyError(f"no tensor {name!r} in bundle {self.path}") from None

    def find(self, **match) -> list[dict]:
        """Manifest entries whose fields equal ``match`` (e.g. ``phase="bp", layer="conv1"``)."""
        bad = set(match) - set(_ENTRY_KEYS)
        if bad:
            raise ValueError(f"unknown manifest fields {sorted(bad)}")
        return [e for e in self.manifest["tensors"] if all(e.get(k) == v for k, v in match.items())]

    def get(self, step: int, phase: str, layer: str, role: str, group: int | None = None,
            layout: dict | None = None) -> np.ndarray:
        """The one row-major (``layout=None``) tensor with these fields."""
        hits = self.find(step=step, phase=phase, layer=layer, role=role, group=group, layout=layout)
        if len(hits) != 1:
            raise KeyError(f"{len(hits)} tensors match step={step} phase={phase} layer={layer} "
                           f"role={role} group={group} in {self.path}")
        return self.arrays[hits[0]["name"]]


def _read(root: Path, rel: str, info: dict, what: str) -> bytes:
    if not isinstance(rel, str) or not _NAME.match(rel):
        raise BundleError(root / MANIFEST, f"{what}: unsafe file path {rel!r}")
    p = root / rel
    if not p.is_file():
        raise BundleError(p, f"missing file (listed in {MANIFEST} for {what})")
    data = p.read_bytes()
    if len(data) != info.get("bytes"):
        raise BundleError(p, f"{len(data)} bytes, the manifest says {info.get('bytes')}: "
                             "file truncated or corrupt")
    digest = _sha256(data)
    if digest != info.get("sha256"):
        raise BundleError(p, f"corrupt: sha256 {digest} does not match the manifest's {info.get('sha256')}")
    return data


def _load_entry(root: Path, e: dict) -> np.ndarray:
    name = e.get("name")
    what = f"tensor {name!r}"
    missing = [k for k in _ENTRY_KEYS if k not in e]
    if missing:
        raise BundleError(root / MANIFEST, f"{what} lacks fields {missing}")
    try:
        check_name(name)
        fmt = WordFormat.from_json(e)
        shape = tuple(int(s) for s in e["shape"])
    except (ValueError, TypeError) as exc:
        raise BundleError(root / MANIFEST, f"{what}: {exc}") from None
    if e["dtype"] != fmt.dtype.name or e["hex_digits"] != fmt.hex_digits or e["phase"] not in PHASES:
        raise BundleError(root / MANIFEST, f"{what}: dtype/hex_digits/phase {e['dtype']}/"
                                           f"{e['hex_digits']}/{e['phase']} inconsistent with {fmt.name}")
    files = e["files"] if isinstance(e["files"], dict) else {}
    for ext in ("npy", "hex"):
        if not isinstance(files.get(ext), dict):
            raise BundleError(root / MANIFEST, f"{what}: no {ext} file entry")
    npy_rel, hex_rel = files["npy"].get("path"), files["hex"].get("path")
    for ext, rel in (("npy", npy_rel), ("hex", hex_rel)):
        if rel != f"{name}.{ext}":
            raise BundleError(root / MANIFEST, f"{what}: {ext} file must be {name}.{ext}, not {rel!r}")
    data = _read(root, npy_rel, files["npy"], what)
    try:
        a = np.load(io.BytesIO(data), allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise BundleError(root / npy_rel, f"not a readable .npy file: {exc}") from None
    if a.shape != shape or a.dtype != fmt.dtype:
        raise BundleError(root / npy_rel, f"holds {a.dtype}{list(a.shape)}, the manifest says "
                                          f"{fmt.dtype.name}{list(shape)}")
    try:
        a = fmt.check(a, "values")
    except ValueError as exc:
        raise BundleError(root / npy_rel, str(exc)) from None
    try:
        h = decode_hex(_read(root, hex_rel, files["hex"], what), fmt, a.size, "hex text")
    except BundleError:
        raise
    except ValueError as exc:
        raise BundleError(root / hex_rel, str(exc)) from None
    diff = np.flatnonzero(h != a.reshape(-1))
    if diff.size:
        i = int(diff[0])
        raise BundleError(root / hex_rel, f"word {i} (line {i + 1}) is {int(h[i])}, but {npy_rel} "
                                          f"holds {int(a.reshape(-1)[i])}: .hex and .npy disagree")
    a.flags.writeable = False
    return a


def load_bundle(path: str | os.PathLike, allow_other_contract: bool = False) -> Bundle:
    """Load and verify a bundle (see the module docstring); BundleError names the bad file.

    A bundle made under another numerics contract version is refused unless
    ``allow_other_contract`` (its bits may differ from what this engine computes).
    """
    root = Path(path)
    if not root.is_dir():
        raise FileNotFoundError(f"vector bundle {root} does not exist or is not a directory")
    mpath = root / MANIFEST
    _no_symlinks(root)
    if not mpath.is_file():
        raise BundleError(mpath, "missing: not a vector bundle (no manifest)")
    try:
        manifest = json.loads(mpath.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BundleError(mpath, f"unreadable JSON: {exc}") from None
    if not isinstance(manifest, dict) or manifest.get("schema") != SCHEMA:
        raise BundleError(mpath, f"schema {manifest.get('schema') if isinstance(manifest, dict) else None!r}"
                                 f" is not {SCHEMA!r}")
    if manifest.get("schema_version") != SCHEMA_VERSION:
        raise BundleError(mpath, f"schema version {manifest.get('schema_version')!r} is not supported "
                                 f"(this reader: {SCHEMA_VERSION})")
    if manifest.get("contract_version") != CONTRACT_VERSION and not allow_other_contract:
        raise BundleError(mpath, f"made under numerics contract {manifest.get('contract_version')!r}, "
                                 f"this engine implements {CONTRACT_VERSION!r} "
                                 "(pass allow_other_contract=True to read it anyway)")
    _check_top(mpath, manifest)
    entries = manifest["tensors"]
    arrays: dict[str, np.ndarray] = {}
    for e in entries:
        a = _load_entry(root, e)
        if e["name"] in arrays:
            raise BundleError(mpath, f"duplicate tensor name {e['name']!r}")
        arrays[e["name"]] = a
    if manifest.get("tensor_count") != len(entries) or manifest.get("tensors_sha256") != tensors_digest(entries):
        raise BundleError(mpath, f"the tensor list ({len(entries)} entries) does not match the manifest's "
                                 f"tensor_count {manifest.get('tensor_count')!r} and tensors_sha256: "
                                 "entries were removed or edited after the bundle was written")
    steps = {s["step"] for s in manifest["steps"]}
    empty = sorted(steps - {e["step"] for e in entries})
    if empty:
        raise BundleError(mpath, f"steps {empty} are listed but have no tensors")
    _no_unlisted(root, entries)
    return Bundle(root, manifest, arrays)


def _check_top(mpath: Path, m: dict) -> None:
    """The top-level fields a reader relies on, with their types."""
    want = {"model": dict, "plan": dict, "steps": list, "tensors": list, "additions": list}
    for key, typ in want.items():
        if not isinstance(m.get(key), typ):
            got = "missing" if key not in m else f"a {type(m[key]).__name__}"
            raise BundleError(mpath, f"{key!r} must be a JSON {'object' if typ is dict else 'list'}, "
                                     f"it is {got}")
    if not isinstance(m["model"].get("name"), str):
        raise BundleError(mpath, "'model' has no string 'name'")
    if "config" in m and m["config"] is not None and not isinstance(m["config"], dict):
        raise BundleError(mpath, "'config' must be a JSON object or null")
    for key in ("tensors", "steps", "additions"):
        if not all(isinstance(e, dict) for e in m[key]):
            raise BundleError(mpath, f"{key!r} must be a list of objects")
    if not m["tensors"]:
        raise BundleError(mpath, "the bundle lists no tensors")
    for s in m["steps"]:
        if isinstance(s.get("step"), bool) or not isinstance(s.get("step"), int):
            raise BundleError(mpath, f"a step entry has no integer 'step': {sorted(s)}")


def _no_symlinks(root: Path) -> None:
    """Nothing in the bundle is a symlink (checked before any file is read): a link could
    point outside the bundle, so the checksums would certify data that are not in it, and
    copying the bundle would not copy them (docs/vectors.md). The root itself may be one."""
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            if p.is_symlink():
                raise BundleError(p, "is a symbolic link; bundles hold regular files only")
            if name in filenames and not p.is_file():
                raise BundleError(p, "is not a regular file")


def _no_unlisted(root: Path, entries: list) -> None:
    """Every file in the bundle is the manifest or one it lists."""
    listed = {MANIFEST} | {f["path"] for e in entries for f in e["files"].values()}
    for dirpath, _, filenames in os.walk(root):
        for name in filenames:
            p = Path(dirpath) / name
            if p.relative_to(root).as_posix() not in listed:
                hint = " (left by an interrupted write: safe to delete)" if name.startswith(".") else ""
                raise BundleError(p, f"is not listed in {MANIFEST}{hint}")
