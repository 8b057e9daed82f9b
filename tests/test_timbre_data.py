"""The timbre model's note set and training batches (numpy; fluidsynth for the render test)."""

from __future__ import annotations

import shutil
import struct

import numpy as np
import pytest

from livegen.core import hnsynth
from livegen.errors import DataError
from livegen.io.wavfile import read_wav, write_wav
from livegen.train.timbre import data as wdata

SR = 48000


def harmonic_note(f0, n, amp=0.5, sr=SR, decay=2.0):
    t = np.arange(n) / sr
    x = sum(amp / k * np.sin(2 * np.pi * k * f0 * t) for k in range(1, 6))
    return (x * np.exp(-decay * t)).astype(np.float32)


def synthetic_noteset(pitches=(57, 60, 64), n=24000, instruments=2) -> wdata.NoteSet:
    clips, meta = [], []
    for inst in range(instruments):
        for p in pitches:
            for v in (60, 100):
                f0 = hnsynth.midi_to_hz(p)
                clips.append(harmonic_note(f0, n, amp=v / 300, decay=1.0 + 2 * inst))
                meta.append((int(n * 0.7), p, f0, v, inst, p == pitches[len(pitches) // 2]))
    return wdata._assemble(clips, meta, [f"inst{i}" for i in range(instruments)], SR)


def test_measure_f0_finds_the_fundamental():
    for f0 in (110.0, 261.63 * 2 ** (20 / 1200), 880.0):
        x = harmonic_note(f0, SR)
        assert abs(1200 * np.log2(wdata.measure_f0(x, f0 * 2 ** (30 / 1200), SR, SR) / f0)) < 2


def test_batches_are_a_function_of_the_step_and_follow_the_shift():
    pytest.importorskip("torch")
    from livegen.train.timbre.batches import NoteBatcher
    from tests.test_export_timbre import SIZES
    ns = synthetic_noteset()
    d = SIZES["tiny"]
    b = NoteBatcher(ns, np.arange(len(ns)), d, crop_frames=8, max_shift=0.4, seed=3)
    x, y = b.draw(6, 17), b.draw(6, 17)
    assert all(np.array_equal(getattr(x, k), getattr(y, k)) for k in ("note", "target", "mel", "c0"))
    assert not np.array_equal(b.draw(6, 18).target, x.target)
    assert x.target.shape == (6, 8 * d.hop) and x.uniforms.shape == (6, 9, d.hop + 1)
    # every row's crop lies within its frames, and the frames before it cover the receptive field
    assert ((x.c0 >= 0) & (x.c0 + 8 <= x.note.shape[1])).all()
    assert ((x.c0 == d.receptive_field) | (x.note[np.arange(6), 0, 3] == 1.0)).all()
    # the f0 of a row is its clip's pitch moved by at most the shift
    nominal = np.asarray([hnsynth.midi_to_hz(ns.pitch[i]) for i in x.clips])
    assert (np.abs(1200 * np.log2(x.f0 / nominal)) <= 40 + 1e-3).all()
    onset = b.draw(4, 5, shift=False, onset=True)
    assert (onset.c0 == 0).all()
    np.testing.assert_allclose(onset.target[0], ns.clip(onset.clips[0])[:8 * d.hop], atol=1e-6)


def test_missing_soundfont_is_a_clear_error(tmp_path):
    with pytest.raises(DataError, match="soundfont not found"):
        wdata.render_noteset(wdata.RenderSpec(programs=(0,)), soundfont=str(tmp_path / "none.sf2"))


def test_read_wav_downmixes_resamples_and_reads_24_bit_and_float(tmp_path):
    t = np.arange(44100) / 44100
    tone = 0.5 * np.sin(2 * np.pi * 440 * t)
    write_wav(tmp_path / "a.wav", tone, 44100)
    x, sr = read_wav(tmp_path / "a.wav", 48000)
    assert sr == 48000 and abs(len(x) - 48000) < 10 and abs(np.abs(x).max() - 0.5) < 0.01
    # 24-bit stereo and 32-bit float, written by hand
    for tag, bits, enc in ((1, 24, lambda v: b"".join(int(s * 2 ** 23).to_bytes(3, "little", signed=True)
                                                        for s in v)),
                           (3, 32, lambda v: v.astype("<f4").tobytes())):
        frames = np.repeat(tone[:1000], 2)
        data = enc(frames)
        fmt = struct.pack("<HHIIHH", tag, 2, 44100, 44100 * 2 * bits // 8, 2 * bits // 8, bits)
        riff = b"WAVE" + b"fmt " + struct.pack("<I", 16) + fmt + b"data" + struct.pack("<I", len(data)) + data
        (tmp_path / "b.wav").write_bytes(b"RIFF" + struct.pack("<I", len(riff)) + riff)
        y, sr = read_wav(tmp_path / "b.wav")
        assert sr == 44100 and np.allclose(y, tone[:1000], atol=1e-4)


def test_unreadable_and_missing_wavs_are_clear_errors(tmp_path):
    with pytest.raises(DataError, match="no such WAV file"):
        read_wav(tmp_path / "none.wav")
    (tmp_path / "junk.wav").write_bytes(b"junk" * 10)
    with pytest.raises(DataError, match="junk.wav is not a WAV file"):
        read_wav(tmp_path / "junk.wav")
    fmt = struct.pack("<HHIIHH", 2, 1, 8000, 8000, 1, 4)  # ADPCM
    riff = b"WAVE" + b"fmt " + struct.pack("<I", 16) + fmt + b"data" + struct.pack("<I", 4) + b"\0" * 4
    (tmp_path / "adpcm.wav").write_bytes(b"RIFF" + struct.pack("<I", len(riff)) + riff)
    with pytest.raises(DataError, match="adpcm.wav: WAV encoding 2 with 4 bits is not supported"):
        read_wav(tmp_path / "adpcm.wav")


def test_wav_folder_names_give_pitch_and_instrument(tmp_path):
    write_wav(tmp_path / "horn-60-100.wav", harmonic_note(261.63, 24000), SR)
    write_wav(tmp_path / "horn-64-80.wav", harmonic_note(329.63, 24000), SR)
    ns = wdata.load_wav_folder(tmp_path, progress=False)
    assert ns.names == ["horn"] and list(ns.pitch) == [60.0, 64.0] and list(ns.velocity) == [100, 80]
    assert ns.sample_rate == SR


@pytest.mark.skipif(shutil.which("fluidsynth") is None or
                    not __import__("os").path.isfile(wdata.DEFAULT_SOUNDFONT),
                    reason="needs fluidsynth and the FluidR3 GM soundfont (./dev.sh setup installs them)")
def test_fluidsynth_render_is_cut_into_notes_at_their_onsets():
    spec = wdata.RenderSpec(programs=(0, 73), pitch_min=60, pitch_max=62, velocities=(85,))
    ns = wdata.render_noteset(spec, progress=False)
    assert len(ns) == 6 and ns.names == ["piano", "flute"] and ns.sample_rate == 48000
    for i in range(len(ns)):
        x = ns.clip(i)
        assert len(x) == ns.hold[i] + int(0.6 * SR)
        onset = int(np.argmax(np.abs(x) > 0.01))
        assert onset < 0.01 * SR  # the note starts at the clip's start
        assert abs(1200 * np.log2(ns.f0[i] / hnsynth.midi_to_hz(ns.pitch[i]))) < 30
    assert list(ns.heldout) == [False, False, True] * 2
