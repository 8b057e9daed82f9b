"""JACK-native MIDI ports (JACK-Client): every event at its own frame inside the cycle.

Used when the MIDI backend is JACK; rtmidi (:mod:`livegen.io.midi`) serves ALSA,
CoreMIDI and WinMM. python-rtmidi's JACK backend writes every message at frame 0 of
the next cycle, so its timing depends on the period; these ports do not.

JACK-Client opens the client, registers and connects the port and takes JACK's
notifications (period changes, xruns, shutdown: Python, on JACK's notification
thread). The process and latency callbacks are C (``jackmidi.c``, compiled with the
package into ``livegen.io._jack``: :mod:`livegen.io.jacknative`): a Python callback would
wait for the interpreter lock on JACK's real-time thread, and a busy Python thread then
made most cycles overrun (1,252 xruns in 10 s with one, measured).

Time. JACK's frame clock and livegen's monotonic clock are tied once per cycle by a
delay-locked loop over JACK's cycle start times (``jackmidi.c``). An input event at
offset ``o`` of the cycle is stamped with the time of frame ``F + o``; an output event
due at ``t`` is written at the offset of the frame of ``t`` in the cycle that holds it.
Both directions use one map, so an answer computed from input stamps lands on the
input's frames: a MIDI clock's ticks in, onsets on those ticks out.

Threads. The process callback only moves bytes between the port's buffer and
lock-free rings. Input: a reader thread of the port's own waits on a semaphore the
callback posts, and appends what arrived to the port's queue
(:meth:`InputPort._deliver`). Output: ``send`` writes into a ring; the sender hands an
event over ``lead_ns`` ahead (one period plus a margin for its own wake-up), so it is
there before the cycle that plays it begins. A message without a time (pass-through)
goes out at the start of the next cycle.

Faults, one log line each: a client or port name the server refuses
(:class:`~livegen.errors.DeviceError` naming it), a period change while running
(the lead follows it), xruns (counted; logged at most once a second).
"""

from __future__ import annotations

import logging
import threading
import time

from livegen.errors import DeviceError
from livegen.io.jacknative import (OPEN_TRIES, REOPEN_PAUSE_S, c_pointer, close_client, first_cycle, jack_module,
                                   native, never_ran, open_client, refused)
from livegen.io.ports import InputPort, OutputPort
from livegen.io.quiet import captured_stderr

log = logging.getLogger("livegen.midi")

LEAD_MARGIN_NS = 10_000_000  # the sender's wake-up under load: stalls of several ms were measured
UNTIMED = -(1 << 63)
RING_BYTES = 1 << 18


