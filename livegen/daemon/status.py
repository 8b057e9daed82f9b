"""What the daemon says: one-line log records and the one-screen terminal status.

Called on the main thread only (the daemon's threads never print or log per event:
they append to deques that the main thread reads).
"""

from __future__ import annotations

from livegen.core import tokens as tk
from livegen.core.notes import pitch_name


def bar_beat(beat: float, beats_per_bar: int) -> str:
    beat = round(beat, 2)
    return f"bar {int(beat // beats_per_bar) + 1} beat {beat % beats_per_bar + 1:.2f}"


def describe_phrase(p, beats_per_bar: int) -> str:
    notes = tk.notes_from_messages(p.messages)
    names = " ".join(pitch_name(n.pitch) for n in notes[:16]) + (" ..." if len(notes) > 16 else "")
    return (f"phrase: {len(notes)} notes, {p.end_beat - p.start_beat:.2f} beats from "
            f"{bar_beat(p.start_beat, beats_per_bar)}, ended by {p.reason}: {names}")


def describe_response(r, beats_per_bar: int) -> str:
    names = " ".join(pitch_name(n.pitch) for n in r.notes[:16]) + (" ..." if len(r.notes) > 16 else "")
    moved = f", moved {r.moved_bars} bar(s) late" if r.moved_bars else ""
    made = (f"first beat ready in {r.ready_ms:.1f} ms, all {r.tokens} tokens in {r.generate_ms:.1f} ms"
            if r.kind != "loop" else "loop")
    first = f", first note at beat {r.start_beat + r.notes[0].start:.4f}" if r.notes else ""
    steered = f"; as {r.controls}" if r.controls else ""
    return (f"{r.kind}: {len(r.notes)} notes, {r.bars} bar(s) from {bar_beat(r.start_beat, beats_per_bar)} "
            f"(beat {r.start_beat:g}){first}, {made}{moved}{steered}: {names or '(rests)'}")


def status_lines(st, *, ports: str, audio: str, beats_per_bar: int) -> list[str]:
    synth = st.synth or {}
    if synth:
        audio = (f"synth ({synth.get('kernel', '?')}): {synth.get('voices', '?')} voices, load {synth.get('load', 0):.2f}, "
                 f"underruns {synth.get('underruns', 0)}; {synth.get('audio_backend', '?')}")
    last = "none yet"
    if st.last is not None:
        r = st.last
        onset = "" if st.last_onset_ms is None else f", first note {st.last_onset_ms:+.3f} ms vs schedule"
        last = (f"{r.kind} of {r.bars} bar(s) at {bar_beat(r.start_beat, beats_per_bar)}, "
                f"ready in {r.ready_ms:.1f} ms, generated in {r.generate_ms:.1f} ms{onset}")
    c = st.counts
    return [
        f"livegen   {st.state.upper():<11} tempo {st.bpm:6.1f} bpm ({st.clock_source})   "
        f"{bar_beat(st.beat, beats_per_bar)}",
        f"ports     {ports}",
        f"audio     {audio}",
        f"phrases   {st.phrases} (ignored {st.ignored})   responses {st.responses}",
        f"last      {last}",
        f"counters  thru {c['thru']}  echoes {c['echoes']}  late {c['late_dropped']}  moved {c['moved']}  "
        f"held-closed {c['held_closed']}  send errors {c['send_errors']}",
        f"dropped   {dropped(st)} (a flood: never a note-off, a reset, a panic or a cancel)",
        "          Ctrl-C stops (every note is closed)",
    ]


def dropped(st) -> str:
    """What the bounded queues between the threads dropped, where (see livegen.core.queues)."""
    c, synth = st.counts, st.synth or {}
    parts = [("input", c["input_dropped"]), ("thru", c["thru_dropped"]), ("schedule", c["schedule_dropped"]),
             ("generator", c["requests_dropped"])]
    if synth:  # the synth's inbox, and note-ons past its voices before one render
        parts += [("synth", synth.get("inbox_dropped", 0)), ("synth notes", synth.get("notes_dropped", 0))]
    return "  ".join(f"{name} {n}" for name, n in parts)


def status_line(st, midi_backend: str = "") -> str:
    """One log line; ``midi_backend``: what moves the MIDI ports' bytes (``Jam.midi_backend``)."""
    synth = st.synth or {}
    audio = (f" voices {synth.get('voices')} load {synth.get('load', 0):.2f} underruns {synth.get('underruns')}"
             if synth else "")
    ports = "; ".join(part for part in (f"MIDI: {midi_backend}" if midi_backend else "",
                                        f"audio: {synth['audio_backend']}" if "audio_backend" in synth else "")
                      if part)
    return (f"status: {st.state}, {st.bpm:.1f} bpm ({st.clock_source}), phrases {st.phrases}, "
            f"responses {st.responses}, echoes {st.counts['echoes']}, late {st.counts['late_dropped']}{audio}, "
            f"dropped: {dropped(st).replace('  ', ', ')}" + (f" ({ports})" if ports else ""))


def status_record(st) -> dict:
    """The status as one JSON-ready record (``livegen run --status-json``; read by ``livegen bench xruns``)."""
    return {"state": st.state, "bpm": round(st.bpm, 2), "clock": st.clock_source, "beat": round(st.beat, 3),
            "phrases": st.phrases, "ignored": st.ignored, "responses": st.responses,
            "counts": dict(st.counts), "synth": dict(st.synth) if st.synth else None}


def waiting_lines(server: str, reason: str, waited_s: float, phrases: int, responses: int) -> list[str]:
    """The status screen while the JACK server is gone (livegen run, livegen.daemon.jackrestart)."""
    return [
        "livegen   JACK server lost: waiting for it",
        f"server    {server!r}: lost {waited_s:.0f} s ago ({reason})",
        (f"stopped   after {phrases} phrases and {responses} responses; notes sounding then could not be "
         "closed (the server took the ports with it)"),
        "          livegen comes back by itself when a server of that name starts; Ctrl-C stops",
    ]
