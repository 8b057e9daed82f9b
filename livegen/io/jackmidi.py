"""JACK-native MIDI ports (JACK-Client): every event at its own frame inside the cycle.

Used when the MIDI backend is JACK; rtmidi (:mod:`livegen.io.midi`) serves ALSA,
CoreMIDI and WinMM. python-rtmidi's JACK backend writes every message at frame 0 of
the next cycle, so its timing depends on the period; these ports do not.

Time. JACK's frame clock and livegen's monotonic clock are tied once per cycle by
``jack_get_cycle_times`` (the cycle's first frame, its start and the next cycle's start
in microseconds of CLOCK_MONOTONIC_RAW, JACK's clock on Linux); the offset from
CLOCK_MONOTONIC_RAW to CLOCK_MONOTONIC is measured in the same cycle. An input event at
offset ``o`` of the cycle is stamped with the time of frame ``F + o``; an output event
due at ``t`` is written at the offset of the frame of ``t`` in the cycle that holds it.
Both directions use one map, so an answer computed from input stamps lands on the
input's frames: a MIDI clock's ticks in, onsets on those ticks out.

Threads. The process callback runs on JACK's real-time thread and only moves data:
input events are copied into the port's queue (:meth:`InputPort._deliver`); output
events are taken from two deques the sender fills (``send``) and written. The
sender hands an event over ``lead_ns`` ahead (one period plus a margin for its own
wake-up), so it is in the queue before the cycle that plays it begins. A message
without a time (pass-through) goes out at the start of the next cycle.

Faults, one log line each: a client or port name the server refuses
(:class:`~livegen.errors.DeviceError` naming it), a period change while running
(the lead follows it), xruns (counted; logged at most once a second).
"""

from __future__ import annotations

import collections
import logging
import os
import threading
import time

from livegen.errors import DeviceError
from livegen.io.ports import InputPort, OutputPort
from livegen.io.quiet import captured_stderr

log = logging.getLogger("livegen.midi")

LEAD_MARGIN_NS = 3_000_000  # the sender's wake-up jitter at real-time priority, with room
CAPTURE, PLAYBACK = 0, 1  # jack_latency_callback_mode_t

_CDEF = """
typedef uint32_t jack_nframes_t;
typedef uint64_t jack_time_t;
typedef struct { jack_nframes_t min; jack_nframes_t max; } jack_latency_range_t;
typedef void (*JackLatencyCallback)(int mode, void *arg);
int jack_get_cycle_times(void *client, jack_nframes_t *current_frames, jack_time_t *current_usecs,
                         jack_time_t *next_usecs, float *period_usecs);
int jack_set_latency_callback(void *client, JackLatencyCallback cb, void *arg);
void jack_port_set_latency_range(void *port, int mode, jack_latency_range_t *range);
"""
_native = None


def jack_module():
    try:
        import jack
    except (ImportError, OSError) as err:
        raise DeviceError(f"JACK MIDI needs JACK-Client and libjack ({err}); Debian: apt-get install "
                          "jackd2") from err
    return jack


def native():
    """(ffi, lib) for the libjack functions JACK-Client 0.5 does not wrap: the cycle's
    times and port latency ranges."""
    global _native
    if _native is None:
        import cffi
        ffi = cffi.FFI()
        ffi.cdef(_CDEF)
        _native = ffi, ffi.dlopen("libjack.so.0")
    return _native


def c_pointer(obj):
    """The C pointer (jack_client_t* or jack_port_t*) inside a JACK-Client Client or Port,
    as a ``void *`` of :func:`native`'s ffi. JACK-Client keeps it in ``_ptr`` and has no
    public accessor: this is the one place that reads it (tests/test_jack_midi.py checks
    it still works)."""
    jack = jack_module()
    ffi, _ = native()
    return ffi.cast("void *", int(jack._ffi.cast("uintptr_t", obj._ptr)))


class CycleClock:
    """Frames of the current cycle <-> monotonic ns; :meth:`update` in each process callback.

    ``t0_ns``: monotonic time of the cycle's first frame, ``frame0`` its frame, and
    ``ns_per_frame``. JACK's own cycle start times jitter with the driver's wake-ups
    (+-0.1 ms measured with the dummy driver), so they feed a delay-locked loop of
    0.5 Hz bandwidth (F. Adriaensen, "Using a DLL to filter time"): the stamps follow the
    sound card's clock without its wake-up jitter. It starts again after a jump of more
    than 2 ms (an xrun, a period change).
    """

    BANDWIDTH_HZ = 0.5

    def __init__(self, client, rate: int):
        ffi, self._lib = native()
        self._jack_client = client
        self._client = c_pointer(client)
        self._frames = ffi.new("jack_nframes_t *")
        self._now = ffi.new("jack_time_t *")
        self._next = ffi.new("jack_time_t *")
        self._period = ffi.new("float *")
        self.rate = rate
        self.t0_ns = 0.0
        self.frame0 = 0  # JACK's frame counter at the cycle's first frame
        self.ns_per_frame = 1e9 / rate
        self._locked = False

    def update(self, frames: int) -> None:  # JACK's thread
        raw = time.clock_gettime_ns(time.CLOCK_MONOTONIC_RAW)
        offset = time.monotonic_ns() - raw
        if self._lib.jack_get_cycle_times(self._client, self._frames, self._now, self._next, self._period):
            frame0, start = self._jack_client.last_frame_time, float(raw)  # no cycle times: now
        else:
            frame0, start = self._frames[0], self._now[0] * 1000.0
        start += offset
        if self._locked:
            predicted = self.t0_ns + ((frame0 - self.frame0) & 0xFFFFFFFF) * self.ns_per_frame
            error = start - predicted
            if abs(error) < 2e6:
                omega = 2 * 3.141592653589793 * self.BANDWIDTH_HZ * frames / self.rate
                self.t0_ns = predicted + 1.4142 * omega * error
                self.ns_per_frame += omega * omega * error / frames
                self.frame0 = frame0
                return
        # (re)lock on this cycle's start; the rate: the last one locked, else the nominal (one
        # cycle's own length jitters by percents)
        self.t0_ns, self.frame0 = start, frame0
        self._locked = True


