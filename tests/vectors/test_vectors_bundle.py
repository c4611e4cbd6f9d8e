"""The bundle format without the engine: round trip, atomic writes, and every way a
bundle can be damaged (each must raise BundleError naming the damaged file)."""
import hashlib
import io
import json

import numpy as np
import pytest

from fxtrain.numerics import CONTRACT_VERSION
from fxtrain.vectors.bundle import (MANIFEST, BundleError, Tensor, extend_bundle, load_bundle,
                                    write_bundle)
from fxtrain.vectors.words import WordFormat

META = {"model": {"name": "hand"}, "plan": {}, "steps": [], "config": None}


def tensors():
    Q = WordFormat.fixed
    ext16 = np.array([[-32768, 32767, -1], [0, 1, -2]], np.int16)
    return [
        Tensor("step0/fp/conv0.pre_activation", ext16, Q(16, 14), 0, "fp", "conv0", "pre_activation"),
        Tensor("step0/fp/conv0.acc", np.array([[-2**31, 2**31 - 1], [-1, 7]]), Q(32, 29), 0, "fp", "conv0", "acc"),
        Tensor("step0/fp/relu0.mask", np.array([[1, 0, 1]], np.uint8), WordFormat("mask", 1), 0, "fp",
               "relu0", "mask"),
        Tensor("step0/fp/pool0.argmax", np.array([3, 0, 2], np.uint8), WordFormat("index", 2), 0, "fp",
               "pool0", "argmax"),
        Tensor("step0/wu/conv0.lr_q", np.asarray(31208), Q(16, 26), 0, "wu", "conv0", "lr_q"),
        Tensor("step0/wu/conv0.weight_gradient.g1", np.array([-2048, 2047, -1]), Q(12, 5), 0, "wu", "conv0",
               "weight_gradient", group=1),
        Tensor("step0/bp/conv1.acc", np.array([-2**63, 2**63 - 1, -1], np.int64), Q(64, 3), 0, "bp", "conv1", "acc"),
    ]


@pytest.fixture
def bundle(tmp_path):
    return write_bundle(tmp_path / "b", META, tensors())


def _sha(data):
    return hashlib.sha256(data).hexdigest()


def _retag(path, rel, data=None):
    """Rewrite file ``rel`` (if data given) and make the manifest's size and checksum match
    it, so that checks after the checksum are reached."""
    f = path / rel
    if data is not None:
        f.write_bytes(data)
    data = f.read_bytes()
    m = json.loads((path / MANIFEST).read_text())
    for e in m["tensors"]:
        for info in e["files"].values():
            if info["path"] == rel:
                info["bytes"], info["sha256"] = len(data), _sha(data)
    (path / MANIFEST).write_text(json.dumps(m))


def _manifest(path, edit):
    m = json.loads((path / MANIFEST).read_text())
    edit(m)
    (path / MANIFEST).write_text(json.dumps(m))


# ------------------------------------------------------------------ round trip

def test_round_trip(bundle):
    b = load_bundle(bundle)
    ts = tensors()
    assert [e["name"] for e in b.manifest["tensors"]] == [t.name for t in ts]
    for t in ts:
        a = b[t.name]
        assert a.dtype == t.fmt.dtype and a.shape == np.asarray(t.array).shape
        np.testing.assert_array_equal(a, t.array)
        e = b.entries[t.name]
        assert (e["step"], e["phase"], e["layer"], e["role"], e["group"]) == (t.step, t.phase, t.layer,
                                                                              t.role, t.group)
        assert (e["format"], e["bits"], e["frac"]) == (t.fmt.name, t.fmt.bits, t.fmt.frac)
        assert not a.flags.writeable
    assert b.manifest["contract_version"] == CONTRACT_VERSION and b.manifest["model"] == {"name": "hand"}
    assert b["step0/wu/conv0.lr_q"].shape == ()
    assert b.get(0, "wu", "conv0", "weight_gradient", group=1).tolist() == [-2048, 2047, -1]
    assert [e["name"] for e in b.find(phase="fp", role="acc")] == ["step0/fp/conv0.acc"]
    with pytest.raises(KeyError):
        b.get(0, "wu", "conv0", "weight_gradient", group=0)
    with pytest.raises(KeyError, match="no tensor"):
        b["nope"]


