"""The control surface's view of livegen, as JSON-ready dicts (docs/api.md).

Read on the surface's thread from what other threads publish and never lock: the
:class:`~livegen.daemon.daemon.Status` snapshot the status line reads, the control thread's
immutable ``controls`` and ``pad`` objects and its ``cc_values``, the beat clock's immutable
state, and the event logs of notes heard and responses scheduled.
"""

from __future__ import annotations

import time

from livegen.core.notes import note_on_off


def _round(v, n=3):
    return None if v is None else round(float(v), n)


def live(daemon, beats_per_bar: int) -> dict:
    """What changes every frame: the state, tempo and position (cheap: sent ~30 times a second)."""
    now = daemon.clock()
    clock = daemon.beat_clock.state
    beat = clock.beat_at(now)
    bar = int(beat // beats_per_bar)
    control = daemon.control
    sink = daemon.sink
    out = {
        "state": control.state, "bpm": round(clock.bpm, 2), "clock": clock.source, "running": clock.running,
        "beat": round(beat, 4), "bar": bar + 1, "beat_in_bar": round(beat - bar * beats_per_bar + 1, 3),
        "beats_per_bar": beats_per_bar, "next_bar": (bar + 1) * beats_per_bar,
        "t": time.time(),
    }
    if sink is not None:
        out["level"] = _round(getattr(sink, "level", None), 4)
        out["voices"] = getattr(sink, "voices", None)
    return out


def controls(daemon) -> dict:
    """The jam controls in force and the latest value of each one's controller."""
    c = daemon.control
    ctl = c.controls
    s = ctl.steering
    return {
        "values": {"temperature": ctl.temperature, "length": ctl.response_bars, "texture": s.texture,
                   "register": s.centre, "density": round(s.density, 3), "loop": ctl.loop, "mute": ctl.mute,
                   "thru": c.thru},
        "cc": dict(c.cc_values),
    }


def pad(daemon) -> dict | None:
    p = daemon.control.pad
    if p is None:
        return None
    point = p.point()
    return {"corners": list(p.names), "channel": p.target,
            "x": None if point is None else round(point[0], 4), "y": None if point is None else round(point[1], 4),
            "points": [None if xy is None else [round(xy[0], 4), round(xy[1], 4)] for xy in p.xy]}


def meters(daemon) -> dict:
    """The status line's snapshot: counters, the synth's meters, JACK's xruns."""
    st = daemon.status()
    synth = st.synth or {}
    out = getattr(daemon, "out", None)
    return {
        "phrases": st.phrases, "ignored": st.ignored, "responses": st.responses,
        "voices": synth.get("voices"), "voice_limit": synth.get("voice_limit"), "load": synth.get("load"),
        "underruns": synth.get("underruns"), "inbox_dropped": synth.get("inbox_dropped"),
        "level": synth.get("level"), "timbre": synth.get("timbre"), "audio_lost": synth.get("audio_lost"),
        "xruns": getattr(out, "xruns", None), "counts": st.counts,
        "synth": bool(st.synth),
    }


def heard_notes(events) -> list[list]:
    """Control-thread note events (t_ns, beat, message) -> [[beat, pitch, velocity, channel,
    arrival]] (velocity 0: the key was released; arrival: when it reached livegen's input, in
    seconds of the wall clock, so a page can tell how long it took to draw it)."""
    epoch = time.time() - time.monotonic_ns() / 1e9
    rows = []
    for t, beat, msg in events:
        kind = note_on_off(msg)
        if kind is None:
            continue
        on = kind[0] == "on"
        rows.append([round(beat, 4), msg[1], msg[2] if on else 0, (msg[0] & 0x0F) + 1, round(epoch + t / 1e9, 4)])
    return rows


def answer(r) -> dict:
    """A scheduled Response -> its notes in beats from livegen's beat 0."""
    return {"kind": r.kind, "start_beat": r.start_beat, "bars": r.bars, "channel": r.channel + 1,
            "notes": [[round(r.start_beat + n.start, 4), round(n.end - n.start, 4), n.pitch, n.velocity]
                      for n in r.notes]}
