"""Virtual MIDI ports through python-rtmidi (JACK, ALSA, CoreMIDI).

The only module that touches rtmidi. The input callback runs on rtmidi's own
thread: it timestamps the message with ``time.monotonic_ns()`` and appends it
to a bounded queue, nothing else; whoever owns the port drains the queue.

With JACK and ALSA every rtmidi port is a client of its own, so the input and
output ports need different client names (``livegen:in``, ``livegen-out:out``).
"""

from __future__ import annotations

import collections
import logging
import os
import sys
import time

from livegen.errors import DeviceError
from livegen.io.quiet import captured_stderr

log = logging.getLogger("livegen.midi")

# config name -> (rtmidi API constant name, the platform it exists on)
BACKENDS = {
    "jack": ("API_UNIX_JACK", "linux"),
    "alsa": ("API_LINUX_ALSA", "linux"),
    "coremidi": ("API_MACOSX_CORE", "darwin"),
    "winmm": ("API_WINDOWS_MM", "win32"),
}
AUTO_ORDER = ("jack", "alsa", "coremidi")
SEPARATE_CLIENTS = ("jack", "alsa")  # backends where each port is its own client


def _rtmidi():
    try:
        import rtmidi
    except ImportError as err:  # pragma: no cover - a broken install
        raise DeviceError(f"python-rtmidi is not importable ({err}); reinstall livegen") from err
    return rtmidi


def rtmidi_bundles_libjack() -> str | None:
    """The JACK client library python-rtmidi carries with it (PyPI's manylinux wheel does),
    or None when it uses the system's. With its own copy, a livegen process holds two
    libjack builds at once (PortAudio loads the system's), the wheel's possibly of another
    JACK version than the server; ``./dev.sh`` builds python-rtmidi from source instead."""
    import glob
    import importlib.util

    spec = importlib.util.find_spec("rtmidi")
    if spec is None or not spec.origin:
        return None
    site = os.path.dirname(os.path.dirname(spec.origin))
    found = sorted(glob.glob(os.path.join(site, "python_rtmidi*", "libjack*")))
    return found[0] if found else None


def compiled_backends() -> list[str]:
    """Backends compiled into this python-rtmidi, by config name."""
    rtmidi = _rtmidi()
    compiled = set(rtmidi.get_compiled_api())
    return [name for name, (const, _) in BACKENDS.items()
            if getattr(rtmidi, const, None) in compiled]


def probe(backend: str) -> str | None:
    """None if ``backend`` can open a client here, else the reason it cannot."""
    rtmidi = _rtmidi()
    if backend == "winmm":
        return "Windows MIDI has no virtual ports: create loopMIDI ports and route through them"
    if backend not in compiled_backends():
        return f"not compiled into python-rtmidi ({rtmidi.get_rtmidi_version()})"
    if backend == "alsa" and not os.path.exists("/dev/snd/seq"):
        return "no ALSA sequencer on this machine (/dev/snd/seq is absent): start a JACK server"
    os.environ.setdefault("JACK_NO_START_SERVER", "1")
    with captured_stderr() as noise:
        try:
            client = rtmidi.MidiIn(rtapi=getattr(rtmidi, BACKENDS[backend][0]), name="livegen-probe")
        except rtmidi.RtMidiError as err:
            reason = str(err)
            if backend == "jack":
                server = os.environ.get("JACK_DEFAULT_SERVER", "default")
                reason = f"no JACK server is running (server name {server!r}): start one, e.g. jackd -d dummy"
            client = None
    log.debug("probe %s: %s", backend, "".join(noise).strip())
    if client is None:
        return reason
    client.delete()
    return None


def list_ports(backend: str) -> tuple[list[str], list[str]]:
    """(ports livegen could read from, ports it could send to) on a working backend."""
    rtmidi = _rtmidi()
    api = getattr(rtmidi, BACKENDS[backend][0])
    with captured_stderr():
        ins = rtmidi.MidiIn(rtapi=api, name="livegen-devices")
        outs = rtmidi.MidiOut(rtapi=api, name="livegen-devices")
    try:
        return ins.get_ports(), outs.get_ports()
    finally:
        ins.delete()
        outs.delete()


