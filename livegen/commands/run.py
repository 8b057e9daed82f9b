"""``livegen run``: the jam daemon, until SIGINT or SIGTERM.

When its JACK server goes away, livegen stops its threads, waits for a server of the
same name and re-executes itself (:mod:`livegen.daemon.jackrestart`); at any moment,
start-up included: a port or the audio output that cannot open because the server just
went is that too, not an error.
"""

from __future__ import annotations

HELP = "run the jam daemon: answer phrases played into livegen's MIDI input, in tempo, until Ctrl-C"


def add_arguments(parser) -> None:
    parser.add_argument("--log", action="store_true",
                        help="plain log lines instead of the live status screen (the default "
                             "when stdout is not a terminal)")
    parser.add_argument("--status-every", type=float, default=30.0, metavar="S",
                        help="in log mode, a status line every S seconds (0 = never; default 30)")
    parser.add_argument("--status-json", action="store_true",
                        help="in log mode, each status as one JSON object on a line of its own on stdout "
                             "(for programs: livegen bench xruns reads it)")


def run(args, cfg) -> int:
    import logging
    import signal
    import threading
    import time

    from livegen.daemon import jackrestart
    from livegen.daemon.harness import Jam, load_models
    from livegen.errors import LivegenError

    log = logging.getLogger("livegen")
    restarts = jackrestart.restarts()
    times = f"{restarts} time{'s' if restarts > 1 else ''}"
    if restarts:
        log.info("restarted after the JACK server came back (%s)", times)
    models = load_models(cfg)  # a bad model file stops livegen here, before any port opens
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    server, before = jackrestart.server_at_start()  # the JACK server start-up meets, if one runs
    try:
        jam = Jam(cfg, models)
    except LivegenError as err:
        lost = jackrestart.lost_since(server, before, within=1.0)
        if lost is None:  # the server is still there: a real error (a taken port name, ...)
            raise
        log.info("JACK server %r lost during start-up (%s): %s", server, lost, str(err).splitlines()[0])
        return _wait_and_come_back(args, server, lost, None, stop, restarts, ())
    daemon = jam.daemon
    watch = jackrestart.JackWatch(jam.backend, jam.sink, identity=before)  # a loss from here on is seen
    if watch.why_not_watched:
        log.info("%s", watch.why_not_watched)
    ports = f"in {cfg.midi.in_port}  out {cfg.midi.out_port}  ({jam.midi_backend})"
    if restarts:
        ports += f"; restarted {times} after JACK came back"
    collector = _collector(daemon) if cfg.jam.realtime else None  # before any thread plays
    jam.start()
    log.info("listening on %s, answering on %s (%s); LSTM %s; %s", cfg.midi.in_port, cfg.midi.out_port,
             jam.midi_backend, jam.model.describe(), jam.audio)
    surface = _open_surface(cfg, jam)
    if surface is not None:
        ports += f"   control surface {surface.url}"
    log.info("clock: beat 0 at monotonic %d ns, %.1f bpm, %d beats to the bar",
             daemon.started_ns, cfg.jam.tempo_bpm, cfg.jam.beats_per_bar)
    time.sleep(0.05)
    if cfg.jam.realtime:  # the status loop must not hold the interpreter lock while pre-empted
        from livegen.realtime import OTHER_PRIORITY, make_realtime
        make_realtime(OTHER_PRIORITY)
    refused = daemon.sender.realtime_refused or daemon.control.realtime_refused
    if cfg.jam.realtime:
        log.info("real-time priority: %s", refused or "livegen's threads run SCHED_FIFO (below JACK's)")
    lost = None
    try:
        lost = _status_loop(args, cfg, daemon, watch, stop, ports, jam.audio, jam.midi_backend, collector)
    finally:
        if collector is not None:
            collector.stop()
        if surface is not None:
            surface.stop()
        jam.stop()  # every open note is closed, All Notes Off per channel (lost on a dead server)
        st = daemon.status()
        if lost:
            jam.abandon()  # stopping or closing a stream of a dead server could hang
        else:
            jam.close()
            log.info("stopped: %d phrases, %d responses, every note closed", st.phrases, st.responses)
    if not lost:
        return 0
    return _wait_and_come_back(args, watch.server, lost, st, stop, restarts, (jam.inp, jam.out))


