"""MIDI ports: choosing the backend, and the rtmidi ports (ALSA, CoreMIDI, WinMM).

The only module that touches rtmidi. :func:`open_input`, :func:`open_output` and
:func:`open_ports` give :mod:`livegen.io.ports` ports whatever the backend: on JACK,
JACK-Client ports that place each event at its frame (:mod:`livegen.io.jackmidi`);
elsewhere rtmidi's. The rtmidi input callback runs on rtmidi's own thread: it
timestamps the message with ``time.monotonic_ns()`` and appends it to a bounded
queue, nothing else; whoever owns the port drains the queue.

With JACK and ALSA every port is a client of its own, so the input and output ports
need different client names (``livegen:in``, ``livegen-out:out``).
"""

from __future__ import annotations

import logging
import os
import sys
import time

from livegen.errors import DeviceError
from livegen.io.ports import InputPort, OutputPort
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


def _find(ports: list[str], name: str) -> int:
    for i, p in enumerate(ports):
        if p == name or p.split(" ")[0] == name or p.endswith(name):
            return i
    raise DeviceError(f"no MIDI port {name!r} (ports: {', '.join(ports) or 'none'})")


def _open_rtmidi(is_input: bool, backend: str, full_name: str, connect: str | None):
    """An rtmidi MidiIn/MidiOut named after ``full_name``'s client, with a virtual port of
    ``full_name``'s port name, or connected to the port ``connect``."""
    rtmidi = _rtmidi()
    client, port = split_name(full_name)
    kind = "input" if is_input else "output"
    with captured_stderr() as noise:
        try:
            api = getattr(rtmidi, BACKENDS[backend][0])
            if is_input:
                handle = rtmidi.MidiIn(rtapi=api, name=client, queue_size_limit=4096)
                handle.ignore_types(sysex=False, timing=False, active_sense=True)
            else:
                handle = rtmidi.MidiOut(rtapi=api, name=client)
            if connect is None:
                handle.open_virtual_port(port)
            else:
                handle.open_port(_find(handle.get_ports(), connect), port or kind[:-3])
        except (rtmidi.RtMidiError, RuntimeError) as err:
            target = f"virtual MIDI {kind} {full_name!r}" if connect is None else f"{connect!r}"
            raise DeviceError(f"cannot open {target} on {backend}: {err}") from err
    log.debug("open %s: %s", full_name, "".join(noise).strip())
    return handle


class RtmidiInput(InputPort):
    """An rtmidi input (virtual, or connected to ``connect``); its callback runs on
    rtmidi's thread and only stamps with ``time.monotonic_ns()`` and appends."""

    def __init__(self, backend: str, full_name: str, maxlen: int | None = 65536, connect: str | None = None):
        super().__init__(full_name, maxlen)
        self.implementation = f"rtmidi ({backend})"
        self._port = _open_rtmidi(True, backend, full_name, connect)
        self._port.set_callback(self._on_message)

    def _on_message(self, event, _data=None) -> None:  # rtmidi's thread
        self._deliver(time.monotonic_ns(), bytes(event[0]))

    def _close(self) -> None:
        with captured_stderr():  # libjack's "Server is not running" when its server died
            self._port.cancel_callback()
            self._port.close_port()
            self._port.delete()


class RtmidiOutput(OutputPort):
    """An rtmidi output: it sends at once (``lead_ns = 0``), so ``at_ns`` is for the
    caller, who waits until the message is due."""

    def __init__(self, backend: str, full_name: str, connect: str | None = None):
        super().__init__(full_name)
        self.implementation = f"rtmidi ({backend})"
        self._error = _rtmidi().RtMidiError
        self._port = _open_rtmidi(False, backend, full_name, connect)

    def _send(self, msg: bytes, at_ns: int | None) -> None:
        try:
            self._port.send_message(msg)
        except self._error as err:  # its JACK server or ALSA peer went away
            raise DeviceError(f"{self.name}: cannot send: {err}") from err

    def _close(self) -> None:
        with captured_stderr():  # libjack's "Server is not running" when its server died
            self._port.close_port()  # waits up to 1 s for the process callback of a dead server
            self._port.delete()


_told_no_native = False


def _jack_native(native_jack: bool) -> bool:
    """JACK-Client ports with their C process callback, if asked for and they build here;
    else (said once) rtmidi's JACK backend."""
    global _told_no_native
    if not native_jack:
        return False
    from livegen.io.jacknative import unavailable
    why = unavailable()
    if why and not _told_no_native:
        _told_no_native = True
        log.warning("JACK MIDI through rtmidi, every message at the start of a period (%s)", why)
    return why is None


def open_input(backend: str, full_name: str, maxlen: int | None = 65536, connect: tuple[str, ...] = (),
               native_jack: bool = True, realtime: bool = False) -> InputPort:
    """An input port named ``full_name`` ('client:port'), virtual or connected to the
    ports ``connect``; on JACK a JACK-Client port unless ``native_jack`` is false
    (rtmidi's JACK backend, kept for comparison: ``livegen bench jam --rtmidi``), whose
    reader thread runs real-time if ``realtime``."""
    if backend == "jack" and _jack_native(native_jack):
        from livegen.io.jackmidi import JackMidiInput
        return JackMidiInput(full_name, maxlen, connect, realtime=realtime)
    if len(connect) > 1:
        raise DeviceError(f"{full_name!r}: rtmidi connects a port to one other port, not {len(connect)}")
    return RtmidiInput(backend, full_name, maxlen, connect[0] if connect else None)


def open_output(backend: str, full_name: str, connect: tuple[str, ...] = (),
                native_jack: bool = True) -> OutputPort:
    """An output port named ``full_name``, virtual or connected to ``connect`` (see open_input)."""
    if backend == "jack" and _jack_native(native_jack):
        from livegen.io.jackmidi import JackMidiOutput
        return JackMidiOutput(full_name, connect)
    if len(connect) > 1:
        raise DeviceError(f"{full_name!r}: rtmidi connects a port to one other port, not {len(connect)}")
    return RtmidiOutput(backend, full_name, connect[0] if connect else None)


def open_ports(midi_cfg, native_jack: bool = True, realtime: bool = False) -> tuple[str, InputPort, OutputPort]:
    """Open the configured virtual in and out ports; returns (backend, in, out).
    ``realtime``: the input's reader thread at real-time priority (``jam.realtime``)."""
    backend = choose_backend(midi_cfg.backend)
    if backend in SEPARATE_CLIENTS and split_name(midi_cfg.in_port)[0] == split_name(midi_cfg.out_port)[0]:
        raise DeviceError(
            f"midi.in_port {midi_cfg.in_port!r} and midi.out_port {midi_cfg.out_port!r} share a client "
            f"name, but on {backend} every virtual port is its own client: give them different client "
            "names (e.g. 'livegen:in' and 'livegen-out:out')")
    inp = open_input(backend, midi_cfg.in_port, native_jack=native_jack, realtime=realtime)
    try:
        out = open_output(backend, midi_cfg.out_port, native_jack=native_jack)
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
