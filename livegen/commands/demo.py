"""``livegen demo``: play a phrase into livegen through real ports and record its answer.

Needs no audio set-up: without a running JACK server it starts a private dummy
server. A player port sends MIDI Start, clock and a bundled phrase into
``livegen:in`` as a DAW would; livegen answers on the next bar line; a recorder
port records ``livegen-out:out``. Writes ``demo.mid`` (the player's phrase and
livegen's answer, one track each) and, once the synth can be captured,
``demo.wav``; prints what happened.
"""

from __future__ import annotations

HELP = "hear livegen answer a bundled phrase (starts a private JACK server if none runs); writes demo.mid"

# The bundled phrase: (beat, length in beats, pitch, velocity), two bars in C major.
PHRASE = [
    (0.0, 0.5, 60, 96), (0.5, 0.5, 64, 84), (1.0, 0.5, 67, 90), (1.5, 0.5, 72, 100),
    (2.0, 1.0, 71, 92), (3.0, 0.5, 67, 80), (3.5, 0.5, 69, 84),
    (4.0, 0.5, 65, 92), (4.5, 0.5, 69, 84), (5.0, 0.5, 72, 96), (5.5, 0.5, 74, 100),
    (6.0, 1.5, 72, 90),
]
PHRASE_BAR = 1  # the phrase starts on the player's second bar (bar 1 counting from 0)


def add_arguments(parser) -> None:
    parser.add_argument("--out", default=".", metavar="DIR", help="where demo.mid (and demo.wav) go (default .)")
    parser.add_argument("--bpm", type=float, default=None, help="tempo (default: jam.tempo_bpm)")
    parser.add_argument("--no-clock", action="store_true",
                        help="send no MIDI clock: livegen keeps its own tempo (the phrase is then "
                             "not aligned to its bar lines)")
    parser.add_argument("--private-jack", action="store_true",
                        help="start a private JACK dummy server even if one runs")


def _play(player, bpm: float, beats_per_bar: int, clock: bool, stop, t0: int, sent: list) -> None:
    """The player thread: Start and 24 clock ticks per beat (until ``stop``), and the phrase."""
    import heapq
    import time

    from livegen.realtime import OTHER_PRIORITY, make_realtime

    make_realtime(OTHER_PRIORITY)  # a DAW's clock is timely; and see livegen.realtime
    beat_ns = 60e9 / bpm
    start = PHRASE_BAR * beats_per_bar
    events = []
    for i, (beat, length, pitch, vel) in enumerate(PHRASE):
        events.append((t0 + (start + beat) * beat_ns, 2 * i + 1, bytes((0x90, pitch, vel))))
        events.append((t0 + (start + beat + length * 0.9) * beat_ns, 2 * i, bytes((0x80, pitch, 0))))
    heapq.heapify(events)
    tick = 0
    if clock:
        heapq.heappush(events, (t0, -1, b"\xfa"))
    while not stop.is_set() and (events or clock):
        next_tick = t0 + tick * beat_ns / 24 if clock else float("inf")
        if events and events[0][0] <= next_tick:
            at, _, msg = heapq.heappop(events)
        else:
            at, msg = next_tick, b"\xf8"
            tick += 1
        wait = at - time.monotonic_ns()
        if wait > 0 and stop.wait(wait / 1e9):
            break
        player.send(msg)
        if msg[0] != 0xF8:
            sent.append((time.monotonic_ns(), msg))
    if clock:
        player.send(b"\xfc")


