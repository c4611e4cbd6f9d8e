"""Make the repository's top-level ``reference`` package (the slow oracle) importable.

``reference/`` is not installed (pyproject installs fxtrain and hwgen only) and pytest
puts only test folders on sys.path, so the repository root is added here.
"""
import sys
from pathlib import Path

_ROOT = str(Path(__file__).resolve().parents[2])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)
