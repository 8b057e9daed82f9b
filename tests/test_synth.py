"""The synth on a tiny exported model (committed: tests/timbre_fixture.py; no torch needed):
voices, fades, timbre control, any rate and block size, and, with torch, the live path equal to
the torch model's own rendering."""

from __future__ import annotations

import numpy as np
import pytest

from livegen.core import hnsynth
from livegen.engine.timbre import TimbreEngine
from livegen.errors import ConfigError, SynthError
from livegen.synth.offline import render_note
from livegen.synth.synth import Synth, mix_z
from tests import timbre_fixture


@pytest.fixture(scope="module")
def files():
    return TimbreEngine.load(timbre_fixture.FOLDER, provider="cpu")


@pytest.mark.train
def test_the_committed_fixture_is_what_the_export_writes_now(files, tmp_path):
    pytest.importorskip("torch")
    fresh = TimbreEngine.load(timbre_fixture.export_fresh(tmp_path), provider="cpu")
    assert fresh.presets.keys() == files.presets.keys()
    a, b = (render_note(Synth(e, voices=1, temperature=0.0, preset="bright"), 57, 90, 0.1, 0.1)
            for e in (files, fresh))
    assert np.array_equal(a, b), "the export changed: write the fixture again (python -m tests.timbre_fixture)"


def on(p, v=100, ch=0):
    return bytes([0x90 | ch, p, v])


def off(p, ch=0):
    return bytes([0x80 | ch, p, 0])


def test_voices_start_release_and_end(files):
    s = Synth(files, voices=4, release_max_s=0.2, seed=1)
    assert not s.render(64).any()  # silence is silent
    s.handle(on(60))
    s.handle(on(64))
    block = s.render(384)
    assert s.active_voices == 2 and np.abs(block).max() > 0
    s.handle(off(60))
    s.handle(off(64))
    for _ in range(60):  # 0.2 s of release at most
        s.render(192)
    assert s.active_voices == 0


def test_stealing_fades_the_old_note_over_a_frame_then_starts_the_new(files):
    s = Synth(files, voices=1, seed=2)
    s.handle(on(60))
    s.render(s.frame * 3)
    s.handle(on(67))
    assert s.alloc.stolen == 1 and s.voice(0)["fading"] and s.voice(0)["f0"] == pytest.approx(hnsynth.midi_to_hz(60))
    fade = s.render(s.frame)  # the fade frame
    assert abs(fade[-1]) < 0.02 * max(np.abs(fade).max(), 1e-9) + 1e-6
    v = s.voice(0)
    assert not v["fading"] and v["f0"] == pytest.approx(hnsynth.midi_to_hz(67))
    assert v["t_on"] == 0 and v["ring_frame"] == 0


@pytest.mark.parametrize("kernel", ["native", "reference"])
def test_a_quiet_released_voice_is_taken_at_once_and_a_loud_one_is_faded(files, kernel, monkeypatch):
    from livegen.synth import native, reference
    s = Synth(files, voices=1, seed=2, kernel=kernel)
    s.handle(on(60))
    s.render(s.frame * 3)
    s.handle(off(60))
    s.render(s.frame)
    loud = s.voice(0)["rms"]
    assert loud > 0
    for module in (native, reference):  # the tiny model's releases are not real ones: a threshold
        monkeypatch.setattr(module, "STEAL_CUT_RMS", loud / 100)  # under this voice's level now
    s.handle(on(64))  # released but loud: faded over a frame first
    assert s.voice(0)["fading"] and s.pending
    s.render(s.frame * 2)
    s.handle(off(64))
    s.render(s.frame * 2)
    quiet = s.voice(0)["rms"]
    assert s.active_voices == 1 and quiet > 0
    for module in (native, reference):
        monkeypatch.setattr(module, "STEAL_CUT_RMS", quiet * 2)  # over it
    s.handle(on(67))  # the quiet tail is cut: the new note starts in this frame
    v = s.voice(0)
    assert not v["fading"] and not s.pending and v["t_on"] == 0
    assert v["f0"] == pytest.approx(hnsynth.midi_to_hz(67))


def test_same_seed_same_audio_whatever_the_block_size(files):
    def run(seed, blocks):
        s = Synth(files, voices=3, seed=seed)
        s.handle(on(60))
        s.handle(on(72))
        out = [s.render(n) for n in blocks]
        s.handle(off(60))  # note-offs land on a frame boundary: blocks sum to whole frames
        return np.concatenate(out + [s.render(960)])
    a = run(5, [192] * 5)
    assert np.array_equal(a, run(5, [192] * 5))
    assert np.array_equal(a, run(5, [64, 128, 700, 68]))  # any n: the same frames, split otherwise
    assert not np.array_equal(a, run(6, [192] * 5))  # the seed moves the noise


