"""``livegen run``: the jam daemon, until SIGINT or SIGTERM."""

from __future__ import annotations

HELP = "run the jam daemon: answer phrases played into livegen's MIDI input, in tempo, until Ctrl-C"


def add_arguments(parser) -> None:
    parser.add_argument("--log", action="store_true",
                        help="plain log lines instead of the live status screen (the default "
                             "when stdout is not a terminal)")
    parser.add_argument("--status-every", type=float, default=30.0, metavar="S",
                        help="in log mode, a status line every S seconds (0 = never; default 30)")


def run(args, cfg) -> int:
    import logging
    import signal
    import sys
    import threading
    import time

    from livegen.daemon import Daemon
    from livegen.daemon.sink import load_synth, open_sink
    from livegen.daemon.status import describe_phrase, describe_response, status_line, status_lines
    from livegen.engine.lstm import LstmRuntime
    from livegen.io import midi

    log = logging.getLogger("livegen")
    model = LstmRuntime(cfg.path(cfg.models.lstm), cfg.models.provider, cfg.jam.lstm_threads)
    synth = load_synth(cfg)  # a bad timbre model stops livegen here, before any port opens
    backend, inp, out = midi.open_ports(cfg.midi)
    sink, why = None, ""
    try:
        sink, why = open_sink(cfg, synth)
        daemon = Daemon(cfg, inp, out, model, sink)
    except BaseException:
        inp.close()
        out.close()
        if sink is not None:
            sink.close()
        raise
    audio = "synth" if sink is not None else f"MIDI only: {why}"
    ports = f"in {cfg.midi.in_port}  out {cfg.midi.out_port}  ({backend})"
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    daemon.start()
    log.info("listening on %s, answering on %s (%s); LSTM %s; %s", cfg.midi.in_port, cfg.midi.out_port,
             backend, model.describe(), audio)
    log.info("clock: beat 0 at monotonic %d ns, %.1f bpm, %d beats to the bar",
             daemon.started_ns, cfg.jam.tempo_bpm, cfg.jam.beats_per_bar)
    time.sleep(0.05)
    if cfg.jam.realtime:  # the status loop must not hold the interpreter lock while pre-empted
        from livegen.realtime import OTHER_PRIORITY, make_realtime
        make_realtime(OTHER_PRIORITY)
    refused = daemon.sender.realtime_refused or daemon.control.realtime_refused
    if cfg.jam.realtime:
        log.info("real-time priority: %s", refused or "livegen's threads run SCHED_FIFO (below JACK's)")
    bpb = cfg.jam.beats_per_bar
    screen = sys.stdout.isatty() and not args.log
    last_status = time.monotonic()
    try:
        while not stop.wait(0.2):
            if screen:
                lines = status_lines(daemon.status(), ports=ports, audio=audio, beats_per_bar=bpb)
                sys.stdout.write("\x1b[H\x1b[2J" + "\n".join(lines) + "\n")
                sys.stdout.flush()
                daemon.phrases.clear()
                daemon.responses.clear()
                continue
            while daemon.phrases:
                log.info("%s", describe_phrase(daemon.phrases.popleft(), bpb))
            while daemon.responses:
                log.info("%s", describe_response(daemon.responses.popleft(), bpb))
            if args.status_every > 0 and time.monotonic() - last_status > args.status_every:
                last_status = time.monotonic()
                log.info("%s", status_line(daemon.status()))
    finally:
        daemon.stop()  # every open note is closed, All Notes Off per channel
        st = daemon.status()
        inp.close()
        out.close()
        if sink is not None:
            sink.close()
        log.info("stopped: %d phrases, %d responses, every note closed", st.phrases, st.responses)
    return 0
