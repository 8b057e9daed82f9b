"""The sender thread: plays scheduled MIDI on time and owns the output port.

Other threads hand it work through :meth:`Sender.now` (a message to send at once:
pass-through, the state controller), :meth:`Sender.schedule` (a response: (beat,
message) pairs with a tag), :meth:`Sender.cancel` and :meth:`Sender.panic`; each
only puts into a :class:`~livegen.core.queues.BoundedQueue` and sets an Event. Past
their bounds, pass-through messages and schedule requests are dropped and counted
(``thru_dropped``, ``schedule_dropped``); note-offs, resets, cancels and panics never
are. The thread takes at most :data:`BATCH` of each per turn of its loop, so a flood
of pass-through never keeps a scheduled message waiting.

Beats become times with the clock's snapshot *at send time*, so a tempo change
moves what is still to come. A port that places messages at their time (JACK,
``port.lead_ns > 0``) gets each message ``lead_ns`` before it is due, with its due
time; the thread sleeps until then. A port that sends at once (rtmidi) gets it when
due: the thread sleeps with ``Event.wait`` until ``spin_us`` before, then busy-waits
on ``time.monotonic_ns``. Messages that end notes (cancel, panic, stop, held too
long) go out after everything already handed to the port.
A note-on due more than ``late_ns`` ago is dropped (counted): livegen never
plays out of time. Every note it starts is tracked (:class:`OpenNotes`) and
ended on cancel, panic, stop, or when held past ``max_note_s``.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field

import numpy as np

from livegen.core.notes import OpenNotes, note_on_off
from livegen.core.queues import BoundedQueue, first_midi_key
from livegen.realtime import SENDER_PRIORITY, make_realtime
from livegen.daemon.schedule import EchoFilter, Schedule
from livegen.errors import DeviceError

log = logging.getLogger("livegen.sender")

RESPONSE = "response"
BATCH = 256  # pass-through messages, and requests, handled per turn of the loop
# what a port raises when its peer or server went away (livegen.io translates its
# library's errors into DeviceError)
PORT_GONE = (DeviceError, OSError)
ECHO_SLACK_NS = 1_000_000


@dataclass
class SenderCounts:
    sent: int = 0
    thru: int = 0
    late_dropped: int = 0  # note-ons that could not be played in time
    late_max_ms: float = 0.0  # how late the latest of those was
    held_closed: int = 0  # notes ended because they were held too long
    cancelled: int = 0
    errors: int = 0  # the port refused a message (its peer went away)


@dataclass
class OnsetLog:
    """Scheduled vs actual send times of response messages (ns), newest last; bounded.

    For a port that places messages at their time, "scheduled" is when the message was
    to be handed over (its due time less the port's lead) and "actual" when it was."""

    size: int = 4096
    scheduled: np.ndarray = field(default=None)
    actual: np.ndarray = field(default=None)
    n: int = 0

    def __post_init__(self):
        self.scheduled = np.zeros(self.size, np.int64)
        self.actual = np.zeros(self.size, np.int64)

    def add(self, scheduled: int, actual: int) -> None:
        i = self.n % self.size
        self.scheduled[i], self.actual[i] = scheduled, actual
        self.n += 1

    def errors_ns(self) -> np.ndarray:
        k = min(self.n, self.size)
        return (self.actual[:k] - self.scheduled[:k]).copy()


def request_key(item):
    """What the sender's inbox must keep: a cancel (per tag) and a panic; an add may be dropped."""
    return None if item[0] == "add" else item[:2]


class Sender(threading.Thread):
    def __init__(self, port, clock_state, *, sink=None, offset_ms: float = 0.0, spin_us: int = 1000,
                 max_note_s: float = 10.0, late_ms: float = 20.0, echo: EchoFilter | None = None,
                 realtime: bool = False, clock=time.monotonic_ns):
        super().__init__(name="livegen-sender", daemon=True)
        self.port = port
        self.clock_state = clock_state  # a callable giving the current ClockState
        self.sink = sink
        self.offset_ns = round(offset_ms * 1e6)
        self.spin_ns = spin_us * 1000
        self.max_note_ns = round(max_note_s * 1e9)
        self.late_ns = round(late_ms * 1e6)
        self.echo = echo
        self.realtime = realtime
        self.realtime_refused: str | None = None  # why real-time priority was not granted
        self.clock = clock
        self.counts = SenderCounts()
        self.onsets = OnsetLog()
        self.thru_latency = OnsetLog()  # pass-through: arrival (rtmidi callback) -> sent
        self.wake = threading.Event()
        self.stopping = threading.Event()
        # ("add", events, tag, new) | ("cancel", tag) | ("panic",): adds dropped past the bound
        self._inbox = BoundedQueue(1024, request_key)
        self._now = BoundedQueue(4096, first_midi_key)  # (msg, t_in): note-offs and resets always kept
        # owned by this thread
        self._schedule = Schedule()
        self._responses = 0  # response messages in the schedule
        self._open_response = OpenNotes()
        self._open_thru = OpenNotes()
        self.response_end_beat: float | None = None  # read by others: last beat still to play
        self.response_notes_open = 0  # read by others: response notes sounding
        self.first_onset: tuple[int, int] | None = None  # (scheduled, actual) of the latest response
        self._handed_ns = 0  # the latest due time handed to a port that places messages in time

    # -- other threads ------------------------------------------------------------------
    def now(self, msg: bytes, t_in: int = 0) -> None:
        """Send ``msg`` as soon as possible (pass-through, the state controller);
        ``t_in``: when it arrived, for the pass-through latency log."""
        if self._now.put((msg, t_in)):
            self.wake.set()

    def _post(self, item) -> None:
        if self._inbox.put(item):
            self.wake.set()

    @property
    def thru_dropped(self) -> int:
        """Pass-through messages dropped: the sender was that far behind (never a note-off)."""
        return self._now.dropped

    @property
    def schedule_dropped(self) -> int:
        """Schedule requests dropped (a flood of control CCs); never a cancel or a panic."""
        return self._inbox.dropped

    def schedule(self, events: list[tuple[float, bytes]], tag: str = RESPONSE,
                 new_response: bool = False) -> None:
        """Play ``events`` ((beat, message) pairs); any thread. A response may come in
        several parts; ``new_response`` marks its first (for the first-onset figure)."""
        self._post(("add", events, tag, new_response))

    def cancel(self, tag: str = RESPONSE) -> None:
        """Drop what is still to come of ``tag`` and end its sounding notes; any thread."""
        self._post(("cancel", tag))

    def panic(self) -> None:
        """Drop everything scheduled and end every note on every channel; any thread."""
        self._post(("panic",))

    @property
    def responding(self) -> bool:
        """A response is scheduled or sounding (read from any thread)."""
        return self.response_end_beat is not None or self.response_notes_open > 0

    def stop(self, timeout: float = 2.0) -> None:
        """Stop the thread; it ends every open note before it returns."""
        self.stopping.set()
        self.wake.set()
        if self.is_alive():
            self.join(timeout)

    # -- the thread -----------------------------------------------------------------------
    def _send(self, msg: bytes, now_ns: int, at_ns: int | None = None, sink: bool = False) -> None:
        """Send ``msg`` due at ``at_ns`` (None: now); a timed port gets the time with it."""
        timed = at_ns if at_ns is not None and self.port.lead_ns else None
        try:
            self.port.send(msg, timed)
        except PORT_GONE as err:  # the port's peer or server went away: keep running
            self.counts.errors += 1
            if self.counts.errors == 1:
                log.warning("MIDI send failed (%s: %s); counted in send_errors from now on",
                            type(err).__name__, err)
            return
        if timed is not None:
            self._handed_ns = max(self._handed_ns, timed)
        if self.echo is not None:  # a timed port's echo comes stamped with its frame's time,
            # which can round a frame or so early
            self.echo.sent.append((now_ns if timed is None else timed - ECHO_SLACK_NS, msg))
        if sink and self.sink is not None:
            self.sink.send(msg, at_ns)
        self.counts.sent += 1

    def _closing_at(self, now_ns: int) -> int | None:
        """When a message ending notes may go: after what a timed port still holds."""
        return self._handed_ns if self._handed_ns > now_ns else None

    def _close(self, notes: OpenNotes, now_ns: int, sink: bool = False) -> None:
        for msg in notes.closing_messages():
            self._send(msg, now_ns, self._closing_at(now_ns), sink=sink)
        self.response_notes_open = len(self._open_response)

    def _handle_now(self, now_ns: int) -> None:
        for _ in range(min(len(self._now), BATCH)):
            msg, t_in = self._now.popleft()
            self._send(msg, now_ns)
            self._open_thru.track(msg, now_ns)
            self.counts.thru += 1
            if t_in:
                self.thru_latency.add(t_in, self.clock())

    def _handle_inbox(self, now_ns: int) -> None:
        self._handle_now(now_ns)
        for _ in range(min(len(self._inbox), BATCH)):
            item = self._inbox.popleft()
            if item[0] == "add":
                for beat, msg in item[1]:
                    self._schedule.add(beat, msg, item[2])
                if item[2] == RESPONSE:
                    if item[3]:
                        self.first_onset = None
                    self._responses += len(item[1])
            elif item[0] == "cancel":
                n = self._schedule.cancel(item[1])
                self.counts.cancelled += n
                if item[1] == RESPONSE:
                    self._responses = 0
                    self._close(self._open_response, now_ns, sink=True)
            elif item[0] == "panic":
                self.counts.cancelled += self._schedule.cancel(None)
                self._responses = 0
                self._close(self._open_response, now_ns, sink=True)
                self._close(self._open_thru, now_ns)
                for ch in range(16):
                    self._send(bytes((0xB0 | ch, 123, 0)), now_ns, self._closing_at(now_ns), sink=True)
            self.response_end_beat = self._schedule.last_beat(RESPONSE) if self._responses else None
        if self._now or self._inbox:  # more than a batch waited: the next turn comes at once
            self.wake.set()

    def _play(self, beat: float, msg: bytes, tag: str, due_ns: int, now_ns: int, lead_ns: int) -> None:
        note = note_on_off(msg)
        if note is not None and note[0] == "on" and now_ns - due_ns > self.late_ns:
            self.counts.late_dropped += 1
            self.counts.late_max_ms = max(self.counts.late_max_ms, (now_ns - due_ns) / 1e6)
            if not self._responses:
                self.response_end_beat = None
            # drop its note-off too: the first scheduled off of that pitch on that channel
            self._schedule_drop_off(msg)
            return
        self._send(msg, now_ns, due_ns, sink=tag == RESPONSE)
        if tag == RESPONSE:
            self._open_response.track(msg, now_ns)
            self.response_notes_open = len(self._open_response)
            self.onsets.add(due_ns - lead_ns, now_ns)
            if self.first_onset is None and note is not None and note[0] == "on":
                self.first_onset = (due_ns - lead_ns, now_ns)

    def _schedule_drop_off(self, on_msg: bytes) -> None:
        ch, pitch = on_msg[0] & 0x0F, on_msg[1]
        kept, dropped = [], False
        while len(self._schedule):
            beat, msg, tag = self._schedule.pop()
            n = note_on_off(msg)
            if not dropped and n is not None and n[0] == "off" and n[1] == ch and n[2] == pitch:
                dropped = True
                if tag == RESPONSE:
                    self._responses -= 1
                continue
            kept.append((beat, msg, tag))
        for beat, msg, tag in kept:
            self._schedule.add(beat, msg, tag)

    def run(self) -> None:
        if self.realtime:
            self.realtime_refused = make_realtime(SENDER_PRIORITY)
        last_check = 0
        while not self.stopping.is_set():
            now = self.clock()
            self._handle_inbox(now)
            if now - last_check > 100_000_000:  # ten times a second: notes held too long
                last_check = now
                for msg in self._open_response.held_longer_than(self.max_note_ns, now):
                    self._send(msg, now, self._closing_at(now), sink=True)
                    self._open_response.track(msg, now)
                    self.counts.held_closed += 1
                self.response_notes_open = len(self._open_response)
            head = self._schedule.peek()
            if head is None:
                self.wake.wait(0.05)
                self.wake.clear()
                continue
            state = self.clock_state()
            if not state.running:  # the DAW's transport is stopped: hold
                self.wake.wait(0.01)
                self.wake.clear()
                continue
            beat, msg, tag = head
            due = state.time_at(beat) + self.offset_ns
            lead = self.port.lead_ns  # a timed port: hand over this long ahead, no spin
            spin = 0 if lead else self.spin_ns
            wait = due - lead - now
            if wait > spin:
                # sleep until spin before it is due (at most 50 ms: tempo may change)
                self.wake.wait(min(wait - spin, 50_000_000) / 1e9)
                self.wake.clear()
                continue
            while now < due - lead:  # the last stretch: spin on the monotonic clock
                if self._now:  # pass-through does not wait for the spin
                    self._handle_now(now)
                now = self.clock()
            self._schedule.pop()
            if tag == RESPONSE:
                self._responses -= 1
                if not self._responses:
                    self.response_end_beat = None
            self._play(beat, msg, tag, due, now, lead)
        now = self.clock()
        while self._now or self._inbox:
            self._handle_inbox(now)
        self._schedule.cancel(None)
        self._responses = 0
        self._close(self._open_response, now, sink=True)
        self._close(self._open_thru, now)
        self.response_end_beat = None