def test_temperature_zero_is_the_harmonic_part_alone(files):
    a = render_note(Synth(files, voices=1, temperature=0.0, seed=1), 60, 100, 0.1, 0.2)
    b = render_note(Synth(files, voices=1, temperature=0.0, seed=2), 60, 100, 0.1, 0.2)
    c = render_note(Synth(files, voices=1, temperature=1.0, seed=1), 60, 100, 0.1, 0.2)
    assert np.array_equal(a, b) and not np.allclose(a, c)


@pytest.mark.parametrize("rate", [44100, 48000, 96000])
def test_any_rate_is_band_limited_in_tune_and_free_of_dc(files, rate):
    s = Synth(files, sample_rate=rate, voices=1, temperature=0.0, preset="bright")
    assert s.frame == round(0.004 * rate)
    x = render_note(s, 81, 100, 0.5, 0.5)  # A5: harmonic 16 of the tiny model is at 14 kHz
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    freqs = np.fft.rfftfreq(len(x), 1 / rate)
    f0 = hnsynth.midi_to_hz(81)
    peak = freqs[np.argmax(spec * (freqs < 1.5 * f0) * (freqs > 0.5 * f0))]
    assert abs(1200 * np.log2(peak / f0)) < 60  # the fundamental, within the bounded deviation
    assert abs(float(x.mean())) < 1e-3


def test_band_limit_drops_harmonics_above_nyquist(files):
    """At 16 kHz a C7 note keeps only harmonics below 8 kHz: no energy folds back below f0."""
    s = Synth(files, sample_rate=16000, voices=1, temperature=0.0, preset="bright")
    x = render_note(s, 96, 100, 0.5, 0.5)
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x)))) ** 2
    freqs = np.fft.rfftfreq(len(x), 1 / 16000)
    f0 = hnsynth.midi_to_hz(96)
    assert spec[(freqs > 100) & (freqs < 0.8 * f0)].sum() < 1e-6 * spec.sum()


def test_program_change_and_morph_move_z(files):
    s = Synth(files, voices=2, morph_cc=1, morph_preset="bright")
    assert np.allclose(s.channel_z[0], 0.0)
    s.handle(bytes([0xC0, 2]))  # third preset: dark
    assert np.allclose(s.channel_z[0], -0.8)
    s.handle(bytes([0xB0, 1, 127]))
    assert np.allclose(s.channel_z[0], 0.8)
    s.handle(bytes([0xB0, 1, 0]))
    assert np.allclose(s.channel_z[0], -0.8)
    assert np.allclose(s.channel_z[1], 0.0)  # other channels keep theirs
    # a sounding voice glides to a new timbre over a few frames instead of jumping
    s.handle(on(60))
    s.render(s.frame)
    assert np.allclose(s.voice(0)["z"], -0.8, atol=0.2)
    s.handle(bytes([0xB0, 1, 127]))
    s.render(s.frame)
    assert -0.8 < s.voice(0)["z"][0] < 0.8
    s.render(s.frame * 60)
    assert np.allclose(s.voice(0)["z"], 0.8, atol=1e-3)
    assert np.allclose(mix_z(np.zeros(4), np.ones(4), 2.0), 1.0)  # the amount is clipped


def test_set_channel_z_plays_any_code(files):
    s = Synth(files, voices=1)
    s.set_channel_z(3, np.full(4, 0.5))
    assert np.allclose(s.channel_z[3], 0.5)
    with pytest.raises(ConfigError, match="a timbre code must have 4 values"):
        s.set_channel_z(0, np.zeros(3))


def test_all_notes_off_releases_and_unknown_presets_are_refused(files):
    s = Synth(files, voices=2, channel_presets="dark,bright")
    assert np.allclose(s.channel_z[1], 0.8)
    s.handle(on(60))
    s.render(64)
    s.handle(bytes([0xB0, 123, 0]))
    assert s.voice(0)["t_off"] == 0
    with pytest.raises(ConfigError, match="synth.preset = 'nope': no such preset; the model has: soft"):
        Synth(files, preset="nope")


