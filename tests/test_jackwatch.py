"""The JACK server probe and the restart helpers, without a JACK server (a stand-in socket)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time

from livegen.daemon import jackrestart
from livegen.daemon.status import waiting_lines
from livegen.io import jackwatch


def listen(path: str) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(path)
    sock.listen(4)
    return sock


def test_the_probe_tells_a_running_server_from_a_stopped_killed_or_restarted_one(tmp_path, monkeypatch):
    monkeypatch.setattr(jackwatch, "SERVER_DIR", str(tmp_path))
    monkeypatch.delenv("JACK_PROMISCUOUS_SERVER", raising=False)
    path = jackwatch.socket_path("srv")
    assert path == str(tmp_path / f"jack_srv_{os.getuid()}_0")
    assert jackwatch.server_identity("srv") is None  # never started
    server = listen(path)
    first = jackwatch.server_identity("srv")
    assert first is not None and jackwatch.server_identity("srv") == first
    server.close()  # killed: the socket file stays, nobody listens
    assert jackwatch.server_identity("srv") is None
    os.remove(path)
    server = listen(path)  # a new run of the server: a new socket
    assert jackwatch.server_identity("srv") not in (None, first)
    server.close()
    monkeypatch.setenv("JACK_PROMISCUOUS_SERVER", "1")
    assert jackwatch.socket_path("srv") == str(tmp_path / "jack_srv_0")


def test_a_server_lost_while_livegen_started_is_lost_like_a_later_one(tmp_path, monkeypatch):
    # the identity taken before the ports opened: a server gone by the time the watch starts
    # (the audio output then failed: MIDI only) is noticed, not taken for an unwatchable one
    monkeypatch.setattr(jackwatch, "SERVER_DIR", str(tmp_path))
    monkeypatch.setenv("JACK_DEFAULT_SERVER", "srv")
    server = listen(jackwatch.socket_path("srv"))
    before = jackwatch.server_identity("srv")
    server.close()  # killed while the ports and the audio output opened
    watch = jackrestart.JackWatch("jack", None, before)
    assert watch.why_not_watched is None
    assert watch.lost() == "its socket no longer answers"
    assert jackrestart.JackWatch("jack", None).why_not_watched  # asked only now: nothing to compare with


def test_client_files_are_found_by_the_open_descriptors_and_kept_while_a_server_runs(tmp_path, monkeypatch):
    monkeypatch.setattr(jackwatch, "SERVER_DIR", str(tmp_path))
    mine = tmp_path / f"jack_sem.{os.getuid()}_srv_livegen-out"
    other = tmp_path / f"jack_sem.{os.getuid()}_srv_daw"  # another program's client: not open here
    mine.write_bytes(b"\0" * 12)
    other.write_bytes(b"\0" * 12)
    with open(mine, "rb"):
        files = jackwatch.own_client_files("srv")
        assert files == [str(mine)]
        server = listen(jackwatch.socket_path("srv"))
        assert jackwatch.reclaim_client_files("srv", files) == 0  # a server of that name runs
        server.close()
        assert jackwatch.reclaim_client_files("srv", files) == 1
    assert not mine.exists() and other.exists()


def test_waiting_ends_on_a_signal_or_on_a_server_that_stays_up(tmp_path, monkeypatch):
    monkeypatch.setattr(jackwatch, "SERVER_DIR", str(tmp_path))
    stop = threading.Event()
    threading.Timer(0.2, stop.set).start()
    t0 = time.monotonic()
    assert not jackrestart.wait_for_server("srv", stop, every=0.05)
    assert time.monotonic() - t0 < 1.0
    server = listen(jackwatch.socket_path("srv"))
    ticks = []
    t0 = time.monotonic()
    assert jackrestart.wait_for_server("srv", threading.Event(), ticks.append, every=0.05, settle=0.3)
    assert 0.3 <= time.monotonic() - t0 < 2.0 and ticks
    server.close()


def test_the_restart_count_and_the_waiting_screen(monkeypatch):
    monkeypatch.setenv(jackrestart.RESTARTS_ENV, "3")
    assert jackrestart.restarts() == 3
    monkeypatch.setenv(jackrestart.RESTARTS_ENV, "junk")
    assert jackrestart.restarts() == 0
    lines = waiting_lines("default", "the audio stream stopped", 12.3, 4, 3)
    assert lines[0].endswith("JACK server lost: waiting for it")
    assert "'default': lost 12 s ago (the audio stream stopped)" in lines[1]
    assert "could not be closed" in lines[2] and "Ctrl-C" in lines[3]


def test_reexec_keeps_the_pid_and_the_arguments_and_closes_other_descriptors():
    code = (
        "import json, os, sys\n"
        "from livegen.daemon import jackrestart\n"
        "n = jackrestart.restarts()\n"
        "if n == 0:\n"
        "    os.dup2(os.open(os.devnull, os.O_RDONLY), 50)  # inheritable, as libjack's are\n"
        "    print(os.getpid(), flush=True)\n"
        "    jackrestart.reexec(1)\n"
        "print(json.dumps([os.getpid(), n, sys.argv[1:], os.path.exists('/proc/self/fd/50')]), flush=True)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code, "x", "--y"], capture_output=True, text=True, timeout=120,
                          env={**os.environ, jackrestart.RESTARTS_ENV: "0"})
    assert proc.returncode == 0, proc.stderr
    first, again = proc.stdout.splitlines()
    assert json.loads(again) == [int(first), 1, ["x", "--y"], False]