def _open_surface(cfg, jam):
    """The control surface (livegen.ui), started, with its address logged; None when
    ui.enabled is false or it cannot listen (said in the log: the jam goes on without it)."""
    import logging

    from livegen.errors import DeviceError

    log = logging.getLogger("livegen")
    if not cfg.ui.enabled:
        log.info("control surface: off (ui.enabled = false)")
        return None
    from livegen.ui.server import Surface
    surface = Surface(cfg, jam)
    try:
        url = surface.start()
    except DeviceError as err:
        log.warning("control surface: off: %s", err)
        return None
    log.info("control surface: %s", url + ("?token=<ui.token>" if cfg.ui.token else ""))
    return surface


def _collector(daemon):
    """Full garbage collections from the status loop (livegen.realtime.Collector): when no voice
    sounds, no response plays and no message came in since the last look (0.2 s before)."""
    from livegen.realtime import Collector

    seen = [daemon.control.parser.counts.messages]

    def quiet() -> bool:
        messages = daemon.control.parser.counts.messages
        idle = messages == seen[0]
        seen[0] = messages
        return idle and not getattr(daemon.sink, "voices", 0) and not daemon.sender.responding

    collector = Collector(quiet, collect=getattr(daemon.sink, "collect_when_silent", None))
    collector.start()
    return collector


def _status_loop(args, cfg, daemon, watch, stop, ports: str, audio: str, midi_backend: str,
                 collector=None) -> str | None:
    """The status screen or log lines until a signal (None) or until the JACK server is
    lost (why, logged); ``collector`` ticks every 0.2 s."""
    import json
    import logging
    import sys
    import time

    from livegen.daemon.status import (describe_phrase, describe_response, status_line, status_lines,
                                       status_record)

    log = logging.getLogger("livegen")
    bpb = cfg.jam.beats_per_bar
    screen = sys.stdout.isatty() and not args.log
    last_status = time.monotonic()
    while not stop.wait(0.2):
        if collector is not None:
            collector.tick()
        lost = watch.lost()
        if lost:
            log.info("JACK server %r lost (%s): stopping; notes still sounding cannot be closed on a dead "
                     "server (it took livegen's ports with it)", watch.server, lost)
            return lost
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
            if args.status_json:
                print(json.dumps(status_record(daemon.status())), flush=True)
            else:
                log.info("%s", status_line(daemon.status(), midi_backend))
    return None


def _wait_and_come_back(args, server: str, lost: str, st, stop, restarts: int, ports) -> int:
    """Wait for a JACK server named ``server``; then re-execute livegen (never returns), or,
    on SIGINT or SIGTERM while waiting, exit 0."""
    import logging
    import os
    import sys
    import time

    from livegen.daemon import jackrestart
    from livegen.daemon.status import waiting_lines
    from livegen.errors import DeviceError
    from livegen.io import jackwatch

    log = logging.getLogger("livegen")
    jackrestart.ordinary_scheduling()  # nothing real-time happens while waiting
    screen = sys.stdout.isatty() and not args.log
    phrases, responses = (st.phrases, st.responses) if st is not None else (0, 0)  # None: lost in start-up
    log.info("JACK server lost: waiting for it (a server named %r; %d phrases and %d responses so far; "
             "Ctrl-C stops)", server, phrases, responses)
    files = jackwatch.own_client_files(server)
    removed = jackwatch.reclaim_client_files(server, files)
    if removed:
        log.debug("removed %d client files the lost server left: %s", removed, ", ".join(files))
    last_line = time.monotonic()

    def tick(waited: float) -> None:
        nonlocal last_line
        if screen:
            sys.stdout.write("\x1b[H\x1b[2J" + "\n".join(waiting_lines(server, lost, waited, phrases,
                                                                       responses)) + "\n")
            sys.stdout.flush()
        elif args.status_every > 0 and time.monotonic() - last_line > args.status_every:
            last_line = time.monotonic()
            log.info("JACK server lost: waiting for it (%.0f s so far)", waited)

    if jackrestart.wait_for_server(server, stop, tick):
        log.info("JACK server %r is back: restarting livegen in place (pid %d)", server, os.getpid())
        try:
            jackrestart.reexec(restarts + 1)
        except OSError as err:  # the interpreter is gone (an upgrade removed it?)
            raise DeviceError(f"cannot restart livegen in place ({err}): start it again") from err
    for port in ports:  # clients of the dead server: closing them takes rtmidi about a second
        port.close()
    log.info("stopped while waiting for the JACK server: %d phrases, %d responses before it went",
             phrases, responses)
    return 0
