import pytest

from livegen.core.voices import VoiceAllocator


def test_free_slots_first_then_oldest_released_then_oldest_held():
    a = VoiceAllocator(3)
    assert a.note_on(0, 60, 100, now=0) == (0, False)
    assert a.note_on(0, 62, 100, now=10) == (1, False)
    assert a.note_on(0, 64, 100, now=20) == (2, False)
    assert a.note_off(0, 62, now=30) == 1
    assert a.note_off(0, 64, now=25) == 2
    assert a.note_on(0, 65, 90, now=40) == (2, True)  # released at 25: the oldest release
    assert a.note_on(0, 67, 90, now=50) == (1, True)  # released at 30
    assert a.note_on(0, 69, 90, now=60) == (0, True)  # nothing released: the oldest held
    assert a.stolen == 3
    assert [a.slots[i].pitch for i in range(3)] == [69, 67, 65]


def test_note_off_releases_the_oldest_of_a_repeated_pitch_and_ignores_strays():
    a = VoiceAllocator(4)
    a.note_on(1, 60, 100, 0)
    a.note_on(1, 60, 100, 5)
    assert a.note_off(1, 60, 10) == 0
    assert a.note_off(1, 60, 11) == 1
    assert a.note_off(1, 60, 12) is None
    assert a.note_off(2, 61, 12) is None


def test_release_all_by_channel_and_free():
    a = VoiceAllocator(4)
    a.note_on(0, 60, 100, 0)
    a.note_on(1, 61, 100, 0)
    assert a.release_all(5, channel=1) == [1]
    assert a.release_all(6) == [0]
    a.free(0)
    assert a.active() == [1]
    with pytest.raises(ValueError):
        VoiceAllocator(0)


def test_a_lower_limit_makes_new_notes_steal():
    a = VoiceAllocator(4)
    a.note_on(0, 60, 100, 0)
    a.note_on(0, 62, 100, 1)
    a.limit = 2
    assert a.note_on(0, 64, 100, 2) == (0, True)  # at the limit: the oldest gives way
    assert a.oldest() == 1 and a.oldest(among=[0]) == 0


def test_governor_sheds_under_load_and_gives_back_when_it_eases():
    from livegen.core.governor import LoadGovernor
    g = LoadGovernor(8, high=0.9, low=0.6, patience=3, recover=5)
    assert [g.update(1.2, 8) for _ in range(3)] == [8, 8, 7]
    assert [g.update(1.2, 7) for _ in range(3)] == [7, 7, 6]
    assert g.update(0.8, 6) == 6  # between low and high: hold
    assert [g.update(0.3, 6) for _ in range(5)] == [6, 6, 6, 6, 7]
    assert g.shed == 2
    for _ in range(100):
        g.update(0.1, 0)
    assert g.limit == 8
    for _ in range(100):
        g.update(5.0, 1)
    assert g.limit == 1  # never below one voice
