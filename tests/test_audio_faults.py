"""Faults: the JACK server dies under an open audio stream; livegen notices and can still exit."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from livegen.io import jackserver

pytestmark = [pytest.mark.jack, pytest.mark.skipif(bool(jackserver.missing_tools()), reason="needs jackd")]


def test_stream_reports_the_lost_server_and_the_process_exits(tmp_path):
    # its own process and server: PortAudio state is per process, and this server dies
    code = textwrap.dedent(f"""
        import os, time
        from livegen.io import jackserver, audio
        from livegen.config import AudioConfig
        from livegen.core.ring import AudioRing
        srv = jackserver.start("lgfault-{{}}".format(os.getpid()), 16000, 256, {str(tmp_path / 'j.log')!r})
        os.environ.update(JACK_DEFAULT_SERVER=srv.name, JACK_NO_START_SERVER="1")
        out = audio.AudioOutput(AudioConfig(backend="jack"), AudioRing(1 << 14))
        out.start()
        deadline = time.monotonic() + 60  # states, waited for generously: a busy machine is slow
        while out.callbacks == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not out.lost and out.callbacks > 0
        srv.stop()  # SIGTERM: a killed server would keep its place in JACK's registry (8 places)
        deadline = time.monotonic() + 60
        while not out.lost and time.monotonic() < deadline:
            time.sleep(0.05)
        print("lost", out.lost, flush=True)
        out.close()
        print("closed", flush=True)
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "lost True" in proc.stdout and "closed" in proc.stdout