@pytest.mark.train
def test_the_synth_plays_what_the_torch_model_renders(files):
    """The live path (the native kernel: note features, decoder step with its ring,
    synthesiser) equals the torch model's whole-note rendering (decoder forward +
    differentiable synthesis)."""
    torch = pytest.importorskip("torch")
    from livegen.train.timbre.model import Synthesis
    from livegen.train.timbre.train import conditioning
    from tests.test_export_timbre import SIZES, make
    model = make(SIZES["tiny"], seed=timbre_fixture.SEED)  # the model the `files` fixture exported
    d = model.dims
    z = torch.from_numpy(files.presets["bright"])[None]
    n_frames, hold_frames = 60, 40
    t_on = np.arange(n_frames)[None] * d.frame_s
    t_off = np.where(t_on < hold_frames * d.frame_s, -1.0, t_on - hold_frames * d.frame_s)
    f0 = np.asarray([hnsynth.midi_to_hz(57)], np.float32)
    note = hnsynth.note_features(f0, np.asarray([90]), t_on, t_off)
    with torch.no_grad():
        raw = model.decoder(conditioning(z, torch.from_numpy(note)))
        want = Synthesis(d).render(raw, torch.from_numpy(f0), torch.zeros(1, dtype=torch.int64),
                                   n_frames, None)[0].numpy()
    s = Synth(files, voices=1, temperature=0.0, preset="bright")
    s.handle(on(57, 90))
    got = [s.render(s.frame * hold_frames)]
    s.handle(off(57))
    got.append(s.render(s.frame * (n_frames - hold_frames)))
    got = np.concatenate(got)
    # the wavetable's linear interpolation is the only difference
    assert np.max(np.abs(got - want)) < 0.01 * np.max(np.abs(want))


def test_lowering_the_limit_fades_the_oldest_voices(files):
    s = Synth(files, voices=4, seed=1)
    for p in (60, 62, 64, 65):
        s.handle(on(p))
        s.render(s.frame)
    s.handle(off(62))
    s.set_limit(2)
    assert [v for v in range(4) if s.voice(v)["fading"]] == [0, 1]  # the released one, then the oldest held
    s.render(s.frame)
    assert s.active_voices == 2 and s.alloc.limit == 2
    s.handle(on(67))  # at the limit: a new note takes the place of the oldest
    assert s.alloc.stolen == 1


def test_set_sample_rate_only_while_silent(files):
    s = Synth(files, voices=1)
    s.set_sample_rate(44100)
    assert s.frame == 176 and s.sample_rate == 44100
    s.handle(on(60))
    s.render(10)
    with pytest.raises(SynthError, match="while voices sound"):
        s.set_sample_rate(48000)


def test_refining_a_code_finds_the_timbre_of_a_recording(files):
    """A recording made by the synth with one code: starting from another code, analysis by
    synthesis comes much closer to it (and never ends further than it started)."""
    from livegen.synth.encoding import refine
    s = Synth(files, voices=1, preset="bright", temperature=0.0)
    gap = np.zeros(9600, np.float32)
    x = np.concatenate([render_note(s, 57, 100, 0.5, 0.8), gap, render_note(s, 64, 100, 0.5, 0.8), gap])
    target, start = files.presets["bright"], files.presets["dark"]
    d_target = refine(files, x, s.sample_rate, target, steps=0, temperature=0.0)[1]
    z, d0, d = refine(files, x, s.sample_rate, start, steps=60, temperature=0.0, sigma=1.0)
    assert d0 - d > 0.2 * (d0 - d_target)  # a fifth of the way to the code that made it, at least
    assert np.linalg.norm(z - target) < 0.6 * np.linalg.norm(start - target)


def test_a_release_longer_than_the_model_learned_fades_out_then_frees_the_voice(files):
    """Past the 0.6 s of release in the training notes a voice fades out over one frame, even
    when synth.release_max_s allows more (the shipped organ held a faint tone there for 3 s)."""
    from livegen.synth.native import TRAINED_RELEASE_S
    s = Synth(files, voices=1, temperature=0.0, release_max_s=3.0)
    s.handle(on(60))
    s.render(s.frame * 10)
    s.handle(off(60))
    frames = [s.render(s.frame) for _ in range(int(TRAINED_RELEASE_S / s.frame_s) + 3)]
    assert s.active_voices == 0 and s.finished == 1
    last = next(k for k in range(len(frames) - 1, -1, -1) if np.abs(frames[k]).max() > 0)
    assert abs(frames[last][-1]) < 0.05 * np.abs(frames[last]).max()  # the last frame fades to 0


def render_both(files, events, rate, **kw):
    """The same events through the native kernel and the reference (numpy, ONNX Runtime)."""
    from livegen.synth.offline import render_events
    return [render_events(Synth(files, sample_rate=rate, kernel=k, **kw), events) for k in ("reference", "native")]


