"""CGaP: continuous growth and pruning of filters and neurons, bit-exact in fixed point."""
