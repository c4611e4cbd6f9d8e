"""Properties of the cyclic weight storage (hwgen.layout).

Structural properties use weights that are unique ids (1 + row-major index), so any
misplaced, duplicated or dropped word shows up, and zero can only mean padding.
Expected lanes are sliced straight out of a zero-padded W, never through the layout.
"""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from hwgen.layout import CyclicLayout, bank_images, dram_image


@st.composite
def layouts(draw, max_p=8, max_k=4, max_ch=20):
    """Any P >= 1, K >= 1 and channel counts, most of them not multiples of P."""
    return CyclicLayout(O=draw(st.integers(1, max_ch)), C=draw(st.integers(1, max_ch)),
                        K=draw(st.integers(1, max_k)), P=draw(st.integers(1, max_p)))


def ids(L: CyclicLayout) -> np.ndarray:
    return (1 + np.arange(L.O * L.C * L.kk, dtype=np.int32)).reshape(L.O, L.C, L.K, L.K)


def padded(L: CyclicLayout, W: np.ndarray, extra: int) -> np.ndarray:
    """W zero-padded by `extra` on both channel axes (reads past the edge give zero)."""
    Wp = np.zeros((L.O + extra, L.C + extra, L.K, L.K), W.dtype)
    Wp[: L.O, : L.C] = W
    return Wp


def grid(*ranges):
    return [a.reshape(-1) for a in np.meshgrid(*[np.asarray(r) for r in ranges], indexing="ij")]


@given(layouts())
def test_map_is_a_bijection_onto_banks_times_depth(L):
    assert L.depth == L.tiles_o * L.tiles_c * L.P * L.kk
    o, c, ky, kx = grid(range(L.tiles_o * L.P), range(L.tiles_c * L.P), range(L.K), range(L.K))
    bank, addr = L.locate(o, c, ky, kx)
    assert bank.min() >= 0 and bank.max() < L.P
    assert addr.min() >= 0 and addr.max() < L.depth
    slots = bank * L.depth + addr
    assert len(np.unique(slots)) == len(slots) == L.P * L.depth


@given(layouts())
def test_images_hold_each_weight_where_locate_says_and_zero_padding(L):
    W = ids(L)
    images = bank_images(W, L.P)
    assert images.shape == (L.P, L.depth) and images.dtype == W.dtype
    o, c, ky, kx = grid(range(L.O), range(L.C), range(L.K), range(L.K))
    bank, addr = L.locate(o, c, ky, kx)
    np.testing.assert_array_equal(images[bank, addr], W[o, c, ky, kx])
    assert np.count_nonzero(images) == W.size  # everything else is padding, and zero


@given(layouts())
def test_fp_groups_hit_every_bank_once_and_rotation_realigns(L):
    P = L.P
    c, o0, ky, kx = grid(range(L.C), range(0, L.O, P), range(L.K), range(L.K))
    lane = np.arange(P)
    # banks of each lane, from the single-word map (padding lanes included)
    bank, addr = L.locate(o0[:, None] + lane, c[:, None], ky[:, None], kx[:, None])
    assert all(len(set(row)) == P for row in bank.tolist())
    group_addr, r = L.fp_group(c, o0, ky, kx)
    np.testing.assert_array_equal(np.take_along_axis(group_addr, bank, -1), addr)
    np.testing.assert_array_equal(bank, (lane + r[:, None]) % P)  # lane i <- bank i + r
    W = ids(L)
    lanes = L.fp_read(bank_images(W, P), c, o0, ky, kx)
    Wp = padded(L, W, P)
    np.testing.assert_array_equal(lanes, Wp[o0[:, None] + lane, c[:, None], ky[:, None], kx[:, None]])


@given(layouts())
def test_bp_groups_hit_every_bank_once_and_read_the_flipped_kernel(L):
    P, K = L.P, L.K
    o, c0, ky, kx = grid(range(L.O), range(0, L.C, P), range(K), range(K))
    lane = np.arange(P)
    fy, fx = (K - 1 - ky)[:, None], (K - 1 - kx)[:, None]
    bank, addr = L.locate(o[:, None], c0[:, None] + lane, fy, fx)
    assert all(len(set(row)) == P for row in bank.tolist())
    group_addr, r = L.bp_group(o, c0, ky, kx)
    np.testing.assert_array_equal(np.take_along_axis(group_addr, bank, -1), addr)
    np.testing.assert_array_equal(bank, (lane + r[:, None]) % P)
    assert (group_addr == group_addr[:, :1]).all()  # one broadcast address for all banks
    W = ids(L)
    lanes = L.bp_read(bank_images(W, P), o, c0, ky, kx)
    np.testing.assert_array_equal(lanes, padded(L, W, P)[o[:, None], c0[:, None] + lane, fy, fx])


