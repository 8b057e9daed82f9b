"""``livegen bench jam``: the daemon's timing figures, measured on real ports.

- LSTM generation time for a response of ``--bars`` bars (4) after a primed phrase;
- response timing: each response message's send time vs its schedule (the sender's
  own log) and its arrival at a port connected to ``livegen-out:out`` (adds JACK's
  MIDI period);
- pass-through latency, MIDI in -> out: inside livegen (rtmidi callback -> send)
  and port to port (player -> recorder, through JACK twice).

It starts a private JACK dummy server (48000 Hz, ``--period`` frames) unless told
to use a running one, plays ``--rounds`` phrases into ``livegen:in`` and records
the answers. With an external clock master (``jack_midi_clock``, the default where it
is installed) livegen follows its MIDI clock, and the answers' note-ons are measured
against its ticks on JACK's frame clock (the clock-grid goal: within 0.5 ms).
"""

from __future__ import annotations

HELP = "measure response timing, pass-through latency and LSTM generation time on real ports"


def add_arguments(parser) -> None:
    parser.add_argument("--rounds", type=int, default=4, help="phrases to play and answer (default 4)")
    parser.add_argument("--bars", type=int, default=4, help="bars of the timed LSTM generation (default 4)")
    parser.add_argument("--repeats", type=int, default=20, help="timed LSTM generations (default 20)")
    parser.add_argument("--period", type=int, default=64, help="JACK period of the private server (default 64)")
    parser.add_argument("--use-running-jack", action="store_true", help="use the running JACK server")
    parser.add_argument("--clock", choices=("master", "none"), default="master",
                        help="master: follow jack_midi_clock's MIDI clock and measure the answers "
                             "against its ticks (default, where it is installed); none: internal tempo")
    parser.add_argument("--rtmidi", action="store_true",
                        help="livegen's ports through rtmidi's JACK backend (for comparison)")
    parser.add_argument("--density", type=float, default=4.43, metavar="TOKENS_PER_BEAT",
                        help="also time a response of this many tokens per beat, sampled like a real "
                             "one (default 4.43: the music21 training corpus's mean)")
    parser.add_argument("--hold", type=int, default=-1, metavar="N",
                        help="with the synth on, hold N notes on it all along (default synth.voices)")


def _pct(values, q):
    import numpy as np
    return float(np.percentile(np.asarray(values, float), q)) if len(values) else float("nan")


def _time_generation(model, cfg, bars: int, repeats: int) -> tuple[list[float], list[int]]:
    """ms and tokens per generation of ``bars`` bars, each after priming a 1-bar phrase."""
    import time

    import numpy as np

    from livegen.core import sampling
    from livegen.core import controls as ctl
    from livegen.core import tokens as tk

    vec = ctl.UNKNOWN.vector()  # the controls a response is given (their values do not change the cost)
    step = lambda token, state: model.step(token, state, vec)

    bpb = cfg.jam.beats_per_bar
    phrase = [tk.Note(i * 0.5, i * 0.5 + 0.4, p, 90) for i, p in enumerate((60, 62, 64, 65, 67, 65, 64, 62))]
    prompt = tk.encode_notes(phrase, bos=True)
    rng = np.random.default_rng(cfg.jam.seed or None)
    opts = sampling.SamplingOptions(temperature=cfg.jam.temperature, top_p=cfg.jam.top_p)
    times, counts = [], []
    for _ in range(repeats + 2):
        logits, state = sampling.prime(step, model.initial_state(), prompt)
        t = time.perf_counter()
        toks, _ = sampling.generate(step, state, logits, ticks=bars * bpb * tk.TICKS_PER_BEAT, rng=rng,
                                    options=opts, prompt=prompt, key=sampling.estimate_key(phrase))
        times.append((time.perf_counter() - t) * 1e3)
        counts.append(len(toks))
    return times[2:], counts[2:]  # the first two warm up


def _time_tokens(model, cfg, n: int, repeats: int) -> list[float]:
    """ms to sample ``n`` tokens (step + sampling with key penalty and copy guard), after a phrase."""
    import time

    import numpy as np

    from livegen.core import sampling
    from livegen.core import controls as ctl
    from livegen.core import tokens as tk

    vec = ctl.UNKNOWN.vector()  # the controls a response is given (their values do not change the cost)
    step = lambda token, state: model.step(token, state, vec)

    phrase = [tk.Note(i * 0.5, i * 0.5 + 0.4, p, 90) for i, p in enumerate((60, 62, 64, 65, 67, 65, 64, 62))]
    prompt = tk.encode_notes(phrase, bos=True)
    key = sampling.estimate_key(phrase)
    penalty = np.where(sampling.out_of_key_mask(key), sampling.SamplingOptions().key_penalty, 0.0)
    rng = np.random.default_rng(cfg.jam.seed or None)
    times = []
    for _ in range(repeats + 2):
        logits, state = sampling.prime(step, model.initial_state(), prompt)
        guard = sampling.CopyGuard(prompt, sampling.SamplingOptions().no_copy)
        out: list[int] = []
        t = time.perf_counter()
        for _ in range(n):
            tok = sampling.sample_token(logits, rng, cfg.jam.temperature, cfg.jam.top_p, penalty, guard.banned(out))
            out.append(tok)
            logits, state = step(tok, state)
        times.append((time.perf_counter() - t) * 1e3)
    return times[2:]


