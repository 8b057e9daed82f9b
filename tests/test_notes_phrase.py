from livegen.core.notes import OpenNotes, is_note_on, note_on_off
from livegen.core.clock import NS
from livegen.core.phrase import PhraseDetector, PhraseRules


def test_note_on_with_velocity_zero_is_off():
    assert note_on_off(bytes([0x93, 60, 0])) == ("off", 3, 60)
    assert note_on_off(bytes([0x93, 60, 1])) == ("on", 3, 60)
    assert note_on_off(bytes([0xB0, 1, 2])) is None
    assert note_on_off(b"\x90") is None
    assert is_note_on(bytes([0x93, 60, 1])) and not is_note_on(bytes([0x93, 60, 0]))
    assert not is_note_on(bytes([0x83, 60, 64])) and not is_note_on(bytes([0xB0, 1, 2]))


def test_every_note_on_gets_its_note_off_and_all_notes_off_per_channel():
    notes = OpenNotes()
    for msg in ([0x90, 60, 100], [0x90, 60, 90], [0x91, 62, 80], [0x80, 60, 0], [0x92, 70, 0]):
        notes.track(bytes(msg))
    assert len(notes) == 2 and notes.is_open(0, 60) and notes.is_open(1, 62)
    closing = notes.closing_messages()
    assert closing == [bytes([0x80, 60, 0]), bytes([0x81, 62, 0]), bytes([0xB0, 123, 0]),
                       bytes([0xB1, 123, 0])]
    assert len(notes) == 0 and notes.closing_messages() == []


def test_notes_held_too_long():
    notes = OpenNotes()
    notes.track(bytes([0x90, 60, 100]), now_ns=0)
    notes.track(bytes([0x90, 61, 100]), now_ns=5 * NS)
    assert notes.held_longer_than(8 * NS, now_ns=10 * NS) == [bytes([0x80, 60, 0])]


def play(detector, events):
    """events: (beat, bytes); one beat = 0.5 s here."""
    out = []
    for beat, msg in events:
        t = int(beat * NS / 2)
        p = detector.feed(bytes(msg), t, beat) if msg else detector.poll(t, beat)
        if p:
            out.append(p)
    return out


def test_phrase_ends_on_silence_in_beats():
    d = PhraseDetector(PhraseRules(silence_beats=2.0, min_notes=2))
    phrases = play(d, [(0, [0x90, 60, 100]), (1, [0x80, 60, 0]), (1, [0x90, 64, 90]),
                       (1.5, [0x90, 64, 0]), (3.0, None), (3.6, None)])
    assert len(phrases) == 1
    p = phrases[0]
    assert p.reason == "silence" and p.start_beat == 0 and p.end_beat == 1.5 and p.notes == 2
    assert [(m.time, m.on, m.pitch) for m in p.messages] == [
        (0, True, 60), (1, False, 60), (1, True, 64), (1.5, False, 64)]
    assert not d.listening


def test_held_key_keeps_the_phrase_open_and_too_short_is_ignored():
    d = PhraseDetector(PhraseRules(silence_beats=1.0, min_notes=2))
    assert play(d, [(0, [0x90, 60, 100]), (5, None), (6, [0x80, 60, 0]), (8, None)]) == []
    assert d.ignored == 1


def test_phrase_ends_on_cc_and_on_max_length_closing_held_keys():
    d = PhraseDetector(PhraseRules(end_cc=64, max_beats=8, min_notes=1))
    [p] = play(d, [(0, [0x90, 60, 100]), (0.5, [0xB0, 64, 127])])
    assert p.reason == "cc" and p.messages[-1].on is False and p.messages[-1].time == 0.5
    d = PhraseDetector(PhraseRules(max_beats=4, min_notes=1))
    [p] = play(d, [(0, [0x90, 60, 100]), (3, [0x90, 62, 100]), (4.1, None)])
    assert p.reason == "max_length" and p.notes == 2
    assert sum(1 for m in p.messages if not m.on) == 2  # both held keys closed
    # their late note-offs start nothing
    assert play(d, [(5, [0x80, 60, 0]), (5, [0x80, 62, 0]), (9, None)]) == [] and not d.listening


