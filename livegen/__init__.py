"""livegen: play live with neural music models from a DAW.

Importing the package imports nothing heavy: no torch, no device library.
"""

__version__ = "0.1.0"