def choose_backend(name: str) -> str:
    """The backend to use for config value ``name`` ('auto' tries each); DeviceError if none works."""
    candidates = AUTO_ORDER if name == "auto" else (name,)
    reasons = []
    for backend in candidates:
        reason = probe(backend)
        if reason is None:
            return backend
        reasons.append(f"{backend}: {reason}")
    raise DeviceError(f"no MIDI backend can open virtual ports for midi.backend = {name!r}; "
                      + "; ".join(reasons))


def split_name(full: str) -> tuple[str, str]:
    client, _, port = full.partition(":")
    return client, port


class VirtualInput:
    """A virtual MIDI input port. Messages land in ``queue`` as (monotonic_ns, bytes).

    The queue is bounded: when its reader falls behind, new messages are counted in
    ``dropped`` rather than blocking rtmidi's thread.
    """

    def __init__(self, backend: str, full_name: str, maxlen: int = 65536):
        rtmidi = _rtmidi()
        client, port = split_name(full_name)
        self.name = full_name
        self.queue: collections.deque = collections.deque()
        self.maxlen = maxlen
        self.dropped = 0
        self.wake = None  # a threading.Event the reader may set here, to be woken on each message
        with captured_stderr() as noise:
            try:
                self._port = rtmidi.MidiIn(rtapi=getattr(rtmidi, BACKENDS[backend][0]), name=client,
                                           queue_size_limit=4096)
                self._port.ignore_types(sysex=False, timing=False, active_sense=True)
                self._port.open_virtual_port(port)
            except (rtmidi.RtMidiError, RuntimeError) as err:
                raise DeviceError(f"cannot open virtual MIDI input {full_name!r} on {backend}: {err}") from err
        log.debug("open %s: %s", full_name, "".join(noise).strip())
        self._port.set_callback(self._on_message)

    def _on_message(self, event, _data=None) -> None:  # rtmidi's thread
        if len(self.queue) >= self.maxlen:
            self.dropped += 1
            return
        self.queue.append((time.monotonic_ns(), bytes(event[0])))
        wake = self.wake
        if wake is not None:
            wake.set()

    def close(self) -> None:
        with captured_stderr():  # libjack's "Server is not running" when its server died
            self._port.cancel_callback()
            self._port.close_port()
            self._port.delete()


class VirtualOutput:
    """A virtual MIDI output port; ``send`` takes raw bytes (a complete message)."""

    def __init__(self, backend: str, full_name: str):
        rtmidi = _rtmidi()
        client, port = split_name(full_name)
        self.name = full_name
        with captured_stderr() as noise:
            try:
                self._port = rtmidi.MidiOut(rtapi=getattr(rtmidi, BACKENDS[backend][0]), name=client)
                self._port.open_virtual_port(port)
            except (rtmidi.RtMidiError, RuntimeError) as err:
                raise DeviceError(f"cannot open virtual MIDI output {full_name!r} on {backend}: {err}") from err
        log.debug("open %s: %s", full_name, "".join(noise).strip())

    def send(self, message: bytes | list[int]) -> None:
        self._port.send_message(message)

    def close(self) -> None:
        with captured_stderr():  # libjack's "Server is not running" when its server died
            self._port.close_port()  # waits up to 1 s for the process callback of a dead server
            self._port.delete()


def open_ports(midi_cfg) -> tuple[str, VirtualInput, VirtualOutput]:
    """Open the configured virtual in and out ports; returns (backend, in, out)."""
    backend = choose_backend(midi_cfg.backend)
    if backend in SEPARATE_CLIENTS and split_name(midi_cfg.in_port)[0] == split_name(midi_cfg.out_port)[0]:
        raise DeviceError(
            f"midi.in_port {midi_cfg.in_port!r} and midi.out_port {midi_cfg.out_port!r} share a client "
            f"name, but on {backend} every virtual port is its own client: give them different client "
            "names (e.g. 'livegen:in' and 'livegen-out:out')")
    inp = VirtualInput(backend, midi_cfg.in_port)
    try:
        out = VirtualOutput(backend, midi_cfg.out_port)
    except DeviceError:
        inp.close()
        raise
    return backend, inp, out


def platform_hint() -> str:
    """What a musician on this platform uses to route a DAW to livegen."""
    if sys.platform == "darwin":
        return "CoreMIDI: livegen's virtual ports appear in every DAW's MIDI settings"
    if sys.platform == "win32":
        return "Windows has no virtual MIDI ports: use loopMIDI"
    return "Linux: connect ports with JACK (qjackctl, jack_connect) or ALSA (aconnect)"
