import numpy as np
import pytest

from livegen.core.ring import AudioRing


def test_wraps_and_keeps_order():
    ring = AudioRing(8, channels=2)
    data = np.arange(40, dtype=np.float32).reshape(20, 2)
    out = np.empty((3, 2), np.float32)
    got = []
    pos = 0
    for _ in range(10):
        pos += ring.write(data[pos:pos + 5])
        n = ring.read_into(out)
        got.append(out[:n].copy())
    assert np.array_equal(np.concatenate(got), data[:len(np.concatenate(got))])
    assert len(np.concatenate(got)) == 20 or ring.available() > 0


def test_write_stops_when_full_and_read_fills_silence():
    ring = AudioRing(4)
    assert ring.write(np.ones((10, 1), np.float32)) == 4
    assert ring.free() == 0
    out = np.full((6, 1), 7.0, np.float32)
    assert ring.read_into(out) == 4
    assert out[:4].tolist() == [[1.0]] * 4 and out[4:].tolist() == [[0.0]] * 2


def test_rejects_empty_capacity():
    with pytest.raises(ValueError, match="capacity"):
        AudioRing(0)