def _name_taken(client_name: str) -> bool:
    """A client of this name is on the server (JACK2 answers a taken exact name with the
    same status as a missing server: ask a client of another name)."""
    jack = jack_module()
    try:
        with captured_stderr():
            probe = jack.Client("livegen-name-probe", no_start_server=True)
    except jack.JackOpenError:
        return False
    try:
        probe.get_uuid_for_client_name(client_name)
        return True
    except jack.JackError:
        return False
    finally:
        probe.close()


def _refused(what: str, full_name: str, err, status=None) -> DeviceError:
    server = os.environ.get("JACK_DEFAULT_SERVER", "default")
    client = full_name.partition(":")[0]
    if status is not None and (status.name_not_unique or _name_taken(client)):
        why = (f"the JACK client name {client!r} is taken (is another livegen running? give "
               "midi.in_port / midi.out_port another client name)")
    elif status is not None and (status.server_failed or status.server_error):
        why = f"no JACK server is running (server name {server!r}): start one, e.g. jackd -d dummy"
    elif status is not None and status.invalid_option:
        why = f"the JACK server refused the client name {client!r} ({err})"
    else:
        why = f"the JACK server refused it ({err})"
    return DeviceError(f"cannot open {what} {full_name!r} on JACK: {why}")


class _JackPort:
    """The JACK client behind one port: opening, the period, xruns, latency, closing."""

    kind = "MIDI port"

    def _open_client(self, full_name: str, is_input: bool, connect: tuple[str, ...], watch_xruns: bool):
        jack = jack_module()
        self._jack_error = jack.JackError
        client_name, _, port_name = full_name.partition(":")
        os.environ.setdefault("JACK_NO_START_SERVER", "1")
        failed = None
        with captured_stderr() as noise:
            try:
                self.client = jack.Client(client_name, use_exact_name=True, no_start_server=True)
            except jack.JackOpenError as err:
                failed = err
        if failed is not None:
            raise _refused(self.kind, full_name, failed, getattr(failed, "status", None)) from failed
        log.debug("open %s: %s", full_name, "".join(noise).strip())
        self.xruns = 0
        self.lost = False
        try:
            ports = self.client.midi_inports if is_input else self.client.midi_outports
            with captured_stderr():
                try:
                    self.jport = ports.register(port_name or ("in" if is_input else "out"))
                except jack.JackError as err:
                    failed = err
            if failed is not None:
                raise _refused(self.kind, full_name, failed) from failed
            self.rate = self.client.samplerate
            self.period = self.client.blocksize
            self.clock = CycleClock(self.client, self.rate)
            self._watch_xruns = watch_xruns
            self._xrun_logged = 0.0
            self.client.set_process_callback(self._process)
            self.client.set_blocksize_callback(self._on_period)
            self.client.set_xrun_callback(self._on_xrun)
            self.client.set_shutdown_callback(self._on_shutdown)
            self._set_latency_callback()
            self.client.activate()
            for other in connect:
                try:
                    if is_input:
                        self.client.connect(other, self.jport)
                    else:
                        self.client.connect(self.jport, other)
                except jack.JackError as err:
                    raise DeviceError(f"cannot connect {full_name!r} to {other!r}: {err}") from err
        except BaseException:
            self._close_client()
            raise

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

    def _set_latency_callback(self) -> None:
        ffi, lib = native()

        @ffi.callback("void(int, void *)")
        def on_latency(mode, _arg):  # JACK's thread: report what this port adds
            lo, hi = self._latency(mode, self.period)
            rng = ffi.new("jack_latency_range_t *")
            rng.min, rng.max = lo, hi
            lib.jack_port_set_latency_range(self._port_ptr, mode, rng)

        self._port_ptr = c_pointer(self.jport)
        self._latency_cb = on_latency  # kept alive as long as the client
        lib.jack_set_latency_callback(c_pointer(self.client), on_latency, ffi.NULL)

    def _latency(self, mode: int, period: int) -> tuple[int, int]:
        return 0, 0

    def _close_client(self) -> None:
        client = getattr(self, "client", None)
        if client is None:
            return
        with captured_stderr():  # libjack's "Server is not running" when its server died
            if not self.lost:
                client.deactivate()
            client.close()


