"""The embedded corpus ``synthetic``: procedurally generated emotional speech.

A source-filter synthesiser makes voiced syllable sequences (glottal pulse
train with jitter and shimmer, spectral tilt, breathiness, three formant
resonators, consonant bursts). Emotion moves the cues the SER literature
reports (Scherer 2003; Banse & Scherer 1996): F0 level and range, intensity,
speaking rate, spectral tilt, jitter and shimmer. Speakers differ in base F0,
vocal-tract length and how expressive they are; sessions differ in channel
colour and noise floor. Per-utterance draws are wide, so classes overlap
(angry/happy especially): a good model lands well above chance, clearly
below 100 % UAR.

Layout mirrors IEMOCAP: 5 sessions x 2 speakers (one female, one male), the
four classes angry, happy, neutral, sad, so IEMOCAP's protocols apply as is.
Everything is a pure function of the seed; audio is generated on first use
and cached on disk (``SERBENCH_CACHE``, default ``~/.cache/serbench``). scipy is imported by the
synthesiser: registering the corpus (``serbench list``) must not load it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import numpy as np

from serbench.data.corpus import Utterance, declare_protocols
from serbench.data.generated import GeneratedCorpus
from serbench.data.protocols import leave_one_session_out, leave_one_speaker_out
from serbench.errors import SerbenchError
from serbench.registry import register

LABELS = ("angry", "happy", "neutral", "sad")
GENERATOR_VERSION = "1"
MIN_SECONDS = 0.15


@dataclass(frozen=True)
class EmotionProfile:
    """Mean cue values of one emotion; utterances scatter around them."""

    f0_shift_st: float  # semitones above the speaker's base F0
    f0_range_st: float  # per-syllable accent range in semitones
    level_db: float  # intensity relative to neutral
    rate_syl_s: float  # syllables per second
    tilt: float  # glottal low-pass pole radius: higher = steeper spectral tilt
    jitter: float  # relative period perturbation
    shimmer: float  # relative pulse amplitude perturbation
    breath: float  # aspiration noise relative to voicing


PROFILES: dict[str, EmotionProfile] = {
    "angry": EmotionProfile(3.5, 4.5, 7.0, 5.4, 0.80, 0.012, 0.06, 0.04),
    "happy": EmotionProfile(4.5, 6.5, 3.5, 5.0, 0.86, 0.010, 0.04, 0.05),
    "neutral": EmotionProfile(0.0, 2.5, 0.0, 4.4, 0.90, 0.008, 0.03, 0.06),
    "sad": EmotionProfile(-2.0, 1.5, -6.0, 3.4, 0.95, 0.018, 0.05, 0.14),
}
# Per-utterance standard deviations of the same cues: these make classes overlap.
SCATTER = EmotionProfile(2.0, 1.5, 3.5, 0.7, 0.035, 0.004, 0.015, 0.03)

# (F1, F2, F3) in Hz for an adult male vocal tract; scaled per speaker.
VOWELS = np.array([[730, 1090, 2440], [530, 1840, 2480], [270, 2290, 3010], [570, 840, 2410], [300, 870, 2240]])
BANDWIDTHS = np.array([90.0, 110.0, 170.0])


def _resonator(freq: float, bw: float, sr: int) -> tuple[np.ndarray, np.ndarray]:
    r = np.exp(-np.pi * bw / sr)
    theta = 2 * np.pi * freq / sr
    a = np.array([1.0, -2 * r * np.cos(theta), r * r])
    return np.array([a.sum()]), a  # unity gain at DC


def _speaker_traits(seed: int, speaker_index: int, gender: str) -> dict[str, float]:
    rng = np.random.default_rng([seed, 1, speaker_index])
    female = gender == "F"
    return {
        "f0": float(rng.normal(205.0, 18.0) if female else rng.normal(118.0, 12.0)),
        "vtl": float(rng.normal(1.17, 0.04) if female else rng.normal(1.0, 0.04)),
        "expressive": float(rng.uniform(0.65, 1.25)),
        "level_db": float(rng.normal(0.0, 2.0)),
        "rate": float(rng.normal(1.0, 0.08)),
    }


def _session_channel(seed: int, session_index: int) -> dict[str, float]:
    rng = np.random.default_rng([seed, 2, session_index])
    return {"noise_db": float(rng.uniform(-58.0, -48.0)), "colour": float(rng.uniform(-0.4, 0.4))}


def synthesize(
    label: str, speaker: dict[str, float], channel: dict[str, float], rng: np.random.Generator, sr: int,
    max_seconds: float,
) -> np.ndarray:
    """One utterance: a sequence of voiced syllables carrying ``label``'s cues."""
    from scipy.signal import lfilter

    p, s, k = PROFILES[label], SCATTER, speaker["expressive"]
    neutral = PROFILES["neutral"]

    def draw(attr: str) -> float:  # speaker expressiveness scales the emotional deviation
        mean = getattr(neutral, attr) + k * (getattr(p, attr) - getattr(neutral, attr))
        return float(rng.normal(mean, getattr(s, attr)))

    f0_shift, f0_range = draw("f0_shift_st"), max(0.3, draw("f0_range_st"))
    level_db = draw("level_db") + speaker["level_db"]
    rate = max(2.0, draw("rate_syl_s") * speaker["rate"])
    tilt = float(np.clip(draw("tilt"), 0.6, 0.985))
    jitter, shimmer = max(0.0, draw("jitter")), max(0.0, draw("shimmer"))
    breath = max(0.0, draw("breath"))

    n_syll = int(rng.integers(4, 9))
    durations = rng.uniform(0.75, 1.25, n_syll) / rate
    pauses = rng.uniform(0.0, 0.25, n_syll) / rate * (rng.random(n_syll) < 0.3)
    total = int(min(max_seconds, durations.sum() + pauses.sum() + 0.2) * sr)
    out = np.zeros(total, dtype=np.float64)
    base_f0 = speaker["f0"] * 2 ** (f0_shift / 12)
    t0 = int(0.1 * sr)
    for i in range(n_syll):
        n = int(durations[i] * sr)
        if t0 + n >= total:
            if i:
                break
            n = total - t0 - 1  # a short max_seconds crops the first syllable (it would be all zero, NaN once scaled)
        # F0: accent per syllable, declination inside it, jitter per sample (smoothed).
        accent = rng.uniform(-0.5, 0.5) * f0_range
        slope = rng.uniform(-0.6, 0.2) * f0_range
        st = accent + slope * np.linspace(0, 1, n)
        wobble = np.convolve(rng.normal(0, 1, n), np.ones(40) / np.sqrt(40), mode="same")
        f0 = base_f0 * 2 ** (st / 12) * (1 + jitter * wobble)
        phase = np.cumsum(f0 / sr)
        pulses = np.diff(np.floor(phase), prepend=np.floor(phase[0])) > 0
        amps = 1 + shimmer * rng.normal(0, 1, n)
        source = pulses * amps
        source = lfilter([1 - tilt], [1, -tilt], lfilter([1 - tilt], [1, -tilt], source))
        source = source / (1 - tilt) * 0.2 + breath * rng.normal(0, 0.05, n)
        # Vocal tract: three formants of a random vowel, scaled by tract length.
        formants = VOWELS[rng.integers(len(VOWELS))] * speaker["vtl"] * rng.uniform(0.95, 1.05, 3)
        voiced = source
        for f, bw in zip(formants, BANDWIDTHS):
            b, a = _resonator(min(f, sr / 2 - 200), bw, sr)
            voiced = lfilter(b, a, voiced)
        env = np.sin(np.pi * np.linspace(0, 1, n)) ** 0.6
        seg = voiced * env
        # Consonant onset: a short fricative burst, louder in aroused speech.
        m = min(n, int(0.03 * sr))
        seg[:m] += rng.normal(0, 0.02 * (1 + max(0.0, level_db) / 10), m) * np.hanning(m)
        out[t0 : t0 + n] += seg
        t0 += n + int(pauses[i] * sr)
    out *= 0.03 / (np.sqrt(np.mean(out[out != 0] ** 2)) + 1e-9) * 10 ** (level_db / 20)
    # Session channel: a gentle tilt and a noise floor.
    out = lfilter([1.0, channel["colour"]], [1.0], out)
    out += rng.normal(0, 10 ** (channel["noise_db"] / 20), out.shape)
    return np.clip(out, -1.0, 1.0).astype(np.float32)