def test_files_are_plain_npy_and_hex(bundle):
    a = np.load(bundle / "step0/fp/conv0.acc.npy", allow_pickle=False)
    assert a.dtype == np.int32 and a.tolist() == [[-2**31, 2**31 - 1], [-1, 7]]
    assert (bundle / "step0/fp/conv0.acc.hex").read_bytes() == b"80000000\n7fffffff\nffffffff\n00000007\n"
    assert (bundle / "step0/wu/conv0.lr_q.hex").read_bytes() == b"79e8\n"
    assert (bundle / "step0/fp/relu0.mask.hex").read_bytes() == b"1\n0\n1\n"


# ------------------------------------------------------------------ damage

REL = "step0/fp/conv0.pre_activation"


@pytest.mark.parametrize("ext", ["npy", "hex"])
def test_one_corrupt_byte_names_the_file(bundle, ext):
    f = bundle / f"{REL}.{ext}"
    data = bytearray(f.read_bytes())
    data[-2] ^= 0x01
    f.write_bytes(bytes(data))
    with pytest.raises(BundleError, match="sha256") as ei:
        load_bundle(bundle)
    assert ei.value.path == f and f"{REL}.{ext}" in str(ei.value)


@pytest.mark.parametrize("ext", ["npy", "hex"])
def test_truncated_file_names_the_file(bundle, ext):
    f = bundle / f"{REL}.{ext}"
    f.write_bytes(f.read_bytes()[:-5])
    with pytest.raises(BundleError, match="truncated") as ei:
        load_bundle(bundle)
    assert ei.value.path == f


@pytest.mark.parametrize("ext", ["npy", "hex"])
def test_missing_file_names_the_file(bundle, ext):
    f = bundle / f"{REL}.{ext}"
    f.unlink()
    with pytest.raises(BundleError, match="missing file") as ei:
        load_bundle(bundle)
    assert ei.value.path == f


def test_truncated_hex_with_matching_checksum(bundle):
    rel = f"{REL}.hex"
    _retag(bundle, rel, (bundle / rel).read_bytes()[:-3])
    with pytest.raises(BundleError, match="no newline: file truncated") as ei:
        load_bundle(bundle)
    assert ei.value.path == bundle / rel


def test_hex_and_npy_disagree(bundle):
    rel = f"{REL}.hex"
    text = (bundle / rel).read_bytes().replace(b"ffff\n", b"fffe\n", 1)
    _retag(bundle, rel, text)
    with pytest.raises(BundleError, match=r"word 2 \(line 3\) is -2, but .* holds -1: .hex and .npy disagree") as ei:
        load_bundle(bundle)
    assert ei.value.path == bundle / rel


def test_bad_hex_character(bundle):
    rel = f"{REL}.hex"
    _retag(bundle, rel, (bundle / rel).read_bytes().replace(b"7fff", b"7ffz"))
    with pytest.raises(BundleError, match="line 2 is '7ffz'") as ei:
        load_bundle(bundle)
    assert ei.value.path == bundle / rel


def _npy(a):
    buf = io.BytesIO()
    np.save(buf, a, allow_pickle=True)
    return buf.getvalue()


@pytest.mark.parametrize("data, match", [
    (lambda raw: raw[:-4], "not a readable .npy"),
    (lambda raw: _npy(np.zeros((2, 3), np.int32)), r"holds int32\[2, 3\], the manifest says int16\[2, 3\]"),
    (lambda raw: _npy(np.zeros((3, 2), np.int16)), r"holds int16\[3, 2\]"),
    (lambda raw: _npy(np.array([[1, "x", None]] * 2, dtype=object)), "not a readable .npy"),
])
def test_bad_npy_with_matching_checksum(bundle, data, match):
    rel = f"{REL}.npy"
    _retag(bundle, rel, data((bundle / rel).read_bytes()))
    with pytest.raises(BundleError, match=match) as ei:
        load_bundle(bundle)
    assert ei.value.path == bundle / rel