class _JackPort:
    """The JACK client behind one port: opening, the period, xruns, closing (its latency: the C side)."""

    kind = "MIDI port"
    implementation = "JACK native (C process callback)"

    def _open_client(self, full_name: str, is_input: bool, connect: tuple[str, ...], watch_xruns: bool,
                     frames_mode: bool = False):
        """Open, activate and connect the client; reopened when JACK never runs it
        (:data:`~livegen.io.jacknative.FIRST_CYCLE_S`)."""
        for attempt in range(1, OPEN_TRIES + 1):
            last = attempt == OPEN_TRIES
            if self._open_client_once(full_name, is_input, connect, watch_xruns, frames_mode, last):
                return
            never_ran(self.kind, full_name, attempt)
            time.sleep(REOPEN_PAUSE_S)

    def _open_client_once(self, full_name: str, is_input: bool, connect: tuple[str, ...], watch_xruns: bool,
                          frames_mode: bool, last: bool) -> bool:
        """True if the client runs (or ``last``: kept open anyway), False if it was closed
        because JACK never ran its process callback."""
        jack = jack_module()
        self._ffi, self._lib = native()
        self._port = None
        port_name = full_name.partition(":")[2]
        self.client = open_client(self.kind, full_name)
        self.xruns = 0
        self.lost = False
        failed = None
        try:
            ports = self.client.midi_inports if is_input else self.client.midi_outports
            with captured_stderr():
                try:
                    self.jport = ports.register(port_name or ("in" if is_input else "out"))
                except jack.JackError as err:
                    failed = err
            if failed is not None:
                raise refused(self.kind, full_name, failed) from failed
            self.rate = self.client.samplerate
            self.period = self.client.blocksize
            self._watch_xruns = watch_xruns
            self._xrun_logged = 0.0
            self._port = self._lib.lg_attach(c_pointer(self.client, "jack_client_t *"),
                                             c_pointer(self.jport, "jack_port_t *"), is_input, frames_mode,
                                             RING_BYTES)
            if self._port == self._ffi.NULL:
                raise DeviceError(f"cannot set up the process callback of {full_name!r} (out of memory?)")
            self.client.set_blocksize_callback(self._on_period)
            self.client.set_xrun_callback(self._on_xrun)
            self.client.set_shutdown_callback(self._on_shutdown)
            self.client.activate()
            port = self._port
            if not first_cycle(lambda: self._lib.lg_cycles(port)) and not last:
                self._close_client()
                return False
            for other in connect:
                try:
                    if is_input:
                        self.client.connect(other, self.jport)
                    else:
                        self.client.connect(self.jport, other)
                except jack.JackError as err:
                    raise DeviceError(f"cannot connect {full_name!r} to {other!r}: {err}") from err
        except jack.JackError as err:  # the server went while the port opened (activate, callbacks)
            self._close_client()
            raise DeviceError(f"cannot open {self.kind} {full_name!r}: JACK refused it ({err}); "
                              f"is the JACK server still running?") from err
        except BaseException:
            self._close_client()
            raise
        return True

    # -- JACK's notification thread (not real-time) --------------------------------------
    def _on_period(self, frames: int) -> None:
        if frames != self.period:
            old, self.period = self.period, frames
            log.warning("%s: the JACK period changed from %d to %d frames while running (%.1f -> %.1f ms)%s",
                        self.name, old, frames, old / self.rate * 1e3, frames / self.rate * 1e3,
                        self._period_note())

    def _period_note(self) -> str:
        return ""

    def _on_xrun(self, delayed_usecs: float) -> None:
        self.xruns += 1
        now = time.monotonic()
        if self._watch_xruns and now - self._xrun_logged >= 1.0:
            self._xrun_logged = now
            log.warning("JACK xrun: a client on the server did not finish its cycle in time (%.1f ms "
                        "late; %d xruns so far); livegen keeps its notes and their ends", delayed_usecs / 1e3,
                        self.xruns)

    def _on_shutdown(self, status, reason) -> None:
        self.lost = True

    def _close_client(self) -> None:
        client = getattr(self, "client", None)
        if client is None:
            return
        self.client = None
        if not close_client(client, deactivate=not self.lost):
            return  # its server is gone: the client, and the ring its callback holds, stay
        if self._port is not None and self._port != self._ffi.NULL:
            self._lib.lg_free(self._port)
        self._port = None

    def counts(self) -> dict:
        """What the process callback counted: late, overflow, written, dropped."""
        out = self._ffi.new("uint64_t[4]")
        self._lib.lg_counts(self._port, out)
        return dict(zip(("late", "overflow", "written", "dropped"), out))


