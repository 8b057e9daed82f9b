"""The jam daemon: the control, generator and sender threads, wired together.

:class:`Daemon` takes the ports and the model from its caller (``livegen run``,
``livegen demo``, the tests), so it runs the same on real JACK ports and on
fakes:

- ``inp``: has ``queue`` (a deque of (monotonic_ns, bytes) filled by another
  thread), optionally ``dropped`` (a counter) and ``wake`` (an Event it sets);
- ``out``: has ``send(bytes, at_ns=None)`` and ``lead_ns`` (:class:`livegen.io.ports.OutputPort`);
- ``model``: ``initial_state()`` and ``step(token, state) -> (logits, state)``
  (:class:`livegen.engine.lstm.LstmRuntime`, or a fake);
- ``sink``: the synth, or None (MIDI only): ``send(msg: bytes, at_ns: int | None)``
  that only enqueues (thread-safe, never blocks), ``close()``, and optionally
  ``status() -> dict`` (``voices``, ``load``, ``underruns``) for the status line.

``cfg`` comes from :mod:`livegen.config`, which has checked it (controller numbers
included). :meth:`Daemon.stop` stops the threads; the sender ends every open note (note-offs
plus All Notes Off per channel) before it returns.
"""

from __future__ import annotations

import dataclasses
import logging
import sys
import time
from collections import deque
from dataclasses import dataclass, field

from livegen.core.clock import BeatClock
from livegen.core.ring import EventLog
from livegen.daemon.control import Control
from livegen.daemon.generator import Generator, Response
from livegen.daemon.schedule import EchoFilter
from livegen.daemon.sender import Sender
from livegen.daemon.sink import sink_status

log = logging.getLogger("livegen.daemon")

@dataclass
class Status:
    """A snapshot for the status screen and the log (read from other threads' counters)."""

    state: str
    bpm: float
    clock_source: str
    beat: float
    phrases: int
    ignored: int
    responses: int
    last: Response | None
    last_onset_ms: float | None  # first note of the latest response: actual - scheduled
    counts: dict = field(default_factory=dict)
    synth: dict | None = None


class Daemon:
    def __init__(self, cfg, inp, out, model, sink=None, *, clock=time.monotonic_ns, pad=None):
        jam = cfg.jam
        self.cfg = cfg
        self.inp, self.out, self.model, self.sink = inp, out, model, sink
        self.clock = clock
        self.started_ns = clock()
        self.beat_clock = BeatClock(jam.tempo_bpm, self.started_ns, follow_midi=jam.follow_clock)
        self.echo = EchoFilter(round(jam.loop_window_ms * 1e6))
        self.responses: deque[Response] = deque(maxlen=256)
        self.answers = EventLog(256)  # each Response as scheduled (the control surface reads it)
        self.phrases: deque = deque(maxlen=256)
        self.on_response = None  # optional callbacks (called on the generator/control thread)
        self.on_phrase = None
        state = lambda: self.beat_clock.state  # noqa: E731 - the immutable snapshot, read anywhere
        self.sender = Sender(out, state, sink=sink, offset_ms=jam.offset_ms, spin_us=jam.spin_us,
                             max_note_s=jam.max_note_s, echo=self.echo, realtime=jam.realtime, clock=clock)
        self.control: Control | None = None
        # a port that places messages at their time wants them its lead ahead: a response
        # must be ready that much earlier for its bar line
        gen_jam = dataclasses.replace(jam, lead_ms=jam.lead_ms + out.lead_ns / 1e6)
        self.generator = Generator(model, self.sender, state, gen_jam, lambda: self.control.controls,
                                   on_response=self._response, clock=clock)
        self.control = Control(inp, self.sender, self.generator, self.beat_clock, jam, sink=sink,
                               echo=self.echo, on_phrase=self._phrase, clock=clock, pad=pad)
        self._switch = None

    def _response(self, r: Response) -> None:
        self.responses.append(r)
        self.answers.append(r)
        if self.on_response is not None:
            self.on_response(r)

    def _phrase(self, p) -> None:
        self.phrases.append(p)
        if self.on_phrase is not None:
            self.on_phrase(p)

    def post(self, item) -> None:
        """A message from another thread (the control surface): a CC as bytes, or a pad
        command (:mod:`livegen.core.pad`). It joins the MIDI input's bounded queue, as a
        controller from the DAW does, and the control thread handles it; never blocks."""
        self.inp.post(self.clock(), item)

    def start(self) -> None:
        # hand the GIL over every 0.5 ms (default 5 ms), so the sender is never
        # kept waiting long by the generator's numpy work
        self._switch = sys.getswitchinterval()
        sys.setswitchinterval(0.0005)
        self.sender.start()
        self.generator.start()
        self.control.start()
        # the synth's render thread raises itself (synth.realtime, livegen.synth.live)

    def stop(self) -> None:
        """Stop the threads (control first), ending every note livegen started."""
        self.control.stop()
        self.generator.stop()
        self.sender.stop()
        if self.sink is not None:
            for ch in range(16):
                self.sink.send(bytes((0xB0 | ch, 123, 0)), None)
        if self._switch is not None:
            sys.setswitchinterval(self._switch)

    def status(self) -> Status:
        now = self.clock()
        s = self.beat_clock.state
        c, g, snd = self.control.counts, self.generator.counts, self.sender.counts
        onset = self.sender.first_onset
        counts = {
            "input_dropped": getattr(self.inp, "dropped", 0),
            "garbage": self.control.parser.counts.garbage + self.control.parser.counts.truncated,
            "echoes": c.echoes, "interrupts": c.interrupts, "panics": c.panics,
            "thru": snd.thru, "sent": snd.sent, "late_dropped": snd.late_dropped,
            "thru_dropped": self.sender.thru_dropped, "schedule_dropped": self.sender.schedule_dropped,
            "held_closed": snd.held_closed, "send_errors": snd.errors,
            "requests_dropped": g.requests_dropped, "moved": g.moved, "muted": g.muted,
        }
        synth = sink_status(self.sink)
        return Status(self.control.state, s.bpm, s.source, s.beat_at(now), c.phrases,
                      self.control.detector.ignored, g.responses, self.generator.last,
                      None if onset is None else (onset[1] - onset[0]) / 1e6, counts, synth)
