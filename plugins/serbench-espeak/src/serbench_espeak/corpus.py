"""The embedded corpus ``espeak.acted``: eSpeak NG voices acting the four IEMOCAP emotions.

Each session is an English accent spoken by one female and one male eSpeak
voice variant (``en-us+f1`` / ``en-us+m1`` ...), like IEMOCAP's 5 sessions x 2
speakers, so the same protocols apply and a model trained on serbench's
``synthetic`` corpus can be tested here (and back). Emotions are acted the way
the SER literature describes them (Scherer 2003): angry = fast, loud, raised
and wide pitch; happy = high pitch, widest range, a little fast and loud;
neutral = the voice's defaults; sad = slow, quiet, low and flat pitch, longer
pauses. Speakers differ in base rate and pitch and in how expressive they
are; every utterance scatters around its class, so classes overlap. Sessions
differ in channel colour and noise floor. The sentences are RAVDESS's and
CREMA-D's.

Uses only serbench's public API, as any third-party dataset plugin would.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import numpy as np
from scipy.signal import lfilter, resample_poly

import serbench

LABELS = ("angry", "happy", "neutral", "sad")
GENERATOR_VERSION = "1"
ACCENTS = ("en-us", "en", "en-gb-scotland", "en-029", "en-gb-x-rp", "en-gb-x-gbclan", "en-gb-x-gbcwmd",
           "en-us-nyc")
FEMALE = ("f1", "f2", "f3", "f4", "f5", "linda", "belinda", "Annie")
MALE = ("m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8")
SENTENCES = (
    "Kids are talking by the door.", "Dogs are sitting by the door.",  # RAVDESS
    "It's eleven o'clock.", "That is exactly what happened.", "I'm on my way to the meeting.",  # CREMA-D
    "I wonder what this is about.", "The airplane is almost full.", "Maybe tomorrow it will be cold.",
    "I would like a new alarm clock.", "I think I have a doctor's appointment.", "Don't forget a jacket.",
    "I think I've seen this before.", "The surface is slick.", "We'll stop in a couple of minutes.",
)


@dataclass(frozen=True)
class Prosody:
    """eSpeak parameters: rate in words/min, pitch and range 0-100, volume 0-200, word gap in 10 ms."""

    rate: float
    pitch: float
    range: float
    volume: float
    wordgap: float


PROFILES = {
    "angry": Prosody(195, 58, 75, 150, 0),
    "happy": Prosody(182, 72, 90, 120, 0),
    "neutral": Prosody(165, 48, 45, 90, 0),
    "sad": Prosody(125, 32, 15, 60, 3),
}
SCATTER = Prosody(14, 7, 12, 20, 1)  # per-utterance standard deviations: these make classes overlap
LIMITS = Prosody((80, 450), (0, 100), (0, 100), (10, 200), (0, 10))  # type: ignore[arg-type]


def _prosody(label: str, speaker: dict[str, float], rng: np.random.Generator) -> dict[str, int]:
    """One utterance's eSpeak parameters: the speaker's expressiveness scales the emotional deviation."""
    out = {}
    for field in ("rate", "pitch", "range", "volume", "wordgap"):
        neutral, target = getattr(PROFILES["neutral"], field), getattr(PROFILES[label], field)
        mean = neutral + speaker["expressive"] * (target - neutral)
        if field == "rate":
            mean *= speaker["rate"]
        elif field == "pitch":
            mean += speaker["pitch"]
        lo, hi = getattr(LIMITS, field)
        out[field] = int(np.clip(round(rng.normal(mean, getattr(SCATTER, field))), lo, hi))
    return out


class EspeakCorpus(serbench.GeneratedCorpus):
    """Corpus whose audio eSpeak NG synthesises in one fresh process on first access, cached on disk."""

    def __init__(self, seed: int, sessions: int, sentences: int, takes: int, sample_rate: int) -> None:
        if not 1 <= sessions <= len(ACCENTS):
            raise serbench.SerbenchError(f"espeak.acted: sessions must be 1..{len(ACCENTS)}, got {sessions}")
        if not 1 <= sentences <= len(SENTENCES) or takes < 1:
            raise serbench.SerbenchError(f"espeak.acted: sentences must be 1..{len(SENTENCES)} and takes >= 1")
        self.seed, self.num_sentences, self.takes = seed, sentences, takes
        self._jobs: list[dict] = []
        self._channels: dict[str, dict[str, float]] = {}
        utterances = []
        for s in range(sessions):
            session = f"{s + 1:02d}"
            crng = np.random.default_rng([seed, 2, s])
            self._channels[session] = {"colour": float(crng.uniform(-0.4, 0.4)),
                                       "noise_db": float(crng.uniform(-62.0, -52.0))}
            for g, (gender, variant) in enumerate((("F", FEMALE[s]), ("M", MALE[s]))):
                voice = f"{ACCENTS[s]}+{variant}"
                srng = np.random.default_rng([seed, 1, s, g])
                traits = {"expressive": float(srng.uniform(0.7, 1.2)), "rate": float(srng.normal(1.0, 0.06)),
                          "pitch": float(srng.normal(0.0, 5.0))}
                for label in LABELS:
                    for k in range(sentences):
                        for t in range(takes):
                            uid = f"{voice}_{label}_{k:02d}{'abcdefghij'[t % 10]}{t // 10 or ''}"
                            rng = np.random.default_rng([seed, 3, len(self._jobs)])
                            seed_ = int(rng.integers(1, 2**31 - 1))
                            self._jobs.append({"id": uid, "text": SENTENCES[k], "voice": voice, "seed": seed_,
                                               **_prosody(label, traits, rng)})
                            utterances.append(serbench.Utterance(
                                id=uid, label=label, speaker=voice, session=session, gender=gender,
                                meta={"text": SENTENCES[k], "accent": ACCENTS[s]},
                            ))
        super().__init__(
            name="espeak.acted", utterances=utterances, labels=LABELS, sample_rate=sample_rate,
            protocols={"leave-one-session-out": serbench.leave_one_session_out,
                       "leave-one-speaker-out": serbench.leave_one_speaker_out},
            default_protocol="leave-one-session-out",
        )

    def cache_key(self) -> str:
        """The generator's version, eSpeak's, and every utterance's parameters: also the corpus's fingerprint
        (``GeneratedCorpus.content_fingerprint``), so bump ``GENERATOR_VERSION`` when the audio changes."""
        blob = json.dumps([GENERATOR_VERSION, metadata.version("espeakng-loader"), self.seed,
                           self.sample_rate,
                           self._jobs, self._channels], sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def prosody(self, utt_id: str) -> dict:
        """The eSpeak parameters an utterance was spoken with (for inspection and tests)."""
        return next(j for j in self._jobs if j["id"] == utt_id)

    def generate(self) -> dict[str, np.ndarray]:
        """Run eSpeak in a fresh process over every job, then resample and apply each session's channel."""
        with tempfile.TemporaryDirectory(prefix="serbench-espeak-") as tmp:
            jobs, out = Path(tmp) / "jobs.json", Path(tmp) / "audio.npz"
            jobs.write_text(json.dumps(self._jobs))
            proc = subprocess.run([sys.executable, "-m", "serbench_espeak.worker", str(jobs), str(out)],
                                  capture_output=True, text=True, check=False)
            if proc.returncode != 0:
                reason = (proc.stderr.strip().splitlines() or ["no message"])[-1]
                raise serbench.DataError(f"espeak.acted: eSpeak NG generator failed: {reason}")
            with np.load(out) as z:
                raw = {k: z[k] for k in z.files}
        native = int(raw.pop("__rate__")[0])
        raw.pop("__version__")
        g = np.gcd(native, self.sample_rate)
        audio = {}
        for idx, u in enumerate(self.utterances):
            wave = raw[u.id].astype(np.float64) / 32768.0
            wave = resample_poly(wave, self.sample_rate // g, native // g)
            ch = self._channels[u.session]
            wave = lfilter([1.0, ch["colour"]], [1.0], wave)
            rng = np.random.default_rng([self.seed, 4, idx])
            wave = wave + rng.normal(0.0, 10 ** (ch["noise_db"] / 20), wave.shape)
            audio[u.id] = np.clip(wave, -1.0, 1.0).astype(np.float32)
        return audio


@serbench.declare_protocols("leave-one-session-out", "leave-one-speaker-out")
@serbench.component(
    name="espeak.acted", version="1.0",
    summary="Embedded eSpeak NG speech: 4 IEMOCAP classes acted through prosody, accents x voices",
    tags=("embedded", "4-class", "offline", "tts"),
)
def espeak(seed: int = 0, sessions: int = 5, sentences: int = 14, takes: int = 1,
           sample_rate: int = 16000) -> EspeakCorpus:
    """Embedded eSpeak NG corpus: sessions x (1 female + 1 male voice) x 4 classes x sentences x takes."""
    return EspeakCorpus(seed, sessions, sentences, takes, sample_rate)