def test_values_outside_the_format(bundle):
    rel = "step0/wu/conv0.weight_gradient.g1.npy"
    _retag(bundle, rel, _npy(np.array([-2049, 0, 0], np.int16)))
    with pytest.raises(BundleError, match="do not fit Q12.5") as ei:
        load_bundle(bundle)
    assert ei.value.path == bundle / rel


@pytest.mark.parametrize("edit, match", [
    (lambda m: m.update(schema="other"), "is not 'fxtrain-vectors'"),
    (lambda m: m.update(schema_version=3), "schema version 3 is not supported"),
    (lambda m: m.update(schema_version=1), "schema version 1 is not supported"),
    (lambda m: m.update(contract_version="0.9"), "numerics contract '0.9'"),
    (lambda m: m.update(tensors={}), "must be a JSON list"),
    (lambda m: m["tensors"][0]["files"]["npy"].update(path="../../evil.npy"), "unsafe file path|must be"),
    (lambda m: m["tensors"][0]["files"]["npy"].update(path="step0/fp/conv0.acc.npy"), "must be"),
    (lambda m: m["tensors"][0].update(name="/etc/passwd"), "bad tensor name"),
    (lambda m: m["tensors"][0].pop("shape"), "lacks fields"),
    (lambda m: m["tensors"][0].update(frac=3), "inconsistent word format"),
    (lambda m: m["tensors"][0].update(dtype="int32"), "inconsistent with Q16.14"),
    (lambda m: m["tensors"][0].update(phase="xx"), "inconsistent"),
    (lambda m: m["tensors"].append(m["tensors"][0]), "duplicate tensor name"),
])
def test_bad_manifest(bundle, edit, match):
    _manifest(bundle, edit)
    with pytest.raises(BundleError, match=match) as ei:
        load_bundle(bundle)
    assert ei.value.path == bundle / MANIFEST


def test_other_contract_readable_on_request(bundle):
    _manifest(bundle, lambda m: m.update(contract_version="0.9"))
    assert load_bundle(bundle, allow_other_contract=True).manifest["contract_version"] == "0.9"


def test_unreadable_or_missing_manifest(tmp_path, bundle):
    (bundle / MANIFEST).write_bytes(b"{not json")
    with pytest.raises(BundleError, match="unreadable JSON") as ei:
        load_bundle(bundle)
    assert ei.value.path == bundle / MANIFEST
    (bundle / MANIFEST).unlink()
    with pytest.raises(BundleError, match="no manifest"):
        load_bundle(bundle)
    with pytest.raises(FileNotFoundError):
        load_bundle(tmp_path / "nowhere")


# ------------------------------------------------------------------ atomic writing

def _hidden(parent):
    return [p.name for p in parent.iterdir() if p.name.startswith(".")]


def test_existing_out_needs_overwrite(tmp_path, bundle):
    with pytest.raises(FileExistsError, match="already exists"):
        write_bundle(bundle, META, tensors()[:1])
    out = write_bundle(bundle, META, tensors()[:1], overwrite=True)
    assert [e["name"] for e in load_bundle(out).manifest["tensors"]] == [tensors()[0].name]
    assert not (bundle / "step0/fp/conv0.acc.npy").exists()  # the old bundle is gone entirely
    assert _hidden(tmp_path) == []


def test_never_replaces_a_foreign_directory(tmp_path):
    d = tmp_path / "home"
    d.mkdir()
    (d / "thesis.tex").write_text("precious")
    with pytest.raises(FileExistsError, match="neither empty nor a vector bundle"):
        write_bundle(d, META, tensors(), overwrite=True)
    assert (d / "thesis.tex").read_text() == "precious"
    e = tmp_path / "empty"
    e.mkdir()
    write_bundle(e, META, tensors(), overwrite=True)
    load_bundle(e)


def test_failed_write_leaves_nothing(tmp_path, bundle):
    bad = tensors() + [Tensor("step0/fp/x.acc", np.array([40000]), WordFormat.fixed(16, 0), 0, "fp", "x", "acc")]
    with pytest.raises(ValueError, match="step0/fp/x.acc: values"):
        write_bundle(tmp_path / "new", META, bad)
    assert not (tmp_path / "new").exists() and _hidden(tmp_path) == []
    before = (bundle / MANIFEST).read_bytes()
    with pytest.raises(ValueError):
        write_bundle(bundle, META, bad, overwrite=True)
    assert (bundle / MANIFEST).read_bytes() == before and _hidden(tmp_path) == []
    load_bundle(bundle)


