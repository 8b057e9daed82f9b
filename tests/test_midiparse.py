from hypothesis import given, settings, strategies as st

from livegen.core.midiparse import MidiParser


def parse(*chunks):
    p = MidiParser(max_sysex=16)
    out = []
    for c in chunks:
        out += p.feed(bytes(c))
    return out, p.counts


def test_running_status_across_packets():
    out, counts = parse([0x90, 60], [100, 62, 0], [64])
    assert out == [bytes([0x90, 60, 100]), bytes([0x90, 62, 0])]
    assert counts.messages == 2 and counts.truncated == 0
    out2, _ = parse([0x90, 60, 100, 62], [0, 64, 90])
    assert out2 == [bytes([0x90, 60, 100]), bytes([0x90, 62, 0]), bytes([0x90, 64, 90])]


def test_realtime_inside_a_message_does_not_break_it():
    out, counts = parse([0x90, 0xF8, 60, 0xFA, 100])
    assert out == [b"\xf8", b"\xfa", bytes([0x90, 60, 100])]
    assert counts.garbage == 0


def test_two_and_one_data_byte_messages_and_system_common():
    out, _ = parse([0xC3, 5, 7, 0xF2, 0x10, 0x01, 0xE0, 0, 64, 0xF6])
    assert out == [bytes([0xC3, 5]), bytes([0xC3, 7]), bytes([0xF2, 0x10, 0x01]),
                   bytes([0xE0, 0, 64]), b"\xf6"]


def test_system_common_cancels_running_status():
    out, counts = parse([0x90, 60, 100, 0xF6, 61, 100])
    assert out == [bytes([0x90, 60, 100]), b"\xf6"]
    assert counts.garbage == 2


def test_sysex_kept_whole_and_long_sysex_dropped_and_counted():
    out, counts = parse([0xF0, 1, 2], [3, 0xF7], [0xF0] + [5] * 40 + [0xF7], [0x80, 60, 0])
    assert out == [bytes([0xF0, 1, 2, 3, 0xF7]), bytes([0x80, 60, 0])]
    assert counts.sysex_dropped == 1


def test_truncated_and_garbage_are_counted_not_raised():
    out, counts = parse([0x90, 60], [0x80, 61, 0], [5, 6], [0xF7, 0xF9, 0xF4, 7])
    # 5, 6 form a running-status note-off; 0xF7 outside sysex, the undefined 0xF9 and 0xF4,
    # and the data byte 7 (0xF4 cancelled running status) are garbage
    assert out == [bytes([0x80, 61, 0]), bytes([0x80, 5, 6])]
    assert counts.truncated == 1 and counts.garbage == 4


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=40), max_size=20))
def test_any_bytes_in_any_chunks_parse_to_well_formed_messages(chunks):
    p = MidiParser(max_sysex=32)
    for chunk in chunks:
        for m in p.feed(chunk):
            status = m[0]
            assert status >= 0x80
            assert all(b < 0x80 for b in m[1:-1])
            if status == 0xF0:
                assert m[-1] == 0xF7 and len(m) <= 33
            elif status < 0xF0:
                assert len(m) == 1 + {0x80: 2, 0x90: 2, 0xA0: 2, 0xB0: 2, 0xC0: 1, 0xD0: 1,
                                      0xE0: 2}[status & 0xF0]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0x80, 0xEF), st.integers(0, 127), st.integers(0, 127)),
                max_size=30), st.integers(1, 7))
def test_well_formed_stream_round_trips_in_any_chunking(msgs, chunk):
    want = [bytes([s, a, b][:1 + {0xC0: 1, 0xD0: 1}.get(s & 0xF0, 2)]) for s, a, b in msgs]
    data = b"".join(want)
    p = MidiParser()
    got = []
    for i in range(0, len(data), chunk):
        got += p.feed(data[i:i + chunk])
    assert got == want
