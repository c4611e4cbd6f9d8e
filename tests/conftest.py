"""Shared pytest configuration: hypothesis profiles.

`ci` is derandomized so CI runs are reproducible; `thorough` is for local bug hunting:
    HYPOTHESIS_PROFILE=thorough pytest tests/numerics
"""
import os

import numba
import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    derandomize=True,
    max_examples=200,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", max_examples=200, deadline=None)
settings.register_profile(
    "thorough", max_examples=5000, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))


def pytest_configure(config):
    config.addinivalue_line("markers", "parallel: run with numba's default thread count")


@pytest.fixture(autouse=True)
def _one_numba_thread(request):
    """One numba thread per test unless marked ``parallel``.

    Tests make thousands of calls on tiny arrays, and on a loaded 2-core machine a
    threaded launch waits ~10 ms for its second thread. The bits never depend on the
    thread count (docs/numerics.md); ``parallel`` tests cover the threaded paths.
    """
    if request.node.get_closest_marker("parallel"):
        yield
        return
    before = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        yield
    finally:
        numba.set_num_threads(before)
