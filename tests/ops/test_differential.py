"""Every op in fxtrain.ops.table against its reference twin, bit for bit, on random small
shapes, strides, paddings, formats, rounding modes and value regimes."""
import pytest
from hypothesis import given, settings

from fxtrain.ops.table import TABLE
from ops_check import check_op


@pytest.mark.parametrize("spec", TABLE, ids=lambda s: s.name)
def test_engine_matches_oracle(spec):
    strategy = settings(max_examples=spec.max_examples) if spec.max_examples else (lambda f: f)

    @strategy
    @given(spec.args)
    def run(case):
        args, kwargs = case
        check_op(spec.name, *args, **kwargs)

    run()