@pytest.mark.parametrize("t, match", [
    (Tensor("../x", np.zeros(1, np.int16), WordFormat.fixed(16, 0), 0, "fp", "x", "r"), "bad tensor name"),
    (Tensor(".hidden/x", np.zeros(1, np.int16), WordFormat.fixed(16, 0), 0, "fp", "x", "r"), "bad tensor name"),
    (Tensor("a b", np.zeros(1, np.int16), WordFormat.fixed(16, 0), 0, "fp", "x", "r"), "bad tensor name"),
    (Tensor("x", np.zeros(1, np.int16), WordFormat.fixed(16, 0), 0, "xx", "x", "r"), "phase"),
    (Tensor("x", np.zeros(1), WordFormat.fixed(16, 0), 0, "fp", "x", "r"), "integers"),
])
def test_bad_tensors_refused(tmp_path, t, match):
    with pytest.raises((ValueError, TypeError), match=match):
        write_bundle(tmp_path / "b", META, [t])
    assert not (tmp_path / "b").exists()


def test_duplicate_names_refused(tmp_path):
    t = tensors()[0]
    with pytest.raises(ValueError, match="duplicate"):
        write_bundle(tmp_path / "b", META, [t, t])


# ------------------------------------------------------------------ extending

def _extra(prefix="extra/P2", v=5):
    return [Tensor(f"{prefix}/w.bank{b}", np.full(3, v + b, np.int16), WordFormat.fixed(16, 15), 0, "fp", "conv0",
                   "weight", layout={"kind": "test", "bank": b}) for b in range(2)]


def test_extend(bundle):
    b = extend_bundle(bundle, _extra(), "extra/P2", {"tool": "test"})
    assert b["extra/P2/w.bank1"].tolist() == [6, 6, 6]
    assert b.entries["extra/P2/w.bank1"]["layout"] == {"kind": "test", "bank": 1}
    assert b.manifest["additions"] == [{"tool": "test", "subdir": "extra/P2"}]
    assert len(b.manifest["tensors"]) == len(tensors()) + 2
    with pytest.raises(FileExistsError):
        extend_bundle(bundle, _extra(), "extra/P2", {"tool": "test"})
    b = extend_bundle(bundle, _extra(v=9), "extra/P2", {"tool": "again"}, overwrite=True)
    assert b["extra/P2/w.bank0"].tolist() == [9, 9, 9]
    assert b.manifest["additions"] == [{"tool": "again", "subdir": "extra/P2"}]
    assert len(b.manifest["tensors"]) == len(tensors()) + 2
    assert _hidden(bundle) == [] and _hidden(bundle / "extra") == []


def test_extend_refuses_and_keeps_the_bundle_valid(bundle):
    with pytest.raises(ValueError, match="not under"):
        extend_bundle(bundle, _extra("other"), "extra/P2", {})
    bad = _extra() + [Tensor("extra/P2/big", np.array([70000]), WordFormat.fixed(16, 0), 0, "fp", "c", "w")]
    extend_bundle(bundle, _extra(), "extra/P2", {})
    with pytest.raises(ValueError, match="values"):
        extend_bundle(bundle, bad, "extra/P2", {}, overwrite=True)
    b = load_bundle(bundle)
    assert b["extra/P2/w.bank0"].tolist() == [5, 5, 5]
    assert _hidden(bundle) == []
    (bundle / "extra/P2/w.bank0.hex").unlink()
    with pytest.raises(BundleError, match="missing file"):
        extend_bundle(bundle, _extra(), "extra/P3", {})
    assert not (bundle / "extra/P3").exists()


# ------------------------------------- what the manifest must account for (issue 12, item 7)

def _drop(m, keep_files=True):
    m["tensors"] = [e for e in m["tensors"] if e["name"] != "step0/fp/conv0.acc"]


