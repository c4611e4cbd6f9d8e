"""Bad input gets a clear error that names what is wrong."""
import numpy as np
import pytest

from fxtrain.numerics import QFormat, dequantize, quantize, requantize

Q16 = QFormat(16, 8)
X = np.arange(6, dtype=np.int32).reshape(2, 3)


@pytest.mark.parametrize("x, message", [
    (np.array([1.5, 2.0]), r"dtype float64; use quantize\(\) for floats"),
    (np.array([1.5], dtype=np.float32), "float32"),
    (np.array([1], dtype=np.uint64), "uint64"),
    (np.array([True, False]), "bool"),
    (np.array(["1"]), "<U1"),
    (np.array([1, 2], dtype=object), "object"),
    (np.array([1 + 2j]), "complex128"),
])
def test_requantize_rejects_non_integer_dtypes(x, message):
    with pytest.raises(TypeError, match=message):
        requantize(x, 16, Q16, "floor")


def test_requantize_accepts_every_supported_integer_dtype():
    for dt in (np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32):
        assert requantize(np.array([3], dtype=dt), 9, Q16, "half_up").tolist() == [2]


@pytest.mark.parametrize("key", [None])
def test_stochastic_needs_a_key(key):
    for s in (16, 8, 0):  # also when no bits are dropped: the call must not depend on s
        with pytest.raises(ValueError, match="stochastic rounding needs a key"):
            requantize(X, s, Q16, "stochastic", key=key)


@pytest.mark.parametrize("key", [-1, 2**32, 1.0, "7", True, np.float64(3.0)])
def test_stochastic_key_out_of_range_or_wrong_type(key):
    with pytest.raises(ValueError, match=r"key must be an integer in \[0, 2\*\*32\)"):
        requantize(X, 16, Q16, "stochastic", key=key)


def test_largest_and_numpy_keys_are_accepted():
    # accepted, and used: a numpy key is the same key as the int, and key 2**32 - 1 with
    # indices i + 1 draws the words of key 0 with indices i (the sum is mod 2**32)
    top = requantize(X, 16, Q16, "stochastic", key=2**32 - 1)
    assert top.shape == X.shape and top.dtype == Q16.dtype
    np.testing.assert_array_equal(requantize(X, 16, Q16, "stochastic", key=np.uint32(5)),
                                  requantize(X, 16, Q16, "stochastic", key=5))
    idx = np.arange(X.size).reshape(X.shape)
    np.testing.assert_array_equal(requantize(X, 16, Q16, "stochastic", key=2**32 - 1, index=idx + 1),
                                  requantize(X, 16, Q16, "stochastic", key=0, index=idx))


@pytest.mark.parametrize("call, name", [
    (lambda: requantize(X, 16, Q16, "round"), "'round'"),
    (lambda: requantize(X, 16, Q16, "Floor"), "'Floor'"),
    (lambda: requantize(X, 16, Q16, "floor", "clip"), "'clip'"),
    (lambda: quantize(np.ones(2), Q16, "nearest"), "'nearest'"),
    (lambda: quantize(np.ones(2), Q16, "floor", "saturated"), "'saturated'"),
])
def test_unknown_mode_names(call, name):
    with pytest.raises(ValueError, match=f"unknown (rounding|overflow) mode {name}; expected one of"):
        call()


@pytest.mark.parametrize("w, f, message", [
    (1, 0, "w=1 out of range"),
    (33, 0, "w=33 out of range"),
    (16, 65, "f=65 out of range"),
    (16, -65, "f=-65 out of range"),
    (16.0, 8, "needs integers"),
    (16, "8", "needs integers"),
    (True, 0, "needs integers"),
])
def test_out_of_range_formats(w, f, message):
    with pytest.raises(ValueError, match=message):
        QFormat(w, f)


def test_format_parse_errors_name_the_text():
    with pytest.raises(ValueError, match="cannot parse fixed-point format 'Q16'"):
        QFormat.parse("Q16")
    with pytest.raises(ValueError, match="'Q40.2'.*w=40"):
        QFormat.parse("Q40.2")


@pytest.mark.parametrize("f_src, fmt, message", [
    (73, QFormat(16, 8), r"73 - 8 = 65 is outside \[-64, 64\]"),
    (-60, QFormat(16, 8), r"-60 - 8 = -68 is outside \[-64, 64\]"),
    (64, QFormat(16, -64), r"128 is outside"),
])
def test_out_of_range_shifts(f_src, fmt, message):
    with pytest.raises(ValueError, match=message):
        requantize(X, f_src, fmt, "floor")


@pytest.mark.parametrize("f_src", [8.0, "8", None, True])
def test_fraction_must_be_an_integer(f_src):
    with pytest.raises(TypeError, match="f_src must be an integer"):
        requantize(X, f_src, Q16, "floor")


def test_format_must_be_a_qformat():
    with pytest.raises(TypeError, match="expected a QFormat, got tuple"):
        requantize(X, 8, (16, 8), "floor")
    with pytest.raises(TypeError, match="expected a QFormat, got str"):
        quantize(np.ones(2), "Q16.8")


@pytest.mark.parametrize("index, exc, message", [
    (np.arange(6), ValueError, r"index shape \(6,\) does not match x shape \(2, 3\)"),
    (np.arange(6).reshape(3, 2), ValueError, r"index shape \(3, 2\) does not match x shape \(2, 3\)"),
    (np.zeros((2, 3)), TypeError, "index must be an integer array, got dtype float64"),
])
def test_index_must_match_x(index, exc, message):
    with pytest.raises(exc, match=message):
        requantize(X, 16, Q16, "stochastic", key=1, index=index)


def test_quantize_nan_names_the_count():
    x = np.array([1.0, np.nan, 2.0, np.nan, 0.5])
    with pytest.raises(ValueError, match="2 of 5 elements are NaN"):
        quantize(x, Q16)
    with pytest.raises(ValueError, match="1 of 1 elements are NaN"):
        quantize(float("nan"), Q16, "floor", "wrap")


def test_quantize_infinity_under_wrap_names_the_count():
    x = np.array([np.inf, 1.0, -np.inf, -np.inf])
    with pytest.raises(ValueError, match="3 of 4 elements are infinite.*saturate"):
        quantize(x, Q16, "floor", "wrap")


def test_quantize_has_no_stochastic_mode():
    with pytest.raises(ValueError, match="no stochastic mode.*requantize"):
        quantize(np.ones(3), Q16, "stochastic")


@pytest.mark.parametrize("x, message", [
    (np.array(["a"]), "<U1"),
    (np.array([1 + 1j]), "complex128"),
])
def test_quantize_rejects_non_real_input(x, message):
    with pytest.raises(TypeError, match=message):
        quantize(x, Q16)


def test_dequantize_rejects_floats():
    with pytest.raises(TypeError, match="dequantize.*float64"):
        dequantize(np.ones(2), Q16)


def test_errors_leave_no_partial_state():
    """A rejected call followed by a good one gives the same bits as the good one alone."""
    good = requantize(X, 16, Q16, "stochastic", key=9)
    with pytest.raises(ValueError):
        requantize(X, 16, Q16, "stochastic", key=-9)
    np.testing.assert_array_equal(requantize(X, 16, Q16, "stochastic", key=9), good)
