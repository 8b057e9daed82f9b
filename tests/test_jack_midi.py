"""JACK-native MIDI ports (livegen/io/jackmidi.py) on a private JACK server: frames and
faults. The clock-grid goal itself is tests/test_clock_grid.py."""

from __future__ import annotations

import logging
import subprocess
import time

import pytest

from livegen.errors import DeviceError
from livegen.io import midi
from livegen.io.jackmidi import JackMidiInput
from livegen.io.jacknative import c_pointer, jack_module
from livegen.io.ports import Recorder
from livegen.io.midiclient import MidiRecorder
from livegen.core.notes import left_sounding
from tests.conftest import JACK_PERIOD, JACK_RATE, jack_tool
from tests.daemon_fakes import wait_for

pytestmark = pytest.mark.jack


@pytest.fixture
def server(jack_server):
    # the session's server: libjack serves one JACK server per process
    return jack_server


def test_jack_client_still_keeps_its_c_pointer_where_livegen_reads_it(server):
    jack = jack_module()
    client = jack.Client("lgptr", no_start_server=True)
    try:
        assert int(jack._ffi.cast("uintptr_t", client._ptr)) != 0
        assert c_pointer(client, "jack_client_t *") is not None
    finally:
        client.close()


def test_timed_messages_land_on_their_frames_and_untimed_at_the_next_cycle(server):
    out = midi.open_output("jack", "lgtimed:out")
    rec = Recorder(JackMidiInput("lgtimed-rec:in", maxlen=None, frames=True, connect=("lgtimed:out",)))
    stamps = Recorder(JackMidiInput("lgtimed-ns:in", maxlen=None, connect=("lgtimed:out",)))
    try:
        time.sleep(2.5)  # the cycle clock's loop settles
        t0 = time.monotonic_ns() + out.lead_ns + 5_000_000
        step = 1_234_567  # not a multiple of the period
        for i in range(8):
            out.send(bytes((0x90, 60 + i, 100)), t0 + i * step)
        assert wait_for(lambda: len(rec.snapshot()) >= 8 and len(stamps.snapshot()) >= 8)
        got = rec.snapshot()
        ns = stamps.snapshot()
        counts = out.counts()
    finally:
        for p in (rec, stamps, out):
            p.close()
    assert [m[1] for _, m in got] == list(range(60, 68))
    frames = [f for f, _ in got]
    want = [i * step * JACK_RATE / 1e9 for i in range(8)]
    assert max(abs((f - frames[0]) - w) for f, w in zip(frames, want)) <= 2  # frames apart as due
    assert max(abs(t - (t0 + i * step)) for i, (t, _) in enumerate(ns)) < 200_000  # and on time
    assert counts["late"] == 0 and counts["overflow"] == 0 and counts["written"] == 8


def test_a_client_jack_never_ran_is_reopened_and_then_carries_every_message(server, monkeypatch, caplog):
    from livegen.io import jackmidi
    from tests.test_jack_audio import _never_runs_once
    results = _never_runs_once(monkeypatch, jackmidi)
    with caplog.at_level("WARNING", logger="livegen.io"):
        out = midi.open_output("jack", "lgreopen:out")
    monkeypatch.undo()
    rec = Recorder(JackMidiInput("lgreopen-rec:in", maxlen=None, connect=("lgreopen:out",)))
    try:
        for i in range(8):
            out.send(bytes((0x90, 60 + i, 100)))
        assert wait_for(lambda: len(rec.snapshot()) >= 8)
        got = [m[1] for _, m in rec.snapshot()]
    finally:
        for p in (rec, out):
            p.close()
    assert results == [False, True] and got == list(range(60, 68))
    said = [r.getMessage() for r in caplog.records if "reopening it" in r.getMessage()]
    assert len(said) == 1 and "'lgreopen:out'" in said[0] and "try 2 of 3" in said[0]


def test_a_taken_client_name_is_refused_in_one_line(server):
    first = midi.open_input("jack", "lgname:in")
    try:
        with pytest.raises(DeviceError, match=r"cannot open MIDI input 'lgname:in' on JACK: the JACK "
                                              r"client name 'lgname' is taken"):
            midi.open_input("jack", "lgname:in")
    finally:
        first.close()


def test_a_port_name_the_server_refuses_is_one_line(server):
    with pytest.raises(DeviceError, match=r"cannot open MIDI output 'lglong:x+' on JACK: the JACK "
                                          r"server refused it"):
        midi.open_output("jack", "lglong:" + "x" * 400)


def test_a_period_change_while_running_is_one_line_and_no_note_is_left(server, caplog):
    out = midi.open_output("jack", "lgperiod:out")
    rec = MidiRecorder("jack", "lgperiod-rec", "lgperiod:out")
    try:
        lead = out.lead_ns
        with caplog.at_level(logging.WARNING, logger="livegen.midi"):
            t = time.monotonic_ns() + lead
            out.send(b"\x90\x3c\x64", t)
            try:
                subprocess.run([jack_tool("jack_bufsize"), "1024"], check=True, capture_output=True,
                               env=server.env(), timeout=60)
                out.send(b"\x80\x3c\x00", t + 100_000_000)
                deadline = time.monotonic() + 60
                while len(rec.snapshot()) < 2 and time.monotonic() < deadline:
                    time.sleep(0.02)
                lead_after = out.lead_ns
            finally:  # the session's server: back to its period
                subprocess.run([jack_tool("jack_bufsize"), str(JACK_PERIOD)], capture_output=True,
                               env=server.env(), timeout=60)
        lines = [r.getMessage() for r in caplog.records if "period changed" in r.getMessage()]
        assert lines and f"from {JACK_PERIOD} to 1024 frames" in lines[0]
        assert lead_after > lead
        got = rec.snapshot()
    finally:
        rec.close()
        out.close()
    assert [m for _, m in got] == [b"\x90\x3c\x64", b"\x80\x3c\x00"] and not left_sounding(got)


def test_a_client_that_cannot_keep_up_is_one_line_a_second(server, caplog):
    jack = jack_module()
    out = midi.open_output("jack", "lgxrun:out")
    hog = jack.Client("lgxrun-hog", no_start_server=True)
    stall = [3]
    def process(frames):
        if stall[0] > 0:
            stall[0] -= 1
            time.sleep(0.05)  # three periods
    hog.set_process_callback(process)
    try:
        with caplog.at_level(logging.WARNING, logger="livegen.midi"):
            hog.activate()
            deadline = time.monotonic() + 60
            while out.xruns == 0 and time.monotonic() < deadline:
                time.sleep(0.05)
    finally:
        hog.deactivate()
        hog.close()
        out.close()
    assert out.xruns >= 1
    lines = [r.getMessage() for r in caplog.records if "xrun" in r.getMessage()]
    assert 1 <= len(lines) <= 2, lines
