"""Long-running coverage-guided fuzzing of one reader with atheris (the `fuzz` extra).

    pip install -e ".[fuzz]"
    python scripts/fuzz.py idx -max_total_time=3600      # one hour on the IDX reader
    python scripts/fuzz.py bundle -runs=100000 corpus/   # libFuzzer flags and corpus dirs

Readers: idx, cifar, checkpoint, bundle, plan (fxtrain.testing.fuzz.TARGETS). The seed
inputs are written into the corpus directory first (``fuzz-corpus/READER`` unless you
pass one), so libFuzzer starts from valid files. Inputs are used as-is half of the time and as
a mutation recipe for a seed (fxtrain.testing.fuzz.mutate) the other half, which reaches
deep states of formats with checksums and directories quickly. A crash writes
``crash-<sha1>`` with the input that caused it: add it to KNOWN_CRASHERS in
tests/fuzz/test_fuzz_readers.py together with the fix.
"""
from __future__ import annotations

import sys
from pathlib import Path


READERS = ("bundle", "checkpoint", "cifar", "idx", "plan")  # fxtrain.testing.fuzz.TARGETS
# numba kernels cannot be instrumented (atheris inserts calls numba cannot type), and the
# kernels are no part of any reader: leave out every module of these packages
_NOT_INSTRUMENTED_PACKAGES = ("ops", "numerics")


def _not_instrumented() -> list[str]:
    root = Path(__file__).resolve().parents[1] / "fxtrain"
    names = []
    for pkg in _NOT_INSTRUMENTED_PACKAGES:
        names.append(f"fxtrain.{pkg}")
        names += [f"fxtrain.{pkg}.{p.stem}" for p in (root / pkg).glob("*.py") if p.stem != "__init__"]
    return names


def main(argv: list[str]) -> int:
    if len(argv) < 2 or argv[1] not in READERS:
        print(f"usage: python scripts/fuzz.py {{{','.join(READERS)}}} [libFuzzer flags] [corpus dir]",
              file=sys.stderr)
        return 2
    try:
        import atheris
    except ImportError:
        print("error: atheris is not installed: pip install -e '.[fuzz]'", file=sys.stderr)
        return 2
    name = argv[1]
    with atheris.instrument_imports(include=["fxtrain"], exclude=_not_instrumented()):
        import fxtrain.data.cifar  # noqa: F401
        import fxtrain.data.idx  # noqa: F401
        import fxtrain.nn.recipe  # noqa: F401
        import fxtrain.train.checkpoint  # noqa: F401
        import fxtrain.vectors.bundle  # noqa: F401
        from fxtrain.testing.fuzz import TARGETS, mutate
    target = TARGETS[name]
    seeds = target.seeds()
    rest = argv[2:]
    dirs = [a for a in rest if not a.startswith("-")]
    if not dirs:
        dirs = [str(Path("fuzz-corpus") / name)]
        rest.append(dirs[0])
    corpus = Path(dirs[0])
    corpus.mkdir(parents=True, exist_ok=True)
    for i, s in enumerate(seeds):  # libFuzzer starts from valid files
        (corpus / f"seed{i}").write_bytes(s)

    def one_input(data: bytes) -> None:
        if data[:1] == b"\x01" and len(data) > 1:
            data = mutate(seeds[data[1] % len(seeds)], data[2:])
        target.run(data)

    atheris.Setup([argv[0], *rest], one_input)
    atheris.Fuzz()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
