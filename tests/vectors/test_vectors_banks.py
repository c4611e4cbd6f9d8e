"""`hwgen banks`: bank files of a bundle equal hwgen.layout's images of its weights."""
import numpy as np
import pytest

from fxtrain.nn import Conv2d, Flatten, Linear, Network, ReLU
from fxtrain.presets import fpl19
from fxtrain.vectors.bundle import BundleError, load_bundle
from fxtrain.vectors.make import bundle_network
from hwgen import bundle_banks
from hwgen.layout import CyclicLayout, bank_images, dram_image

SHAPE = (3, 4, 4)


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    """conv 3->5 (ragged for P=2, 3, 4), relu, conv 5->2, flatten, fc 32->3; one step."""
    layers = [Conv2d("conv0", 3, 5, 3, 1, 1), ReLU("relu0"), Conv2d("conv1", 5, 2, 3, 1, 1), Flatten("flatten"),
              Linear("fc", 32, 3)]
    net = Network(layers, fpl19(lr=0.05, batch=2), SHAPE, seed=1)
    rng = np.random.default_rng(0)
    x = net.quantize_input(rng.uniform(-1, 1, (2, *SHAPE)))
    return bundle_network(tmp_path_factory.mktemp("v") / "b", net, [(x, np.array([0, 2]))])


@pytest.fixture
def copy(bundle, tmp_path):
    import shutil

    return shutil.copytree(bundle, tmp_path / "b")


@pytest.mark.parametrize("lanes", [1, 3, 4])
def test_bank_files_are_the_layouts_images(copy, lanes):
    b = bundle_banks.add_banks(copy, lanes)
    sources = [e for e in b.manifest["tensors"] if e["layout"] is None and e["role"] in bundle_banks.DEFAULT_ROLES]
    assert {e["role"] for e in sources} == set(bundle_banks.DEFAULT_ROLES) and len(sources) == 12
    for e in sources:
        W = b[e["name"]]
        W4 = W.reshape(*W.shape, 1, 1) if W.ndim == 2 else W
        images = bank_images(W4, lanes)  # the one definition of the cyclic storage
        for bank in range(lanes):
            name = f"banks/P{lanes}/{e['name']}.bank{bank}"
            np.testing.assert_array_equal(b[name], images[bank], err_msg=name)
            lay = b.entries[name]["layout"]
            assert lay == {"kind": "cyclic_bank", "bank": bank, "lanes": lanes, "depth": images.shape[1],
                           "source": e["name"], "weight_shape": list(W4.shape)}
            assert b.entries[name]["format"] == e["format"] and b.entries[name]["role"] == e["role"]
        dram = b[f"banks/P{lanes}/{e['name']}.dram"]
        np.testing.assert_array_equal(dram, dram_image(W4, lanes))
        lay = CyclicLayout.for_weights(W4, lanes)
        np.testing.assert_array_equal(lay.weights(lay.banks_from_dram(dram)), W4)  # nothing lost
    assert b.manifest["additions"][-1]["lanes"] == lanes
    assert len(b.find(step=0, phase="wu", layer="fc", role="weight_updated")) == lanes + 2


def test_bank_hex_is_one_readmemh_file_per_bank(copy):
    bundle_banks.add_banks(copy, 4)
    b = load_bundle(copy)
    W = b.get(0, "fp", "conv0", "weight")
    images = bank_images(W, 4)
    text = (copy / "banks/P4/step0/fp/conv0.weight.bank1.hex").read_text().splitlines()
    assert [int(t, 16) - (1 << 16) if int(t, 16) >> 15 else int(t, 16) for t in text] == images[1].tolist()


def test_existing_lanes_need_force_and_roles_filter(copy):
    bundle_banks.add_banks(copy, 2, roles=("weight",))
    with pytest.raises(FileExistsError):
        bundle_banks.add_banks(copy, 2)
    b = bundle_banks.add_banks(copy, 2, overwrite=True)
    assert len([e for e in b.manifest["tensors"] if e["name"].startswith("banks/P2/")]) == 12 * 3
    with pytest.raises(ValueError, match="no tensors with roles"):
        bundle_banks.add_banks(copy, 5, roles=())
    with pytest.raises(ValueError, match=r"roles \['nothing'\] are not weight-shaped"):
        bundle_banks.add_banks(copy, 5, roles=("nothing",))
    with pytest.raises(ValueError, match="lanes"):
        bundle_banks.add_banks(copy, 0)
    with pytest.raises(ValueError, match="not weight-shaped"):
        bundle_banks.add_banks(copy, 2, roles=("pre_activation",), overwrite=True)
    b = bundle_banks.add_banks(copy, 2, roles=("weight_gradient", "momentum_accumulated"), overwrite=True)
    np.testing.assert_array_equal(b["banks/P2/step0/wu/conv1.weight_gradient.g0.bank1"],
                                  bank_images(b.get(0, "wu", "conv1", "weight_gradient", 0), 2)[1])


def test_cli(copy, capsys):
    assert bundle_banks.main([str(copy), "--lanes", "3"]) == 0
    assert "under banks/P3/" in capsys.readouterr().out
    assert bundle_banks.main([str(copy), "--lanes", "3"]) == 2
    assert "already exists" in capsys.readouterr().err
    assert bundle_banks.main([str(copy), "-L", "3", "--force", "--roles", "weight"]) == 0
    f = copy / "banks/P3/step0/fp/conv1.weight.bank2.hex"
    f.write_bytes(f.read_bytes().replace(b"\n", b"\r\n", 1))
    with pytest.raises(BundleError) as ei:
        load_bundle(copy)
    assert ei.value.path == f
    assert bundle_banks.main([str(copy), "--lanes", "2"]) == 2  # refuses a damaged bundle
    assert "conv1.weight.bank2.hex" in capsys.readouterr().err


def test_register_adds_a_banks_subcommand(copy):
    import argparse

    p = argparse.ArgumentParser(prog="hwgen")
    bundle_banks.register(p.add_subparsers(dest="cmd"))
    args = p.parse_args(["banks", str(copy), "--lanes", "2"])
    assert args.cmd == "banks" and args.func(args) == 0
    assert load_bundle(copy).manifest["additions"][0]["tool"] == "hwgen banks"
