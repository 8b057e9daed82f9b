"""Finding the player's phrases in a stream of live notes.

A phrase starts with a note-on and ends on the first of: a silence (no key
held) of ``silence_beats`` beats or ``silence_s`` seconds, the ``end_cc``
controller, or ``max_beats`` beats of length. A phrase with fewer than
``min_notes`` notes is ignored (and counted). All Notes Off or All Sound Off
(controllers 123, 120) releases the keys held on its channel, as a DAW's stop or
panic means; :meth:`PhraseDetector.reset` forgets a phrase whose timeline is gone
(MIDI Start, Song Position). A phrase never lasts more than ``max_beats``: a beat that
went back (the timeline jumped) forgets the phrase, and a message past its end (the
clock leapt on, or the thread was late) ends it where it had to end and starts the next.
Owned by the control thread.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from livegen.core.clock import NS
from livegen.core.notes import ALL_NOTES_OFF, ALL_SOUND_OFF, note_on_off
from livegen.core.tokens import NoteMessage

# a beat this far before the phrase's last one is another timeline (the MIDI clock's own
# corrections move the beat back by less: livegen.core.clock follows a tick smoothly up to
# half a beat off, and jumps beyond)
BACK_JUMP_BEATS = 0.5


ON_THE_BEAT = 1 / 8  # a first note this close to a beat is on it (a player's timing is human)


def off_the_beat(beat: float) -> bool:
    """Whether a phrase whose first note came at ``beat`` began off the beat (a pickup): then
    its answer may begin off its bar line too; else the answer's first note falls on it."""
    return abs(beat - round(beat)) > ON_THE_BEAT


@dataclass(frozen=True)
class PhraseRules:
    silence_beats: float = 2.0
    silence_s: float = 0.0  # > 0: end on this many seconds of silence instead
    end_cc: int = -1  # a controller number (value >= 64) that ends the phrase; -1: none
    max_beats: float = 16.0
    min_notes: int = 2


@dataclass
class Phrase:
    messages: list[NoteMessage]  # times in beats, as the clock said when each arrived
    start_beat: float
    end_beat: float  # when it ended (the last note-off, or the moment it was cut)
    reason: str  # "silence", "cc", "max_length"

    @property
    def notes(self) -> int:
        return sum(1 for m in self.messages if m.on)


@dataclass
class PhraseDetector:
    rules: PhraseRules
    messages: list[NoteMessage] = field(default_factory=list)
    held: dict = field(default_factory=dict)  # (channel, pitch) -> count
    start_beat: float = 0.0
    last_beat: float = 0.0  # the last note event
    last_ns: int = 0
    ignored: int = 0  # phrases too short to answer
    discarded: int = 0  # phrases whose timeline jumped while they were played

    @property
    def listening(self) -> bool:
        return bool(self.messages)

    def feed(self, msg: bytes, now_ns: int, beat: float) -> Phrase | None:
        """A message from the player; returns a phrase if this message ended one."""
        if len(msg) >= 3 and msg[0] & 0xF0 == 0xB0 and msg[1] == self.rules.end_cc and msg[2] >= 64:
            ended = self._jumped(beat)
            return ended or (self._end(beat, "cc") if self.messages else None)
        if len(msg) >= 3 and msg[0] & 0xF0 == 0xB0 and msg[1] in (ALL_NOTES_OFF, ALL_SOUND_OFF):
            return self._release_channel(msg[0] & 0x0F, now_ns, beat)
        note = note_on_off(msg)
        if note is None:
            return None
        ended = self._jumped(beat)
        if ended is not None:  # this message belongs after the phrase that had to end
            self.feed(msg, now_ns, beat)
            return ended
        kind, channel, pitch = note
        key = (channel, pitch)
        if kind == "on":
            if not self.messages:
                self.start_beat = beat
            self.held[key] = self.held.get(key, 0) + 1
            self.messages.append(NoteMessage(beat, True, pitch, msg[2], channel))
        elif self.held.get(key):
            self.held[key] -= 1
            if not self.held[key]:
                del self.held[key]
            self.messages.append(NoteMessage(beat, False, pitch, 0, channel))
        else:
            return None  # a note-off for no note we saw start
        self.last_beat, self.last_ns = beat, now_ns
        if beat - self.start_beat >= self.rules.max_beats:
            return self._end(beat, "max_length")
        return None

    def _jumped(self, beat: float) -> Phrase | None:
        """Before a message at ``beat``: the phrase whose timeline went back is forgotten; one
        ``beat`` is past the end of ends there (max_length)."""
        if not self.messages:
            return None
        if beat < self.last_beat - BACK_JUMP_BEATS:
            self.reset()
            return None
        if beat - self.start_beat > self.rules.max_beats:
            return self._end(self.start_beat + self.rules.max_beats, "max_length")
        return None

    def _release_channel(self, channel: int, now_ns: int, beat: float) -> Phrase | None:
        """Note-offs for every key held on ``channel`` (All Notes Off)."""
        ended = self._jumped(beat)
        if ended is not None:
            return ended
        keys = [key for key in self.held if key[0] == channel]
        if not keys:
            return None
        for key in keys:
            self.messages += [NoteMessage(beat, False, key[1], 0, channel)] * self.held.pop(key)
        self.last_beat, self.last_ns = beat, now_ns
        if beat - self.start_beat >= self.rules.max_beats:
            return self._end(beat, "max_length")
        return None

    def reset(self) -> None:
        """Forget the phrase being played (its beats belong to a timeline that is gone)."""
        if self.messages:
            self.discarded += 1
        self.messages, self.held = [], {}

    def poll(self, now_ns: int, beat: float) -> Phrase | None:
        """Called regularly: returns a phrase that ended by silence or length."""
        if not self.messages:
            return None
        if beat < self.last_beat - BACK_JUMP_BEATS:  # the timeline went back
            self.reset()
            return None
        if beat - self.start_beat >= self.rules.max_beats:
            return self._end(min(beat, self.start_beat + self.rules.max_beats), "max_length")
        if self.held:
            return None
        silent = (now_ns - self.last_ns >= self.rules.silence_s * NS if self.rules.silence_s > 0
                  else beat - self.last_beat >= self.rules.silence_beats)
        return self._end(self.last_beat, "silence") if silent else None

    def _end(self, end_beat: float, reason: str) -> Phrase | None:
        messages = self.messages
        # keys still held are closed where the phrase ends (the player's notes go on sounding)
        for (channel, pitch), count in self.held.items():
            messages += [NoteMessage(end_beat, False, pitch, 0, channel)] * count
        phrase = Phrase(messages, self.start_beat, end_beat, reason)
        self.messages, self.held = [], {}
        if phrase.notes < self.rules.min_notes:
            self.ignored += 1
            return None
        return phrase
