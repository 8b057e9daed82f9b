"""MIDI clients that connect to other programs' ports, as a DAW does.

``livegen demo``, ``livegen bench jam`` and the end-to-end tests play into
``livegen:in`` and record ``livegen-out:out`` through real ports with these:
:class:`PortPlayer` opens an output connected to a named port, :class:`PortRecorder`
an input connected to one, timestamping each message with ``time.monotonic_ns()``
in rtmidi's callback (nothing else happens there).
"""

from __future__ import annotations

import threading
import time

from livegen.errors import DeviceError
from livegen.io.midi import BACKENDS, _rtmidi
from livegen.io.quiet import captured_stderr


def _find(ports: list[str], name: str) -> int:
    for i, p in enumerate(ports):
        if p == name or p.split(" ")[0] == name or p.endswith(name):
            return i
    raise DeviceError(f"no MIDI port {name!r} (ports: {', '.join(ports) or 'none'})")


def wait_for_port(backend: str, name: str, output: bool, timeout: float = 10.0) -> None:
    """Wait until a port named ``name`` exists (an output to read from if ``output``)."""
    rtmidi = _rtmidi()
    api = getattr(rtmidi, BACKENDS[backend][0])
    deadline = time.monotonic() + timeout
    with captured_stderr():
        probe = rtmidi.MidiIn(rtapi=api, name="livegen-wait") if output else rtmidi.MidiOut(
            rtapi=api, name="livegen-wait")
    try:
        while True:
            try:
                _find(probe.get_ports(), name)
                return
            except DeviceError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
    finally:
        probe.delete()


class PortPlayer:
    """An output port connected to ``target`` (e.g. 'livegen:in')."""

    def __init__(self, backend: str, client: str, target: str):
        rtmidi = _rtmidi()
        with captured_stderr():
            try:
                self._port = rtmidi.MidiOut(rtapi=getattr(rtmidi, BACKENDS[backend][0]), name=client)
                self._port.open_port(_find(self._port.get_ports(), target), "out")
            except (rtmidi.RtMidiError, RuntimeError) as err:
                raise DeviceError(f"cannot connect to {target!r}: {err}") from err

    def send(self, msg) -> None:
        self._port.send_message(list(msg))

    def close(self) -> None:
        self._port.close_port()
        self._port.delete()


class PortRecorder:
    """An input port connected to ``source`` (e.g. 'livegen-out:out'); ``messages`` is
    a list of (monotonic_ns, bytes), appended in rtmidi's callback."""

    def __init__(self, backend: str, client: str, source: str):
        rtmidi = _rtmidi()
        self.messages: list[tuple[int, bytes]] = []
        self.lock = threading.Lock()
        with captured_stderr():
            try:
                self._port = rtmidi.MidiIn(rtapi=getattr(rtmidi, BACKENDS[backend][0]), name=client)
                self._port.ignore_types(sysex=False, timing=False, active_sense=True)
                self._port.open_port(_find(self._port.get_ports(), source), "in")
            except (rtmidi.RtMidiError, RuntimeError) as err:
                raise DeviceError(f"cannot connect to {source!r}: {err}") from err
        self._port.set_callback(self._on_message)

    def _on_message(self, event, _data=None) -> None:  # rtmidi's thread
        t = time.monotonic_ns()
        with self.lock:
            self.messages.append((t, bytes(event[0])))

    def snapshot(self) -> list[tuple[int, bytes]]:
        with self.lock:
            return list(self.messages)

    def close(self) -> None:
        self._port.cancel_callback()
        self._port.close_port()
        self._port.delete()
