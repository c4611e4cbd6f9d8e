"""Make the repository's top-level ``reference`` package importable.

``reference/`` is not an installed package (pyproject installs fxtrain and hwgen only),
and pytest puts ``tests/`` on sys.path, where ``tests/reference`` would otherwise be
picked up as a namespace package of the same name. A regular package wins over a
namespace portion wherever it sits on sys.path, so adding the repository root suffices.
"""
import sys
from pathlib import Path

_ROOT = str(Path(__file__).resolve().parents[2])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)
