"""Performance table (issue #20): every ratio the issue names, side by side in one run, each with its goal.

Rows (``--only NAME``, repeatable, runs just those):

- ``trainer``: serbench's trainer / a bare loop (same model, data, steps, optimiser, batch order kind); <= 1.05
- ``pgd-cnn``, ``pgd-rnn``: native PGD-k / k x (forward + backward), on cnn4 and on cnn-lstm; <= 1.00
- ``pgd-torchattacks``: native PGD / torchattacks PGD (cnn4, same work); <= 1.00
- ``pgd-art``: native PGD / ART PGD (cnn4, same work); reported, no goal
- ``fgsm-eps``: FGSM at 3 eps / FGSM at 1 eps through the harness's evaluator (the FGSM cells' own eval
  seconds from their records; the gradient is shared across eps); <= 1.2
- ``leaderboard``: ``serbench leaderboard`` on 100 committed records / ``serbench --help`` (subprocesses); <= 1.5
- ``ray``: local@1 / ray@2 on benchmarks/executor_speed.py's matrix (workers warmed as local@1 is); >= 1.6
- ``ray-vs-processes``: ray@2 / two plain processes on the same cells: Ray's own cost, which a loaded host
  does not hide (the note gives local@1 / processes@2, what the host allows now); reported

A and B repetitions are interleaved and medians reported. Timing on a shared host is noisy: the load
average is printed before and after; ratios taken above a load of ~0.5 on a 2-core host say little (the
``ray`` row least of all: its two workers need both cores). ``--device cuda`` gives a GPU user the same
table (the ``leaderboard`` row is CPU-only by nature). ``--quick``: tiny sizes, for a test.

    .venv/bin/python benchmarks/perf.py                              # the issue's table, CPU
    .venv/bin/python benchmarks/perf.py --only trainer --only ray
    .venv/bin/python benchmarks/perf.py --device cuda --json perf.json
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn

import serbench
from serbench.bench.environment import resolve_device

sys.path.insert(0, str(Path(__file__).resolve().parent))
import attack_speed  # noqa: E402  (a sibling script: its measurements are reused, not copied)
import executor_speed  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Row:
    """One ratio: ``a_s / b_s`` against ``goal`` (``<= x``, ``>= x`` or "" for reported only)."""

    name: str
    a: str
    b: str
    a_s: float
    b_s: float
    goal: str = ""
    note: str = ""

    @property
    def ratio(self) -> float:
        return self.a_s / self.b_s if self.b_s > 0 else math.inf

    @property
    def met(self) -> bool | None:
        if not self.goal:
            return None
        op, value = self.goal.split()
        return self.ratio <= float(value) if op == "<=" else self.ratio >= float(value)


ROWS = ("trainer", "pgd-cnn", "pgd-rnn", "pgd-torchattacks", "pgd-art", "fgsm-eps", "leaderboard", "ray",
        "ray-vs-processes")


# -- trainer vs a bare loop ---------------------------------------------------------------------------------
def trainer_rows(args: argparse.Namespace, device: torch.device) -> list[Row]:
    """serbench's trainer (standard defense, no validation) against the loop anyone would write for the same
    model, data, steps, optimiser and learning-rate steps."""
    from serbench.engine.schedules import Schedule
    from serbench.engine.train import train

    model_name, n, shape, steps, batch = (("cnn4.tiny", 32, (1, 32, 32), 3, 8) if args.quick else
                                          ("cnn4.small", 256, (1, 64, 188), 40, 32))
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(n, *shape, generator=gen).to(device)
    y = torch.randint(0, 4, (n,), generator=gen).to(device)
    sched = Schedule(name="perf", iterations=steps, eval_every=steps, batch_size=batch)
    autocast = torch.autocast(device_type="cuda", dtype=torch.bfloat16, enabled=device.type == "cuda")

    def fresh() -> nn.Module:
        torch.manual_seed(0)
        return serbench.get("models", model_name, num_classes=4).to(device)

    def trainer() -> None:
        train(fresh(), serbench.get("defenses", "standard"), x, y, None, y, sched, 0, 4)

    def bare() -> None:
        model = fresh()
        opt = torch.optim.Adam(model.parameters(), lr=sched.lr, weight_decay=sched.weight_decay)
        shuffle = torch.Generator(device=device).manual_seed(0)
        order, pos = torch.randperm(n, generator=shuffle, device=device), 0
        model.train()
        for it in range(steps):
            if pos >= n:
                order, pos = torch.randperm(n, generator=shuffle, device=device), 0
            idx = order[pos:pos + batch]
            pos += batch
            with autocast:
                loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if (it + 1) % sched.lr_step == 0:
                for g in opt.param_groups:
                    g["lr"] *= sched.lr_decay
        model.eval()

    t = attack_speed.interleaved_medians({"trainer": trainer, "bare": bare}, args.repeats, device)
    return [Row("trainer", "trainer", "bare loop", t["trainer"], t["bare"], "<= 1.05",
                f"{model_name}, {steps} steps of {batch} x {shape}")]


# -- PGD ----------------------------------------------------------------------------------------------------
def pgd_rows(args: argparse.Namespace, device: torch.device, wanted: set[str]) -> list[Row]:
    """PGD-k against its floor (k forward + backward passes), and against torchattacks and ART doing the same work
    (Linf, no random start) on the same model and batch."""
    steps, batch, shape = (2, 2, (1, 32, 48)) if args.quick else (10, 16, (1, 64, 188))
    libraries = {"pgd-torchattacks": ("torchattacks.pgd", "<= 1.00"), "pgd-art": ("art.pgd", "")}
    rows = []
    for model_name, own in (("cnn4.small", {"pgd-cnn", *libraries}), ("cnn-lstm.small", {"pgd-rnn"})):
        rows_here = sorted(wanted & own, key=ROWS.index)
        if not rows_here:
            continue
        torch.manual_seed(0)
        model = serbench.get("models", model_name, num_classes=4).to(device).eval()
        x = torch.rand(batch, *shape, device=device)
        y = torch.randint(0, 4, (batch,), device=device)
        others = tuple(libraries[r][0] for r in rows_here if r in libraries and _has_attack(libraries[r][0]))
        t = attack_speed.pgd_times(model, x, y, steps, 0.02, args.repeats, ("pgd", *others))
        what = f"{model_name}, batch {batch} x {shape}, {steps} steps"
        for row in rows_here:
            if row in libraries:
                lib, goal = libraries[row]
                rows.append(Row(row, "native pgd", lib, t["pgd"], t.get(lib, math.nan), goal,
                                what if lib in t else f"{lib} not installed"))
            else:
                rows.append(Row(row, f"PGD-{steps}", f"{steps} x (fwd+bwd)", t["pgd"], steps * t["fwd+bwd"],
                                "<= 1.00", what))
    return rows


def _has_attack(name: str) -> bool:
    try:
        serbench.registry("attacks").info(name)
    except Exception:  # noqa: BLE001 - a missing or broken plugin: the row says so instead of failing the table
        return False
    return True


# -- FGSM at several eps through the evaluator --------------------------------------------------------------
def fgsm_rows(args: argparse.Namespace, device: torch.device, tmp: Path) -> list[Row]:
    """Eval seconds of the FGSM cells (from their records) of one trained model, 3 eps against 1 eps: the
    harness computes each input gradient once and shares it across eps."""
    from serbench.bench.runner import LocalRunner
    from serbench.bench.spec import parse_spec
    from serbench.bench.store import Store

    base = {
        "name": "perf-fgsm",
        "dataset": {"name": "synthetic", "folds": [0],
                    **({"params": {"utterances_per_class": 6, "seed": 3}} if args.quick else {})},
        "frontend": {"seconds": 1.0 if args.quick else 2.0},
        "training": {"iterations": 2 if args.quick else 20, "batch_size": 16},
        "models": ["cnn4.tiny" if args.quick else "cnn4.small"],
        "seeds": [0],
    }
    eps = [0.005, 0.01, 0.02]
    one, three = (parse_spec({**base, "attacks": [{"name": "fgsm", "eps": e}]}) for e in (eps[1:2], eps))
    warm = Store(tmp / "fgsm-warm")
    assert LocalRunner(three, warm, device=str(device)).run().ok  # trains once; every run below loads it

    def fgsm_seconds(spec, name: str) -> tuple[float, float]:
        """(eval seconds of the FGSM cells, of the clean cell) of one run of ``spec`` in a fresh store that
        shares the trained model and the features."""
        store = Store(tmp / name)
        store.root.mkdir()
        for part in ("cache", "checkpoints"):
            os.symlink(warm.root / part, store.root / part)
        assert LocalRunner(spec, store, device=str(device)).run().ok
        evals = [r for r in store.records() if r["kind"] == "eval"]
        return (sum(r["timings"]["eval_s"] for r in evals if r["condition"]["type"] == "attack"),
                sum(r["timings"]["eval_s"] for r in evals if r["condition"]["type"] == "clean"))

    times: dict[str, list[float]] = {"1": [], "3": [], "clean": []}
    for rep in range(args.repeats):
        one_s, clean_s = fgsm_seconds(one, f"fgsm-1-{rep}")
        times["1"].append(one_s)
        times["3"].append(fgsm_seconds(three, f"fgsm-3-{rep}")[0])
        times["clean"].append(clean_s)
    med = {k: statistics.median(v) for k, v in times.items()}
    # Each eps is its own cell and scores its own adversarial examples: one forward pass over the partition
    # (about a clean cell's time) per eps that no sharing removes.
    floor = (med["1"] + 2 * med["clean"]) / med["1"]
    return [Row("fgsm-eps", "FGSM, 3 eps", "FGSM, 1 eps", med["3"], med["1"], "<= 1.2",
                f"{base['models'][0]} test partition, eval seconds of the FGSM cells; each eps also scores the "
                f"partition once (clean cell {med['clean']:.2f} s), so 3 eps cost at least {floor:.2f} x 1 eps")]


# -- leaderboard vs --help ------------------------------------------------------------------------------------
def leaderboard_rows(args: argparse.Namespace, tmp: Path) -> list[Row]:
    """Wall seconds of ``serbench leaderboard`` on the first N committed records against ``serbench --help``,
    each a fresh process, interleaved."""
    n = 20 if args.quick else 100
    results = tmp / "leaderboard-results"
    (results / "records").mkdir(parents=True)
    for path in sorted((ROOT / "leaderboard" / "records").glob("*.json"))[:n]:
        shutil.copy(path, results / "records" / path.name)
    serbench_cli = Path(sys.executable).with_name("serbench")
    cmd = [str(serbench_cli)] if serbench_cli.exists() else [sys.executable, "-m", "serbench"]

    def run(*extra: str) -> Callable[[], None]:
        return lambda: subprocess.run([*cmd, *extra], check=True, capture_output=True, cwd=tmp)

    t = attack_speed.interleaved_medians({"leaderboard": run("leaderboard", "--results", str(results)),
                                          "help": run("--help")}, args.repeats, torch.device("cpu"))
    return [Row("leaderboard", "serbench leaderboard", "serbench --help", t["leaderboard"], t["help"], "<= 1.5",
                f"{n} committed records, fresh processes")]


# -- local@1 vs ray@2 ------------------------------------------------------------------------------------------
def ray_rows(args: argparse.Namespace, device: torch.device, tmp: Path, wanted: set[str]) -> list[Row]:
    """benchmarks/executor_speed.py's comparison: the same cells run serially on one thread, on 2 Ray workers of
    one thread each (Ray started per repetition, each worker warmed up with one cell as local@1 is), and by 2
    plain processes."""
    rows_here = sorted(wanted & {"ray", "ray-vs-processes"}, key=ROWS.index)
    try:
        import ray  # noqa: F401
    except ImportError:
        return [Row(r, "local@1", "ray@2", math.nan, math.nan, "", "Ray not installed") for r in rows_here]
    workers = 2
    if args.quick:
        spec = executor_speed.matrix(workers, 2, model="cnn4.tiny", seconds=1.0)
        spec["dataset"]["params"] = {"utterances_per_class": 6, "seed": 3}
    else:
        spec = executor_speed.matrix(2 * workers, args.ray_iterations)
    t = executor_speed.measure(tmp / "ray", spec, workers, args.repeats, local_all=False, device=str(device),
                               processes="ray-vs-processes" in wanted)
    med = {k: statistics.median(v) for k, v in t.items()}
    what = f"{len(spec['seeds'])} cells of {spec['models'][0]}, {spec['training']['iterations']} iterations"
    rows = []
    if "ray" in wanted:
        rows.append(Row("ray", "local@1", f"ray@{workers}", med["local@1"], med[f"ray@{workers}"], ">= 1.6",
                        f"{what}; not in ray@2: Ray start-up {med['startup']:.1f} s, worker warm-up "
                        f"{med['warmup']:.1f} s"))
    if "ray-vs-processes" in wanted:
        plain = med[f"processes@{workers}"]
        rows.append(Row("ray-vs-processes", f"ray@{workers}", f"processes@{workers}", med[f"ray@{workers}"], plain,
                        "", f"{what}; the host's ceiling now: local@1 / processes@2 = {med['local@1'] / plain:.2f}"))
    return rows


# -- the table --------------------------------------------------------------------------------------------------
def measure(args: argparse.Namespace) -> list[Row]:
    wanted = set(args.only or ROWS)
    unknown = wanted - set(ROWS)
    if unknown:
        raise SystemExit(f"--only: unknown row {sorted(unknown)[0]!r}; rows: {', '.join(ROWS)}")
    device = resolve_device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="serbench-perf-") as tmp:
        tmp_path = Path(tmp)
        os.environ.setdefault("SERBENCH_CACHE", str(tmp_path / "corpus-cache"))
        if "trainer" in wanted:
            rows += trainer_rows(args, device)
        if wanted & {"pgd-cnn", "pgd-rnn", "pgd-torchattacks", "pgd-art"}:
            rows += pgd_rows(args, device, wanted)
        if "fgsm-eps" in wanted:
            rows += fgsm_rows(args, device, tmp_path)
        if "leaderboard" in wanted:
            rows += leaderboard_rows(args, tmp_path)
        if wanted & {"ray", "ray-vs-processes"}:
            rows += ray_rows(args, device, tmp_path, wanted)
    return sorted(rows, key=lambda r: ROWS.index(r.name))


def print_table(rows: list[Row]) -> None:
    print(f"{'row':<17} {'A':<21} {'B':<21} {'A s':>9} {'B s':>9} {'A/B':>6}  {'goal':<8} met")
    for r in rows:
        met = {True: "yes", False: "NO", None: "-"}[r.met] if math.isfinite(r.ratio) else "n/a"
        print(f"{r.name:<17} {r.a:<21} {r.b:<21} {r.a_s:9.4f} {r.b_s:9.4f} {r.ratio:6.3f}  {r.goal or '-':<8} {met}")
    for r in rows:
        if r.note:
            print(f"  {r.name}: {r.note}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="auto", help="auto | cpu | cuda[:N]")
    ap.add_argument("--only", action="append", metavar="NAME",
                    help=f"run this row only (repeatable): {', '.join(ROWS)}")
    ap.add_argument("--quick", action="store_true", help="tiny sizes, one repetition (for a test; ratios mean little)")
    ap.add_argument("--repeats", type=int, default=None, help="interleaved repetitions per row (default 3; quick 1)")
    ap.add_argument("--threads", type=int, default=None, help="torch threads of the in-process rows (default torch's)")
    ap.add_argument("--ray-iterations", type=int, default=100, help="training iterations of each cell in the ray row")
    ap.add_argument("--json", type=Path, default=None, help="also write the rows here as JSON")
    args = ap.parse_args()
    args.repeats = args.repeats or (1 if args.quick else 3)
    load = os.getloadavg()[0]
    start = time.perf_counter()
    rows = measure(args)
    print(f"serbench perf: device {resolve_device(args.device)}, {torch.get_num_threads()} torch threads, torch "
          f"{torch.__version__}, {os.cpu_count()} CPUs, median of {args.repeats}{', quick' if args.quick else ''}; "
          f"load average {load:.2f} before, {os.getloadavg()[0]:.2f} after; {time.perf_counter() - start:.0f} s")
    print_table(rows)
    if args.json:
        args.json.write_text(json.dumps([asdict(r) | {"ratio": r.ratio, "met": r.met} for r in rows], indent=1))


if __name__ == "__main__":
    main()