def run(args, cfg) -> int:
    import dataclasses
    import logging
    import statistics
    import threading
    import time

    import numpy as np

    from livegen.daemon.harness import Rig, jack_server, load_models
    from livegen.core.notes import note_on_off, pitch_name
    from livegen.daemon.status import bar_beat
    from livegen.fileio import check_output, output_folder
    from livegen.io.midirecord import write_tracks

    logging.getLogger("livegen").setLevel(logging.WARNING)  # the demo prints its own story
    out_dir = output_folder(args.out)
    for name in ("demo.mid", "demo.wav"):
        check_output(out_dir / name)
    bpm = args.bpm or cfg.jam.tempo_bpm
    jam = dataclasses.replace(cfg.jam, tempo_bpm=bpm, thru="both", out_channel=2, state_cc=-1)
    cfg = dataclasses.replace(cfg, jam=jam)
    bpb = jam.beats_per_bar
    beat_ns = 60e9 / bpm
    say = print
    models = load_models(cfg)  # a bad model file stops the demo here, before JACK or a port
    with jack_server(48000, 256, private=args.private_jack) as (server, where):
        say(f"livegen demo: JACK: {where}")
        rig = Rig(cfg, models)
        try:
            say(f"  LSTM {rig.model.describe()}; MIDI: {rig.midi_backend}; audio: {rig.audio}")
            has_sink = rig.sink is not None
            # demo.wav: a synth sink that taps its own output offers start_capture() and
            # stop_capture() -> float32 mono samples at its ``rate`` (livegen.synth.live.LiveSynth)
            capture = has_sink and hasattr(rig.sink, "start_capture") and hasattr(rig.sink, "stop_capture")
            if capture:
                rig.sink.start_capture()
            rig.start()
            clock = not args.no_clock
            t0 = time.monotonic_ns() + 300_000_000
            sent: list = []
            stop = threading.Event()
            player = threading.Thread(target=_play, args=(rig.player, bpm, bpb, clock, stop, t0, sent),
                                      name="livegen-demo-player", daemon=True)
            say(f"  playing {len(PHRASE)} notes into {cfg.midi.in_port} at {bpm:g} bpm"
                + (" with MIDI clock and Start" if clock else "") + ": "
                + " ".join(pitch_name(p) for _, _, p, _ in PHRASE))
            player.start()
            d = rig.daemon
            phrase_len = PHRASE[-1][0] + PHRASE[-1][1]
            deadline = time.monotonic() + (PHRASE_BAR * bpb + phrase_len + 4 * bpb) * beat_ns / 1e9 + 5
            while not d.responses and time.monotonic() < deadline:
                time.sleep(0.05)
            if d.responses:  # wait for the answer to finish
                r = d.responses[-1]
                end_ns = d.beat_clock.state.time_at(r.start_beat + r.bars * bpb)
                while time.monotonic_ns() < end_ns + 300_000_000:
                    time.sleep(0.05)
            stop.set()
            player.join(2)
            audio = (rig.sink.stop_capture(), rig.sink.rate) if capture else None
            synth_latency = list(getattr(rig.sink, "latencies_ms", []) or [])
            synth_status = d.status().synth
        finally:
            rig.close()
        recorded = rig.recorder.snapshot()
    # -- the story ------------------------------------------------------------------------
    if not d.phrases:
        say("  livegen heard no phrase (is the phrase shorter than jam.min_notes?)")
        return 1
    p = d.phrases[0]
    say(f"  phrase: {p.notes} notes from {bar_beat(p.start_beat, bpb)} to {bar_beat(p.end_beat, bpb)}, "
        f"ended by {p.reason}")
    if not d.responses:
        say("  livegen did not answer in time (see livegen run --log for why)")
        return 1
    r = d.responses[0]
    names = " ".join(pitch_name(n.pitch) for n in r.notes[:24]) + (" ..." if len(r.notes) > 24 else "")
    say(f"  response: {len(r.notes)} notes over {r.bars} bar(s) from {bar_beat(r.start_beat, bpb)} "
        f"(the next bar line{'' if not r.moved_bars else f', moved {r.moved_bars} bar(s) late'}): {names or '(rests)'}")
    say(f"  timing: LSTM primed while the phrase was played; after the phrase ended its first beat was "
        f"scheduled in {r.ready_ms:.1f} ms, all {r.bars} bar(s) ({r.tokens} tokens) in {r.generate_ms:.1f} ms")
    ch = jam.out_channel - 1
    resp_in = [(t, m) for t, m in recorded if (note := note_on_off(m)) and note[:2] == ("on", ch)]
    errs = d.sender.onsets.errors_ns() / 1e6
    first = d.sender.onsets.scheduled[0] if d.sender.onsets.n else None  # as the sender scheduled it
    if r.notes and resp_in and first is not None:
        say(f"  first response note due at {bar_beat(r.start_beat + r.notes[0].start, bpb)}: "
            f"sent {errs[0]:+.3f} ms vs schedule (all {len(errs)} messages: max {abs(errs).max():.3f} ms), "
            f"arrived at {cfg.midi.out_port} {(resp_in[0][0] - first) / 1e6:+.1f} ms (through JACK)")
    thru_in = [t for t, m in recorded if (note := note_on_off(m)) and note[1] == 0]
    thru_sent = [t for t, m in sent if note_on_off(m)]
    if thru_in and len(thru_in) == len(thru_sent):
        lat = [(a - b) / 1e6 for a, b in zip(thru_in, thru_sent)]
        inside = d.sender.thru_latency.errors_ns() / 1e6
        say(f"  pass-through: player -> {cfg.midi.out_port} median {statistics.median(lat):.1f} ms through "
            f"JACK; inside livegen median {statistics.median(inside):.3f} ms, max {inside.max():.3f} ms")
    if synth_latency:
        say(f"  synth: note-on -> audio at the output (the synth's estimate) median "
            f"{statistics.median(synth_latency):.1f} ms over {len(synth_latency)} notes; "
            f"underruns {synth_status.get('underruns', '?') if synth_status else '?'}")
    t_zero = t0 if not args.no_clock else d.started_ns

    def beats(events):
        return [((t - t_zero) / beat_ns, m) for t, m in events]
    player_track = beats([(t, m) for t, m in sent if m[0] < 0xF0])
    livegen_track = beats([(t, m) for t, m in recorded if len(m) == 3 and m[0] & 0x0F == ch
                           and m[0] & 0xF0 in (0x80, 0x90, 0xB0)])
    write_tracks(out_dir / "demo.mid", [("player", player_track), ("livegen", livegen_track)], bpm=bpm)
    wav = "demo.wav not written: " + (rig.why_no_sink if not has_sink
                                      else "the synth offers no audio capture (start_capture) yet")
    if audio is not None:
        from livegen.io.wavfile import write_wav
        samples, rate = audio
        write_wav(out_dir / "demo.wav", np.asarray(samples, np.float32).reshape(-1), int(rate))
        wav = f"wrote {out_dir / 'demo.wav'}"
    say(f"  wrote {out_dir / 'demo.mid'} (tracks: player, livegen on channel {jam.out_channel}); {wav}")
    return 0

