"""The jam daemon: threads that listen to the player, answer with the LSTM and play in time.

- :mod:`.control` — the control thread: drains the MIDI input queue, parses,
  feeds the clock, passes notes through, finds phrases, reads control CCs.
- :mod:`.generator` — the generator thread: owns the LSTM and its state, primes it
  while the player plays, generates and schedules responses on bar lines.
- :mod:`.sender` — the sender thread: owns the MIDI output and its open notes,
  sends scheduled messages on time (beats -> time at send time).
- :mod:`.daemon` — wires them together (:class:`Daemon`), status and stop.
- :mod:`.prompt`, :mod:`.schedule` — their pure logic, tested without threads.

Each piece of state has one owning thread; work is handed over through bounded
queues and immutable snapshots, and threads stop through an Event.
"""

from livegen.daemon.daemon import Daemon, Status

__all__ = ["Daemon", "Status"]
