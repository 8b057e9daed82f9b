"""The WaveNet synth: voices, the render thread, and the offline renderer."""