class SyntheticCorpus(GeneratedCorpus):
    """Corpus whose audio is synthesised in bulk on first access and cached on disk."""

    def __init__(self, seed: int, sessions: int, utterances_per_class: int, sample_rate: int,
                 max_seconds: float) -> None:
        if max_seconds < MIN_SECONDS:
            raise SerbenchError(f"dataset 'synthetic' parameter 'max_seconds' is {max_seconds}; it must be at least "
                                f"{MIN_SECONDS} s (a 0.1 s onset and one syllable)")
        self.seed, self.max_seconds = seed, max_seconds
        utts: list[Utterance] = []
        self._traits: dict[str, dict[str, float]] = {}
        self._channels: dict[str, dict[str, float]] = {}
        for s in range(1, sessions + 1):
            session = f"{s:02d}"
            self._channels[session] = _session_channel(seed, s)
            for gender in ("F", "M"):
                speaker = f"Ses{session}{gender}"
                self._traits[speaker] = _speaker_traits(seed, 2 * s + (gender == "M"), gender)
                for label in LABELS:
                    for j in range(utterances_per_class):
                        utts.append(Utterance(
                            id=f"{speaker}_{label}_{j:03d}", label=label, speaker=speaker,
                            session=session, gender=gender,
                        ))
        super().__init__(
            name="synthetic",
            utterances=utts,
            labels=LABELS,
            sample_rate=sample_rate,
            protocols={
                "leave-one-session-out": leave_one_session_out,
                "leave-one-speaker-out": leave_one_speaker_out,
            },
            default_protocol="leave-one-session-out",
        )

    def cache_key(self) -> str:
        blob = json.dumps([GENERATOR_VERSION, self.seed, self.sample_rate, self.max_seconds, self.listing_hash()])
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def generate(self) -> dict[str, np.ndarray]:
        """Synthesise every utterance (deterministic per utterance id, independent of order)."""
        audio = {}
        for idx, u in enumerate(self.utterances):
            rng = np.random.default_rng([self.seed, 3, idx])
            audio[u.id] = synthesize(u.label, self._traits[u.speaker], self._channels[u.session], rng,
                                     self.sample_rate, self.max_seconds)
        return audio


@register(
    "datasets",
    "synthetic",
    version="1.0",
    summary="Embedded procedurally generated emotional speech: 4 IEMOCAP classes, 5 sessions x 2 speakers",
    tags=("embedded", "4-class", "offline"),
)
@declare_protocols("leave-one-session-out", "leave-one-speaker-out")
def synthetic(seed: int = 0, sessions: int = 5, utterances_per_class: int = 24, sample_rate: int = 16000,
              max_seconds: float = 2.0) -> SyntheticCorpus:
    """Embedded procedurally generated emotional speech (4 classes, 2 speakers x N sessions)."""
    return SyntheticCorpus(seed, sessions, utterances_per_class, sample_rate, max_seconds)
