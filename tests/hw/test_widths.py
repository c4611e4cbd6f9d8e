"""hwgen.widths: the accumulator width that makes a sum exact, per layer and phase."""
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hwgen import cli, widths
from fxtrain.models import cnn1x
from fxtrain.presets import float64, fpl19


def _fits(v: int, bits: int) -> bool:
    return -(1 << (bits - 1)) <= v < (1 << (bits - 1))


@given(k=st.integers(1, 1 << 40), a=st.integers(2, 32), w=st.integers(2, 32))
def test_exact_bits_is_the_least_width_holding_every_sum(k, a, w):
    b = widths.exact_bits(k, a, w)
    top = k * (1 << (a + w - 2))                      # K x (-2**(a-1)) * (-2**(w-1))
    bottom = -k * (1 << (a - 1)) * ((1 << (w - 1)) - 1)
    assert _fits(top, b) and _fits(bottom, b)
    assert not _fits(top, b - 1)                      # one bit less loses the corner sum


def test_worked_examples_and_the_power_of_two_corner():
    assert widths.exact_bits(1) == 32                 # (-2**15)**2 = 2**30 is no 31-bit word
    assert widths.exact_bits(576) == 41 and widths.exact_bits(20480) == 46
    # 31 + ceil(log2 K) is one short exactly when K is a power of two: 4 * 2**30 = 2**32
    assert widths.exact_bits(4) == 34 and not _fits(4 << 30, 31 + 2)
    with pytest.raises(ValueError, match="positive integer"):
        widths.exact_bits(0)


def test_cnn1x_fpl19_table():
    desc = cnn1x(recipe=float64(fpl19(batch=40, groups=2))).describe()
    rows = {(r["layer"], r["phase"]): r for r in widths.exact_widths(desc)}
    assert rows["conv5", "fp"]["terms"] == 576 and rows["conv5", "fp"]["exact_bits"] == 41
    assert rows["conv0", "wu"]["terms"] == 20 * 32 * 32 and rows["conv0", "wu"]["exact_bits"] == 46
    assert rows["fc", "fp"]["terms"] == 1024 and rows["fc", "bp"]["terms"] == 10
    assert all(r["exact"] for (name, _), r in rows.items() if name != "fc")  # conv sums: 64 bits
    assert not any(r["exact"] for (name, _), r in rows.items() if name == "fc")  # FC: 32 bits
    assert max(r["exact_bits"] for r in rows.values()) == 46  # the longest: conv0/conv1 WU


def test_cli(tmp_path, capsys):
    out = tmp_path / "w.json"
    assert cli.main(["widths", "--model", "cnn1x", "--batch", "40", "--groups", "2",
                     "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "| conv0 | wu | 20480 | 46 | 64 | yes |" in text
    assert "| fc | fp | 1024 | 42 | 32 | no (wraps) |" in text
    assert len(json.loads(out.read_text())["rows"]) == 7 * 3
    desc = tmp_path / "net.json"
    desc.write_text(json.dumps(cnn1x(recipe=float64(fpl19(batch=8, groups=4))).describe()))
    assert cli.main(["widths", "--describe", str(desc)]) == 0
    assert "| conv1 | wu | 2048 | 43 | 64 | yes |" in capsys.readouterr().out
    desc.write_text("[1, 2]")
    assert cli.main(["widths", "--describe", str(desc)]) == 2
    assert "not a Network.describe() dict" in capsys.readouterr().err
