"""The note data set: phase tracking, fluidsynth rendering, WAV input, training windows."""

from __future__ import annotations

import math
import shutil

import numpy as np
import pytest
from scipy.io import wavfile

from livegen.core import dsp
from livegen.errors import DataError
from livegen.train.wavenet import data as wdata
from livegen.train.wavenet.batches import WindowSampler

SR = dsp.SAMPLE_RATE


def harmonic_note(f0, n, phase0=0.0, vibrato_cents=0.0, rate=5.0, amp=0.5, sr=SR):
    """A harmonic tone whose fundamental's phase is known exactly."""
    t = np.arange(n) / sr
    inst = f0 * 2.0 ** (vibrato_cents * np.sin(2 * np.pi * rate * t) / 1200.0)
    phase = phase0 + 2 * np.pi * np.cumsum(inst) / sr
    x = amp * (np.sin(phase) + 0.5 * np.sin(2 * phase + 0.3) + 0.25 * np.sin(3 * phase + 1.1))
    env = np.minimum(1.0, t / 0.01) * np.exp(-t)
    return (x * env).astype(np.float32), phase


def synthetic_noteset(pitches=(57, 60, 64), n=12000):
    clips, phases, meta = [], [], []
    for k, p in enumerate(pitches):
        f0 = dsp.midi_to_hz(p) * 2 ** (7 / 1200)  # 7 cents sharp, as soundfonts are
        x, ph = harmonic_note(f0, n, phase0=0.7 * k)
        fm, track = wdata.track_phase(x, dsp.midi_to_hz(p), SR, n * 2 // 3)
        pre = track[0] - 2 * np.pi * fm / SR * np.arange(wdata.PRE, 0, -1)
        clips.append(np.concatenate([np.zeros(wdata.PRE, np.float32), x]))
        phases.append(np.concatenate([pre, track]).astype(np.float32))
        meta.append((n * 2 // 3, p, fm, 100, k % 2, k == 1))
    return wdata._assemble(clips, phases, meta, ["a", "b"], SR)


@pytest.mark.parametrize("f0,vib", [(82.41, 0.0), (220.0, 15.0), (1046.5, 0.0)])
def test_track_phase_recovers_f0_and_phase(f0, vib):
    x, true_phase = harmonic_note(f0 * 2 ** (-12 / 1200), 16000, phase0=1.3, vibrato_cents=vib)
    fm, phase = wdata.track_phase(x, f0, SR, 12000)
    assert abs(1200 * math.log2(fm / (f0 * 2 ** (-12 / 1200)))) < 3 + vib
    held = slice(1600, 12000)
    # the tracked phase is the fundamental's cosine phase: sin(p) = cos(p - pi/2)
    err = np.angle(np.exp(1j * (phase[held] - (true_phase[held] - np.pi / 2))))
    assert np.abs(err).max() < 0.15


def test_windows_keep_the_excitation_locked_under_pitch_shift():
    ns = synthetic_noteset()
    s = WindowSampler(ns, np.arange(len(ns)), window=1024, context=128, n_harmonics=2,
                      enc_window=512, max_shift_semitones=0.4, seed=3)
    b = s.sample(8)
    assert b.x_prev.shape == (8, 1024) and b.exc.shape == (8, 1024, 4)
    assert b.note_cond.shape == (8, 1024 // dsp.FRAME, 2 + dsp.N_TIME_FEATURES)
    assert b.enc_audio.shape == (8, 512)
    for k in range(8):
        x = dsp.mu_law_decode(b.target[k])
        m = b.mask[k] > 0
        # correlation of the audio with the excitation's first-harmonic sine
        c = np.corrcoef(x[m], b.exc[k, m, 2])[0, 1]  # cos of the first harmonic
        assert c > 0.8, c
    # the f0 input follows the shift: it lies within max_shift of the clip's f0
    lf0 = b.note_cond[:, 0, 0]
    clip_f0 = ns.f0[b.clip]
    shift = (lf0 * dsp.LOG_F0_SCALE + dsp.LOG_F0_CENTER - np.log(clip_f0)) / math.log(2) * 12
    assert np.all(np.abs(shift) <= 0.4 + 1e-4) and np.abs(shift).max() > 0.01


def test_onset_windows_start_from_silence_and_score_everything():
    ns = synthetic_noteset()
    s = WindowSampler(ns, np.arange(len(ns)), window=512, context=128, n_harmonics=1,
                      enc_window=256, p_onset=1.0, seed=0)
    b = s.sample(3, shift=False)
    assert np.all(b.mask == 1.0)
    assert np.all(np.abs(b.x_prev[:, 0] - dsp.mu_law_to_unit(dsp.mu_law_encode(np.zeros(1)))[0]) < 1e-6)
    assert np.all(b.note_cond[:, 0, 2] == 1.0)  # gate held at onset


def test_missing_soundfont_is_a_clear_error(tmp_path):
    with pytest.raises(DataError, match="soundfont not found"):
        wdata.render_noteset(wdata.RenderSpec(programs=(0,), pitch_min=60, pitch_max=60),
                             soundfont=str(tmp_path / "none.sf2"), progress=False)


def write_wav(path, x, rate, stereo=False):
    data = (np.clip(x, -1, 1) * 32767).astype(np.int16)
    if stereo:
        data = np.stack([data, data], axis=1)
    wavfile.write(path, rate, data)


def test_read_wav_downmixes_and_resamples(tmp_path):
    x, _ = harmonic_note(440.0, 44100 // 2, sr=44100)
    write_wav(tmp_path / "a.wav", x, 44100, stereo=True)
    y, sr = wdata.read_wav(tmp_path / "a.wav", SR)
    assert sr == SR and y.ndim == 1 and abs(len(y) - SR // 2) <= 1
    from livegen.core.pitch import cents, note_pitch
    assert abs(cents(note_pitch(y, SR, 0.05), 440.0)) < 10


def test_unreadable_and_missing_wavs_are_clear_errors(tmp_path):
    (tmp_path / "bad.wav").write_bytes(b"RIFF1234WAVEjunkjunk")
    with pytest.raises(DataError, match="cannot read .*bad.wav"):
        wdata.read_wav(tmp_path / "bad.wav")
    with pytest.raises(DataError, match="no such WAV file"):
        wdata.read_wav(tmp_path / "none.wav")
    with pytest.raises(DataError, match="no .wav files"):
        wdata.load_wav_folder(tmp_path / "empty_dir_that_is_missing", progress=False)


def test_wav_folder_names_give_pitch_and_instrument(tmp_path):
    for name, p in (("flute-060-090", 60), ("flute-064-090", 64), ("mysound", 67)):
        rate = 22050 if name == "mysound" else SR
        x, _ = harmonic_note(dsp.midi_to_hz(p), rate // 2, sr=rate)
        write_wav(tmp_path / f"{name}.wav", x, rate)
    ns = wdata.load_wav_folder(tmp_path, progress=False)
    assert ns.names == ["flute", "mysound"]
    assert list(ns.velocity) == [90, 90, 100]
    assert list(ns.pitch[:2]) == [60.0, 64.0] and abs(ns.pitch[2] - 67) < 0.1


@pytest.mark.skipif(shutil.which("fluidsynth") is None or not
                    __import__("os").path.exists(wdata.DEFAULT_SOUNDFONT), reason="needs fluidsynth and FluidR3")
def test_fluidsynth_render_is_cut_into_locked_notes(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    spec = wdata.RenderSpec(programs=(73,), pitch_min=60, pitch_max=63, velocities=(100,), heldout_every=4,
                            heldout_offset=2, hold_min_s=0.3, hold_max_s=0.4, release_s=0.2, gap_s=0.4)
    ns, path = wdata.load_or_render(spec, progress=False)
    assert path.exists() and path.is_relative_to(tmp_path)
    assert len(ns) == 4 and list(ns.heldout) == [False, False, True, False]
    assert abs(np.abs(ns.audio).max() - wdata.PEAK) < 1e-5
    for i in range(len(ns)):
        x = ns.clip(i)
        assert len(x) == ns.hold[i] + int(0.2 * SR)
        assert np.sqrt(np.mean(x[:1600] ** 2)) > 1e-3  # the note starts at the cut
        held = slice(wdata.PRE + 800, wdata.PRE + int(ns.hold[i]))
        s = ns.start[i]
        c = np.corrcoef(ns.audio[s:s + ns.length[i]][held], np.cos(ns.phase[s:s + ns.length[i]][held]))[0, 1]
        assert abs(c) > 0.5  # the flute's waveform follows its fundamental's phase
        assert abs(1200 * math.log2(ns.f0[i] / dsp.midi_to_hz(ns.pitch[i]))) < 30
    again, _ = wdata.load_or_render(spec, progress=False)  # cached
    np.testing.assert_array_equal(again.audio, ns.audio)


def test_noise_injection_corrupts_the_history_not_the_target():
    ns = synthetic_noteset()
    clean = WindowSampler(ns, np.arange(len(ns)), window=512, context=128, n_harmonics=1,
                          enc_window=256, seed=4).sample(6, rng=np.random.default_rng(9))
    noisy = WindowSampler(ns, np.arange(len(ns)), window=512, context=128, n_harmonics=1,
                          enc_window=256, seed=4, input_noise=6.0).sample(6, rng=np.random.default_rng(9))
    # compare each history with its own (clean) targets, shifted by one sample
    err = np.abs(noisy.x_prev[:, 1:] - dsp.mu_law_to_unit(noisy.target[:, :-1])) * dsp.MU / 2
    assert err.max() > 1.0  # some window got noise of more than a class
    assert np.all(np.abs(noisy.x_prev) <= 1.0)
    err_clean = np.abs(clean.x_prev[:, 1:] - dsp.mu_law_to_unit(clean.target[:, :-1])) * dsp.MU / 2
    assert err_clean.max() < 1e-3
