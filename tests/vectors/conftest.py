"""One numba thread per vector test: the captured networks are tiny, and on a loaded
2-core machine every parallel kernel launch waits ~20 ms for a second thread (the bits
do not depend on the thread count, docs/numerics.md section 6)."""
import numba
import pytest


@pytest.fixture(autouse=True, scope="module")
def _one_numba_thread():
    n = numba.get_num_threads()
    numba.set_num_threads(1)
    yield
    numba.set_num_threads(n)