def test_silence_in_seconds():
    d = PhraseDetector(PhraseRules(silence_s=0.4, min_notes=1))
    assert play(d, [(0, [0x90, 60, 100]), (0.5, [0x80, 60, 0]), (1.0, None)]) == []  # 0.25 s
    assert len(play(d, [(1.4, None)])) == 1  # 0.45 s after the note-off


def test_all_notes_off_releases_the_keys_held_on_its_channel():
    # a key the DAW never released (stuck) would keep livegen listening until max_beats;
    # the DAW's stop or panic sends All Notes Off (123) or All Sound Off (120)
    d = PhraseDetector(PhraseRules(silence_beats=1.0, max_beats=32, min_notes=2))
    assert play(d, [(0, [0x90, 60, 100]), (0.5, [0x91, 64, 100]), (1, [0x90, 62, 100]), (1.5, [0x80, 62, 0]),
                    (3, None), (3, [0xB1, 123, 0]), (3.5, None)]) == []
    assert d.held == {(0, 60): 1}  # channel 2's key released, channel 1's still held
    [p] = play(d, [(4, [0xB0, 120, 0]), (4.5, None), (5.1, None)])
    assert p.reason == "silence" and p.end_beat == 4 and p.notes == 3
    assert [(m.time, m.pitch) for m in p.messages if not m.on] == [(1.5, 62), (3, 64), (4, 60)]


def test_reset_forgets_the_phrase_being_played():
    d = PhraseDetector(PhraseRules(silence_beats=1.0, min_notes=1))
    play(d, [(0, [0x90, 60, 100]), (0.5, [0x90, 62, 100])])
    d.reset()  # MIDI Start: a new timeline
    assert not d.listening and d.discarded == 1
    assert play(d, [(0.2, [0x80, 60, 0]), (3, None)]) == [] and not d.listening  # its note-off starts nothing


def test_a_phrase_never_outlasts_max_beats_whatever_the_clock_does():
    """Seen in `livegen run`'s log after a burst of random bytes: "phrase: 2 notes, 3623.47
    beats ... ended by max_length" with a maximum of 32 (a Song Position or Continue moved the
    beat on by thousands while a phrase was open)."""
    rules = PhraseRules(silence_beats=2.0, max_beats=32, min_notes=2)
    # the clock leaps on while a key is held: the phrase ends where it had to, 32 beats in
    d = PhraseDetector(rules)
    assert play(d, [(0, [0x90, 60, 100]), (1, [0x90, 62, 100])]) == []
    [p] = play(d, [(3624, None)])
    assert (p.reason, p.start_beat, p.end_beat) == ("max_length", 0, 32)
    assert max(m.time for m in p.messages) <= 32
    # a note after the leap ends the phrase before it and starts the next one
    d = PhraseDetector(rules)
    [p] = play(d, [(0, [0x90, 60, 100]), (1, [0x80, 60, 0]), (1, [0x90, 62, 100]), (3623.5, [0x90, 64, 100])])
    assert (p.reason, p.end_beat, p.notes) == ("max_length", 32, 2)
    assert max(m.time for m in p.messages) <= 32
    assert d.listening and d.start_beat == 3623.5 and d.messages[0].pitch == 64
    # the beat went back (a new timeline): the open phrase is forgotten, not stretched
    d = PhraseDetector(rules)
    play(d, [(100, [0x90, 60, 100]), (101, [0x90, 62, 100])])
    assert play(d, [(3, [0x80, 60, 0])]) == [] and d.discarded == 1 and not d.listening
    d = PhraseDetector(rules)
    play(d, [(100, [0x90, 60, 100]), (101, [0x90, 62, 100])])
    assert play(d, [(2, None)]) == [] and d.discarded == 1 and not d.listening
    # a MIDI clock's own correction moves the beat back a little: the phrase goes on
    d = PhraseDetector(rules)
    play(d, [(100, [0x90, 60, 100]), (101, [0x90, 62, 100]), (100.9, [0x80, 60, 0])])
    assert d.listening and d.discarded == 0 and len(d.messages) == 3
    # an All Notes Off or the end controller past the end: the phrase ends at its maximum
    for late in ([0xB0, 123, 0], [0xB0, 64, 127]):
        d = PhraseDetector(PhraseRules(max_beats=32, min_notes=2, end_cc=64))
        [p] = play(d, [(0, [0x90, 60, 100]), (1, [0x90, 62, 100]), (500, late)])
        assert (p.reason, p.end_beat) == ("max_length", 32)
