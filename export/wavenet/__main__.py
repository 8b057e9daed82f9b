"""``python -m export.wavenet``: the old spelling of ``python -m export.timbre``."""

import sys

from export import timbre

print("export.wavenet is now export.timbre (the old name still works)", file=sys.stderr)
sys.exit(timbre.main())
