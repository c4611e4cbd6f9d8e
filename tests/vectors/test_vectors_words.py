"""Word formats and the $readmemh codec: pinned examples, an independent line parser,
round trips over every width, and strict rejection of malformed text."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from fxtrain.vectors.words import WordFormat, decode_hex, encode_hex


def parse_lines(text: bytes, bits: int, signed: bool) -> list[int]:
    """Independent reader: int(line, 16), then two's complement by hand."""
    out = []
    for line in text.decode("ascii").splitlines():
        u = int(line, 16)
        assert 0 <= u < 2**bits
        out.append(u - 2**bits if signed and u >= 2**(bits - 1) else u)
    return out


# ------------------------------------------------------------------ pinned examples (docs)

@pytest.mark.parametrize("fmt, values, text", [
    (WordFormat.fixed(16, 14), [-1, -32768, 5, 32767, 0], b"ffff\n8000\n0005\n7fff\n0000\n"),
    (WordFormat.fixed(12, 3), [-1, -2048, 2047], b"fff\n800\n7ff\n"),
    (WordFormat.fixed(14, 0), [-1, -8192, 8191], b"3fff\n2000\n1fff\n"),
    (WordFormat.fixed(32, 29), [-1, -2**31, 2**31 - 1], b"ffffffff\n80000000\n7fffffff\n"),
    (WordFormat.fixed(2, 0), [-2, -1, 0, 1], b"2\n3\n0\n1\n"),
    (WordFormat("mask", 1), [0, 1, 1], b"0\n1\n1\n"),
    (WordFormat("index", 2), [0, 3, 2], b"0\n3\n2\n"),
    (WordFormat("index", 9), [511, 256], b"1ff\n100\n"),
])
def test_known_hex(fmt, values, text):
    a = np.array(values).astype(fmt.dtype)
    assert encode_hex(a, fmt) == text
    np.testing.assert_array_equal(decode_hex(text, fmt, len(values), "t"), a)
    assert decode_hex(text.upper(), fmt, len(values), "t").tolist() == values


def test_format_names_dtypes_digits():
    assert (WordFormat.fixed(16, 14).name, WordFormat.fixed(16, 14).dtype) == ("Q16.14", np.int16)
    assert WordFormat.fixed(32, -3).name == "Q32.-3"
    assert WordFormat.fixed(8, 3).dtype == np.int8 and WordFormat.fixed(9, 3).dtype == np.int16
    assert WordFormat.fixed(33, 0).dtype == np.int64 and WordFormat.fixed(33, 0).hex_digits == 9
    assert WordFormat("mask", 1).dtype == np.uint8 and WordFormat("mask", 1).hex_digits == 1
    assert WordFormat.index_for(4) == WordFormat("index", 2)
    assert WordFormat.index_for(10) == WordFormat("index", 4)
    assert WordFormat.index_for(1) == WordFormat("index", 1)
    assert WordFormat("index", 17).dtype == np.uint32


def test_rows_are_row_major_and_scalars_one_line():
    fmt = WordFormat.fixed(16, 0)
    a = np.arange(6, dtype=np.int16).reshape(2, 3).T  # non-contiguous view
    assert parse_lines(encode_hex(a, fmt), 16, True) == a.reshape(-1).tolist()
    assert encode_hex(np.asarray(np.int16(-2)), fmt) == b"fffe\n"
    assert encode_hex(np.zeros((0, 3), np.int16), fmt) == b""


@pytest.mark.parametrize("bad", [
    dict(kind="fixed", bits=1, frac=0), dict(kind="fixed", bits=65, frac=0), dict(kind="fixed", bits=16),
    dict(kind="mask", bits=2), dict(kind="mask", bits=1, frac=0), dict(kind="index", bits=0),
    dict(kind="float", bits=16), dict(kind="fixed", bits=True, frac=0), dict(kind="fixed", bits=16, frac=1.5),
])
def test_bad_formats(bad):
    with pytest.raises(ValueError):
        WordFormat(**bad)


def test_from_json_checks_consistency():
    f = WordFormat.fixed(16, 14)
    assert WordFormat.from_json(f.to_json()) == f
    assert WordFormat.from_json(WordFormat("mask", 1).to_json()) == WordFormat("mask", 1)
    for bad in ({**f.to_json(), "frac": 13}, {**f.to_json(), "bits": 15}, {**f.to_json(), "signed": False},
                {**f.to_json(), "format": "Q16"}, {"format": "mask", "bits": 1, "frac": None, "signed": True}):
        with pytest.raises(ValueError):
            WordFormat.from_json(bad)


