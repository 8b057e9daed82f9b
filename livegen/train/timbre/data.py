"""The note data set: rendered with fluidsynth (NSynth style) or read from a folder of WAVs.

numpy/scipy only (no torch), so it can be built and tested without torch. MIDI files for
fluidsynth are written by ``livegen.io.midifile``.

A data set is a :class:`NoteSet`: every clip's audio (float32 mono at the set's rate, from the
note-on), and per-clip metadata (nominal pitch, measured f0, velocity, how long the key was
held, instrument, whether the pitch is held out of training). It is cached on disk as one .npz
under ``$XDG_CACHE_HOME/livegen/notes/``.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import subprocess
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from livegen import fileio
from livegen.core import hnsynth
from livegen.errors import DataError

PEAK = 0.9  # rendered sets are scaled so their loudest sample is this
SAMPLE_RATE = 48000
DEFAULT_SOUNDFONT = "/usr/share/sounds/sf2/FluidR3_GM.sf2"
# The 8 shipped presets (their names are kept so figures compare across models) ...
PRESET_PROGRAMS = (0, 4, 11, 19, 24, 40, 56, 73)
# ... and more pitched General MIDI programs, so that the timbre code z generalises to a sound
# the model never heard (cello 42, clarinet 71 and oboe 68 stay out: the encode-unseen test).
EXTRA_PROGRAMS = (2, 6, 8, 12, 16, 21, 22, 25, 27, 32, 33, 41, 45, 46, 48, 52, 57, 60, 64, 66,
                  70, 74, 80, 105)
DEFAULT_PROGRAMS = PRESET_PROGRAMS + EXTRA_PROGRAMS
UNSEEN_PROGRAMS = (42, 71, 68)
GM_NAMES = {0: "piano", 4: "epiano", 11: "vibraphone", 19: "organ", 24: "guitar", 40: "violin",
            56: "trumpet", 73: "flute", 2: "grand_epiano", 6: "harpsichord", 8: "celesta",
            12: "marimba", 16: "drawbar_organ", 21: "accordion", 22: "harmonica",
            25: "steel_guitar", 27: "clean_guitar", 32: "acoustic_bass", 33: "bass", 41: "viola",
            45: "pizzicato", 46: "harp", 48: "strings", 52: "choir", 57: "trombone",
            60: "horn", 64: "soprano_sax", 66: "tenor_sax", 70: "bassoon", 74: "recorder",
            80: "square_lead", 105: "banjo", 42: "cello", 71: "clarinet", 68: "oboe", 65: "sax"}


@dataclass(frozen=True)
class RenderSpec:
    """What to render. Defaults are the shipped model's data set."""

    programs: tuple[int, ...] = DEFAULT_PROGRAMS
    pitch_min: int = 40
    pitch_max: int = 84
    velocities: tuple[int, ...] = (50, 85, 120)
    hold_min_s: float = 0.6  # each note is held a seeded random time in [min, max]
    hold_max_s: float = 1.4  # so that the gate carries information
    release_s: float = 0.6  # audio kept after note-off
    gap_s: float = 1.2  # silence between notes in the rendered file (>= release)
    heldout_every: int = 4  # pitches with (p - pitch_min) % every == heldout_offset are held out
    heldout_offset: int = 2
    gain: float = 0.5
    seed: int = 0
    sample_rate: int = SAMPLE_RATE

    def key(self) -> str:
        blob = json.dumps(asdict(self), sort_keys=True).encode()
        return hashlib.sha1(blob).hexdigest()[:12]


@dataclass
class NoteSet:
    """All clips concatenated. Arrays indexed by clip i: ``audio[start[i]:start[i]+length[i]]``."""

    audio: np.ndarray  # (N,) float32, every clip starts at its note-on
    start: np.ndarray  # (M,) int64
    length: np.ndarray  # (M,) int64
    hold: np.ndarray  # (M,) int64 samples from onset to note-off
    pitch: np.ndarray  # (M,) float64 nominal MIDI pitch
    f0: np.ndarray  # (M,) float64 measured f0 (Hz)
    velocity: np.ndarray  # (M,) int64
    instrument: np.ndarray  # (M,) int64 index into names
    heldout: np.ndarray  # (M,) bool
    names: list[str] = field(default_factory=list)
    sample_rate: int = SAMPLE_RATE

    def __len__(self) -> int:
        return len(self.start)

    def clip(self, i: int) -> np.ndarray:
        s = self.start[i]
        return self.audio[s:s + self.length[i]]

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        with fileio.atomic_path(path) as tmp, open(tmp, "wb") as fh:
            np.savez(fh, audio=self.audio, start=self.start, length=self.length, hold=self.hold,
                     pitch=self.pitch, f0=self.f0, velocity=self.velocity, instrument=self.instrument,
                     heldout=self.heldout, names=np.asarray(self.names), sample_rate=self.sample_rate)

    @classmethod
    def load(cls, path: Path) -> "NoteSet":
        try:
            d = np.load(path)
            return cls(audio=d["audio"], start=d["start"], length=d["length"], hold=d["hold"],
                       pitch=d["pitch"], f0=d["f0"], velocity=d["velocity"],
                       instrument=d["instrument"], heldout=d["heldout"],
                       names=[str(n) for n in d["names"]], sample_rate=int(d["sample_rate"]))
        except (OSError, KeyError, ValueError) as err:
            raise DataError(f"cannot read note set {path}: {err}; delete it to rebuild") from err

    def subset(self, keep: np.ndarray) -> "NoteSet":
        """The clips where ``keep`` is true (audio copied)."""
        idx = np.nonzero(keep)[0]
        clips = [self.clip(i) for i in idx]
        lengths = np.asarray([len(c) for c in clips], np.int64)
        return NoteSet(audio=np.concatenate(clips) if clips else np.zeros(0, np.float32),
                       start=np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64),
                       length=lengths, hold=self.hold[idx], pitch=self.pitch[idx], f0=self.f0[idx],
                       velocity=self.velocity[idx], instrument=self.instrument[idx],
                       heldout=self.heldout[idx], names=list(self.names), sample_rate=self.sample_rate)


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "livegen" / "notes"


