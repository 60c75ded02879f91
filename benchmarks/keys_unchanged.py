"""Keys before and after a refactoring: the dry-run keys of every spec in benchmarks/ under two versions of serbench.

A redesign that changes no result must change no cell key. This plans every spec of ``benchmarks/``
(a dry run: nothing is trained or decoded) once with the code of a git revision (``--base``,
default ``HEAD``, unpacked with ``git archive``) and once with the working tree, on the same fake
corpus trees (the tests' builders, ``tests/test_corpus_fakes.py``) so real-corpus specs plan too,
and prints, per spec, the number of train and eval keys and how many differ.

    .venv/bin/python benchmarks/keys_unchanged.py                 # working tree vs HEAD
    .venv/bin/python benchmarks/keys_unchanged.py --base 69d37fa --spec quickstart.yaml

Exit 1 when any key differs (or a spec plans under one version only).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from test_corpus_fakes import make_demos, make_iemocap, make_msp_improv  # noqa: E402


def unpack(rev: str, into: Path) -> Path:
    """The package tree of ``rev`` (``git archive``), for ``PYTHONPATH``."""
    archive = into / "base.tar"
    subprocess.run(["git", "archive", "-o", str(archive), rev], cwd=ROOT, check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(into / "base", filter="data")
    return into / "base"


def plan(code: Path, spec: Path, env: dict[str, str], results: Path) -> dict[str, str] | str:
    """``{label: key}`` of every cell the spec plans under the code at ``code``, or the error line."""
    proc = subprocess.run([sys.executable, "-m", "serbench", "run", str(spec), "--results", str(results),
                           "--dry-run", "--json"], capture_output=True, text=True, cwd=code,
                          env={**os.environ, **env, "PYTHONPATH": str(code)}, timeout=900)
    if proc.returncode != 0:
        return (proc.stderr.strip().splitlines() or ["failed"])[-1]
    return {f"{c['kind']} {c['label']}": c["key"] for c in json.loads(proc.stdout)["cells"]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", default="HEAD", help="git revision to compare the working tree with")
    ap.add_argument("--spec", action="append", help="spec file name under benchmarks/ (default: all)")
    args = ap.parse_args()
    specs = [ROOT / "benchmarks" / s for s in args.spec] if args.spec else sorted((ROOT / "benchmarks").glob("*.yaml"))
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        base = unpack(args.base, tmp)
        make_demos(tmp / "demos")
        make_iemocap(tmp / "iemocap")
        make_msp_improv(tmp / "msp")
        env = {"SERBENCH_DATA_DEMOS": str(tmp / "demos"), "SERBENCH_DATA_IEMOCAP": str(tmp / "iemocap"),
               "SERBENCH_DATA_MSP_IMPROV": str(tmp / "msp")}
        bad = 0
        print(f"{'spec':<22} {'cells':>7} {'differ':>7}  (working tree vs {args.base})")
        for spec in specs:
            before = plan(base, spec, env, tmp / "results-base")
            after = plan(ROOT, spec, env, tmp / "results-new")
            if isinstance(before, str) or isinstance(after, str):
                print(f"{spec.name:<22} planning failed: base: {before if isinstance(before, str) else 'ok'}; "
                      f"working tree: {after if isinstance(after, str) else 'ok'}")
                bad += 1
                continue
            differ = sorted(set(before.items()) ^ set(after.items()))
            print(f"{spec.name:<22} {len(after):>7} {len({label for label, _ in differ}):>7}")
            for label, _ in differ[:4]:
                print(f"    {label}")
            bad += bool(differ)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
