"""The control thread: everything that arrives from the player.

It drains the input port's queue (filled by rtmidi's callback with
(monotonic_ns, bytes)), parses, and for each message:

- clock and transport (0xF8, Start, Stop, Continue, Song Position) go to the
  :class:`BeatClock` it owns (Stop also ends the response);
- an echo of what livegen sent (through a MIDI loop) is dropped;
- a control CC changes :class:`Controls` (temperature, length, loop, mute, and
  the texture, register and density the response is steered to; a controller
  at 0 gives that one back to config.toml's value, 0 there meaning "follow the
  phrase") or asks for a variation or a panic;
- the timbre pad's controllers (``jam.cc_pad_x``, ``jam.cc_pad_y``) move the :class:`Pad`
  it owns, and the synth gets the mix of the corners as a timbre command;
- notes pass through at once (``jam.thru``: to the synth sink and/or the MIDI
  out through the sender) and feed the :class:`PhraseDetector`; a phrase's notes
  go to the generator as they come, its end too. A phrase that starts while
  livegen responds cancels the response (``on_new_phrase = interrupt``).

The control surface (:mod:`livegen.ui`) posts into the same input queue: CC messages
(exactly what a DAW sends) and the pad's commands (:mod:`livegen.core.pad`), which are
not bytes. Each note played is appended to ``heard`` (for the surface's piano roll).

It reports the state (idle, listening, responding) with a controller when it
changes, and idle when it starts and on every way out (a stop on a signal, an error).
Its work per wake-up is bounded: at most ``batch``
(:data:`~livegen.core.queues.BATCH`) messages are handled between timing checks, so a
flood of input delays neither the clock nor phrase ends, and with more waiting the next
batch comes after a pause of :data:`~livegen.core.queues.BREATH_S`, so a flood takes at most a fixed share of the interpreter and the
render thread is never starved of it. What waits meanwhile stays in the input port's
bounded queue (past its bound, dropped and counted, never a note-off: see
:class:`~livegen.core.queues.BoundedQueue`). Nothing here blocks.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from livegen.core import controls as ctl
from livegen.core import pad as pads
from livegen.core.clock import BeatClock
from livegen.core.midiparse import MidiParser
from livegen.core.notes import ALL_NOTES_OFF, ALL_SOUND_OFF, note_on_off
from livegen.core.phrase import PhraseDetector, PhraseRules
from livegen.core.queues import BATCH, BREATH_S
from livegen.core.ring import EventLog
from livegen.realtime import CONTROL_PRIORITY, make_realtime
from livegen.daemon.schedule import Controls, EchoFilter, cc_length_bars, cc_temperature

log = logging.getLogger("livegen.control")

STATE_VALUES = {"idle": 0, "listening": 64, "responding": 127}
CLOCK_STATUS = (0xF8, 0xFA, 0xFB, 0xFC, 0xF2)


@dataclass
class ControlCounts:
    messages: int = 0
    notes: int = 0
    echoes: int = 0
    phrases: int = 0
    interrupts: int = 0
    panics: int = 0
    controls: int = 0
    unknown_commands: int = 0


def steering_of(jam) -> ctl.Steering:
    """The texture, register and density config.toml asks for (0 = follow the phrase)."""
    return ctl.Steering(texture=jam.texture, centre=float(jam.register), spread=jam.register_spread,
                        density=jam.density, safety_net=jam.safety_net)


def phrase_rules(jam) -> PhraseRules:
    return PhraseRules(silence_beats=jam.silence_beats, silence_s=jam.silence_s, end_cc=jam.end_cc,
                       max_beats=jam.max_phrase_beats, min_notes=jam.min_notes)


class Control(threading.Thread):
    def __init__(self, inp, sender, generator, beat_clock: BeatClock, jam, *, sink=None,
                 echo: EchoFilter | None = None, on_phrase=None, clock=time.monotonic_ns, batch: int = BATCH,
                 pad: pads.Pad | None = None):
        super().__init__(name="livegen-control", daemon=True)
        self.inp = inp
        self.sender = sender
        self.generator = generator
        self.beat_clock = beat_clock
        self.jam = jam
        self.sink = sink
        self.echo = echo
        self.on_phrase = on_phrase
        self.clock = clock
        self.batch = batch
        self.counts = ControlCounts()
        self.parser = MidiParser()
        self.detector = PhraseDetector(phrase_rules(jam))
        self.controls = Controls(temperature=jam.temperature, response_bars=jam.response_bars,
                                 steering=steering_of(jam))
        self.state = "idle"
        self.realtime_refused: str | None = None
        self.stopping = threading.Event()
        self.wake = getattr(inp, "wake", None)
        if self.wake is None:  # the port can wake us on each message: give it an Event
            self.wake = threading.Event()
            try:
                inp.wake = self.wake
            except AttributeError:
                pass  # a port that cannot: the 5 ms poll finds its messages
        self._thru_where = jam.thru if jam.thru != "none" else "synth"  # where cc_thru turns it on
        self._thru_was_on = False  # pass-through was on at some time (its notes' ends must go)
        self._set_thru(jam.thru != "none")
        self._ccs = {jam.cc_temperature: "temperature", jam.cc_length: "length", jam.cc_loop: "loop",
                     jam.cc_mutate: "mutate", jam.cc_panic: "panic", jam.cc_mute: "mute",
                     jam.cc_texture: "texture", jam.cc_register: "register", jam.cc_density: "density",
                     jam.cc_thru: "thru", jam.cc_pad_x: "pad_x", jam.cc_pad_y: "pad_y"}
        self._ccs.pop(-1, None)
        # the latest value of each control's controller (None: none came yet); the keys never
        # change after this, so other threads may copy it while this thread sets values
        self.cc_values: dict[str, int | None] = {name: None for name in self._ccs.values()}
        self.pad = pad  # the timbre pad (None: no synth, so no presets to mix)
        self.heard = EventLog(1024)  # (monotonic ns, beat, message) of each note played
        self._triggers: dict[str, bool] = {}  # mutate/panic fire on crossing 64 upwards
        self._answering_since = 0  # a phrase ended: "responding" until the response is scheduled

    def _set_thru(self, on: bool) -> None:
        self.thru = on
        self._thru_was_on = self._thru_was_on or on
        where = self._thru_where if on else "none"
        self._thru_synth = where in ("synth", "both") and self.sink is not None
        self._thru_midi = where in ("midi", "both")

    def stop(self, timeout: float = 2.0) -> None:
        self.stopping.set()
        self.wake.set()
        if self.is_alive():
            self.join(timeout)

    # -- the thread --------------------------------------------------------------------------
    def run(self) -> None:
        if self.jam.realtime:
            self.realtime_refused = make_realtime(CONTROL_PRIORITY)
        self._send_state()  # idle: a DAW still showing an earlier run's state (a crash, a lost server) is told
        try:
            self._loop()
        finally:  # every way out (stop on a signal or an error, a bug here): the DAW is told idle
            if self.state != "idle":
                self.state = "idle"
                self._send_state()

    def _loop(self) -> None:
        queue = self.inp.queue
        while not self.stopping.is_set():
            self.wake.wait(0.005)
            self.wake.clear()
            handled = 0
            while queue and handled < self.batch:
                self.take(*queue.popleft())
                handled += 1
            self.tick(self.clock(), backlog=bool(queue))
            if queue:  # a flood: the next batch after a breath, so the others get the interpreter
                self.stopping.wait(BREATH_S)
                self.wake.set()

    def take(self, t: int, data) -> None:
        """One item of the input queue: MIDI bytes that arrived at ``t``, or a command of the
        control surface."""
        if type(data) is not bytes:
            self.command(data)
            return
        for msg in self.parser.feed(data):
            self.handle(msg, t)

    def tick(self, now: int, backlog: bool = False) -> None:
        """Timing checks: the clock's timeout, a phrase ended by silence or length, the state.
        With input still queued (``backlog``) there is no silence yet: phrases are not ended."""
        self.beat_clock.check_timeout(now)
        if not backlog:
            phrase = self.detector.poll(now, self.beat_clock.state.beat_at(now))
            if phrase is not None:
                self._phrase_ended(phrase)
        self._report_state()

    def handle(self, msg: bytes, t: int) -> None:
        """One complete message that arrived at ``t`` (monotonic ns)."""
        self.counts.messages += 1
        status = msg[0]
        if status in CLOCK_STATUS:
            self.beat_clock.on_message(status, t, msg[1:])
            if status in (0xFA, 0xFC, 0xF2) and self.jam.follow_clock:
                self._cancel_response()  # Stop, or a new position: what was to come is off the map
                if status != 0xFC:
                    self.detector.reset()  # a phrase being played: its beats are off the map too
            return
        if status >= 0xF0:
            return  # sysex and other system messages: not ours
        if self.echo is not None and self.echo.is_echo(msg, t):
            self.counts.echoes += 1
            return
        kind = status & 0xF0
        if kind == 0xB0 and len(msg) >= 3 and msg[1] in self._ccs:
            self._control(self._ccs[msg[1]], msg[2], status & 0x0F)
            return
        if kind == 0xB0 and len(msg) >= 3 and msg[1] == self.jam.end_cc:
            self._feed_detector(msg, t)
            return
        synth, midi = self._thru_synth, self._thru_midi
        note = note_on_off(msg)
        if not self.thru and self._thru_was_on and note is not None and note[0] == "off":
            # pass-through was turned off (jam.cc_thru) while a key may have been held: its end still goes
            synth = self._thru_where in ("synth", "both") and self.sink is not None
            midi = self._thru_where in ("midi", "both")
        if synth:
            self.sink.send(msg, t)
        if midi:
            self.sender.now(msg, t)
        if note is not None:
            self.counts.notes += 1
            self.heard.append((t, self.beat_clock.state.beat_at(t), msg))
            self._feed_detector(msg, t)
        elif kind == 0xB0 and len(msg) >= 3 and msg[1] in (ALL_NOTES_OFF, ALL_SOUND_OFF):
            self._feed_detector(msg, t)  # the DAW's stop or panic: its held keys are released

    def _feed_detector(self, msg: bytes, t: int) -> None:
        det = self.detector
        was_listening = det.listening
        before = len(det.messages)
        beat = self.beat_clock.state.beat_at(t)
        phrase = det.feed(msg, t, beat)
        if not was_listening and (det.listening or phrase is not None):
            interrupt = self.jam.on_new_phrase == "interrupt"
            if interrupt and (self.sender.responding or self._answering_since):
                self.sender.cancel()  # at once; the generator cancels what it schedules meanwhile
                self._answering_since = 0
                self.counts.interrupts += 1
            self.generator.begin(beat, interrupt)
        if phrase is None:
            for m in det.messages[before:]:
                self.generator.note(m)
        else:
            self._phrase_ended(phrase)

    def _phrase_ended(self, phrase) -> None:
        self.counts.phrases += 1
        self._answering_since = self.clock()
        self.generator.end(phrase)
        if self.on_phrase is not None:
            self.on_phrase(phrase)

    def _cancel_response(self) -> None:
        self._answering_since = 0
        self.sender.cancel()
        self.generator.cancelled()

    def command(self, cmd) -> None:
        """A command of the control surface (:mod:`livegen.core.pad`); an unknown one is
        counted and dropped (the surface checks what it posts)."""
        pad = self.pad
        if pad is None:
            return
        if isinstance(cmd, pads.PadMove):
            self._move_pad(pad.moved(cmd.x, cmd.y))
        elif isinstance(cmd, pads.PadTarget):
            self.pad = pads.Pad(pad.names, pad.codes, cmd.target, pad.xy)
        elif isinstance(cmd, pads.PadCorners):
            self._move_pad(pads.Pad(cmd.names, cmd.codes, pad.target, pad.xy), every=True)
        else:
            self.counts.unknown_commands += 1

    def _move_pad(self, pad: pads.Pad, every: bool = False) -> None:
        """Replace the pad; the synth plays the new mix on each channel whose point moved
        (``every``: on each channel the pad has reached, the corners having changed)."""
        old, self.pad = self.pad, pad
        if self.sink is None or not hasattr(self.sink, "command"):
            return
        groups: dict = {}
        for c in range(16):
            point = pad.xy[c]
            if point is not None and (every or point != old.xy[c]):
                groups.setdefault(point, []).append(c)
        for (x, y), channels in groups.items():
            self.sink.command(pads.SetTimbre(tuple(channels), pads.bilinear(pad.codes, x, y), f"pad {x:.3f} {y:.3f}"))

    def _control(self, name: str, value: int, channel: int = 0) -> None:
        self.counts.controls += 1
        self.cc_values[name] = value
        c = self.controls
        if name in ("pad_x", "pad_y"):
            if self.pad is not None:
                v = value / 127.0
                self._move_pad(self.pad.moved(v if name == "pad_x" else None, v if name == "pad_y" else None,
                                              channel))
        elif name == "temperature":
            self.controls = c.with_(temperature=cc_temperature(value))
        elif name == "length":
            self.controls = c.with_(response_bars=cc_length_bars(value))
        elif name == "texture":
            self.controls = c.with_(steering=c.steering.with_(texture=ctl.cc_texture(value) or self.jam.texture))
        elif name == "register":
            self.controls = c.with_(steering=c.steering.with_(centre=ctl.cc_register(value) or self.jam.register))
        elif name == "density":
            self.controls = c.with_(steering=c.steering.with_(density=ctl.cc_density(value) or self.jam.density))
        elif name == "loop":
            self.controls = c.with_(loop=value >= 64)
        elif name == "thru":
            self._set_thru(value >= 64)
        elif name == "mute":
            self.controls = c.with_(mute=value >= 64)
            if value >= 64:
                self._cancel_response()
        elif name in ("mutate", "panic"):
            on, was = value >= 64, self._triggers.get(name, False)
            self._triggers[name] = on
            if on and not was:
                if name == "mutate":
                    self.generator.mutate()
                else:
                    self.counts.panics += 1
                    self.controls = c.with_(loop=False)
                    self.sender.panic()
                    self.generator.cancelled()
                    if self.sink is not None:
                        for ch in range(16):
                            self.sink.send(bytes((0xB0 | ch, 123, 0)), None)
        log.debug("control %s = %d -> %s", name, value, self.controls)

    def _report_state(self) -> None:
        if self._answering_since and (self.sender.responding
                                      or self.clock() - self._answering_since > 2_000_000_000):
            self._answering_since = 0
        state = ("responding" if self.sender.responding or self._answering_since
                 else "listening" if self.detector.listening else "idle")
        if state != self.state:
            self.state = state
            self._send_state()

    def _send_state(self) -> None:
        if self.jam.state_cc >= 0:
            ch = self.jam.state_channel - 1
            self.sender.now(bytes((0xB0 | ch, self.jam.state_cc, STATE_VALUES[self.state])))
