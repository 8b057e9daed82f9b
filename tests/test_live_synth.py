"""The synth live on a JACK dummy server: a real audio callback, recorded by a JACK client."""

from __future__ import annotations

import time

import numpy as np
import pytest

from livegen.config import AudioConfig
from livegen.engine.timbre import TimbreEngine
from livegen.io.jackrec import AudioRecorder
from livegen.synth.live import LiveSynth
from livegen.synth.synth import Synth
from tests import timbre_fixture
from tests.daemon_fakes import wait_for

pytestmark = pytest.mark.jack


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    out = timbre_fixture.copy_to(tmp_path_factory.mktemp("live"), {"a": [0.5] * 4})
    return TimbreEngine.load(out, provider="cpu")


def test_notes_sound_on_the_jack_port_and_the_callback_keeps_up(jack_server, files):
    live = LiveSynth(Synth(files, voices=4, seed=0), AudioConfig(backend="jack",
                     client_name="lgtest-synth"))
    assert live.rate == 16000
    live.start()
    rec = AudioRecorder("lgtest-synth:out_0", name="lgtest-rec")
    try:
        assert wait_for(lambda: len(rec.periods()) > 0)  # the stream runs
        live.start_capture()
        t_capture = time.monotonic()
        silent_until = len(rec.periods())
        sent = time.monotonic_ns()
        live.send(bytes([0x90, 60, 100]))
        live.send(bytes([0x90, 67, 100]))
        time.sleep(0.6)
        live.send(bytes([0x80, 60, 0]))
        live.send(bytes([0x80, 67, 0]))
        time.sleep(0.3)
        captured = live.stop_capture()
        captured_s = time.monotonic() - t_capture  # about 0.9 s; more on a busy machine
    finally:
        rec.close()
        live.close()
    # the capture holds what played while it ran (within the periods at either end)
    assert 0.7 * captured_s * 16000 <= len(captured) <= 1.5 * captured_s * 16000, (len(captured), captured_s)
    assert np.abs(captured).max() > 1e-3
    blocks = rec.periods()
    before = np.concatenate([b for _, b in blocks[:silent_until]])
    assert np.abs(before).max() < 1e-3  # nothing played before the note-on
    loud = [t for t, b in blocks[silent_until:] if np.abs(b).max() > 1e-3]
    assert loud, "no sound reached the JACK port"
    onset_ms = (loud[0] - sent) / 1e6
    assert onset_ms < 500  # loose here; `livegen bench` reports the real figure
    assert live.synth.alloc.stolen == 0


class SlowSynth(Synth):
    """A real synth that takes twice as long as the audio it renders, whatever the CPU."""

    def render(self, n):
        t0 = time.perf_counter()
        out = super().render(n)
        time.sleep(max(0.0, 2 * n / self.sample_rate - (time.perf_counter() - t0)))
        return out


def test_when_rendering_falls_behind_voices_are_shed_and_counted(jack_server, files):
    # rendering slower than real time (on any machine): the governor must shed voices
    live = LiveSynth(SlowSynth(files, voices=4, seed=0),
                     AudioConfig(backend="jack", client_name="lgtest-slow"))
    live.start()
    try:
        for p in (60, 64, 67, 72):
            live.send(bytes([0x90, p, 100]))
        deadline = time.monotonic() + 60
        while live.governor.limit > 1 and time.monotonic() < deadline:
            time.sleep(0.1)
        status = live.status()
    finally:
        live.close()
    assert status["voice_limit"] == 1 and status["voices_shed"] >= 3
    assert status["underruns"] > 0  # counted, filled with silence


def test_a_flood_starts_no_more_notes_per_render_than_voices_and_leaves_none_sounding(jack_server, files):
    live = LiveSynth(Synth(files, voices=4, seed=0), AudioConfig(backend="jack", client_name="lgtest-flood"))
    for i in range(200):  # all there before the first render: one render's worth of a flood
        live.send(bytes([0x90, 40 + i % 40, 100]))
        live.send(bytes([0x80, 40 + i % 40, 0]))
    live.start()
    try:
        deadline = time.monotonic() + 10
        while (live.notes_dropped < 196 or live.voices) and time.monotonic() < deadline:
            time.sleep(0.05)
        status = live.status()
    finally:
        live.close()
    assert status["notes_dropped"] == 196 and status["inbox_dropped"] == 0  # 4 started: the voices
    assert status["voices"] == 0  # every note-off came through: nothing hangs


def test_a_full_collection_waits_for_silence_and_plays_padding_meanwhile(jack_server, files):
    live = LiveSynth(Synth(files, voices=4, seed=0), AudioConfig(backend="jack", client_name="lgtest-gc"))
    live.start()
    try:
        live.send(bytes([0x90, 60, 100]))
        assert wait_for(lambda: live.voices == 1)
        live.start_capture()
        live.collect_when_silent()
        time.sleep(0.3)
        assert live.collections == 0  # a voice sounds: no collection yet
        live.send(bytes([0x80, 60, 0]))
        assert wait_for(lambda: live.collections == 1, timeout=10)  # once its release ended
        assert live.voices == 0
        captured = live.stop_capture()
    finally:
        live.close()
    # the capture is whole periods rendered, plus the padding (COLLECT_PAD_S) written once
    from livegen.synth.live import COLLECT_PAD_S
    pad = int(COLLECT_PAD_S * live.rate)
    assert pad % live.period != 0  # (else the check below could not tell)
    assert len(captured) % live.period == pad % live.period