def run(args, cfg) -> int:
    import dataclasses
    import logging
    import os
    import time

    import numpy as np

    from livegen.core.notes import note_on_off
    from livegen.daemon.harness import Rig, jack_server, load_models
    from livegen.io import jackclock

    logging.getLogger("livegen").setLevel(logging.WARNING)
    jam = dataclasses.replace(cfg.jam, thru="midi", out_channel=2, state_cc=-1, response_bars=2,
                              silence_beats=1.0)
    cfg = dataclasses.replace(cfg, jam=jam)
    bpm, bpb = jam.tempo_bpm, jam.beats_per_bar
    beat_s = 60 / bpm
    print(f"livegen bench jam: {os.cpu_count()} CPUs (nproc), load average "
          f"{', '.join(f'{x:.2f}' for x in os.getloadavg())}; {bpm:g} bpm, {bpb} beats to the bar")
    models = load_models(cfg)
    master_missing = jackclock.missing() if args.clock == "master" else "--clock none"
    if args.clock == "master" and master_missing:
        print(f"  no external clock master: {master_missing}")
    master = grid = None
    with jack_server(48000, args.period, private=not args.use_running_jack) as (server, where):
        rig = Rig(cfg, models, native_jack=not args.rtmidi)
        try:
            print(f"  JACK: {where}; LSTM {rig.model.describe()}; synth: "
                  + ("on" if rig.sink is not None else f"none ({rig.why_no_sink})")
                  + f"; MIDI ports: {'rtmidi' if args.rtmidi else 'JACK-Client'}, lead "
                  + f"{rig.out.lead_ns / 1e6:.2f} ms")
            if not master_missing:
                from livegen.io.jackmidi import JackMidiInput
                from livegen.io.ports import Recorder
                master = jackclock.ClockMaster(bpm, to=(cfg.midi.in_port,))
                grid = Recorder(JackMidiInput("livegen-grid:in", maxlen=None, frames=True,
                                              connect=(jackclock.PORT, cfg.midi.out_port)))
            times, counts = _time_generation(rig.model, cfg, args.bars, args.repeats)
            per_token = [t / max(1, n) for t, n in zip(times, counts)]
            print(f"  LSTM generation of a {args.bars}-bar response: median {_pct(times, 50):.1f} ms, "
                  f"p90 {_pct(times, 90):.1f} ms, max {max(times):.1f} ms "
                  f"({int(np.median(counts))} tokens median, {_pct(per_token, 50):.3f} ms per token "
                  f"with sampling; {args.repeats} runs, 1 primed phrase each)")
            n = round(args.density * args.bars * cfg.jam.beats_per_bar)
            dense = _time_tokens(rig.model, cfg, n, args.repeats)
            print(f"  ... at {args.density:g} tokens per beat ({n} tokens for {args.bars} bars): median "
                  f"{_pct(dense, 50):.1f} ms, p90 {_pct(dense, 90):.1f} ms, max {max(dense):.1f} ms")
            rig.start()
            d = rig.daemon
            if master is not None:
                master.start()
                # Start, and ticks enough for the tempo: livegen follows the master (a state, waited
                # for; a busy machine takes longer)
                deadline = time.monotonic() + 30
                while time.monotonic() < deadline and not (d.beat_clock.state.source == "midi" and
                                                           abs(d.beat_clock.state.bpm / bpm - 1) < 0.005):
                    time.sleep(0.01)
                print(f"  following {jackclock.TOOL} at {bpm:g} bpm: livegen's clock says "
                      f"{d.beat_clock.state.source}, {d.beat_clock.state.bpm:.2f} bpm")
            hold = (cfg.synth.voices if args.hold < 0 else args.hold) if rig.sink is not None else 0
            for i in range(hold):  # voices sounding all along, on channel 16
                rig.sink.send(bytes((0x9F, 48 + 3 * i, 80)), None)
            if hold:
                print(f"  holding {hold} notes on the synth during the measurement")
            time.sleep(0.05)
            if jam.realtime:  # this thread plays the DAW's part: as livegen's own threads
                from livegen.realtime import OTHER_PRIORITY, make_realtime
                make_realtime(OTHER_PRIORITY)
            refused = d.sender.realtime_refused or d.control.realtime_refused
            print("  real-time priority: " + ("off (jam.realtime = false)" if not jam.realtime
                                              else refused or "livegen's threads SCHED_FIFO"))
            sent = []
            for _ in range(args.rounds):
                before = d.generator.counts.responses
                for i, p in enumerate((60, 62, 64, 65, 67, 65, 64, 62)):
                    t = time.monotonic_ns()
                    rig.player.send(bytes((0x90, p, 90)))
                    sent.append((t, 0x90, p))
                    time.sleep(0.4 * beat_s)
                    t = time.monotonic_ns()
                    rig.player.send(bytes((0x80, p, 0)))
                    sent.append((t, 0x80, p))
                    time.sleep(0.1 * beat_s)
                deadline = time.monotonic() + 4 * bpb * beat_s + 60  # generous: a busy machine answers too
                while time.monotonic() < deadline and (d.generator.counts.responses == before
                                                       or d.sender.responding):
                    time.sleep(0.02)
            time.sleep(0.1)
            if master is not None:
                master.close()
                master = None
            recorded = rig.recorder.snapshot()
            gridded = grid.snapshot() if grid is not None else []
            synth = d.status().synth
            if synth:
                print(f"  synth: {synth.get('voices')} voices sounding at the end, load {synth.get('load', 0):.2f}, "
                      f"underruns {synth.get('underruns')}")
        finally:
            for part in (master, grid):
                if part is not None:
                    part.close()
            rig.close()
    snd = d.sender
    lead = rig.out.lead_ns
    err = snd.onsets.errors_ns() / 1e6
    sched = snd.onsets.scheduled[: min(snd.onsets.n, snd.onsets.size)]
    print(f"  responses: {d.generator.counts.responses} of {args.rounds} phrases, moved late "
          f"{d.generator.counts.moved}, note-ons dropped late {snd.counts.late_dropped}"
          + (f" (up to {snd.counts.late_max_ms:.1f} ms late)" if snd.counts.late_dropped else ""))
    rs = [r for r in d.responses if r.kind == "response"]
    if rs:
        print(f"  phrase end -> first beat scheduled: median {_pct([r.ready_ms for r in rs], 50):.1f} ms, max "
              f"{max(r.ready_ms for r in rs):.1f} ms; -> whole response ({jam.response_bars} bars, median "
              f"{int(np.median([r.tokens for r in rs]))} tokens): median {_pct([r.generate_ms for r in rs], 50):.1f} ms")
    if len(err):
        what = f"handed to the port ({lead / 1e6:.2f} ms ahead)" if lead else "sent"
        # handed over less than a period before it is due, a message cannot land on its frame
        late = int((err > lead / 1e6 - args.period / 48).sum()) if lead else 0
        print(f"  response messages {what} vs schedule ({len(err)} messages): p50 {_pct(err, 50):+.3f} ms, "
              f"p99 {_pct(err, 99):+.3f} ms, max {err.max():+.3f} ms; {late} too late to land on their frame")
        ch = jam.out_channel - 1
        arrivals = [t for t, m in recorded if (note := note_on_off(m)) and note[1] == ch]
        if len(arrivals) == len(sched):
            port = (np.asarray(arrivals) - np.sort(sched) - lead) / 1e6
            print(f"  ... arrived at the recorder port vs schedule: p50 {_pct(port, 50):+.3f} ms, "
                  f"p99 {_pct(port, 99):+.3f} ms (JACK period {args.period / 48:.2f} ms)")
    if grid is not None:
        frames = jackclock.grid_errors(gridded, jam.out_channel - 1)
        if len(frames):
            ms = np.abs(frames) / 48.0
            print(f"  answer note-ons vs {jackclock.TOOL}'s ticks on JACK's frame clock ({len(ms)} notes): "
                  f"|error| p50 {_pct(ms, 50):.3f} ms, p99 {_pct(ms, 99):.3f} ms, max {ms.max():.3f} ms; "
                  f"{int((ms <= 0.5).sum())} of {len(ms)} within 0.5 ms (goal: all)")
        else:
            print(f"  no answer note-on or tick recorded against {jackclock.TOOL}")
    inside = snd.thru_latency.errors_ns() / 1e6
    if len(inside):
        print(f"  pass-through inside livegen (callback -> send, {len(inside)} messages): "
              f"p50 {_pct(inside, 50):.3f} ms, p99 {_pct(inside, 99):.3f} ms, max {inside.max():.3f} ms")
    thru = [t for t, m in recorded if (note := note_on_off(m)) and note[1] == 0]
    if len(thru) == len(sent):
        lat = [(a - s[0]) / 1e6 for a, s in zip(thru, sent)]
        print(f"  pass-through port to port (player -> livegen -> recorder, through JACK twice): "
              f"p50 {_pct(lat, 50):.3f} ms, p99 {_pct(lat, 99):.3f} ms")
    return 0
