"""The encoder's input: log-mel frames of a note (numpy), shared by training and ``livegen encode``.

A note's audio at the model's rate -> (enc_frames, n_mels) float32: log-mel power in dB / 40
(floored at -100 dB), frames ``enc_hop`` decoder frames apart from the note-on, zero-padded
past the note's end.
"""

from __future__ import annotations

import numpy as np

from livegen.core import hnsynth

FLOOR_DB = -100.0
FMIN, FMAX = 40.0, 20000.0


def mel_filterbank(sample_rate: int, n_fft: int, n_mels: int, fmin: float = FMIN,
                   fmax: float = FMAX) -> np.ndarray:
    """Triangular mel filters (n_mels, n_fft // 2 + 1), HTK mel scale."""
    fmax = min(fmax, sample_rate / 2)
    mel = lambda f: 2595.0 * np.log10(1.0 + f / 700.0)  # noqa: E731
    inv = lambda m: 700.0 * (10.0 ** (m / 2595.0) - 1.0)  # noqa: E731
    pts = inv(np.linspace(mel(fmin), mel(fmax), n_mels + 2))
    freqs = np.fft.rfftfreq(n_fft, 1.0 / sample_rate)
    fb = np.zeros((n_mels, len(freqs)))
    for m in range(n_mels):
        lo, c, hi = pts[m], pts[m + 1], pts[m + 2]
        fb[m] = np.clip(np.minimum((freqs - lo) / (c - lo), (hi - freqs) / (hi - c)), 0.0, None)
    return fb.astype(np.float32)


def encoder_input(x: np.ndarray, sample_rate: int, hop: int, n_frames: int, n_mels: int) -> np.ndarray:
    """Log-mel frames (n_frames, n_mels) of audio x from its note-on, one every ``hop`` samples."""
    n_fft = 2048 if sample_rate > 32000 else 1024
    need = (n_frames - 1) * hop + n_fft
    x = np.asarray(x, np.float32)[:need]
    x = np.pad(x, (0, need - len(x)))
    idx = np.arange(n_fft)[None, :] + hop * np.arange(n_frames)[:, None]
    spec = np.abs(np.fft.rfft(x[idx] * np.hanning(n_fft).astype(np.float32), axis=1)) ** 2
    mel = spec @ mel_filterbank(sample_rate, n_fft, n_mels).T
    return (np.maximum(10.0 * np.log10(mel + 1e-12), FLOOR_DB) / 40.0).astype(np.float32)


