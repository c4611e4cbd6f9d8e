"""Make the repository's top-level ``reference`` package importable (it is not installed;
see tests/reference/conftest.py for why adding the repository root suffices)."""
import sys
from pathlib import Path

_ROOT = str(Path(__file__).resolve().parents[2])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)
