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


def main(argv: list[str]) -> int:
    if len(argv) < 2 or argv[1] not in _targets():
        print(f"usage: python scripts/fuzz.py {{{','.join(sorted(_targets()))}}} [libFuzzer flags] "
              "[corpus dir]", file=sys.stderr)
        return 2
    try:
        import atheris
    except ImportError:
        print("error: atheris is not installed: pip install -e '.[fuzz]'", file=sys.stderr)
        return 2
    name = argv[1]
    from fxtrain.testing.fuzz import TARGETS, mutate

    target = TARGETS[name]
    seeds = target.seeds()  # imports the reader and its dependencies ...
    atheris.instrument_all()  # ... so that coverage reaches inside them
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


def _targets():
    from fxtrain.testing.fuzz import TARGETS

    return TARGETS


if __name__ == "__main__":
    sys.exit(main(sys.argv))
