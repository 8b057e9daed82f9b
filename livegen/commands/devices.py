"""``livegen devices``: what MIDI, audio and ONNX Runtime can use here, and what is missing."""

from __future__ import annotations

from pathlib import Path

from livegen.errors import LivegenError

HELP = "list MIDI backends and ports, audio host APIs and devices, ONNX Runtime providers, the synth kernel"


def add_arguments(parser) -> None:
    pass


def _midi(cfg, missing: list[str]) -> None:
    from livegen.io import midi
    print("MIDI (python-rtmidi)")
    compiled = midi.compiled_backends()
    print(f"  compiled in: {', '.join(compiled) or 'none'}")
    bundled = midi.rtmidi_bundles_libjack()
    print("  JACK client library: " + (f"its own copy, {bundled}: two libjack builds in one process with "
                                       "PortAudio's; ./dev.sh setup (or pip install --no-binary "
                                       "python-rtmidi python-rtmidi) builds it against the system's"
                                       if bundled else "the system's"))
    for backend in compiled:
        reason = midi.probe(backend)
        if reason:
            print(f"  {backend}: unusable: {reason}")
            missing.append(f"MIDI {backend}: {reason}")
            continue
        ins, outs = midi.list_ports(backend)
        print(f"  {backend}: works")
        print(f"    ports to read from: {', '.join(ins) or 'none'}")
        print(f"    ports to send to:   {', '.join(outs) or 'none'}")
    from livegen.io.jacknative import unavailable
    why = unavailable()
    print("  on JACK: " + (f"rtmidi's JACK backend, every message at the start of a period ({why})" if why
                           else "JACK native ports (C process callback), each message on its frame"))
    if why:
        missing.append(why)
    try:
        print(f"  midi.backend = {cfg.midi.backend!r} -> {midi.choose_backend(cfg.midi.backend)}")
    except LivegenError:
        print(f"  midi.backend = {cfg.midi.backend!r} -> none works")
        missing.append(f"MIDI: no backend works for midi.backend = {cfg.midi.backend!r}")
    print(f"  {midi.platform_hint()}")


def _audio(cfg, missing: list[str]) -> None:
    from livegen.io import audio
    from livegen.io.jacknative import unavailable
    print("Audio")
    why = unavailable()
    port = f"{cfg.audio.client_name}:out_0"
    print("  JACK: " + (f"unusable: {why}" if why else f"livegen's own port {port} (C process callback)"))
    if why:
        missing.append(why)
    print("  PortAudio (sounddevice; Python callback), for the other hosts:")
    for api in audio.host_apis():
        print(f"    {api['name']}: {', '.join(api['outputs']) or 'no output device'}")
    if audio.on_jack(cfg.audio):
        print(f"  audio.backend = {cfg.audio.backend!r} -> JACK native port {port} (C process callback)"
              + (": cannot play" if why else ""))
        return
    try:
        backend, index = audio.choose_device(cfg.audio)
        print(f"  audio.backend = {cfg.audio.backend!r} -> PortAudio {backend}, device #{index}")
    except LivegenError as err:
        print(f"  audio.backend = {cfg.audio.backend!r} -> none works")
        missing.append(str(err).splitlines()[0])


def _onnx(cfg, missing: list[str]) -> None:
    from livegen.engine import ort
    print("ONNX Runtime")
    print(f"  providers offered: {', '.join(ort.available_providers())}")
    try:
        session = ort.open_session(Path(ort.__file__).with_name("probe.onnx"), cfg.models.provider)
        print(f"  models.provider = {cfg.models.provider!r} -> a session runs on "
              f"{session.get_providers()[0]}")
    except LivegenError as err:
        print(f"  models.provider = {cfg.models.provider!r} -> {err}")
        missing.append(str(err))


def _synth(cfg, missing: list[str]) -> None:
    from livegen.synth import native
    print("Synth")
    line = native.describe()
    print(f"  kernel: {line}")
    if line.startswith("unavailable"):
        missing.append(f"the synth's {line}")


def run(args, cfg) -> int:
    missing: list[str] = []
    for part in (_midi, _audio, _onnx, _synth):
        try:
            part(cfg, missing)
        except LivegenError as err:
            missing.append(str(err))
        print()
    if missing:
        print("Missing:")
        for line in missing:
            print(f"  - {line}")
    else:
        print("Everything livegen needs is here.")
    return 0