def test_removed_entries_do_not_verify(bundle):
    _manifest(bundle, _drop)  # the entry goes, its files stay
    with pytest.raises(BundleError, match="does not match the manifest's tensor_count 7") as ei:
        load_bundle(bundle)
    assert ei.value.path == bundle / MANIFEST


def test_removed_entries_with_a_fixed_digest_leave_unlisted_files(bundle):
    from fxtrain.vectors.bundle import tensors_digest

    def edit(m):
        _drop(m)
        m["tensor_count"], m["tensors_sha256"] = len(m["tensors"]), tensors_digest(m["tensors"])
    _manifest(bundle, edit)
    with pytest.raises(BundleError, match="is not listed in manifest.json") as ei:
        load_bundle(bundle)
    assert ei.value.path.name in ("conv0.acc.npy", "conv0.acc.hex")


def test_an_empty_tensor_list_is_refused(bundle):
    _manifest(bundle, lambda m: m.update(tensors=[], tensor_count=0))
    with pytest.raises(BundleError, match="lists no tensors"):
        load_bundle(bundle)


@pytest.mark.parametrize("key, value, match", [
    ("plan", None, "'plan' must be a JSON object, it is a NoneType"),
    ("model", "cnn1x", "'model' must be a JSON object, it is a str"),
    ("model", {"nom": 1}, "'model' has no string 'name'"),
    ("steps", None, "'steps' must be a JSON list"),
    ("steps", [{"loss": 1}], "a step entry has no integer 'step'"),
    ("steps", [{"step": 5}], r"steps \[5\] are listed but have no tensors"),
    ("config", [1], "'config' must be a JSON object or null"),
])
def test_top_level_fields_are_checked(bundle, key, value, match):
    _manifest(bundle, lambda m: m.update({key: value}))
    with pytest.raises(BundleError, match=match):
        load_bundle(bundle)


def test_vectors_check_reports_a_null_plan(bundle, capsys):
    from fxtrain.cli import main

    _manifest(bundle, lambda m: m.update(plan=None))
    assert main(["vectors-check", str(bundle)]) == 1
    err = capsys.readouterr().err
    assert "FAIL" in err and "'plan' must be a JSON object" in err and "Traceback" not in err


@pytest.mark.parametrize("extra", ["step0/fp/extra.npy", "notes.txt", ".manifest.json.x1.tmp"])
def test_unlisted_files_fail(bundle, extra):
    p = bundle / extra
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(b"x")
    with pytest.raises(BundleError, match="is not listed in manifest.json") as ei:
        load_bundle(bundle)
    assert ei.value.path == p
    if extra.startswith("."):
        assert "interrupted write" in str(ei.value)


def test_symlinks_inside_a_bundle_are_refused(bundle, tmp_path):
    rel = "step0/fp/conv0.acc.npy"
    outside = tmp_path / "outside.npy"
    outside.write_bytes((bundle / rel).read_bytes())
    (bundle / rel).unlink()
    (bundle / rel).symlink_to(outside)  # same bytes, so every checksum still matches
    with pytest.raises(BundleError, match="is a symbolic link") as ei:
        load_bundle(bundle)
    assert ei.value.path == bundle / rel


def test_a_symlinked_directory_is_refused(bundle, tmp_path):
    import shutil
    shutil.move(str(bundle / "step0" / "wu"), tmp_path / "wu")
    (bundle / "step0" / "wu").symlink_to(tmp_path / "wu", target_is_directory=True)
    with pytest.raises(BundleError, match="is a symbolic link"):
        load_bundle(bundle)


def test_the_bundle_itself_may_be_a_symlink(bundle, tmp_path):
    link = tmp_path / "link"
    link.symlink_to(bundle, target_is_directory=True)
    assert len(load_bundle(link).arrays) == 7


def test_the_manifest_follows_the_umask(tmp_path):
    """Written atomically but not with mkstemp's private 0600: a bundle is meant to be shared."""
    import os

    old = os.umask(0o022)
    try:
        b = write_bundle(tmp_path / "b", META, tensors())
    finally:
        os.umask(old)
    assert (b / MANIFEST).stat().st_mode & 0o777 == 0o644
