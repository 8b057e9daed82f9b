"""The synth's inbox (pure logic): bounded, but note-offs and resets are never dropped."""

from livegen.synth.live import Inbox, must_keep


def test_a_full_inbox_drops_and_counts_new_notes_but_keeps_every_note_off_and_reset():
    box = Inbox(limit=3)
    for p in (60, 61, 62, 63, 64):
        box.put(bytes((0x90, p, 100)), 0)
    for msg in (bytes((0x80, 60, 0)), bytes((0x90, 61, 0)), bytes((0xB0, 123, 0)), bytes((0xB3, 120, 0))):
        box.put(msg, 0)
    box.put(bytes((0xB0, 1, 64)), 0)  # a morph controller: dropped like a note-on
    kept = [m for m, _ in box.queue]
    assert kept[:3] == [bytes((0x90, p, 100)) for p in (60, 61, 62)]
    assert kept[3:] == [b"\x80\x3c\x00", b"\x90\x3d\x00", b"\xb0\x7b\x00", b"\xb3\x78\x00"]
    assert box.dropped == 3


def test_what_must_be_kept():
    assert must_keep(b"\x85\x3c\x40") and must_keep(b"\x95\x3c\x00") and must_keep(b"\xb0\x79\x00")
    assert not must_keep(b"\x95\x3c\x01") and not must_keep(b"\xb0\x40\x7f") and not must_keep(b"")
