"""Commands that do not train never import the heavy libraries that only training and evaluation use.

Each command runs in a fresh interpreter (in-process CLI, then ``sorted(sys.modules)``), since a module
imported once stays imported: in this test process everything is loaded already.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

# Imported by training, attacks and corruptions only: listing, reading and ranking records must not load them.
FORBIDDEN = ("torchvision", "scipy", "pyroomacoustics", "audiomentations", "librosa", "ray", "art", "torchattacks")

TINY_SPEC = """
name: lazy
dataset: {name: synthetic, params: {utterances_per_class: 6}, protocol: leave-one-session-out, folds: [0]}
frontend: {preset: ren2020, seconds: 1.0}
training: {schedule: ren2020, iterations: 10, eval_every: 10, batch_size: 16}
models: [cnn4.tiny]
defenses: [standard]
seeds: [0, 1]
attacks:
  - {name: fgsm, eps: [0.05]}
noises:
  - {name: white, snr: [10]}
corruptions:
  - {name: gain, severity: [1]}
"""

RUN_IN_PROCESS = """
import json, sys
from serbench.cli.main import app
try:
    app(args=sys.argv[1:], standalone_mode=False)
except SystemExit:
    pass
print("\\nMODULES=" + json.dumps(sorted(sys.modules)))
"""


def _cli_modules(*args: str) -> tuple[subprocess.CompletedProcess, set[str]]:
    """Run ``serbench ARGS`` in a fresh interpreter; the process and every module it imported."""
    proc = subprocess.run([sys.executable, "-c", RUN_IN_PROCESS, *args], capture_output=True, text=True,
                          env=dict(os.environ), timeout=300)
    line = next((x for x in proc.stdout.splitlines() if x.startswith("MODULES=")), None)
    assert line is not None, proc.stderr
    return proc, set(json.loads(line.removeprefix("MODULES=")))


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> tuple[Path, Path]:
    """A spec and the results of running it: train and eval records, with predictions, of two seeds."""
    root = tmp_path_factory.mktemp("lazy")
    spec = root / "lazy.yaml"
    spec.write_text(TINY_SPEC)
    proc = subprocess.run([sys.executable, "-m", "serbench", "run", str(spec), "--results", str(root / "results"),
                           "--quiet"], capture_output=True, text=True, env=dict(os.environ), timeout=600)
    assert proc.returncode == 0, proc.stderr
    return spec, root / "results"


# command -> (arguments, a serbench module it must import: the probe sees what the command loads)
COMMANDS = {
    "list": (lambda spec, res: ["list"], "serbench.component_index"),
    "info": (lambda spec, res: ["info", "models", "vgg16"], "serbench.models.torchvision_nets"),
    "info-corruption": (lambda spec, res: ["info", "corruptions", "reverb"], "serbench.corruptions.room"),
    "leaderboard": (lambda spec, res: ["leaderboard", "--results", str(res)], "serbench.leaderboard.aggregate"),
    "leaderboard-markdown": (lambda spec, res: ["leaderboard", "--results", str(res), "--format", "markdown"],
                             "serbench.leaderboard.markdown"),
    "results-ls": (lambda spec, res: ["results", "ls", "--results", str(res)], "serbench.bench.store"),
    "results-export": (lambda spec, res: ["results", "export", "--results", str(res), "--csv"],
                       "serbench.bench.store"),
    "compare": (lambda spec, res: ["compare", str(res), "--a-where", "seed=0", "--b-where", "seed=1"],
                "serbench.analysis.compare"),
    "dry-run": (lambda spec, res: ["run", str(spec), "--results", str(res), "--dry-run"],
                "serbench.corruptions.level"),
}


# Commands that only read records: not even torch (its import is most of their time).
READ_ONLY = ("list", "leaderboard", "leaderboard-markdown", "results-ls", "results-export", "compare")


@pytest.mark.parametrize("command", list(COMMANDS))
def test_commands_that_do_not_train_leave_heavy_libraries_unimported(results, command):
    spec, res = results
    arguments, defining_module = COMMANDS[command]
    proc, modules = _cli_modules(*arguments(spec, res))
    assert proc.returncode == 0 and "error" not in proc.stderr, proc.stderr
    assert proc.stdout.split("MODULES=")[0].strip(), "the command printed nothing"
    assert defining_module in modules
    forbidden = FORBIDDEN + (("torch", "torchaudio") if command in READ_ONLY else ())
    assert sorted({name.split(".")[0] for name in modules}.intersection(forbidden)) == []