def test_values_must_fit():
    with pytest.raises(ValueError, match="do not fit Q12.0"):
        encode_hex(np.array([2048]), WordFormat.fixed(12, 0))
    with pytest.raises(ValueError, match="do not fit mask"):
        encode_hex(np.array([2], np.uint8), WordFormat("mask", 1))
    with pytest.raises(TypeError):
        encode_hex(np.array([1.0]), WordFormat.fixed(16, 0))


# ------------------------------------------------------------------ round trips

@st.composite
def words(draw):
    kind = draw(st.sampled_from(["fixed", "mask", "index"]))
    bits = {"fixed": draw(st.integers(2, 64)), "mask": 1, "index": draw(st.integers(1, 32))}[kind]
    fmt = WordFormat(kind, bits, 0 if kind == "fixed" else None)
    n = draw(st.integers(0, 20))
    lo, hi = fmt.min_int, fmt.max_int
    edge = st.sampled_from([lo, hi, 0, min(hi, 1), max(lo, -1)])
    vals = draw(st.lists(st.one_of(edge, st.integers(lo, hi)), min_size=n, max_size=n))
    return fmt, np.array(vals, dtype=fmt.dtype)


@given(words())
def test_round_trip_and_independent_parse(case):
    fmt, a = case
    text = encode_hex(a, fmt)
    assert len(text) == a.size * (fmt.hex_digits + 1)
    assert parse_lines(text, fmt.bits, fmt.signed) == a.tolist()
    b = decode_hex(text, fmt, a.size, "t")
    assert b.dtype == fmt.dtype
    np.testing.assert_array_equal(b, a)


# ------------------------------------------------------------------ malformed text

Q16 = WordFormat.fixed(16, 0)
GOOD = b"0001\nffff\n8000\n"


@pytest.mark.parametrize("text, count, match", [
    (GOOD[:-1], 3, r"last line \(line 3\) has no newline"),
    (GOOD[:-5], 3, r"2 lines, expected 3"),
    (GOOD + b"0000\n", 3, r"4 lines, expected 3"),
    (b"0001\nfff\n8000\n", 3, r"line 2 is 'fff', expected 4 hex digits"),
    (b"0001\nffff\n80000\n", 3, r"line 3 is '80000'"),
    (b"0001\r\nffff\n800\n", 3, r"line 1 is '0001\\r'"),
    (b"0001\nfgff\n8000\n", 3, r"line 2 is 'fgff', not 4 hex digits"),
    (b"0001\n ff \n8000\n", 3, r"line 2"),
    (b"", 1, r"0 lines, expected 1"),
])
def test_malformed_hex(text, count, match):
    with pytest.raises(ValueError, match=match):
        decode_hex(text, Q16, count, "x.hex")


def test_bits_above_the_word():
    with pytest.raises(ValueError, match=r"line 2 \('4000'\) has bits set above the 14-bit"):
        decode_hex(b"3fff\n4000\n", WordFormat.fixed(14, 0), 2, "x.hex")
    with pytest.raises(ValueError, match="above the 1-bit mask"):
        decode_hex(b"0\n2\n", WordFormat("mask", 1), 2, "x.hex")


def test_docs_hex_table():
    """The worked examples of docs/vectors.md section 4 are what encode_hex writes."""
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "docs" / "vectors.md").read_text()
    table = text.split("| format | value | line |")[1].split("\n\n")[0]
    rows = [r.strip("|").split("|") for r in table.strip().splitlines()[1:]]
    assert len(rows) == 7  # incl. the 64-bit accumulator words of fpl19's exact conv sums
    for fmt_name, values, lines in rows:
        fmt_name = fmt_name.strip().split()[0]
        if fmt_name.startswith("Q"):
            fmt = WordFormat.fixed(int(fmt_name[1:].split(".")[0]), 0)
        elif fmt_name == "index":
            fmt = WordFormat("index", 2)
        else:
            fmt = WordFormat(fmt_name, 1)
        vals = [int(v) for v in values.split("/")]
        want = [w.strip().strip("`") for w in lines.split("/")]
        got = encode_hex(np.array(vals).astype(fmt.dtype), fmt).decode().split()
        assert got == want, fmt_name
