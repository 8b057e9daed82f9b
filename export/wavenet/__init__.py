"""The old name of :mod:`export.timbre`: ``python -m export.wavenet`` still works (see __main__)."""
