"""The hwgen command: exit codes and output of lint, synth and usage errors (no simulation)."""
import shutil

import pytest

from hwgen.cli import main
from rtl_checks import need_simulator


def test_lint_all_modules(capsys):
    need_simulator("verilator", "lint")
    assert main(["lint"]) == 0
    assert "ok   lowbias32" in capsys.readouterr().out


def test_synth_prints_resource_table(capsys):
    if shutil.which("yosys") is None:
        pytest.skip("yosys not installed (apt-get install yosys)")
    assert main(["synth", "lowbias32", "-P", "TAG_WIDTH=4"]) == 0
    out = capsys.readouterr().out
    for row in ("LUT", "FF", "DSP", "BRAM18", "latches"):
        assert row in out


def test_usage_errors_are_named(capsys):
    assert main(["sim", "nonesuch"]) == 2
    assert "no RTL module 'nonesuch'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["synth", "lowbias32", "-P", "TAG_WIDTH"])
    assert "NAME=INTEGER" in capsys.readouterr().err
