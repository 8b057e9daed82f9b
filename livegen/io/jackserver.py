"""Start and stop a private JACK server with the dummy driver.

Used by the test fixture and by ``livegen demo`` on a machine with no audio
set-up. The server gets its own name, so it never collides with a user's
server or another test run; clients reach it through ``JACK_DEFAULT_SERVER``.
Its xruns are counted two ways (``livegen bench xruns``): by a client that JACK
tells of each (:class:`XrunWatch`), and from the lines jackd writes to its log
(:func:`log_xruns`), which name the clients that did not finish.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass

from livegen.errors import DeviceError
from livegen.io.quiet import captured_stderr


@dataclass
class JackServer:
    name: str
    rate: int
    period: int
    process: subprocess.Popen
    log_path: str

    @property
    def pid(self) -> int:
        return self.process.pid

    def env(self) -> dict[str, str]:
        """Environment for a child process that should use this server."""
        return {**os.environ, "JACK_DEFAULT_SERVER": self.name, "JACK_NO_START_SERVER": "1"}

    def stop(self, timeout: float = 5.0) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout)


def _jackd_running() -> bool:
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/comm") as fh:
                    if fh.read().strip() in ("jackd", "jackdbus"):
                        return True
            except OSError:
                continue
    return False


def reclaim_stale_shm(shm: str = "/dev/shm") -> int:
    """Remove JACK's shared memory left by servers that died without cleaning up.

    JACK's registry has room for 8 servers, and a killed server keeps its place until a
    server of the same name starts: after a few crashes no new server can start ("Failed
    to open server"). Only when no JACK server runs at all is everything there stale; then
    it is removed. Returns the number of files removed.
    """
    if not os.path.isdir(shm) or _jackd_running():
        return 0
    removed = 0
    for name in os.listdir(shm):
        if name == "jack-shm-registry" or name.startswith(("jack_", "jack-")):
            try:
                os.remove(os.path.join(shm, name))
                removed += 1
            except OSError:
                pass
    return removed


@contextlib.contextmanager
def serving(name: str, rate: int = 16000, period: int = 256, log_path: str | None = None):
    """A private server that this process's JACK clients use, for the length of a block.

    Sets JACK_DEFAULT_SERVER (and JACK_NO_START_SERVER) here and restores them after;
    PortAudio lets go of the server before it stops (else PortAudio aborts the process).
    """
    server = start(name, rate, period, log_path)
    saved = {k: os.environ.get(k) for k in ("JACK_DEFAULT_SERVER", "JACK_NO_START_SERVER")}
    os.environ.update(JACK_DEFAULT_SERVER=name, JACK_NO_START_SERVER="1")
    try:
        yield server
    finally:
        from livegen.io import audio
        audio.release()
        server.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def missing_tools() -> list[str]:
    return [tool for tool in ("jackd", "jack_wait") if shutil.which(tool) is None]


def start(name: str, rate: int = 16000, period: int = 256, log_path: str | None = None,
          timeout: float = 10.0) -> JackServer:
    """Start ``jackd -n name -d dummy`` and wait until clients can connect."""
    missing = missing_tools()
    if missing:
        raise DeviceError(f"cannot start a JACK server: {', '.join(missing)} not found "
                          "(Debian: apt-get install jackd2)")
    log_path = log_path or os.path.join(os.environ.get("TMPDIR", "/tmp"), f"livegen-jackd-{name}.log")
    reclaim_stale_shm()
    env = {**os.environ, "JACK_DEFAULT_SERVER": name, "JACK_NO_START_SERVER": "1"}
    errors = []
    for realtime in (["-R"], ["-r"]):  # real-time first; without it where not permitted
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(["jackd", "-n", name, *realtime, "-d", "dummy", "-r", str(rate),
                                     "-p", str(period)], stdout=log, stderr=subprocess.STDOUT, env=env,
                                    start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and proc.poll() is None:
            ready = subprocess.run(["jack_wait", "-c"], env=env, capture_output=True, text=True)
            if ready.stdout.strip() == "running":
                return JackServer(name, rate, period, proc, log_path)
            time.sleep(0.1)
        server = JackServer(name, rate, period, proc, log_path)
        server.stop()
        with open(log_path, errors="replace") as log:
            errors.append(f"jackd {' '.join(realtime)}: " + log.read().strip()[-300:])
    raise DeviceError(f"JACK server {name!r} did not start:\n" + "\n".join(errors))


class XrunWatch:
    """A JACK client that counts the server's xruns: JACK calls every client's xrun
    callback (on its notification thread, not the real-time one) for each cycle the
    graph did not finish in time. It has no process callback, so it takes no part in
    the cycle it watches. ``count`` is read from any thread."""

    def __init__(self, client_name: str = "livegen-xrun-watch"):
        from livegen.io.jackmidi import jack_module
        jack = jack_module()
        with captured_stderr():
            try:
                self.client = jack.Client(client_name, no_start_server=True)
            except jack.JackOpenError as err:
                raise DeviceError(f"cannot open the xrun watch {client_name!r} on JACK: {err}") from err
        self.count = 0
        self.client.set_xrun_callback(self._on_xrun)
        self.client.activate()

    def _on_xrun(self, delayed_usecs: float) -> None:  # JACK's notification thread
        self.count += 1

    def close(self) -> None:
        self.client.deactivate()
        self.client.close()


@dataclass
class LogXruns:
    """What jackd wrote about xruns between two looks at its log (:func:`log_xruns`)."""

    lines: int  # lines that say XRun (the engine's "client = X was not finished", the driver's)
    clients: dict[str, int]  # the clients named as not finished, and how often
    offset: int  # where the next look starts


def log_xruns(path: str, offset: int = 0) -> LogXruns:
    """The xrun lines jackd wrote to its log ``path`` from byte ``offset`` on."""
    with open(path, "rb") as fh:
        fh.seek(offset)
        text = fh.read()
    end = offset + len(text)
    if not text.endswith(b"\n"):  # a line still being written: the next look reads it
        end = offset + text.rfind(b"\n") + 1
        text = text[: end - offset]
    lines, clients = 0, {}
    for line in text.decode(errors="replace").splitlines():
        if "XRun" not in line:
            continue
        lines += 1
        head, sep, rest = line.partition("client = ")
        if sep:
            name = rest.split(" was not finished")[0]
            clients[name] = clients.get(name, 0) + 1
    return LogXruns(lines, clients, end)