@given(layouts())
def test_bp_flip_is_descending_address_order(L):
    ky, kx = grid(range(L.K), range(L.K))  # row-major kernel sweep
    addr, _ = L.bp_group(L.O - 1, 0, ky, kx)
    np.testing.assert_array_equal(np.diff(addr[:, 0]), -np.ones(L.kk - 1, np.int64))


@given(layouts(), st.integers(0, 2**32 - 1))
def test_round_trips_and_dram_order(L, seed):
    W = np.random.default_rng(seed).integers(-2**15, 2**15, (L.O, L.C, L.K, L.K), dtype=np.int16)
    images = L.bank_images(W)
    np.testing.assert_array_equal(L.weights(images), W)
    dram = dram_image(W, L.P)
    assert dram.dtype == np.int16 and dram.shape == (L.P * L.depth,)
    np.testing.assert_array_equal(L.banks_from_dram(dram), images)
    a, b = grid(range(L.depth), range(L.P))
    np.testing.assert_array_equal(dram[a * L.P + b], images[b, a])


@given(layouts())
def test_each_tile_is_one_contiguous_dram_range(L):
    W = ids(L)
    dram = dram_image(W, L.P)
    span = L.P * L.P * L.kk
    for to in range(L.tiles_o):
        for tc in range(L.tiles_c):
            t = to * L.tiles_c + tc
            block = dram[t * span:(t + 1) * span]
            tile = W[to * L.P:(to + 1) * L.P, tc * L.P:(tc + 1) * L.P]
            np.testing.assert_array_equal(np.sort(block[block != 0]), np.sort(tile.reshape(-1)))


def test_known_answers():
    # worked by hand from the formulas in hwgen/layout.py's docstring
    assert tuple(map(int, CyclicLayout(6, 5, 1, 4).locate(5, 4, 0, 0))) == (1, 13)
    L = CyclicLayout(O=5, C=6, K=3, P=4)  # TO = TC = 2
    assert L.depth == 2 * 2 * 4 * 9
    assert tuple(map(int, L.locate(0, 0, 0, 0))) == (0, 0)
    assert tuple(map(int, L.locate(3, 2, 0, 0))) == (1, 27)  # t=0, oi=3
    assert tuple(map(int, L.locate(4, 5, 2, 1))) == (1, 115)  # t=3, oi=0: 12*9 + 7
    addr, r = L.fp_group(5, 4, 2, 1)  # c=5 -> ci=1, t=3; bank b reads oi=(b-1) mod 4
    assert addr.tolist() == [108 + 27 + 7, 108 + 7, 108 + 9 + 7, 108 + 18 + 7] and int(r) == 1


def test_one_bank_is_row_major_w():
    W = ids(CyclicLayout(3, 5, 2, 1))
    np.testing.assert_array_equal(bank_images(W, 1)[0], W.reshape(-1))


def test_bad_inputs_are_named():
    L = CyclicLayout(5, 6, 3, 4)
    with pytest.raises(ValueError, match="multiple of P"):
        L.fp_group(0, 2, 0, 0)
    with pytest.raises(ValueError, match="c0"):
        L.bp_group(0, 8, 0, 0)
    with pytest.raises(ValueError, match="ky"):
        L.locate(0, 0, 3, 0)
    with pytest.raises(TypeError, match="integer"):
        L.bank_images(np.zeros((5, 6, 3, 3)))
    with pytest.raises(ValueError, match="shape"):
        L.bank_images(np.zeros((5, 6, 3, 2), np.int16))
    with pytest.raises(ValueError, match="P must be"):
        CyclicLayout(5, 6, 3, 0)
    with pytest.raises(ValueError, match="bank images"):
        L.fp_read(np.zeros((4, 10), np.int16), 0, 0, 0, 0)


def test_docs_example_table_matches_layout():
    """docs/hardware.md's worked P=4 example is the layout's, not a hand copy gone stale."""
    from pathlib import Path

    doc = Path(__file__).resolve().parents[2] / "docs" / "hardware.md"
    if not doc.is_file():
        pytest.skip("docs/hardware.md not present (installed package)")
    text = doc.read_text()
    block = text.split("<!-- example-grid:start -->")[1].split("<!-- example-grid:end -->")[0]
    rows = [line.strip().strip("|").split("|") for line in block.strip().splitlines()[2:]]
    L = CyclicLayout(O=6, C=5, K=1, P=4)
    assert len(rows) == L.tiles_o * L.P
    for o, row in enumerate(rows):
        assert int(row[0]) == o and len(row) == 1 + L.tiles_c * L.P
        for c, cell in enumerate(row[1:]):
            cell = cell.strip()
            pad = o >= L.O or c >= L.C
            assert cell.startswith("(") == pad, (o, c, cell)
            bank, addr = L.locate(o, c, 0, 0)
            assert cell.strip("()") == f"{int(bank)}/{int(addr)}", (o, c, cell)
