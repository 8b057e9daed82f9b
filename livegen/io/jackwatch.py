"""Is the JACK server there? Asked without being its client.

A process whose JACK clients outlived their server cannot ask libjack any more
(PortAudio hangs in it; libjack keeps the dead server's state for the process), so
this module asks the server's request socket directly: connecting to it and
closing at once is JACK2's own server check (``JackSocketClientChannel::ServerCheck``;
the server drops such a connection silently). It costs about 40 us, opens no
client, and the server logs nothing. The socket's inode and change time identify
one run of the server: a server restarted between two looks has a new socket.

Linux, JACK2 (jackd2, jackdbus): the socket is ``/dev/shm/jack_<server>_<uid>_0``
(``jack_<server>_0`` with ``JACK_PROMISCUOUS_SERVER``). Elsewhere nothing is found,
and callers fall back to what their clients report.

Called from the main thread (``livegen run``'s status loop), never from a callback.
"""

from __future__ import annotations

import os
import socket

SERVER_DIR = "/dev/shm"  # JACK2's jack_server_dir on Linux (jackd --version: "tmpdir /dev/shm")


def server_name() -> str:
    """The JACK server this process's clients reach: ``JACK_DEFAULT_SERVER``, else 'default'."""
    return os.environ.get("JACK_DEFAULT_SERVER") or "default"


def _user() -> str:
    return "" if "JACK_PROMISCUOUS_SERVER" in os.environ else f"{os.getuid()}_"


def socket_path(name: str) -> str:
    return os.path.join(SERVER_DIR, f"jack_{name.replace('/', '_')}_{_user()}0")


def server_identity(name: str) -> tuple[int, int] | None:
    """(inode, ctime ns) of the request socket of the running server ``name``, or None
    when no server of that name accepts connections (stopped, killed, never started)."""
    path = socket_path(name)
    try:
        st = os.stat(path)
    except OSError:
        return None
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.setblocking(False)
    try:
        sock.connect(path)
    except BlockingIOError:  # its backlog is full: it is there, and busy
        pass
    except OSError:  # ECONNREFUSED: a socket left by a killed server; EACCES: not ours to use
        return None
    finally:
        sock.close()
    return st.st_ino, st.st_ctime_ns


def own_client_files(name: str) -> list[str]:
    """JACK's per-client files (``jack_sem.*``) of server ``name`` that this process has
    open: one per JACK client it opened there (rtmidi's ports, PortAudio's stream)."""
    prefix = f"jack_sem.{_user()}{name.replace('/', '_')}_"
    found = set()
    try:
        fds = os.listdir("/proc/self/fd")
    except OSError:
        return []
    for fd in fds:
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if os.path.dirname(target) == SERVER_DIR and os.path.basename(target).startswith(prefix):
            found.add(target)
    return sorted(found)


def reclaim_client_files(name: str, paths: list[str]) -> int:
    """Remove ``paths`` (from :func:`own_client_files`) once server ``name`` is gone.

    A server that stops removes the files of the clients it closes, but not of those still
    connected when it went: livegen's are left behind. Nothing is removed while a server
    of that name runs (a client of the same name may own the file again). Returns the
    number removed.
    """
    if server_identity(name) is not None:
        return 0
    removed = 0
    for path in paths:
        try:
            os.remove(path)
            removed += 1
        except OSError:
            pass
    return removed
