"""The generator thread: owns the LSTM and its state, and turns phrases into responses.

It is told about the player's phrase as it is played (:meth:`Generator.begin`,
:meth:`Generator.note`) and primes the LSTM note by note, so that when the phrase
ends (:meth:`Generator.end`) only the gap to the response's bar line and the
response itself remain to compute. The response starts on the first bar line
it can be ready for (``lead_ms`` before it); if generation took longer, it
moves on by whole bars. Its length follows the phrase or the configured bars.

It also loops the last response (on bar lines, back to back) and plays
variations of it (:meth:`Generator.mutate`: sampled again from the LSTM state
primed on the same phrase).

Requests go into an :class:`Inbox` without blocking. The phrase's notes are
the only thing it may drop: once one is dropped (the generator fell behind a
flood), no later note of that phrase is sent, so what was primed is always the
phrase's beginning and its end primes the rest (its last notes, if the rest is
long). A phrase's begin and end, a cancel and a stop always go through (a second
one of a kind while the first still waits behind only such requests, past the
bound, is folded into it); a generator that finds a long backlog of notes stops
priming them one by one. Its work per wake-up is bounded as the control thread's:
after :data:`~livegen.core.queues.BATCH` requests in a row, with more waiting, it
pauses :data:`~livegen.core.queues.BREATH_S`.
The model is reached only through ``model.initial_state()`` and
``model.step(token, state) -> (logits, state)``.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass

import numpy as np

from livegen.core import controls as ctl
from livegen.core import sampling
from livegen.core import tokens as tk
from livegen.core.phrase import Phrase, off_the_beat
from livegen.core.queues import BATCH, BREATH_S, BoundedQueue
from livegen.core.sampling import stream_tokens
from livegen.daemon.prompt import LiveEncoder
from livegen.daemon.schedule import move_late, response_bars, response_start
from livegen.daemon.stream import StreamDecoder
from livegen.engine.lstm import LstmStepError
from livegen.realtime import GENERATOR_PRIORITY, make_realtime

log = logging.getLogger("livegen.generator")

MAX_CATCH_UP = 256  # messages primed at a phrase's end at most (the model trains on 256-token windows)


@dataclass(frozen=True)
class Response:
    """A response as scheduled (for the log, the status line, the demo and the benchmark)."""

    kind: str  # "response", "variation", "loop"
    start_beat: float
    bars: int
    notes: tuple[tk.Note, ...]  # beats relative to start_beat
    channel: int
    generate_ms: float  # LSTM time after the phrase ended (gap + response), 0 for a loop
    tokens: int
    moved_bars: int  # bars it moved on because generation was late
    phrase_end_ns: int  # when the phrase ended (0 for loops and variations)
    scheduled_ns: int  # when its last notes were handed to the sender
    ready_ms: float = 0.0  # LSTM time until its first beat was scheduled (the rest streams after)
    controls: str = ""  # the texture, register and density it was sampled with ("" for a loop)


@dataclass
class GeneratorCounts:
    requests_dropped: int = 0  # the queue was full
    reprimed: int = 0  # phrases primed again at their end because notes had been dropped
    responses: int = 0
    moved: int = 0
    muted: int = 0
    aborted: int = 0  # responses cut short while being sampled (interrupt, panic, stop)
    failures: int = 0  # LSTM steps that failed (the phrase or response was dropped)


def request_key(item):
    """What the generator's inbox must keep: a phrase's begin and end, a cancel, a stop
    (one of each kind past the bound: see :class:`~livegen.core.queues.BoundedQueue`);
    a note or a variation request may be dropped."""
    return None if item[0] in ("note", "mutate") else item[0]


class Inbox:
    """The generator's requests, never blocking the sender (the control thread): a
    :class:`~livegen.core.queues.BoundedQueue` of ``size`` droppable items (notes,
    variation requests), and a Condition to wait on. ``put(item)`` -> False if it was
    dropped; ``get(timeout)`` returns the oldest item or None.
    """

    def __init__(self, size: int):
        self.size = size
        self._items = BoundedQueue(size, request_key)
        self._ready = threading.Condition(threading.Lock())

    def put(self, item) -> bool:
        with self._ready:
            if not self._items.put(item):
                return False
            self._ready.notify()
        return True

    def get(self, timeout: float):
        with self._ready:
            if not self._items:
                self._ready.wait(timeout)
            return self._items.popleft() if self._items else None

    def __len__(self) -> int:
        return len(self._items)


@dataclass
class _Primed:
    """The LSTM after a phrase and the gap to its response: what a variation starts from."""

    state: object
    logits: np.ndarray
    prompt: list[int]
    key: sampling.Key | None
    channel: int
    bars: int
    measured: ctl.PhraseControls | None  # the phrase's texture, register, density
    target: ctl.PhraseControls  # what the response was asked for (measured, steered)
    pickup: bool  # the phrase began off the beat: its answer may too (else its first note is on the bar line)


class Generator(threading.Thread):
    def __init__(self, model, sender, clock_state, jam, controls, *, on_response=None,
                 clock=time.monotonic_ns, queue_size: int = 4096):
        super().__init__(name="livegen-generator", daemon=True)
        self.model = model
        self.sender = sender
        self.clock_state = clock_state  # callable -> ClockState
        self.jam = jam  # JamConfig
        self.controls = controls  # callable -> Controls (the control thread's current object)
        self.on_response = on_response  # called on this thread with each Response
        self.clock = clock
        self.counts = GeneratorCounts()
        self.stopping = threading.Event()
        self._inbox = Inbox(queue_size)
        self._notes_dropped = False  # owned by the control thread: this phrase lost a note
        self.rng = np.random.default_rng(jam.seed or None)
        self.last: Response | None = None
        # owned by this thread
        self._encoder: LiveEncoder | None = None
        self._running = ctl.RunningControls()  # the phrase's controls so far, for priming
        self._fixed: np.ndarray | None = None  # controls for every token stepped (the gap); None: running
        self._fed = 0  # phrase messages primed so far (always the phrase's first ones)
        self._lagging = False  # a backlog of notes: the rest of this phrase is primed at its end
        self._state = None
        self._logits: np.ndarray | None = None
        self._primed: _Primed | None = None
        self._until = -math.inf  # beat where the last scheduled response ends
        self._first_beat_ms = 10.0  # time to a response's first beat (running), to choose the bar line
        self._abort = False  # set by other threads: stop sampling the response (interrupt, panic)
        self._aborted = False  # a response was cut short: what it scheduled must go

    # -- other threads (control) -------------------------------------------------------
    def _put(self, item) -> bool:
        if self._inbox.put(item):
            return True
        self.counts.requests_dropped += 1
        return False

    def begin(self, beat: float, interrupt: bool) -> None:
        """The player started a phrase at ``beat``; ``interrupt``: it ends any response
        still to come (the control thread cancelled what was playing)."""
        if interrupt:
            self._abort = True  # a response being sampled stops at its next beat
        self._notes_dropped = False
        self._put(("begin", beat, interrupt))

    def note(self, msg) -> None:
        """A NoteMessage of the phrase being played. After one is dropped, the phrase's
        later notes are not sent either: its end primes them, in order."""
        if not self._notes_dropped and not self._put(("note", msg)):
            self._notes_dropped = True

    def end(self, phrase: Phrase) -> None:
        self._put(("end", phrase))

    def mutate(self) -> None:
        self._put(("mutate",))

    def cancelled(self) -> None:
        """The response was cancelled (panic, mute, transport stop)."""
        self._abort = True
        self._put(("cancelled",))

    def stop(self, timeout: float = 2.0) -> None:
        self.stopping.set()
        self._put(("stop",))
        if self.is_alive():
            self.join(timeout)

    # -- this thread ------------------------------------------------------------------------
    def run(self) -> None:
        if self.jam.realtime:
            make_realtime(GENERATOR_PRIORITY)
        handled = 0  # requests since the thread last waited
        while not self.stopping.is_set():
            if handled >= BATCH and len(self._inbox):  # a backlog (a flood): a breath first, so the
                handled = 0  # render thread gets the interpreter
                self.stopping.wait(BREATH_S)
            item = self._inbox.get(timeout=0.05)
            if item is None:
                handled = 0
                self._maybe_loop()
                continue
            handled += 1
            kind = item[0]
            try:
                if kind == "begin":
                    self._begin(item[1], item[2])
                elif kind == "note":
                    self._note(item[1])
                elif kind == "end":
                    self._end(item[1])
                elif kind == "mutate":
                    self._mutate()
                elif kind == "cancelled":
                    self._cancel_own()
            except LstmStepError:  # the model failed: this phrase is dropped, the daemon goes on
                log.exception("generator: the LSTM failed during %s; that phrase is not answered", kind)
                self._drop(kind)
            self._maybe_loop()

    def _drop(self, kind: str) -> None:
        """After a model failure: forget the half-primed phrase (its end primes it again from
        its notes) or the response being sampled (what it scheduled is cancelled)."""
        self.counts.failures += 1
        self._encoder = None
        self._fixed = None
        if kind in ("end", "mutate"):
            self._primed = None
            self.sender.cancel()
            self._until = -math.inf

    def _step(self, tokens) -> None:
        for t in tokens:
            vec = self._running.feed(t) if self._fixed is None else self._fixed
            self._logits, self._state = self.model.step(int(t), self._state, vec)

    def _cancel_own(self) -> None:
        """Cancel what this thread scheduled after the control thread's cancel went out."""
        if self._aborted or self._until > self.clock_state().beat_at(self.clock()):
            self.sender.cancel()
        self._until = -math.inf
        self._aborted = self._abort = False

    def _begin(self, beat: float, interrupt: bool) -> None:
        if interrupt:
            self._cancel_own()
        self._encoder = LiveEncoder(beat)
        self._running = ctl.RunningControls()
        self._fixed = None
        self._fed = 0
        self._lagging = False
        self._state = self.model.initial_state()
        self._step([tk.BOS])

    def _note(self, m) -> None:
        if self._encoder is None or self._lagging:
            return
        if len(self._inbox) > MAX_CATCH_UP:  # a flood: its end primes the phrase's last notes
            self._lagging = True
            return
        self._feed(m)

    def _feed(self, m) -> None:
        self._step(self._encoder.feed(m.time, m.on, m.pitch, m.velocity))
        self._fed += 1

    def _end(self, phrase: Phrase) -> None:
        t_end = self.clock()
        enc = self._encoder
        if enc is None or abs(enc.origin - phrase.start_beat) > 1e-9 or self._fed > len(phrase.messages):
            self.counts.reprimed += 1
            self._begin(phrase.start_beat, False)
            enc = self._encoder
        rest = phrase.messages[self._fed:]  # notes the queue dropped, or the one that cut the phrase
        if len(rest) > MAX_CATCH_UP:  # a flood: prime on the phrase's last notes only
            self.counts.reprimed += 1
            rest = phrase.messages[-MAX_CATCH_UP:]
            self._begin(rest[0].time, False)
            enc = self._encoder
        for m in rest:
            self._feed(m)
        self._step(enc.close_all(phrase.end_beat))
        self._encoder = None
        controls = self.controls()
        if controls.mute:
            self.counts.muted += 1
            return
        bpb = self.jam.beats_per_bar
        bars = response_bars(phrase.end_beat - phrase.start_beat, bpb, controls.response_bars,
                             self.jam.max_response_bars)
        channel = (self.jam.out_channel - 1) if self.jam.out_channel else phrase.messages[0].channel
        # the first bar line the response can be ready for
        state = self.clock_state()
        now = self.clock()
        guess_ms = 1.5 * self._first_beat_ms  # the first beat's generation time lately, with a margin
        ready_ns = now + round((self.jam.lead_ms + guess_ms) * 1e6)
        after = self._until if self.jam.on_new_phrase == "queue" else -math.inf
        start = response_start(state.beat_at(ready_ns), bpb, after)
        measured = ctl.measure(enc.tokens, phrase.end_beat - phrase.start_beat)
        target = controls.steering.target(measured)
        self._fixed = target.vector()  # the gap to the response is primed with what it is asked for
        self._step(enc.advance_to(start))
        self._fixed = None
        notes = [n for n in tk.notes_from_messages(phrase.messages)]
        key = sampling.estimate_key(notes)
        self._primed = _Primed(self._state, self._logits, list(enc.tokens), key, channel, bars, measured, target,
                               off_the_beat(phrase.start_beat))
        self._generate("response", start, t_end, t_end)

    def _generate(self, kind: str, start: float, t_begin: int, phrase_end_ns: int) -> None:
        """Sample the response beat by beat; its bar line is fixed (moved on by whole bars if
        the first beat was late) when the first beat is ready, then each beat is scheduled."""
        p = self._primed
        controls = self.controls()
        options = sampling.SamplingOptions(temperature=controls.temperature, top_p=self.jam.top_p,
                                           first_note_at_start=not p.pickup)
        bpb = self.jam.beats_per_bar
        decoder = StreamDecoder(p.channel)
        tokens: list[int] = []
        ready_ms, moved = None, 0
        target = p.target if kind == "response" else controls.steering.target(p.measured)  # a variation: as steered now
        limits = sampling.Limits.of(target) if controls.steering.safety_net else None
        vec = target.vector()
        step = lambda token, state: self.model.step(token, state, vec)
        chunks = stream_tokens(step, p.state, p.logits, ticks=p.bars * bpb * tk.TICKS_PER_BEAT,
                               rng=self.rng, options=options, prompt=p.prompt, key=p.key, limits=limits)
        for chunk in chunks:
            if self._abort:  # the player interrupted, or a panic: stop here
                self._aborted = True
                self.counts.aborted += 1
                return
            tokens += chunk
            events = decoder.feed(chunk)
            if ready_ms is None:
                ready_ms = (self.clock() - t_begin) / 1e6
                start, moved = self._fix_start(start)
                self._first_beat_ms = 0.7 * self._first_beat_ms + 0.3 * ready_ms
            self._post(start, events, first=len(tokens) == len(chunk))
        if ready_ms is None:  # nothing sampled (cannot happen with ticks > 0): keep the bookkeeping
            ready_ms = (self.clock() - t_begin) / 1e6
            start, moved = self._fix_start(start)
        self._post(start, decoder.close(), first=not tokens)
        gen_ms = (self.clock() - t_begin) / 1e6
        self._record(Response(kind, start, p.bars, tuple(decoder.sorted_notes()), p.channel, gen_ms,
                              len(tokens), moved, phrase_end_ns, self.clock(), ready_ms, str(target)))

    def _fix_start(self, start: float) -> tuple[float, int]:
        """The bar line to start on, given that the response can play from now + lead."""
        ready = self.clock_state().beat_at(self.clock() + round(self.jam.lead_ms * 1e6))
        start, moved = move_late(start, ready, self.jam.beats_per_bar)
        if moved:
            self.counts.moved += 1
        return start, moved

    def _post(self, start: float, events: list[tuple[int, bytes]], first: bool) -> None:
        if events or first:
            self.sender.schedule([(start + tick / tk.TICKS_PER_BEAT, msg) for tick, msg in events],
                                 new_response=first)

    def _record(self, response: Response) -> None:
        self._until = response.start_beat + response.bars * self.jam.beats_per_bar
        self.last = response
        self.counts.responses += 1
        if self.on_response is not None:
            self.on_response(response)

    def _schedule(self, kind: str, start: float, bars: int, notes, channel: int) -> None:
        """Schedule finished notes (a loop of the last response) from ``start``."""
        start, moved = self._fix_start(start)
        events = []
        for n in notes:
            events.append((start + n.start, bytes((0x90 | channel, n.pitch, max(1, min(127, n.velocity))))))
            events.append((start + n.end, bytes((0x80 | channel, n.pitch, 0))))
        self.sender.schedule(events, new_response=True)
        self._record(Response(kind, start, bars, tuple(notes), channel, 0.0, 0, moved, 0, self.clock()))

    def _mutate(self) -> None:
        if self._primed is None:
            return
        self.sender.cancel()
        now = self.clock()
        state = self.clock_state()
        start = response_start(state.beat_at(now + round(self.jam.lead_ms * 1e6)), self.jam.beats_per_bar)
        self._generate("variation", start, now, 0)

    def _maybe_loop(self) -> None:
        """Loop on: schedule the last response again, back to back, a bar ahead."""
        last = self.last
        if last is None or self._encoder is not None or self.stopping.is_set():
            return
        controls = self.controls()
        if not controls.loop or controls.mute:
            return
        state = self.clock_state()
        bpb = self.jam.beats_per_bar
        now_beat = state.beat_at(self.clock() + round(self.jam.lead_ms * 1e6))
        if self._until - now_beat > bpb:  # more than a bar still to play
            return
        start = self._until if self._until >= now_beat else response_start(now_beat, bpb)
        self._schedule("loop", start, last.bars, last.notes, last.channel)
