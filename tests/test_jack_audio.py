"""livegen's JACK audio output (livegen/io/jackaudio.py, livegen/io/jackaudio.c) on real JACK dummy
servers: what the render thread writes into the ring comes out of the port sample for sample,
and a starved ring is counted and played as silence."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from livegen.config import AudioConfig
from livegen.errors import DeviceError
from livegen.io import jacknative

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.jack


def wait_for(what, timeout: float = 20.0) -> None:
    """Wait for a state (not a time): ``what()`` true, else fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not what():
        assert time.monotonic() < deadline, f"timed out waiting for {what.__doc__ or what}"
        time.sleep(0.005)


def consistent(out) -> dict:
    """Counts read while no callback ran in between (the C side updates them one by one)."""
    while True:
        a = out.counts()
        b = out.counts()
        if a == b:
            return a


def play_and_record(client: str, capacity: int = 8192) -> dict:
    """Through the running server: a ring of ``capacity`` frames, a signal written so that it
    wraps around the ring's end, recorded at the port; then the ring starved. What was seen."""
    from livegen.io.audio import open_output
    from livegen.io.jackaudio import JackAudioOutput
    from livegen.io.jackrec import AudioRecorder

    out = open_output(AudioConfig(backend="auto", client_name=client), capacity)
    assert isinstance(out, JackAudioOutput)
    rec = None
    try:
        out.start()
        rec = AudioRecorder(f"{client}:out_0", name=f"{client}-rec")
        lead = capacity // 2 + 123  # played first, so the signal starts mid-ring and wraps
        assert out.ring.write(np.zeros(lead, np.float32)) == lead
        wait_for(lambda: out.ring.available() == 0)
        rng = np.random.default_rng(0)
        signal = rng.uniform(0.05, 0.5, capacity).astype(np.float32)  # no sample is silent
        assert out.ring.write(signal) == capacity  # the whole ring: nothing can play short
        assert out.ring.write(signal[:10]) == 0  # full
        wait_for(lambda: out.ring.available() == 0)
        seen = out.callbacks
        wait_for(lambda: out.callbacks >= seen + 3)  # the recorder has the signal's last period
        got = rec.audio()
        starved = consistent(out)
        wait_for(lambda: out.callbacks >= starved["callbacks"] + 5)
        later = consistent(out)
    finally:
        if rec is not None:
            rec.close()
        out.close()
    start = int(np.flatnonzero(got != 0)[0])
    return {"exact": bool(np.array_equal(got[start:start + capacity], signal)),
            "silent_after": bool(np.all(got[start + capacity:] == 0)),
            "rate": out.sample_rate, "period": out.period, "starved": starved, "later": later,
            "written": lead + capacity, "portaudio": "sounddevice" in sys.modules}


def check(report: dict, rate: int, period: int) -> None:
    assert report["rate"] == rate and report["period"] == period
    assert report["exact"], "the port did not play what was written into the ring"
    assert report["silent_after"]
    s, later = report["starved"], report["later"]
    # every frame the callback played is a written frame or silence it counted
    assert s["frames"] - s["silence"] == s["written"] == report["written"]
    assert later["frames"] - later["silence"] == report["written"]
    # starved: each callback since is an underrun of a whole period of silence
    callbacks = later["callbacks"] - s["callbacks"]
    assert callbacks >= 5
    assert later["underruns"] - s["underruns"] == callbacks
    assert later["silence"] - s["silence"] == callbacks * period
    assert s["underruns"] >= 1  # the lead drained before the signal was written


def test_what_the_ring_holds_comes_out_of_the_port_and_a_starved_ring_is_counted(jack_server):
    from tests.conftest import JACK_PERIOD, JACK_RATE
    check(play_and_record("lgtest-audio"), JACK_RATE, JACK_PERIOD)


