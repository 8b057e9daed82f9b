"""The encoder's input: log-mel frames of a note (numpy), shared by training and ``livegen encode``.

A note's audio at the model's rate -> (enc_frames, n_mels) float32: log-mel power in dB / 40
(floored at -100 dB), frames ``enc_hop`` decoder frames apart from the note-on, zero-padded
past the note's end.
"""

from __future__ import annotations

import numpy as np

from livegen.core import spectral
from livegen.core.pitch import find_notes

FLOOR_DB = -100.0
FMIN, FMAX = 40.0, 20000.0


def encoder_input(x: np.ndarray, sample_rate: int, hop: int, n_frames: int, n_mels: int) -> np.ndarray:
    """Log-mel frames (n_frames, n_mels) of audio x from its note-on, one every ``hop`` samples."""
    n_fft = 2048 if sample_rate > 32000 else 1024
    need = (n_frames - 1) * hop + n_fft
    x = np.asarray(x, np.float32)[:need]
    x = np.pad(x, (0, need - len(x)))
    # the symmetric Hann window the encoder was trained with
    spec = np.abs(np.fft.rfft(spectral.frames(x, n_fft, hop, center=False) * np.hanning(n_fft).astype(np.float32),
                              axis=1)) ** 2
    mel = spec @ spectral.mel_filterbank(sample_rate, n_fft, n_mels, FMIN, FMAX).T
    return (np.maximum(10.0 * np.log10(mel + 1e-12), FLOOR_DB) / 40.0).astype(np.float32)


def recording_notes(x: np.ndarray, sample_rate: int, max_notes: int = 6) -> list[tuple[int, int, int, int, bool]]:
    """The notes of a recording of one instrument (held notes or playing: legato, vibrato) that
    encoding uses, in time order, as (start, length, nominal MIDI pitch, the note's own span:
    samples up to the next note or the end, whether it began legato: out of the note before
    it rather than from silence): the longest note of each pitch played, and of
    those at most ``max_notes`` spread evenly from the lowest pitch to the highest (the timbre
    changes with pitch; a fit to one register does not carry over to another)."""
    found = find_notes(x, sample_rate)
    longest: dict[int, int] = {}
    for k, n in enumerate(found):
        p = int(round(n.pitch))
        if p not in longest or n.length > found[longest[p]].length:
            longest[p] = k
    pitches = sorted(longest)
    if len(pitches) > max_notes:
        pitches = [pitches[int(round(i))] for i in np.linspace(0, len(pitches) - 1, max_notes)]
    out = []
    for k in sorted(longest[p] for p in pitches):
        n = found[k]
        nxt = found[k + 1].start if k + 1 < len(found) else len(x)
        legato = k > 0 and n.start - (found[k - 1].start + found[k - 1].length) < int(0.01 * sample_rate)
        out.append((n.start, n.length, int(round(n.pitch)), nxt - n.start, bool(legato)))
    return out


def encode_audio(files, x: np.ndarray, sample_rate: int, notes=None) -> np.ndarray:
    """A recording (mono, at the model's rate) -> z (Z,): the mean code of its notes
    (:func:`recording_notes` unless given), each encoded from its start as in training, up to
    where the next note begins (a note's release is its own, the next note is not)."""
    from livegen.errors import DataError

    d = files.dims
    if sample_rate != files.sample_rate:
        raise ValueError(f"audio at {sample_rate} Hz; the encoder wants {files.sample_rate} Hz")
    notes = recording_notes(x, sample_rate) if notes is None else notes
    if not notes:
        raise DataError(NO_NOTE)
    hop = int(round(d["frame_s"] * sample_rate)) * d["enc_hop"]
    mel = np.stack([encoder_input(x[s:s + span], sample_rate, hop, d["enc_frames"], d["n_mels"])
                    for s, _, _, span, _ in notes])
    return files.encode(mel).mean(axis=0).astype(np.float32)


NO_NOTE = ("no note found: a note is at least 0.08 s of one pitch between 60 and 1400 Hz, "
           "within 40 dB of the loudest sound of the recording")


# ------------------------------------------------------------------------------------------
# analysis by synthesis: refine an encoded code by rendering the recording's own notes


VELOCITY = 85  # the recording's notes are rendered mezzo-forte (the middle of the training velocities)
COMPARED_S = 1.0  # at most the first 70% of this much of each note is compared


def refine(files, x: np.ndarray, sample_rate: int, z0: np.ndarray, candidates=(), steps: int = 48,
           seed: int = 0, temperature: float = 1.0, sigma: float = 0.25,
           notes=None, on_step=None) -> tuple[np.ndarray, float, float]:
    """Move z so that the recording's own notes, rendered by the synth, come closer to it by
    the multi-resolution STFT distance (``livegen.core.spectral.distance``).

    Starts from the best of ``z0`` (the encoder's code), ``candidates`` (e.g. the presets) and
    the midpoints of the best three of those, then a (1+1) evolution strategy of ``steps``
    renders (the noise's seed fixed, so the distance is a function of z). Returns (z, distance at z0, distance at z). Without pitched
    notes in the recording, returns z0. ``on_step(k, steps)`` is called after each trial
    render of the search."""
    from livegen.synth.synth import Synth
    notes = recording_notes(x, sample_rate) if notes is None else notes
    if not notes:
        return z0, float("nan"), float("nan")
    tenth = int(0.1 * sample_rate)

    def distance(z):
        # Each note is played held for as long as it sounds and only its first 70% (at most
        # COMPARED_S) is compared: where the player let go, or the next note took over, is not
        # known exactly; the timbre of the attack and the sustain is. A legato note, which the
        # synth starts from silence, is compared from 0.1 s on (past the change of note, which
        # a fresh voice cannot play).
        synth = Synth(files, sample_rate=sample_rate, voices=1, seed=seed, temperature=temperature)
        synth.set_channel_z(0, z)
        total = 0.0
        for s, n, pitch, _, legato in notes:
            m = int(0.7 * min(n, COMPARED_S * sample_rate))
            a = tenth if legato and m > 2 * tenth else 0
            synth.handle(bytes([0x90, pitch, VELOCITY]))
            y = synth.render(m)
            synth.handle(bytes([0x80, pitch, 0]))
            synth.render(synth.frame * 60)  # some release, then the next note takes the voice
            total += spectral.distance(y[a:], x[s + a:s + m])
        return total / len(notes)

    d0 = distance(z0)
    scored = [(d0, np.asarray(z0, np.float32))] + [(distance(c), np.asarray(c, np.float32)) for c in candidates]
    scored.sort(key=lambda t: t[0])
    # an unheard instrument often lies between two known ones: the midpoints of the best three
    top = [z for _, z in scored[:3]]
    scored += [(distance(m), m) for m in ((top[i] + top[j]) / 2 for i in range(len(top)) for j in range(i + 1, len(top)))]
    best, best_z = min(scored, key=lambda t: t[0])
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
