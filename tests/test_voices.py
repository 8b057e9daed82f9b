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