def measure_f0(x: np.ndarray, f0_nominal: float, sample_rate: int, hold: int,
               search_cents: float = 60.0) -> float:
    """A clip's f0 (Hz): the strongest spectral peak within +-search_cents of the nominal
    pitch, over the held part after the attack (zero-padded FFT, parabolic refinement)."""
    a = min(int(0.05 * sample_rate), len(x) // 4)
    b = max(min(hold, len(x), a + sample_rate), a + 16)
    seg = x[a:b].astype(np.float64) * np.hanning(b - a)
    n_fft = 1 << max(18, int(math.ceil(math.log2(len(seg) * 8))))
    mag = np.abs(np.fft.rfft(seg, n_fft))
    freqs = np.fft.rfftfreq(n_fft, 1.0 / sample_rate)
    lo, hi = f0_nominal * 2.0 ** (-search_cents / 1200.0), f0_nominal * 2.0 ** (search_cents / 1200.0)
    band = np.nonzero((freqs >= lo) & (freqs <= hi))[0]
    j = int(band[np.argmax(mag[band])])
    f0 = float(freqs[j])
    if 0 < j < len(mag) - 1:
        y0, y1, y2 = np.log(mag[j - 1:j + 2] + 1e-20)
        den = y0 - 2 * y1 + y2
        if abs(den) > 1e-12:
            f0 = float(freqs[j] + 0.5 * (y0 - y2) / den * (freqs[1] - freqs[0]))
    return f0


# ----------------------------------------------------------------------------
# rendering


def _note_plan(spec: RenderSpec) -> list[tuple[int, int, float]]:
    """(pitch, velocity, hold_s) for every note of one program, in render order (holds on
    a 4 ms grid)."""
    rng = np.random.default_rng(spec.seed)
    plan = []
    for p in range(spec.pitch_min, spec.pitch_max + 1):
        for v in spec.velocities:
            h = float(rng.uniform(spec.hold_min_s, spec.hold_max_s))
            plan.append((p, v, round(h / 0.004) * 0.004))
    return plan


def _render_program(program: int, plan, spec: RenderSpec, soundfont: str, tmp: Path):
    """Render every note of ``plan`` with one program: (audio, onset times in seconds)."""
    from livegen.core.tokens import Note
    from livegen.io.midifile import write_notes

    # tempo 60 bpm: one beat is one second; onsets on a 4 ms grid
    notes, onsets, now = [], [], 0.256
    for p, v, h in plan:
        onsets.append(now)
        notes.append(Note(now, now + h, p, v))
        now = round((now + h + spec.gap_s) / 0.004) * 0.004
    mid_path, wav_path = tmp / f"p{program}.mid", tmp / f"p{program}.wav"
    write_notes(mid_path, notes,
                ticks_per_beat=1000, tempos=((0.0, 60.0),), program=program)
    cmd = ["fluidsynth", "-ni", "-q", "-R", "0", "-C", "0", "-g", str(spec.gain),
           "-r", str(spec.sample_rate), "-o", f"synth.sample-rate={spec.sample_rate}",
           "-T", "wav", "-F", str(wav_path), soundfont, str(mid_path)]
    try:
        subprocess.run(cmd, check=True, capture_output=True, timeout=900)
    except FileNotFoundError as err:
        raise DataError("fluidsynth is not installed (Debian: apt install fluidsynth)") from err
    except subprocess.CalledProcessError as err:
        raise DataError(f"fluidsynth failed: {err.stderr.decode(errors='replace').strip()}") from err
    audio, sr = read_wav(wav_path)
    if sr != spec.sample_rate:
        raise DataError(f"fluidsynth rendered at {sr} Hz, asked for {spec.sample_rate}")
    return audio, onsets


def render_noteset(spec: RenderSpec, soundfont: str = DEFAULT_SOUNDFONT,
                   progress: bool = True) -> NoteSet:
    """Render every (program, pitch, velocity) note and measure its f0."""
    if not os.path.isfile(soundfont):
        raise DataError(f"soundfont not found: {soundfont} "
                        "(Debian: apt install fluid-soundfont-gm, or pass --soundfont)")
    from tqdm import tqdm

    plan = _note_plan(spec)
    sr = spec.sample_rate
    rel = int(round(spec.release_s * sr))
    clips, meta = [], []
    names = [GM_NAMES.get(p, f"program{p}") for p in spec.programs]
    bar = tqdm(total=len(plan) * len(spec.programs), desc="render notes", unit="note",
               disable=not progress)
    with tempfile.TemporaryDirectory() as td:
        for ii, prog in enumerate(spec.programs):
            audio, onsets = _render_program(prog, plan, spec, soundfont, Path(td))
            for (p, v, h), on in zip(plan, onsets):
                a = int(round(on * sr))
                hold = int(round(h * sr))
                x = audio[a:a + hold + rel]
                if len(x) < hold + rel:
                    x = np.pad(x, (0, hold + rel - len(x)))
                f0 = measure_f0(x, hnsynth.midi_to_hz(p), sr, hold)
                clips.append(x.astype(np.float32))
                held = (p - spec.pitch_min) % spec.heldout_every == spec.heldout_offset
                meta.append((hold, p, f0, v, ii, held))
                bar.update(1)
    bar.close()
    ns = _assemble(clips, meta, names, sr)
    # one gain for the whole set (keeps the velocity dynamics): peak at PEAK
    ns.audio *= np.float32(PEAK / max(float(np.abs(ns.audio).max()), 1e-6))
    return ns


def _assemble(clips, meta, names, sr) -> NoteSet:
    lengths = np.asarray([len(c) for c in clips], dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    m = list(zip(*meta))
    return NoteSet(audio=np.concatenate(clips), start=starts, length=lengths,
                   hold=np.asarray(m[0], np.int64), pitch=np.asarray(m[1], np.float64),
                   f0=np.asarray(m[2], np.float64), velocity=np.asarray(m[3], np.int64),
                   instrument=np.asarray(m[4], np.int64), heldout=np.asarray(m[5], bool),
                   names=names, sample_rate=sr)


def load_or_render(spec: RenderSpec, soundfont: str = DEFAULT_SOUNDFONT, progress: bool = True,
                   rebuild: bool = False) -> tuple[NoteSet, Path]:
    path = cache_dir() / f"fluid-{spec.key()}.npz"
    if path.exists() and not rebuild:
        return NoteSet.load(path), path
    ns = render_noteset(spec, soundfont, progress)
    ns.save(path)
    fileio.write_text(path.with_suffix(".json"), json.dumps(asdict(spec), indent=1))
    return ns, path


# ----------------------------------------------------------------------------
# WAV input


from livegen.io.wavfile import read_wav  # noqa: E402  (one WAV reader)


_NAME_RE = re.compile(r"^(?P<inst>.+?)[-_](?P<pitch>\d{2,3})[-_](?P<vel>\d{1,3})$")


def load_wav_folder(folder: Path | str, hold_fraction: float = 0.75, heldout_every: int = 0,
                    sample_rate: int = SAMPLE_RATE, progress: bool = True) -> NoteSet:
    """A folder of single-note WAVs -> NoteSet (resampled to ``sample_rate``).

    File names ``<instrument>-<pitch>-<velocity>.wav`` (NSynth style) give the
    pitch and velocity; otherwise the pitch is estimated (YIN) and velocity is
    100. The key is taken as held for ``hold_fraction`` of each clip.
    """
    from tqdm import tqdm

    from livegen.train.pitch import note_pitch

    folder = Path(folder)
    files = sorted(folder.glob("*.wav")) + sorted(folder.glob("*.WAV"))
    if not files:
        raise DataError(f"no .wav files in {folder}")
    clips, meta, names = [], [], []
    for f in tqdm(files, desc="read notes", unit="file", disable=not progress):
        x, _ = read_wav(f, sample_rate)
        m = _NAME_RE.match(f.stem)
        if m:
            inst, p, v = m["inst"], float(m["pitch"]), int(m["vel"])
        else:
            f0 = note_pitch(x, sample_rate)
            if not math.isfinite(f0):
                raise DataError(f"{f}: no pitch found; name it <instrument>-<pitch>-<velocity>.wav")
            inst, p, v = f.stem, hnsynth.hz_to_midi(f0), 100
        if inst not in names:
            names.append(inst)
        peak = np.abs(x).max()
        if peak > 1.0:
            x = x / peak
        hold = int(len(x) * hold_fraction)
        f0 = measure_f0(x, hnsynth.midi_to_hz(p), sample_rate, hold)
        clips.append(x.astype(np.float32))
        held = heldout_every > 0 and int(round(p)) % heldout_every == 0
        meta.append((hold, p, f0, v, names.index(inst), held))
    return _assemble(clips, meta, names, sample_rate)