class JackMidiInput(_JackPort, InputPort):
    """A JACK MIDI input; each event is stamped with the monotonic time of its frame
    (``frames``: with JACK's frame counter instead, for measuring on the frame clock).

    ``connect``: ports to connect to it at once (a recorder's sources)."""

    kind = "MIDI input"

    def __init__(self, full_name: str, maxlen: int | None = 65536, connect: tuple[str, ...] = (),
                 watch_xruns: bool = False, frames: bool = False):
        InputPort.__init__(self, full_name, maxlen)
        self.frames = frames
        self._open_client(full_name, True, tuple(connect), watch_xruns)

    def _process(self, frames: int) -> None:  # JACK's thread: stamp and copy
        clock = self.clock
        clock.update(frames)
        events = self.jport.incoming_midi_events()
        first = next(events, None)
        if first is None:
            return
        t0, step = (clock.frame0, 1) if self.frames else (clock.t0_ns, clock.ns_per_frame)
        t0 = int(t0)
        for offset, buf in (first, *events):
            data = bytes(buf)
            if data[0] != 0xFE:  # active sensing carries nothing
                self._deliver(t0 + int(offset * step), data)

    def _latency(self, mode: int, period: int) -> tuple[int, int]:
        # what arrives here reaches livegen's output one period later at the earliest (pass-through)
        return (period, period) if mode == PLAYBACK else (0, 0)

    def _close(self) -> None:
        self._close_client()


class JackMidiOutput(_JackPort, OutputPort):
    """A JACK MIDI output that writes each message at the frame it is due.

    ``lead_ns``: hand a timed message over at least this long before it is due (one
    period and a margin). Counters: ``late`` (timed messages whose frame had passed when
    their cycle came: written at the cycle's start), ``overflow`` (the port's buffer was
    full: the message waits for the next cycle), ``written``.
    """

    kind = "MIDI output"

    def __init__(self, full_name: str, connect: tuple[str, ...] = (), watch_xruns: bool = True):
        OutputPort.__init__(self, full_name)
        self._now: collections.deque = collections.deque()  # untimed: at the next cycle's start
        self._timed: collections.deque = collections.deque()  # (at_ns, msg), in time order
        self.late = self.overflow = self.written = 0
        self._drained = threading.Event()
        self._open_client(full_name, False, tuple(connect), watch_xruns)

    @property
    def lead_ns(self) -> int:
        return round(self.period * 1e9 / self.rate) + LEAD_MARGIN_NS

    def _period_note(self) -> str:
        return f"; MIDI is now handed to JACK {self.lead_ns / 1e6:.1f} ms ahead"

    def _send(self, msg: bytes, at_ns: int | None) -> None:  # the sender's thread
        if at_ns is None:
            self._now.append(msg)
        else:
            timed = self._timed
            if timed and at_ns < timed[-1][0]:  # keep time order: never before what is queued
                at_ns = timed[-1][0]
            timed.append((at_ns, msg))
        self._drained.clear()

    def _process(self, frames: int) -> None:  # JACK's thread: write what is due in this cycle
        port = self.jport
        port.clear_buffer()
        clock = self.clock
        clock.update(frames)
        now, timed = self._now, self._timed
        if not now and not timed:
            self._drained.set()
            return
        t0, step = clock.t0_ns, clock.ns_per_frame
        last = 0
        try:
            while now:
                port.write_midi_event(0, now[0])
                now.popleft()
                self.written += 1
            while timed:
                at_ns, msg = timed[0]
                offset = int((at_ns - t0) / step)
                if offset >= frames:
                    break
                if offset < 0:
                    self.late += offset < -1  # a frame of rounding is not late
                    offset = 0
                last = max(last, offset)
                port.write_midi_event(last, msg)
                timed.popleft()
                self.written += 1
        except self._jack_error:  # the buffer is full: the rest waits for the next cycle
            self.overflow += 1

    def _latency(self, mode: int, period: int) -> tuple[int, int]:
        # timed messages leave on their frame (0); pass-through up to a period after it arrived
        return (0, period) if mode == CAPTURE else (0, 0)

    def pending(self) -> int:
        return len(self._now) + len(self._timed)

    def _close(self) -> None:
        # let what was handed over play (the sender's closing note-offs included)
        if not self.lost and self.pending():
            last = self._timed[-1][0] if self._timed else time.monotonic_ns()
            wait = max(0, last - time.monotonic_ns()) / 1e9 + 3 * self.period / self.rate
            deadline = time.monotonic() + min(wait, 2.0)
            while self.pending() and time.monotonic() < deadline:
                self._drained.wait(0.01)
        if self.pending():
            log.warning("%s: closed with %d MIDI messages not yet played", self.name, self.pending())
        self._close_client()
