"""An external MIDI clock master on JACK, and how far onsets land from its ticks.

:class:`ClockMaster` runs ``jack_midi_clock`` (Debian package jack-midi-clock), which
sends MIDI beat clock at a fixed tempo while JACK's transport rolls, Start when it
starts and Stop when it stops, each tick at its own frame. ``livegen bench jam`` and
tests/test_clock_grid.py drive livegen with it and record its ticks and livegen's
answers on one frame clock (a :class:`~livegen.io.jackmidi.JackMidiInput` stamping
frames), then :func:`grid_errors` says how far each answer's note-on is from the
nearest tick.
"""

from __future__ import annotations

import shutil
import subprocess
import time

import numpy as np

from livegen.core.notes import note_on_off
from livegen.errors import DeviceError
from livegen.io.jacknative import jack_module
from livegen.io.quiet import captured_stderr

TOOL = "jack_midi_clock"
PORT = "jack_midi_clock:mclk_out"


def missing() -> str | None:
    """None if the clock master can run here, else why not."""
    if shutil.which(TOOL) is None:
        return f"{TOOL} not found (Debian: apt-get install jack-midi-clock)"
    return None


class ClockMaster:
    """jack_midi_clock at ``bpm`` (quarter notes per minute), its output connected to ``to``.

    ``start()`` starts JACK's transport (jack_midi_clock sends Start, then ticks);
    ``close()`` stops the transport and the process.
    """

    def __init__(self, bpm: float, to: tuple[str, ...] = ()):
        why = missing()
        if why:
            raise DeviceError(why)
        self.proc = subprocess.Popen([TOOL, "-b", f"{bpm:g}", "-B", "-P"], stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        jack = jack_module()
        with captured_stderr():
            self.client = jack.Client("livegen-transport", no_start_server=True)
        self.client.activate()
        try:
            deadline = time.monotonic() + 10
            for port in to:
                while True:  # its port exists a moment before its client is active
                    try:
                        self.client.connect(PORT, port)
                        break
                    except jack.JackError as err:
                        if self.proc.poll() is not None or time.monotonic() > deadline:
                            raise DeviceError(f"{TOOL} did not start or connect to {port!r} ({err}): "
                                              f"{self.proc.stderr.read()[-500:]}") from err
                        time.sleep(0.05)
        except BaseException:
            self.close()
            raise

    def start(self) -> None:
        self.client.transport_frame = 0
        self.client.transport_start()

    def close(self) -> None:
        self.client.transport_stop()
        time.sleep(0.05)  # Stop reaches who listens
        self.client.deactivate()
        self.client.close()
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def grid_errors(messages: list[tuple[int, bytes]], channel: int) -> np.ndarray:
    """For each note-on on ``channel`` (0..15) in ``messages`` ([(frame, bytes), ...] with
    the clock's ticks among them), its distance in frames to the nearest tick (signed:
    positive = after it). Empty when there are no ticks or no such notes."""
    ticks = np.array([t for t, m in messages if m == b"\xf8"], np.int64)
    onsets = np.array([t for t, m in messages if (note := note_on_off(m)) and note[:2] == ("on", channel)],
                      np.int64)
    if not len(ticks) or not len(onsets):
        return np.zeros(0, np.int64)
    i = np.clip(np.searchsorted(ticks, onsets), 1, len(ticks) - 1) if len(ticks) > 1 else np.zeros(
        len(onsets), np.int64)
    before, after = ticks[np.maximum(i - 1, 0)], ticks[i]
    d_before, d_after = onsets - before, onsets - after
    return np.where(np.abs(d_before) <= np.abs(d_after), d_before, d_after)