@pytest.mark.parametrize("rate", [44100, 48000, 22050])
def test_the_kernel_equals_the_reference_for_many_voices_stealing_and_morphs(files, rate):
    """Many voices, more notes than voices (stealing), a morph controller moving, a program
    change, releases, an All Notes Off: the kernel's samples are the reference's."""
    rng = np.random.default_rng(rate)
    frame = round(0.004 * rate)
    events, t = [], 0
    for i in range(40):
        t += int(rng.integers(0, 6)) * frame
        ch = int(rng.integers(0, 3))
        events.append((t, on(int(rng.integers(36, 96)), int(rng.integers(20, 127)), ch)))
        if rng.random() < 0.5:
            events.append((t + int(rng.integers(1, 30)) * frame, off(int(rng.integers(36, 96)), ch)))
        if i % 7 == 3:
            events.append((t, bytes([0xB0 | ch, 1, int(rng.integers(0, 128))])))  # morph
        if i == 20:
            events.append((t, bytes([0xC1, 2])))  # program change on channel 1
    events.append((t + 40 * frame, bytes([0xB0, 123, 0])))
    events.sort(key=lambda e: e[0])
    ref, nat = render_both(files, events, rate, voices=6, seed=4, morph_cc=1, morph_preset="bright",
                           release_max_s=0.3)
    assert len(ref) == len(nat)
    peak = np.abs(ref).max()
    assert peak > 0.01
    assert np.max(np.abs(ref - nat)) < 1e-4 * peak


def test_the_kernel_equals_the_reference_when_the_limit_drops_and_without_noise(files):
    from livegen.synth.offline import render_events
    out = []
    for k in ("reference", "native"):
        s = Synth(files, voices=8, seed=2, temperature=0.0, kernel=k)
        for p in range(50, 58):
            s.handle(on(p))
        a = s.render(s.frame * 5)
        s.set_limit(3)
        out.append(np.concatenate([a, s.render(s.frame * 20), render_events(s, [(0, off(57))])]))
        assert s.active_voices <= 3
    assert np.max(np.abs(out[0] - out[1])) < 1e-4 * np.abs(out[0]).max()


def test_the_kernel_names_itself_and_its_instruction_set():
    from livegen.synth import native
    assert native.describe().startswith("native C kernel (")


def test_a_kernel_that_cannot_load_is_one_clear_error_naming_its_file(monkeypatch):
    import sys

    from livegen.errors import NativeError
    from livegen.synth import native
    monkeypatch.setattr(native, "_module", None)
    monkeypatch.setitem(sys.modules, "livegen.synth._hnkernel", None)  # import raises ImportError
    with pytest.raises(NativeError, match=r"_hnkernel.*cannot be loaded.*reinstall livegen"):
        native.kernel()
    assert native.describe().startswith("unavailable: the synth's native kernel")


def test_a_calibration_moves_the_bands_it_names_and_the_kernel_equals_the_reference(files):
    """calibration.json's gains: harmonics above 4 kHz 12 dB up, every noise band 20 dB down,
    on the preset a channel plays (program change, morph); the kernel's samples are the reference's."""
    import dataclasses
    from livegen.synth.offline import render_events
    up = tuple(12.0 if f >= 4000 else 0.0 for f in hnsynth.EQ_BANDS_HZ)
    cal = hnsynth.Calibration(up, (-20.0,) * len(hnsynth.EQ_BANDS_HZ))
    name = next(iter(files.presets))
    calibrated = dataclasses.replace(files, calibration={name: cal})
    events = [(0, on(57)), (0, on(64, ch=1)), (4800, bytes([0xB1, 1, 64])), (9600, on(69, ch=1)),
              (12000, bytes([0xC1, 0])), (14400, on(72, ch=1)), (19200, off(57)), (24000, off(64, ch=1))]
    out = {k: render_events(Synth(calibrated, voices=4, seed=3, kernel=k, preset=name, morph_cc=1,
                                  morph_preset="bright"), events) for k in ("reference", "native")}
    assert np.max(np.abs(out["reference"] - out["native"])) < 1e-4 * np.abs(out["reference"]).max()

    def high_share(f, temperature):  # energy above 4 kHz over all, one held note
        s = Synth(f, voices=1, seed=3, temperature=temperature, preset=name)
        s.handle(on(57))
        x = s.render(s.sample_rate // 2)[s.sample_rate // 10:]
        p = np.abs(np.fft.rfft(x)) ** 2
        freqs = np.fft.rfftfreq(len(x), 1 / s.sample_rate)
        return p[freqs >= 4500].sum() / p.sum(), p.sum()
    (flat_share, _), (cal_share, _) = high_share(files, 0.0), high_share(calibrated, 0.0)
    assert 10 * np.log10(cal_share / flat_share) > 6  # the harmonics above 4 kHz came up
    noise = {}
    for label, f in (("flat", files), ("calibrated", calibrated)):
        noise[label] = high_share(f, 1.0)[1] - high_share(f, 0.0)[1]  # the noise part's power
    assert noise["calibrated"] < 0.05 * noise["flat"]  # 20 dB down (-13 dB at least)
