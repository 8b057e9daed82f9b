"""MIDI clients that connect to other programs' ports, as a DAW does.

``livegen demo``, ``livegen bench jam`` and the end-to-end tests play into
``livegen:in`` and record ``livegen-out:out`` through real ports with these:
:func:`open_player` opens an output connected to a named port, :class:`MidiRecorder`
an input connected to one (or several), keeping every message with its monotonic
time (on JACK the time of its frame). They are the ports of :mod:`livegen.io.midi`.
"""

from __future__ import annotations

import time

from livegen.errors import DeviceError
from livegen.io import midi
from livegen.io.ports import OutputPort, Recorder
from livegen.io.quiet import captured_stderr


def _jack_port_exists(name: str, output: bool) -> bool:
    from livegen.io.jacknative import jack_module
    jack = jack_module()
    with captured_stderr():
        client = jack.Client(f"livegen-wait-{time.monotonic_ns() % 100000}", no_start_server=True)
    try:
        return any(p.name == name for p in client.get_ports(is_midi=True, is_output=output,
                                                          is_input=not output))
    finally:
        client.close()


def wait_for_port(backend: str, name: str, output: bool, timeout: float = 10.0) -> None:
    """Wait until a port named ``name`` exists (an output to read from if ``output``)."""
    deadline = time.monotonic() + timeout
    if backend == "jack":
        while not _jack_port_exists(name, output):
            if time.monotonic() > deadline:
                raise DeviceError(f"no MIDI port {name!r} appeared on JACK within {timeout:g} s")
            time.sleep(0.05)
        return
    rtmidi = midi._rtmidi()
    api = getattr(rtmidi, midi.BACKENDS[backend][0])
    with captured_stderr():
        probe = rtmidi.MidiIn(rtapi=api, name="livegen-wait") if output else rtmidi.MidiOut(
            rtapi=api, name="livegen-wait")
    try:
        while True:
            try:
                midi._find(probe.get_ports(), name)
                return
            except DeviceError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
    finally:
        probe.delete()


def open_player(backend: str, client: str, target: str) -> OutputPort:
    """An output port of client ``client`` connected to ``target`` (e.g. 'livegen:in')."""
    return midi.open_output(backend, f"{client}:out", connect=(target,))


class MidiRecorder(Recorder):
    """An input port of client ``client`` connected to ``sources`` (e.g. 'livegen-out:out'),
    kept whole: ``snapshot()`` gives [(monotonic_ns, bytes), ...]."""

    def __init__(self, backend: str, client: str, *sources: str):
        super().__init__(midi.open_input(backend, f"{client}:in", maxlen=None, connect=sources))