class JackMidiInput(_JackPort, InputPort):
    """A JACK MIDI input; each event is stamped with the monotonic time of its frame
    (``frames``: with JACK's frame counter instead, for measuring on the frame clock).

    ``connect``: ports to connect to it at once (a recorder's sources). A reader thread
    of its own moves what the process callback received into ``queue`` (``realtime``:
    at SCHED_FIFO :data:`~livegen.realtime.READER_PRIORITY`, where permitted, so that it
    keeps up with a flood on a busy machine)."""

    kind = "MIDI input"

    def __init__(self, full_name: str, maxlen: int | None = 65536, connect: tuple[str, ...] = (),
                 watch_xruns: bool = False, frames: bool = False, realtime: bool = False):
        InputPort.__init__(self, full_name, maxlen)
        self.frames = frames
        self.realtime = realtime
        self._stop = threading.Event()
        self._open_client(full_name, True, tuple(connect), watch_xruns, frames)
        self._reader = threading.Thread(target=self._read, name=f"livegen-midi-in {full_name}", daemon=True)
        self._reader.start()

    def _read(self) -> None:  # the port's reader thread
        if self.realtime:
            from livegen.realtime import READER_PRIORITY, make_realtime
            make_realtime(READER_PRIORITY)  # refused: the daemon's threads say why in the log
        ffi, lib, port = self._ffi, self._lib, self._port
        t = ffi.new("int64_t *")
        data = ffi.new("unsigned char[]", 65536)
        counts = ffi.new("uint64_t[4]")
        in_jack = 0  # dropped by the process callback: the ring to this thread was full
        while not self._stop.is_set():
            lib.lg_wait(port, 100)  # the GIL is released while it waits
            lib.lg_counts(port, counts)
            if counts[3] != in_jack:
                self.backend_dropped += counts[3] - in_jack
                in_jack = counts[3]
            while True:
                n = lib.lg_read(port, t, data, 65536)
                if not n:
                    break
                self._deliver(t[0], bytes(ffi.buffer(data, n)))


    def _close(self) -> None:
        self._stop.set()
        if self._port is not None:
            self._lib.lg_wake(self._port)
        self._reader.join(2)
        self._close_client()


class JackMidiOutput(_JackPort, OutputPort):
    """A JACK MIDI output that writes each message at the frame it is due.

    ``lead_ns``: hand a timed message over at least this long before it is due (one
    period and a margin). ``counts()``: ``late`` (timed messages whose frame had passed
    when their cycle came: written at the cycle's start), ``overflow`` (the port's buffer
    was full: the message waits for the next cycle), ``written``, ``dropped`` (the ring
    to the process callback was full).
    """

    kind = "MIDI output"

    def __init__(self, full_name: str, connect: tuple[str, ...] = (), watch_xruns: bool = True):
        OutputPort.__init__(self, full_name)
        self._last_at = UNTIMED  # the latest time handed over (the sender's thread)
        self._open_client(full_name, False, tuple(connect), watch_xruns)

    @property
    def lead_ns(self) -> int:
        return round(self.period * 1e9 / self.rate) + LEAD_MARGIN_NS

    def _period_note(self) -> str:
        return f"; MIDI is now handed to JACK {self.lead_ns / 1e6:.1f} ms ahead"

    def _send(self, msg: bytes, at_ns: int | None) -> None:  # the sender's thread
        if at_ns is None:
            at = UNTIMED
        else:  # keep time order: never before what is queued
            at = self._last_at = max(at_ns, self._last_at)
        if not self._lib.lg_send(self._port, at, msg, len(msg)):
            raise DeviceError(f"{self.name}: {self.pending()} bytes wait for JACK's process callback, "
                              "the ring to it is full (is the JACK server still running?)")


    def pending(self) -> int:
        """Bytes handed over and not yet written by the process callback."""
        return int(self._lib.lg_pending(self._port))

    def _close(self) -> None:
        # let what was handed over play (the sender's closing note-offs included)
        if not self.lost and self.pending():
            last = self._last_at if self._last_at != UNTIMED else time.monotonic_ns()
            wait = max(0, last - time.monotonic_ns()) / 1e9 + 3 * self.period / self.rate
            deadline = time.monotonic() + min(wait, 2.0)
            while self.pending() and time.monotonic() < deadline:
                time.sleep(0.005)
        if self.pending():
            log.warning("%s: closed with MIDI not yet played (%d bytes)", self.name, self.pending())
        self._close_client()
