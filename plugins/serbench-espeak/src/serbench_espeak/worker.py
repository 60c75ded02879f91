"""Generator process: ``python -m serbench_espeak.worker JOBS.json OUT.npz``.

eSpeak NG keeps state from one utterance to the next (its pitch-flutter
phase, among others), so the same job gives different samples depending on
what was spoken before in the process. Running every job of a corpus, in a
fixed order, in a fresh process makes the audio a pure function of the jobs.
"""

from __future__ import annotations

import json
import sys

import numpy as np

from serbench_espeak.engine import ESpeak


def main(jobs_path: str, out_path: str) -> None:
    with open(jobs_path) as fh:
        jobs = json.load(fh)
    engine = ESpeak()
    audio = {job["id"]: engine.synth(job["text"], job["voice"], job["rate"], job["pitch"], job["range"],
                                     job["volume"], job["wordgap"], job["seed"]) for job in jobs}
    audio["__rate__"] = np.array([engine.sample_rate])
    audio["__version__"] = np.array([engine.version])
    np.savez(out_path, **audio)


if __name__ == "__main__":
    try:
        main(sys.argv[1], sys.argv[2])
    except Exception as exc:  # noqa: BLE001 - one line on stderr for the parent to report
        print(f"{type(exc).__name__}: {exc}".splitlines()[0], file=sys.stderr)
        sys.exit(1)
