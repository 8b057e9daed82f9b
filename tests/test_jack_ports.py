"""Real virtual MIDI ports and a real audio callback on a private JACK server."""

from __future__ import annotations

import subprocess
import sys
import time

import numpy as np
import pytest

from livegen.config import AudioConfig, MidiConfig
from livegen.core.ring import AudioRing
from livegen.errors import DeviceError
from livegen.io import audio, midi
from tests.conftest import JACK_RATE, jack_tool



def _drain(port, count, timeout=60.0):
    deadline = time.monotonic() + timeout
    got = []
    while len(got) < count and time.monotonic() < deadline:
        while port.queue:
            got.append(port.queue.popleft())
        time.sleep(0.002)
    return got


@pytest.mark.jack
def test_virtual_ports_connected_by_jack_carry_notes(jack_server):
    cfg = MidiConfig(backend="jack", in_port="lgtest:in", out_port="lgtest-out:out")
    backend, inp, out = midi.open_ports(cfg)
    try:
        assert backend == "jack"
        ports = subprocess.run([jack_tool("jack_lsp")], capture_output=True, text=True).stdout.split()
        assert "lgtest:in" in ports and "lgtest-out:out" in ports
        subprocess.run([jack_tool("jack_connect"), "lgtest-out:out", "lgtest:in"], check=True)
        sent = [bytes([0x90, 60 + i, 100]) for i in range(5)] + [bytes([0x80, 60 + i, 0]) for i in range(5)]
        t0 = time.monotonic_ns()
        for message in sent:
            out.send(message)
        got = _drain(inp, len(sent))
        assert [m for _, m in got] == sent
        # stamped with the time of their frame: the cycle after the send began (JACK's cycle
        # start times filtered by a DLL: good to a fraction of a period)
        period_ns = 256 * 1e9 / JACK_RATE
        assert all(t0 - period_ns / 4 <= t <= t0 + 3 * period_ns for t, _ in got)
        assert inp.dropped == 0
    finally:
        inp.close()
        out.close()


@pytest.mark.jack
def test_input_queue_is_bounded_and_counts_drops(jack_server):
    inp = midi.open_input("jack", "lgbound:in", maxlen=3)
    out = midi.open_output("jack", "lgbound-out:out")
    try:
        subprocess.run([jack_tool("jack_connect"), "lgbound-out:out", "lgbound:in"], check=True)
        for i in range(10):
            out.send([0x90, 40 + i, 1])
        deadline = time.monotonic() + 60
        while inp.dropped < 7 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(inp.queue) == 3 and inp.dropped == 7
        assert [m[1] for _, m in inp.queue] == [40, 41, 42]
    finally:
        inp.close()
        out.close()


@pytest.mark.jack
def test_same_client_name_on_jack_is_refused_with_the_keys_named(jack_server):
    cfg = MidiConfig(backend="jack", in_port="same:in", out_port="same:out")
    with pytest.raises(DeviceError, match="midi.in_port 'same:in' and midi.out_port 'same:out'"):
        midi.open_ports(cfg)


@pytest.mark.jack
# the audio tests name PortAudio's JACK client apart: PortAudio keeps its client (and name)
# while initialised, and a livegen run later in this session expects "livegen-synth" free
def test_audio_callback_runs_at_the_server_rate(jack_server):
    ring = AudioRing(JACK_RATE * 16)
    t = np.arange(JACK_RATE * 15) / JACK_RATE  # far more than it plays, on a busy machine too
    ring.write((0.1 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[:, None])
    out = audio.AudioOutput(AudioConfig(backend="jack", client_name="lgtest-ports"), ring)
    try:
        assert out.backend == "jack"
        assert out.stream.samplerate == JACK_RATE
        out.start()
        time.sleep(0.3)  # let the stream settle
        f0, t0 = out.frames, time.monotonic()
        time.sleep(1.5)
        f1, t1 = out.frames, time.monotonic()
    finally:
        out.close()
    rate = (f1 - f0) / (t1 - t0)
    assert abs(rate - JACK_RATE) / JACK_RATE < 0.1, rate
    assert out.callbacks > 10
    assert out.underruns == 0  # 15 s of audio was ready, about 1.8 s was played


@pytest.mark.jack
def test_audio_underrun_is_counted_and_silent(jack_server):
    ring = AudioRing(1024)
    ring.write(np.ones((100, 1), np.float32))
    out = audio.AudioOutput(AudioConfig(backend="jack", client_name="lgtest-ports"), ring)
    try:
        out.start()
        deadline = time.monotonic() + 60
        while out.underruns == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        out.close()
    assert out.underruns >= 1 and ring.available() == 0


@pytest.mark.jack
def test_stale_jack_shm_is_reclaimed_only_when_no_server_runs(tmp_path, jack_server):
    from livegen.io import jackserver
    (tmp_path / "jack-shm-registry").write_bytes(b"x")
    (tmp_path / "jack_dead_0_0").write_bytes(b"x")
    (tmp_path / "other").write_bytes(b"x")
    assert jackserver.reclaim_stale_shm(str(tmp_path)) == 0  # a server runs: nothing is stale
    assert (tmp_path / "jack-shm-registry").exists()


def test_stale_jack_shm_is_removed_when_no_server_runs(tmp_path, monkeypatch):
    from livegen.io import jackserver
    monkeypatch.setattr(jackserver, "_jackd_running", lambda: False)
    for name in ("jack-shm-registry", "jack_dead_0_0", "jack_sem.0_dead_system", "other"):
        (tmp_path / name).write_bytes(b"x")
    assert jackserver.reclaim_stale_shm(str(tmp_path)) == 3
    assert [p.name for p in tmp_path.iterdir()] == ["other"]


def test_one_jack_client_library_serves_midi_and_audio_in_a_process():
    # PyPI's python-rtmidi wheel carries its own libjack (of another JACK version than
    # Debian's server); next to PortAudio's that made two libjack builds in one process.
    # ./dev.sh builds python-rtmidi against the system's: one library, the server's version.
    code = ("import rtmidi, sounddevice\n"
            "print(sorted({l.split()[-1] for l in open('/proc/self/maps') if 'libjack' in l}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr[-1000:]
    libs = eval(out.stdout.strip())
    assert len(libs) == 1, (f"libjack builds mapped: {libs}; python-rtmidi carries its own "
                            f"({midi.rtmidi_bundles_libjack()}): run ./dev.sh setup")


def test_the_sounddevice_internals_livegen_relies_on_still_exist():
    # no JACK needed: fails when a sounddevice release renames what audio.py reads
    import sounddevice as sd  # required: a broken install fails, it is not skipped
    missing = [name for name in audio.SD_INTERNALS if not hasattr(sd, name)]
    assert not missing, f"sounddevice {sd.__version__} lacks {missing}: see livegen/io/audio.py"
    assert callable(audio.sd_internal("_terminate")) and audio.sd_internal("_libname")
