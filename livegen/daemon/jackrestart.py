"""Coming back when the JACK server goes away and returns: ``livegen run`` re-executes itself.

When the server that livegen's ports and audio output live on goes away (a musician
restarts JACK from qjackctl), :class:`JackWatch` notices it on the status loop: the
audio output was shut down (JACK's shutdown callback), or the server's request socket
no longer answers or belongs to a new run of the server (:mod:`livegen.io.jackwatch`;
the only sign in MIDI-only mode, where rtmidi reports nothing). ``livegen run`` then
stops the daemon's threads, lets go of the audio stream, waits for a server of the
same name (:func:`wait_for_server`: polling, until SIGINT or SIGTERM) and replaces
itself with a fresh run of the same command (:func:`reexec`).

Why re-execute in place rather than reopen the ports, or run under a supervising parent:

- libjack keeps the dead server's state for the whole process (and PortAudio, where it
  served JACK, could not be initialised again: it hung in stop, close and terminate). A new process image
  is the one state known to be clean; ``os.execv`` gives one without a second process.
- The PID stays the same, so a service manager (systemd, a shell's job control) keeps
  tracking livegen and its signals reach it; a parent would have to forward signals,
  share the terminal and survive its child's crashes, and would still hold the memory
  of a second interpreter.
- Everything the new run needs is already there: the same interpreter
  (``sys.executable``), the same arguments (``sys.orig_argv``), working directory and
  environment, plus ``LIVEGEN_JACK_RESTARTS`` so it can say that it restarted and how
  often. What it costs: the models load again (a few seconds) before the ports are back.

Before the exec every inherited file descriptor is marked close-on-exec (libjack's and
PortAudio's sockets and shared memory would otherwise pile up with each restart), and
the main thread goes back to ordinary scheduling (a real-time policy survives an exec).
Notes sounding when the server went cannot be closed: the server took the ports, and
their connections to the DAW, with it.

Main thread only.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time

from livegen.daemon.sink import sink_status
from livegen.io import jackwatch

log = logging.getLogger("livegen")

RESTARTS_ENV = "LIVEGEN_JACK_RESTARTS"


def restarts() -> int:
    """How many times this ``livegen run`` re-executed itself after a JACK server came back."""
    try:
        return max(0, int(os.environ.get(RESTARTS_ENV, "0")))
    except ValueError:
        return 0


def server_at_start() -> tuple[str, tuple[int, int] | None]:
    """The JACK server livegen's clients will reach, and its identity now (None: none runs),
    taken before any port opens: a loss during start-up is then seen too."""
    name = jackwatch.server_name()
    return name, jackwatch.server_identity(name)


def lost_since(server: str, identity: tuple[int, int] | None, within: float = 0.0) -> str | None:
    """Why the server that had ``identity`` is gone (for the log), or None: it is still there
    (or there was none). ``within``: seconds to keep looking (a killed server's socket
    answers for a moment after its clients were refused)."""
    if identity is None:
        return None
    deadline = time.monotonic() + within
    while True:
        now = jackwatch.server_identity(server)
        if now is None:
            return "its socket no longer answers"
        if now != identity:
            return "it was restarted"
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.05)


class JackWatch:
    """Notices that livegen's JACK server went away, from the MIDI ports' side and the audio's.

    ``midi_backend``: the backend the ports opened on; ``sink``: the synth or None. With
    neither on JACK there is nothing to watch (``server`` is None). ``identity``: the
    server's, from :func:`server_at_start` (default: now).
    """

    def __init__(self, midi_backend: str, sink, identity: tuple[int, int] | None = None):
        synth = sink_status(sink) or {}
        self.audio_on_jack = synth.get("audio_host") == "jack"
        self.server = jackwatch.server_name() if midi_backend == "jack" or self.audio_on_jack else None
        if identity is None and self.server:
            identity = jackwatch.server_identity(self.server)
        self.identity = identity if self.server else None
        self.sink = sink

    @property
    def why_not_watched(self) -> str | None:
        """Why a lost server would go unnoticed, or None."""
        if self.server is None or self.identity is not None or self.audio_on_jack:
            return None
        return (f"cannot watch the JACK server {self.server!r} (no socket at "
                f"{jackwatch.socket_path(self.server)}: not JACK2 on Linux?); a lost server goes unnoticed")

    def lost(self) -> str | None:
        """Why livegen's server is gone (the reason, for the log), or None while it is there."""
        if self.server is None:
            return None
        if self.audio_on_jack and (sink_status(self.sink) or {}).get("audio_lost"):
            return "the audio output was shut down"
        return lost_since(self.server, self.identity)


def wait_for_server(name: str, stop: threading.Event, tick=None, every: float = 0.25,
                    settle: float = 0.5) -> bool:
    """Wait until a JACK server ``name`` runs (True) or ``stop`` is set (False).

    The server must answer for ``settle`` seconds first, so a server that fails while
    starting is not taken for one. ``tick(seconds_waited)`` runs on each poll (the status
    screen).
    """
    t0 = time.monotonic()
    up_since = seen = None
    while not stop.wait(every):
        if tick is not None:
            tick(time.monotonic() - t0)
        now = jackwatch.server_identity(name)
        if now is None or now != seen:
            up_since, seen = (time.monotonic() if now is not None else None), now
        elif time.monotonic() - up_since >= settle:
            return True
    return False


def ordinary_scheduling() -> None:
    """The calling thread back to SCHED_OTHER (a real-time policy would survive an exec and be
    inherited by every thread the next run starts while loading its models)."""
    if hasattr(os, "sched_setscheduler") and hasattr(os, "SCHED_OTHER"):
        try:
            os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))
        except OSError:
            pass


def close_on_exec() -> None:
    """Mark every file descriptor above stderr close-on-exec."""
    try:
        fds = [int(fd) for fd in os.listdir("/proc/self/fd")]
    except OSError:
        fds = range(3, min(os.sysconf("SC_OPEN_MAX"), 65536))
    for fd in fds:
        if fd > 2:
            try:
                os.set_inheritable(fd, False)
            except OSError:
                pass


def reexec(count: int):
    """Replace this process with a fresh run of the same command (same PID); never returns."""
    ordinary_scheduling()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    close_on_exec()
    env = {**os.environ, RESTARTS_ENV: str(count)}
    # argv[0] is the interpreter's path (a venv is found from it), then the same options
    os.execve(sys.executable, [sys.executable, *sys.orig_argv[1:]], env)