# one JACK server per process (DEVELOPERS.md): each rate and period runs in a process of its own
@pytest.mark.parametrize("rate", [44100, 48000])
@pytest.mark.parametrize("period", [64, 1024])
def test_the_port_plays_the_ring_at_each_rate_and_period(tmp_path, rate, period):
    code = (f"import json, os\n"
            f"from livegen.io import jackserver\n"
            f"from tests.test_jack_audio import play_and_record\n"
            f"with jackserver.serving('lgaudio-{rate}-{period}-' + str(os.getpid()), {rate}, {period}, "
            f"{str(tmp_path / 'jackd.log')!r}):\n"
            f"    print(json.dumps(play_and_record('lgtest-audio')))\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    check(report, rate, period)
    assert not report["portaudio"]  # on JACK PortAudio is never loaded (it would open a client of its own)


def test_the_port_connects_to_the_playback_ports_or_to_those_audio_device_names(jack_server):
    from livegen.io.audio import open_output
    connected = {}
    for device in ("", "playback_2"):
        out = open_output(AudioConfig(backend="jack", client_name="lgtest-connect", device=device), 1024)
        try:
            out.start()
            connected[device] = sorted(p.name for p in out.client.get_all_connections(out.port))
        finally:
            out.close()
    assert connected == {"": ["system:playback_1", "system:playback_2"], "playback_2": ["system:playback_2"]}
    out = open_output(AudioConfig(backend="jack", client_name="lgtest-connect", device="nowhere"), 1024)
    try:
        with pytest.raises(DeviceError, match="audio.device = 'nowhere': no JACK audio input holds that name; "
                                              "there are: system:playback_1, system:playback_2"):
            out.start()
    finally:
        out.close()


def test_a_native_module_that_cannot_load_is_one_line_naming_the_file(monkeypatch, caplog):
    from livegen.io import audio, midi
    monkeypatch.setattr(jacknative, "MODULE", "livegen.io._jack_missing")
    monkeypatch.setattr(jacknative, "_native", None)
    why = jacknative.unavailable()
    assert why is not None and "\n" not in why and "_jack" in why and "not built" in why
    assert str(Path(jacknative.__file__).parent) in why  # names the file, where it belongs
    # audio on JACK says so and never falls back to PortAudio's Python callback
    monkeypatch.setattr(audio, "on_jack", lambda cfg: True)
    with pytest.raises(DeviceError, match="native JACK module is not built"):
        audio.open_output(AudioConfig(backend="jack"), 1024)
    # MIDI on JACK says so once, then uses rtmidi's JACK backend
    monkeypatch.setattr(midi, "_told_no_native", False)
    with caplog.at_level("WARNING", logger="livegen.midi"):
        assert midi._jack_native(True) is False
    assert [r.getMessage() for r in caplog.records if "_jack" in r.getMessage()]


KILL_DURING_START = """
import os, sys, threading, time
from livegen.config import AudioConfig
from livegen.errors import DeviceError
from livegen.io import jackserver
from livegen.io.audio import open_output

delay = float(sys.argv[1])
srv = jackserver.start("lgkill-%d" % os.getpid(), 48000, 256, sys.argv[2])
os.environ.update(JACK_DEFAULT_SERVER=srv.name, JACK_NO_START_SERVER="1")
killer = threading.Timer(delay, srv.stop)  # SIGTERM: a killed server keeps its registry place
killer.start()
out = None
silence = __import__("numpy").zeros(256, "float32")
try:
    out = open_output(AudioConfig(backend="jack", client_name="lgkill"), 4096)
    out.start()
    while not out.lost:  # the server stops at some moment: the output must say so
        out.ring.write(silence)
        time.sleep(0.005)
    outcome = "lost"
except DeviceError as err:
    outcome = "refused: " + str(err).splitlines()[0]
killer.join()
srv.process.wait(10)
if out is not None:
    out.close()
print("outcome", outcome, flush=True)
"""


@pytest.mark.slow
@pytest.mark.parametrize("delay_ms", [0, 30, 50, 70, 100, 300])
def test_a_server_stopped_at_any_moment_of_start_up_is_reported_and_the_process_exits(tmp_path, delay_ms):
    # PortAudio aborted the process when its JACK server died while it started (issue 21):
    # livegen's own port either refuses to open (DeviceError) or reports the output lost
    proc = subprocess.run([sys.executable, "-c", KILL_DURING_START, str(delay_ms / 1000), str(tmp_path / "j.log")],
                          cwd=ROOT, capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stdout + proc.stderr[-2000:]
    assert "outcome lost" in proc.stdout or "outcome refused: cannot" in proc.stdout, proc.stdout


def _never_runs_once(monkeypatch, module):
    """``module.first_cycle`` says "no callback came" on its first call (what a client opened in
    JACK2's race sees: jacknative.FIRST_CYCLE_S), then waits for real ones; the calls' results."""
    real, results = module.first_cycle, []

    def first_cycle(cycles, timeout_s=jacknative.FIRST_CYCLE_S):
        results.append(bool(results) and real(cycles, timeout_s))
        return results[-1]
    monkeypatch.setattr(module, "first_cycle", first_cycle)
    return results


def test_a_port_jack_never_ran_is_reopened_and_plays_the_same_ring(jack_server, monkeypatch, caplog):
    from tests.conftest import JACK_PERIOD, JACK_RATE
    from livegen.io import jackaudio
    results = _never_runs_once(monkeypatch, jackaudio)
    with caplog.at_level("WARNING", logger="livegen.io"):
        report = play_and_record("lgtest-reopen")
    assert results == [False, True]  # a new client and port, fed from the same ring
    check(report, JACK_RATE, JACK_PERIOD)
    said = [r.getMessage() for r in caplog.records if "reopening it" in r.getMessage()]
    assert len(said) == 1 and "'lgtest-reopen:out_0'" in said[0] and "try 2 of 3" in said[0]
