"""The one bounded queue of every inbox (pure logic): ordinary items dropped and counted at the
bound, must-keep items always accepted, order kept, memory bounded."""

import threading

import pytest

from livegen.core.queues import BoundedQueue, first_midi_key, midi_key


def on(p, ch=0):
    return bytes((0x90 | ch, p, 100))


def off(p, ch=0):
    return bytes((0x80 | ch, p, 0))


def drain(q):
    out = []
    while q:
        out.append(q.popleft())
    return out


def test_below_the_limit_everything_is_kept_in_order_even_duplicates():
    q = BoundedQueue(8, midi_key)
    items = [on(60), off(60), off(60), bytes((0xB0, 123, 0)), bytes((0xB0, 123, 0)), on(61)]
    for m in items:
        assert q.put(m)
    assert drain(q) == items
    assert q.dropped == q.merged == 0


def test_at_the_limit_ordinary_items_are_dropped_and_counted_must_keep_ones_accepted_in_order():
    q = BoundedQueue(3, midi_key)
    for p in (60, 61, 62, 63, 64):
        q.put(on(p))
    assert not q.put(bytes((0xB0, 1, 64)))  # a morph controller: ordinary
    for m in (off(60), bytes((0x90, 61, 0)), bytes((0xB0, 123, 0)), bytes((0xB3, 120, 0)), bytes((0xB0, 121, 0))):
        assert q.put(m)
    assert q.dropped == 3
    assert drain(q) == [on(60), on(61), on(62), off(60), bytes((0x90, 61, 0)), bytes((0xB0, 123, 0)),
                        bytes((0xB3, 120, 0)), bytes((0xB0, 121, 0))]
    assert q.merged == 0


def test_a_flood_of_must_keep_items_past_the_limit_is_folded_so_memory_stays_bounded():
    q = BoundedQueue(4, midi_key)
    for p in range(4):
        q.put(on(p))
    for _ in range(1000):  # a stuck controller sending note-offs and All Notes Off for ever
        for p in range(8):
            assert q.put(off(p))
        assert q.put(bytes((0xB0, 123, 0)))
    assert len(q) <= 4 + 9  # the limit plus one per key
    assert q.merged == 1000 * 9 - 9
    # what the consumer sees still ends every note: each note-off and the reset, once, in order
    assert drain(q) == [on(p) for p in range(4)] + [off(p) for p in range(8)] + [bytes((0xB0, 123, 0))]


def test_a_must_keep_item_is_never_folded_across_an_ordinary_one():
    q = BoundedQueue(2, midi_key)
    q.put(on(60))
    q.put(off(60))
    q.put(off(60))  # past the limit: folded into the waiting note-off (nothing turned 60 on since)
    assert q.merged == 1
    assert q.popleft() == on(60)  # room again
    assert q.put(on(60))  # accepted: 60 is on again after the waiting note-off
    assert q.put(off(60))  # past the limit, but after an ordinary item: kept
    assert drain(q) == [off(60), on(60), off(60)]


def test_folding_counts_only_items_still_waiting():
    q = BoundedQueue(1, midi_key)
    q.put(on(60))
    q.put(off(60))
    assert q.popleft() == on(60)
    assert q.popleft() == off(60)  # consumed: a new note-off of 60 is not a duplicate of a waiting one
    q.put(on(61))
    assert q.put(off(60))
    assert drain(q) == [on(61), off(60)] and q.merged == 0


def test_the_bound_holds_under_any_mix():
    import random
    rng = random.Random(1)
    q = BoundedQueue(16, midi_key)
    keys = set()
    for _ in range(20000):
        r = rng.random()
        msg = (on(rng.randrange(4), rng.randrange(2)) if r < 0.4 else off(rng.randrange(4), rng.randrange(2))
               if r < 0.9 else bytes((0xB0 | rng.randrange(2), rng.choice((120, 121, 123)), 0)))
        q.put(msg)
        if midi_key(msg) is not None:
            keys.add(midi_key(msg))
        assert len(q) <= 16 + len(keys)
        if rng.random() < 0.3 and q:
            q.popleft()


def test_unbounded_and_plain_queues():
    q = BoundedQueue(None)
    for i in range(10000):
        q.put(i)
    assert len(q) == 10000 and q.dropped == 0
    q = BoundedQueue(2)  # no must-keep items
    assert q.put(1) and q.put(2) and not q.put(3)
    assert list(q) == [1, 2] and q.dropped == 1
    with pytest.raises(IndexError):
        BoundedQueue(1).popleft()
    with pytest.raises(ValueError):
        BoundedQueue(0)


def test_what_midi_must_keep():
    assert midi_key(b"\x85\x3c\x40") == (5, 60) and midi_key(b"\x95\x3c\x00") == (5, 60)
    assert midi_key(b"\xb0\x79\x00") == (0, 128 + 121)
    assert midi_key(b"\x95\x3c\x01") is None and midi_key(b"\xb0\x40\x7f") is None and midi_key(b"") is None
    assert first_midi_key((off(60), 123)) == (0, 60)


def test_producers_on_several_threads_lose_no_must_keep_item():
    q = BoundedQueue(64, first_midi_key)
    got = []
    done = threading.Event()

    def consume():
        while not done.is_set() or q:
            while q:
                got.append(q.popleft()[0])

    def produce(ch):
        for i in range(3000):
            q.put((on(i % 128, ch), 0))
            q.put((off(i % 128, ch), 0))

    consumer = threading.Thread(target=consume)
    consumer.start()
    producers = [threading.Thread(target=produce, args=(ch,)) for ch in range(3)]
    for t in producers:
        t.start()
    for t in producers:
        t.join()
    done.set()
    consumer.join()
    # every note-on that got through is ended by a later note-off of its key
    for ch in range(3):
        sounding = set()
        for m in got:
            if m[0] & 0x0F == ch:
                (sounding.add if m[0] & 0xF0 == 0x90 else sounding.discard)(m[1])
        assert not sounding
