"""`serbench list` against `python -c "import torch"`: wall time, interleaved repetitions, medians, ratio.

The goal (issue #18): listing every component, plugins included, is faster than importing torch, because
``list`` reads the cached component index (``serbench.component_index``) and imports neither torch nor any
plugin. Run it with every plugin installed (the Makefile's ``.venv`` has the three first-party ones):

    .venv/bin/python benchmarks/list_speed.py                 # 7 interleaved pairs
    .venv/bin/python benchmarks/list_speed.py --repeats 15

It first times one cold ``list`` (a fresh cache directory: the index is built in a separate process, which
imports torch and every plugin once), then alternates a warm ``list`` and an ``import torch`` so both see the
same machine load, and prints each median and their ratio. Exit 1 when the warm ``list`` is not faster.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _serbench() -> list[str]:
    """The ``serbench`` console script beside this interpreter (what a user runs), else ``python -m serbench``."""
    script = Path(sys.executable).with_name("serbench")
    return [str(script)] if script.exists() else [sys.executable, "-m", "serbench"]


def _wall(cmd: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    took = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr.strip()[-400:]}")
    return took


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7, help="interleaved (list, import torch) pairs")
    args = parser.parse_args()

    cache = Path(tempfile.mkdtemp(prefix="serbench-list-speed-"))
    env = dict(os.environ, SERBENCH_CACHE=str(cache))
    listing = [*_serbench(), "list"]
    torch = [sys.executable, "-c", "import torch"]
    try:
        rows = json.loads(subprocess.run([*_serbench(), "list", "--json"], capture_output=True, text=True,
                                         env=env, check=True).stdout)
        plugin_rows = sum(r["source"] != "serbench" for r in rows)
        shutil.rmtree(cache / "index", ignore_errors=True)  # so the timed first call builds the index
        cold = _wall(listing, env)
        warm, imports = [], []
        for _ in range(args.repeats):
            warm.append(_wall(listing, env))
            imports.append(_wall(torch, env))
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    med_list, med_torch = statistics.median(warm), statistics.median(imports)
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, {args.repeats} interleaved pairs; "
          f"{plugin_rows} of {len(rows)} rows listed are plugins'")
    print(f"serbench list, first call (builds the index): {cold:.3f} s")
    print(f"serbench list (cached index), median: {med_list:.3f} s  (all: {', '.join(f'{t:.3f}' for t in warm)})")
    print(f"python -c 'import torch', median:     {med_torch:.3f} s  (all: {', '.join(f'{t:.3f}' for t in imports)})")
    print(f"ratio list / import torch: {med_list / med_torch:.2f}")
    return 0 if med_list < med_torch else 1


if __name__ == "__main__":
    sys.exit(main())