def note_starts(x: np.ndarray, sample_rate: int, max_notes: int = 16) -> list[int]:
    """Where notes begin in a recording: the 10 ms RMS rising past 1/30 of its peak after at
    least 50 ms below it (the first loud sample if there is no such rise)."""
    win = max(1, sample_rate // 100)
    n = len(x) // win
    if n == 0:
        return [0]
    rms = np.sqrt(np.mean(x[:n * win].reshape(n, win).astype(np.float64) ** 2, axis=1))
    loud = rms > rms.max() / 30.0
    starts, quiet = [], 5
    for i, v in enumerate(loud):
        if v and quiet >= 5:
            starts.append(i * win)
        quiet = 0 if v else quiet + 1
    return starts[:max_notes] or [int(np.argmax(np.abs(x) > np.abs(x).max() / 30.0))]


def encode_audio(files, x: np.ndarray, sample_rate: int) -> np.ndarray:
    """A recording (mono, at the model's rate) -> z (Z,): the mean code of its notes, each
    encoded from its start as in training."""
    d = files.dims
    if sample_rate != files.sample_rate:
        raise ValueError(f"audio at {sample_rate} Hz; the encoder wants {files.sample_rate} Hz")
    hop = int(round(d["frame_s"] * sample_rate)) * d["enc_hop"]
    mel = np.stack([encoder_input(x[s:], sample_rate, hop, d["enc_frames"], d["n_mels"])
                    for s in note_starts(x, sample_rate)])
    return files.encode(mel).mean(axis=0).astype(np.float32)


# ------------------------------------------------------------------------------------------
# analysis by synthesis: refine an encoded code by rendering the recording's own notes


def spectral_distance(a: np.ndarray, b: np.ndarray, sizes=(2048, 512, 128)) -> float:
    """Mean L1 distance of log magnitudes (natural log, floor 1e-5) over FFT sizes. Levels
    count: how loud an instrument is for a given velocity is part of its timbre, so a
    recording is compared at its own level (record your sound as loud as a DAW instrument
    plays a mezzo-forte note)."""
    n = min(len(a), len(b))
    a, b = a[:n], b[:n]
    total = 0.0
    for size in sizes:
        if n < size:
            continue
        hop = size // 4
        idx = np.arange(size)[None, :] + hop * np.arange(1 + (n - size) // hop)[:, None]
        w = np.hanning(size)
        sa = np.abs(np.fft.rfft(a[idx] * w, axis=1))
        sb = np.abs(np.fft.rfft(b[idx] * w, axis=1))
        total += float(np.mean(np.abs(np.log(sa + 1e-5) - np.log(sb + 1e-5))))
    return total


def recording_notes(x: np.ndarray, sample_rate: int, max_notes: int = 4, max_s: float = 1.0):
    """(start, length, MIDI pitch) of up to ``max_notes`` pitched notes of a recording; the
    length is how long the note stays within 30 dB of its peak (10 ms RMS), at most max_s."""
    from livegen.train.pitch import note_pitch
    starts = note_starts(x, sample_rate)
    win = max(1, sample_rate // 100)
    out = []
    for k, s in enumerate(starts):
        end = min(starts[k + 1] if k + 1 < len(starts) else len(x), s + int(max_s * sample_rate))
        m = (end - s) // win
        if m == 0:
            continue
        rms = np.sqrt(np.mean(x[s:s + m * win].reshape(m, win).astype(np.float64) ** 2, axis=1))
        loud = np.nonzero(rms > rms.max() / 30.0)[0]
        n = int((loud[-1] + 1) * win)
        f0 = note_pitch(x[s:s + n], sample_rate, 0.05, None)
        if n > 0.2 * sample_rate and np.isfinite(f0):
            out.append((s, n, int(round(hnsynth.hz_to_midi(f0)))))
        if len(out) == max_notes:
            break
    return out


VELOCITY = 85  # the recording's notes are rendered mezzo-forte (the middle of the training velocities)


def refine(files, x: np.ndarray, sample_rate: int, z0: np.ndarray, candidates=(), steps: int = 48,
           seed: int = 0, temperature: float = 1.0, sigma: float = 0.25,
           on_step=None) -> tuple[np.ndarray, float, float]:
    """Move z so that the recording's own notes, rendered by the synth, come closer to it.

    Starts from the best of ``z0`` (the encoder's code) and ``candidates`` (e.g. the presets),
    then a (1+1) evolution strategy of ``steps`` renders (the noise's seed fixed, so the
    distance is a function of z). Returns (z, distance at z0, distance at z). Without pitched
    notes in the recording, returns z0. ``on_step(k, steps)`` is called after each trial
    render of the search."""
    from livegen.synth.synth import Synth
    notes = recording_notes(x, sample_rate)
    if not notes:
        return z0, float("nan"), float("nan")

    def distance(z):
        # the key is held for the whole note, and only its first 70% is compared: where the
        # player let go is not known, the timbre of the attack and the sustain is
        synth = Synth(files, sample_rate=sample_rate, voices=1, seed=seed, temperature=temperature)
        synth.set_channel_z(0, z)
        total = 0.0
        for s, n, pitch in notes:
            synth.handle(bytes([0x90, pitch, VELOCITY]))
            m = int(0.7 * n)
            y = synth.render(m)
            synth.handle(bytes([0x80, pitch, 0]))
            synth.render(synth.frame * 60)  # let the release end before the next note
            total += spectral_distance(y, x[s:s + m])
        return total / len(notes)

    d0 = distance(z0)
    best_z, best = np.asarray(z0, np.float32), d0
    for c in candidates:
        d = distance(c)
        if d < best:
            best_z, best = np.asarray(c, np.float32), d
    rng = np.random.default_rng(seed)
    # stay where the decoder was trained: within the presets' range in every dimension (a code
    # fitted to a few notes outside it does not carry over to other pitches)
    known = np.asarray(list(candidates) + [z0], np.float32)
    lo, hi = (known.min(axis=0), known.max(axis=0)) if len(known) > 2 else (-1.0, 1.0)
    for k in range(steps):
        z = np.clip(best_z + sigma * rng.standard_normal(best_z.shape), lo, hi).astype(np.float32)
        d = distance(z)
        if d < best:
            best_z, best, sigma = z, d, sigma * 1.5
        else:
            sigma *= 0.85
        if on_step is not None:
            on_step(k + 1, steps)
    return best_z, d0, best
